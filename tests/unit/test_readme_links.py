"""Every relative link in the README, in the page its Measured table points to and in docs/reference.md
resolves: the file is in the repository and, for a `#fragment` into a Markdown file, the heading or `<a id>` is there.
The Measured table's rows link their results files and each row's history in
bench/results/measured.md; a renamed results file or heading fails here, not for a reader."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "bench/results/measured.md", "docs/reference.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@cache
def anchors(page: Path) -> set[str]:
    """The fragments a Markdown page answers to: GitHub's heading slugs (lower case, punctuation
    but '-' and '_' dropped, spaces to '-', a repeated slug numbered) and explicit `<a id="...">`."""
    found: set[str] = set()
    text = page.read_text(encoding="utf-8")
    for heading in re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        name, n = slug, 0
        while name in found:
            n += 1
            name = f"{slug}-{n}"
        found.add(name)
    return found | set(re.findall(r'<a id="([^"]+)"', text))


def broken_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path) if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("name", PAGES)
def test_every_relative_link_resolves(name):
    assert broken_links(ROOT / name) == []


def test_the_measured_table_links_each_rows_history():
    """The table's intro sends a reader to the rows' history, which has a heading per row."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Measured", 1)[1].split("\n## ", 1)[0]
    assert "bench/results/measured.md#history-of-the-readme-tables-rows" in section
    history = (ROOT / "bench/results/measured.md").read_text(encoding="utf-8")
    assert history.count("\n### History: ") >= 18


def test_a_link_to_a_missing_file_or_heading_is_caught(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](nothing.md) [no heading](#nowhere)\n", encoding="utf-8")
    assert broken_links(page) == ["nothing.md: no such file", "#nowhere: no such heading"]
