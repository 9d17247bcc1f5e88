"""Every relative link in the README, in the page its Measured table points to and in every docs/ page
resolves: the file is in the repository and, for a `#fragment` into a Markdown file, the heading or `<a id>` is there.
Since session 29 the README summarises each long topic and links its docs/ page: its contents list names them all.
The Measured table's rows link their results files and each row's history in
bench/results/measured.md; a renamed results file or heading fails here, not for a reader."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
PAGES = ["README.md", "bench/results/measured.md", *DOCS]
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


def test_the_readmes_contents_link_every_docs_page():
    """A page in docs/ that the README's contents list does not name is one a newcomer never finds."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    contents = readme[readme.index("Contents") : readme.index("\n## ")]
    linked = {target.partition("#")[0] for target in LINK.findall(contents)}
    assert "docs/reference.md" in DOCS and len(DOCS) > 1
    assert [page for page in DOCS if page not in linked] == []


def test_a_link_to_a_missing_file_or_heading_is_caught(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](nothing.md) [no heading](#nowhere)\n", encoding="utf-8")
    assert broken_links(page) == ["nothing.md: no such file", "#nowhere: no such heading"]
