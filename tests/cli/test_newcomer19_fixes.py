"""Newcomer review 19: the previous review's leftovers (F5, F7 to F10, F12) and what a newcomer met running the tour,
each replayed through the CLI on real Parquet files, keys and stores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys
from support import validate_output

PINNED = ("--signer", "k.pub")
KEY = ("--key", "k.key")


def _table(path: str, labels: list, sources: list[str] | None = None) -> None:
    columns = {"x": [float(i) for i in range(len(labels))], "label": labels}
    if sources is not None:
        columns["src"] = sources
    pq.write_table(pa.table(columns), path)


def _store_with_v1(prov, workdir: Path, labels: list, sources: list[str] | None = None) -> None:
    """A store with ``d.parquet`` committed as v1 under ``k.key`` (``k.pub`` pinned by the tests)."""
    assert prov("init").exit_code == 0
    keys.generate(workdir / "k")
    _table("d.parquet", labels, sources)
    read = ("--source-column", "src") if sources is not None else ()
    r = prov("commit", "d.parquet", "--tag", "v1", *KEY, *PINNED, *read)
    assert r.exit_code == 0, r.output


def test_status_names_a_label_type_change_not_other_sources(prov, workdir):
    """F8: the same records and labels written with a string label column where v1 read integers move the Merkle
    root (its entries type the label); status said "same records, other sources", verify "different sources"."""
    _store_with_v1(prov, workdir, [0, 1, 0, 1])
    _table("d.parquet", ["0", "1", "0", "1"])
    r = prov("status", *PINNED)
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0]
    assert first == (
        "d.parquet: not v1's data (4 records): same records and labels; label type int -> string "
        "(the Merkle root types labels)"
    )
    assert "source" not in r.stdout
    r = prov("status", *PINNED, "--json")
    report = json.loads(r.stdout)
    validate_output("status", report)
    assert report["clean"] is False and not any(report["counts"].values())
    assert report["same_records"].startswith("same records and labels; label type int -> string")
    r = prov("verify", "v1", *PINNED)
    assert r.exit_code == 1
    assert "(same records and labels; label type int -> string" in r.stderr and "sources" not in r.stderr


def test_status_counts_records_under_another_source(prov, workdir):
    """F8: where only the source column changed, status says how many records moved to another source."""
    sources = ["vendor", "crowd"] * 3
    _store_with_v1(prov, workdir, ["a", "b"] * 3, sources)
    _table("d.parquet", ["a", "b"] * 3, ["vendor", "crowd", "scraper", "crowd", "scraper", "crowd"])
    r = prov("status", *PINNED)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == (
        "d.parquet: not v1's data (6 records): same records and labels; 2 records under another source"
    )
    report = json.loads(prov("status", *PINNED, "--json").stdout)
    assert report["same_records"] == "same records and labels; 2 records under another source"
    _table("d.parquet", ["a", "b"] * 3, sources)
    report = json.loads(prov("status", *PINNED, "--json").stdout)
    assert report["clean"] is True and report["same_records"] is None
