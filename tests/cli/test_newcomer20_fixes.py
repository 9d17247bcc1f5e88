"""Newcomer review 19's usability leftovers, replayed through the CLI on real Parquet files, keys and stores: a
delta of exact copies said ``added 0`` beside what its detectors flagged, and a table whose columns overflowed a
narrow terminal lost cells past its edge."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys
from support import digits_table, table_columns, validate_output

PINNED = ("--signer", "k.pub")
KEY = ("--key", "k.key")
LONG_SOURCE = "scraper-common-crawl-subset-2026-11-30-eu-west"


def _commit(prov, table: pa.Table, tag: str) -> None:
    pq.write_table(table, "d.parquet")
    r = prov("commit", "d.parquet", "--tag", tag, *KEY, *PINNED, "--source-column", "src")
    assert r.exit_code == 0, r.output


def _sourced(table: pa.Table, source: str) -> pa.Table:
    return table.append_column("src", pa.array([source] * table.num_rows, pa.string()))


@pytest.fixture
def copies_only(prov, workdir: Path) -> None:
    """v1: 300 digits of vendor; v2: those and exact copies of 2 of them (nothing new)."""
    assert prov("init").exit_code == 0
    keys.generate(workdir / "k")
    base = _sourced(digits_table(300), "vendor")
    _commit(prov, base, "v1")
    _commit(prov, pa.concat_tables([base, base.take([0, 1])]), "v2")


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def _cell(section: list[str], header: str, row_start: str) -> str:
    """The right-aligned number under ``header`` (its last line) in the row starting ``row_start``."""
    rule = next(i for i, line in enumerate(section) if line.startswith("─"))
    end = section[rule - 1].index(header) + len(header)
    row = next(line for line in section[rule + 1 :] if line.startswith(row_start))
    return row[:end].split()[-1]


def test_a_delta_of_copies_says_copies_beside_added(prov, copies_only):
    """The Sources row of a delta holding only exact copies read ``added 0`` with ``400 → 402`` and a flagged
    count: copies are scored but never counted as added. The table now has a copies column (text, markdown,
    html; ``duplicates_added`` in the JSON) wherever a source added copies, in a diff and a check alike."""
    r = prov("diff", "v1", "v2", *PINNED, "--detect", "--no-save", env={"COLUMNS": "160"})
    assert r.exit_code == 0, r.output
    sources = _section(r.stdout, "Sources")
    assert "copies: a record's repeated rows, not counted as added" in sources[0]
    assert (_cell(sources, "added", "vendor"), _cell(sources, "copies", "vendor")) == ("0", "2")
    assert _cell(sources, "flagged", "vendor").isdigit()  # beside the detectors' count, as before
    report = json.loads(prov("diff", "v1", "v2", *PINNED, "--json").stdout)
    validate_output("diff", report)
    (row,) = report["by_source"]
    assert (row["added"], row["duplicates_added"], row["new"] - row["base"]) == (0, 2, 2)
    md = prov("diff", "v1", "v2", *PINNED, "--format", "md").stdout
    header = next(line for line in md.splitlines() if line.startswith("| source |"))
    vendor = next(line for line in md.splitlines() if line.startswith("| vendor |"))
    cells = dict(zip((c.strip() for c in header.split("|")), (c.strip() for c in vendor.split("|"))))
    assert (cells["added"], cells["copies"]) == ("0", "2"), cells
    html = prov("diff", "v1", "v2", *PINNED, "--format", "html").stdout
    assert '<th class="num">added</th><th class="num">copies</th>' in html

    r = prov("check", "v2", "--base", "v1", *PINNED, "--no-save", env={"COLUMNS": "160"})
    sources = _section(r.stdout, "Sources")
    assert (_cell(sources, "added", "vendor"), _cell(sources, "copies", "vendor")) == ("0", "2"), r.stdout
    report = json.loads(prov("check", "v2", "--base", "v1", *PINNED, "--no-save", "--format", "json").stdout)
    validate_output("check", report)
    assert [(s["added"], s["duplicates_added"]) for s in report["sources"]] == [(0, 2)]


def test_a_delta_without_copies_has_no_copies_column(prov, copies_only):
    """The column is there only when some source added copies: the usual table stays as narrow as it was."""
    _commit(prov, _sourced(digits_table(310), "vendor"), "v3")
    r = prov("diff", "v1", "v3", *PINNED, env={"COLUMNS": "160"})
    sources = _section(r.stdout, "Sources")
    assert "copies" not in "\n".join(sources) and _cell(sources, "added", "vendor") == "10"


def test_no_cell_loses_text_at_60_or_80table_columns(prov, workdir):
    """rich cropped a table wider than the terminal at its edge: at 60 columns the Sources table lost its flagged
    column and the Detectors table its scored one, silently; and a long source name beside a long "flagged by"
    list left no room for the list. Now every column is narrowed to fit (folding a long word across lines), so
    every character of the source names, detector lists and counts is on screen at 60 and at 80 columns."""
    assert prov("init").exit_code == 0
    keys.generate(workdir / "k")
    digits = digits_table(700)
    base = _sourced(digits.slice(0, 600), "vendor")
    more = digits.slice(600, 100)
    flipped = [str((int(v) + 1) % 10) if i < 40 else v for i, v in enumerate(more.column("label").to_pylist())]
    more = _sourced(more.set_column(more.schema.get_field_index("label"), "label", pa.array(flipped)), LONG_SOURCE)
    _commit(prov, base, "v1")
    _commit(prov, pa.concat_tables([base, more]), "v2")
    report = json.loads(prov("diff", "v1", "v2", *PINNED, "--detect", "--no-save", "--json").stdout)
    flagged = {
        r["digest"][:12]: {d["detector"] for d in r["detectors"] if d["flagged"]}
        for r in report["findings"]
        if r["flagged"]
    }
    assert len(flagged) >= 20 and max(map(len, flagged.values())) >= 3
    for width in (60, 80):
        r = prov("diff", "v1", "v2", *PINNED, "--detect", "--no-save", env={"COLUMNS": str(width)})
        assert r.exit_code == 0, r.output
        assert max(len(line) for line in r.stdout.splitlines()) <= width
        rows = table_columns(
            _section(r.stdout, "Flagged records"), ["digest", "score", "label", "source", "flagged by"]
        )
        assert len(rows) == 20
        for row in rows:
            detectors = flagged[row["digest"]]
            assert row["source"] == LONG_SOURCE, (width, row)
            count, names = row["flagged by"].split(":")
            assert (int(count), set(names.split(","))) == (len(detectors), detectors), (width, row)
        sources = _section(r.stdout, "Sources")
        counts = {s["source"]: s for s in report["by_source"]}
        shown = table_columns(sources, ["source", "added", "attested", "after source", "unattributed", "flagged"])
        assert {s["source"]: s["flagged"] for s in shown} == {
            LONG_SOURCE: str(counts[LONG_SOURCE]["flagged"]),
            "vendor": "0",
        }, (width, sources)
        detectors = _section(r.stdout, "Detectors")
        assert "scored" in detectors[detectors.index(next(x for x in detectors if x.startswith("─"))) - 1]


def test_root_new_says_where_the_store_id_goes(prov, workdir):
    """H13: prov init says to pin its store id with ``prov root new --store-id``, but root new's help and output
    said nothing of it; a root written without it named no store, silently."""
    words = " ".join(prov("root", "new", "--help", env={"COLUMNS": "100"}).stdout.split())
    assert "Give --store-id (the id `prov init` printed) so the root names its store (its `store` field)" in words
    keys.generate(workdir / "r")
    r = prov("root", "new", "root.json", "--root-key", "r.pub", "--commit", "r.pub")
    assert r.exit_code == 0, r.output
    assert " ".join(r.stderr.split()) == (
        "Note: root.json names no store: --store-id ID (the id prov init printed) makes checks under it refuse "
        "another store's versions; else pin it with PROV_STORE_ID"
    )
    assert json.loads(Path("root.json").read_text()).get("store") is None
    r = prov("root", "new", "pinned.json", "--root-key", "r.pub", "--commit", "r.pub", "--store-id", "0" * 32)
    assert r.exit_code == 0 and "names no store" not in r.output and f"it pins store id {'0' * 32}" in r.stdout
    assert json.loads(Path("pinned.json").read_text())["store"] == "0" * 32
