"""README "Development": the tree names every package and module that exists, and nothing that does not.

A newcomer finds things from that tree and its "Where to find" table in one hop, so both
must follow the code: a moved, renamed or new module fails here until the README says so.
"""

from __future__ import annotations

import re
from pathlib import Path

from support import doc_section

ROOT = Path(__file__).resolve().parents[2]
SECTION = doc_section("Development")


def tree_lines() -> list[str]:
    block = SECTION[SECTION.index("```\n") + 4 :]
    return block[: block.index("```")].splitlines()


def package_entries() -> set[str]:
    """Names the tree lists under ``provenance/`` (``x.py`` or ``x/``), from the left column."""
    names: set[str] = set()
    lines = tree_lines()
    start = lines.index(next(line for line in lines if line.startswith("provenance/")))
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        if line.startswith("   "):  # a description running on
            continue
        left = re.split(r"\s{2,}", line.strip())[0]
        names.update(left.split())
    return names


def test_the_tree_lists_every_package_and_module_of_provenance():
    listed = package_entries()
    on_disk = {
        p.name + "/" for p in (ROOT / "provenance").iterdir() if p.is_dir() and not p.name.startswith((".", "__"))
    }
    on_disk |= {p.name for p in (ROOT / "provenance").glob("*.py") if p.name != "__main__.py"}
    assert on_disk - listed == set(), "add these to the README's Development tree"
    assert listed - on_disk == set(), "the README's Development tree names what no longer exists"


def test_every_file_the_where_to_find_table_names_exists():
    table = SECTION[SECTION.index("| what | file |") :]
    table = table[: table.index("\n\n")]
    paths = re.findall(r"\]\(([^)]+)\)", table)
    assert len(paths) >= 8
    for path in paths:
        assert (ROOT / path).is_file(), path
    for what in (
        "canonical encoding of a float",
        "exit-3 decision",
        "threshold calibration",
        "the lock",
        "SARIF writer",
        "lineage statuses",
        "demo's attacks",
        "profile sample",
    ):
        assert what in table, what
