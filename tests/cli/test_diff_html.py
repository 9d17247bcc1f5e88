"""The HTML report is one self-contained file whose charts render in headless Chromium."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_html_is_self_contained(prov, workdir, three_versions):
    r = prov("diff", "v2", "v3", "--format", "html", "--out", "diff.html")
    assert r.exit_code == 0, r.output
    html = (workdir / "diff.html").read_text()
    assert html.startswith("<!doctype html>")
    # nothing is fetched at view time: no external scripts, styles, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "@import" not in html and "url(" not in html
    assert html.count('<svg class="chart"') == 2 and "Relabeled records (26" in html


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless Chromium is not installed (/usr/bin/chromium; apt-get install chromium)"
)
def test_charts_render_in_headless_chromium(prov, workdir, three_versions, tmp_path_factory):
    assert prov("diff", "v2", "v3", "--format", "html", "--out", "diff.html").exit_code == 0
    page = (workdir / "diff.html").as_uri()
    dom = chromium("--dump-dom", page, profile=tmp_path_factory.mktemp("chromium-profile"))
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dict(re.findall(r'<svg class="chart" id="([\w-]+)"[^>]*data-rendered="(\d+/\d+)"', dom.stdout))
    assert set(rendered) == {"chart-classes", "chart-sources"}, dom.stdout[:500]
    for chart, value in rendered.items():
        drawn, total = map(int, value.split("/"))
        assert total > 0 and drawn == total, (chart, value)
    # and the pixels: a screenshot holds the chart colours
    from PIL import Image

    shot = workdir / "diff.png"
    r = chromium(
        f"--screenshot={shot}", "--window-size=1200,1600", page, profile=tmp_path_factory.mktemp("chromium-profile")
    )
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    colours = set(Image.open(shot).convert("RGB").get_flattened_data())
    for hex_colour in ("#2b8a3e", "#c92a2a", "#e67700"):
        rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, hex_colour
