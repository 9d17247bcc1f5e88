"""The HTML report is one self-contained file whose charts render in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import run_on_terminal

# Debian's package installs /usr/bin/chromium; Ubuntu's and others call it chromium-browser
CHROMIUM = Path(shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium")
VIEWPORT = (1400, 900)


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
    assert html.count('<svg class="chart"') == 2 and re.search(r"Relabeled records <small>26\b", html)
    # the one script is prov's own, allowed by its hash and nothing else
    from provenance.report.html import SCRIPT_HASH

    assert html.count("<script>") == 1 and f"script-src '{SCRIPT_HASH}'\">" in html


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


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium is not installed (apt-get install chromium)")
def test_the_verdict_first_flagged_records_and_sources_fit_the_first_screen(prov, workdir, three_versions, tmp_path):
    """At 1400 x 900 a reviewer sees the verdict, the first flagged records and the per-source table without
    scrolling: read from the DOM's geometry as Chromium laid the page out."""
    r = prov("diff", "v2", "v3", "--detect", "--format", "html", "--out", "diff.html")
    assert r.exit_code == 0, r.output
    size = f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}"
    dom = chromium(size, "--dump-dom", (workdir / "diff.html").as_uri(), profile=tmp_path / "chromium-profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    boxes = {}
    for tag, attrs in re.findall(r"<(header|tr|table)\b([^>]*\bdata-first-screen\b[^>]*)>", dom.stdout):
        box = re.search(r'data-box="(-?\d+),(-?\d+),(-?\d+),(-?\d+)"', attrs)
        assert box, f"{tag} was not laid out: {attrs}"
        boxes.setdefault(tag, []).append(tuple(map(int, box.groups())))
    assert len(boxes["header"]) == 1 and len(boxes["tr"]) == 3 and len(boxes["table"]) == 1, boxes
    verdict, sources = boxes["header"][0], boxes["table"][0]
    for left, top, right, bottom in [verdict, *boxes["tr"], sources]:
        assert 0 <= left and 0 <= top < bottom <= VIEWPORT[1] and right <= VIEWPORT[0]
    # and in the order a reviewer reads them
    assert verdict[3] <= boxes["tr"][0][1] and boxes["tr"][-1][3] <= sources[1]
    page = dom.stdout
    assert "FLAGGED" in page.upper() and "crowd-x" in page


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium is not installed (apt-get install chromium)")
def test_the_page_never_scrolls_sideways_each_table_scrolls_in_its_own_box(prov, workdir, three_versions, tmp_path):
    """Newcomer review 10, finding 25: at 1400 px the flagged records' evidence ran off the page, at 800 px the
    Flagged, Sources and Signals tables did. Each table (and chart) now sits in a box of its own that scrolls
    sideways when it must: the page is never wider than the window, and at 1400 px no table needs its box."""
    r = prov("diff", "v2", "v3", "--detect", "--format", "html", "--out", "diff.html")
    assert r.exit_code == 0, r.output
    text = prov("diff", "v2", "v3", "--detect", env={"COLUMNS": "300"}).stdout
    sides, verdict = text.splitlines()[:2]  # the text report's first lines
    assert r.stdout == "" and r.stderr.splitlines()[-1] == f"{sides}: {verdict} (report: diff.html)", r.stderr
    page = (workdir / "diff.html").as_uri()
    for width in (1400, 800):
        dom = chromium(f"--window-size={width},900", "--dump-dom", page, profile=tmp_path / f"profile-{width}")
        assert dom.returncode == 0, dom.stderr[-2000:]
        scroll_width, client_width = map(int, re.search(r'data-page-width="(\d+)/(\d+)"', dom.stdout).groups())
        assert scroll_width <= client_width <= width, (width, scroll_width, client_width)
        boxes = re.findall(r'<div class="scroll" data-overflow="(\w+)">\s*<(table|svg)', dom.stdout)
        assert len(boxes) == dom.stdout.count("<table") + dom.stdout.count('<svg class="chart"'), boxes
        if width == 1400:
            assert {overflow for overflow, _ in boxes} == {"fits"}, boxes
        else:  # the wide tables scroll in their boxes instead of the page
            assert ("scrolls", "table") in boxes, boxes


def test_html_to_a_terminal_is_refused_with_the_way_to_write_it(prov, workdir, three_versions):
    """Newcomer review 8, finding 12: `prov diff A B --format html` on a terminal printed 20 KB of
    markup; it is exit 2 with the hint before any work, and a pipe or `--out -` still gets the page."""
    code, err, shown = run_on_terminal(["diff", "v2", "v3", "--format", "html"], workdir, "stdout")
    assert code == 2 and shown == ""
    assert err == (
        "Error: --format html writes a web page: give --out FILE (e.g. --out diff.html), or --out - to print it here\n"
    )
    code, _, shown = run_on_terminal(["diff", "v2", "v3", "--format", "html", "--out", "-"], workdir, "stdout")
    assert code == 0 and shown.startswith("<!doctype html>")
    piped = subprocess.run(
        [sys.executable, "-m", "provenance", "diff", "v2", "v3", "--format", "html"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert piped.returncode == 0 and piped.stdout.startswith("<!doctype html>")
    saved = prov("diff", "v2", "v3", "--format", "json", "--out", "diff.json")
    assert saved.exit_code == 0, saved.output
    code, err, shown = run_on_terminal(["report", "diff.json", "--format", "html"], workdir, "stdout")
    assert code == 2 and shown == "" and err.startswith("Error: --format html writes a web page")
