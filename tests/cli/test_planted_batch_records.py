"""Planted ``batch_records`` rows, replayed for real: a ``.prov/`` writer denies a maintainer's own write.

``prov add --unsigned`` refuses a batch whose records (digest and label) another source's batch already
registers exactly (newcomer review 10, finding 9), and warns when a larger batch holds them. That refusal
read the ``batch_records`` index alone, which whoever can write ``.prov/`` can edit with sqlite3: rows
planted under the crowd's batch made ``prov add`` refuse a scraper's new records as "already registered as
batch crowd@...", a refusal that names the wrong cause. The rows are now checked against the batch's
manifest before they decide, and a forged index fails closed (exit 1) naming the batch and the table.
"""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.lineage.batches import hash_batch
from provenance.sources.interface import DatasetSpec
from support import one_line, store_fingerprint

PINNED = ("--signer", "maintainer.pub")


def _scrape() -> list[tuple[bytes, str]]:
    """20 new records (no batch holds them) in scrape.parquet; their (digest, label) pairs."""
    rows = pq.read_table("crowd-batch.parquet").slice(0, 20)
    pixels = [v + 9 for v in rows.column("px36").to_pylist()]
    rows = rows.set_column(rows.schema.get_field_index("px36"), "px36", pa.array(pixels, pa.int64()))
    pq.write_table(rows, "scrape.parquet")
    m = hash_batch(DatasetSpec("scrape.parquet"), "scraper").manifest
    return list(zip(m.digests, m.labels))


@pytest.mark.parametrize("how", ["replaced", "added"])
def test_planted_index_rows_fail_closed_instead_of_refusing_the_batch(prov, template_trust, workdir, how):
    records = _scrape()
    db = sqlite3.connect(".prov/prov.db")
    [crowd] = db.execute("select batch from batches where source = 'crowd'").fetchone()
    if how == "replaced":  # the crowd's batch now "holds exactly" the scraper's records: a refusal
        db.execute("delete from batch_records where batch = ?", [crowd])
    db.executemany(
        "insert into batch_records (digest, label, batch) values (?, ?, ?)", [(d, x, crowd) for d, x in records]
    )
    db.commit()
    db.close()
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "scrape.parquet", "--source", "scraper", "--unsigned", *PINNED)
    assert r.exit_code == 1, r.output  # was 2 "already registered as batch crowd@..." (or a warning, exit 0)
    line = one_line(r)
    assert f"record index (batch_records) lists 20 records under batch {crowd}" in line, line
    assert ".prov/ was edited" in line and "already registered" not in line
    assert store_fingerprint(workdir / ".prov") == before
    fsck = prov("fsck", *PINNED)  # and the store check names the same batch
    assert fsck.exit_code == 1 and f"batch {crowd}" in fsck.output and "batch_records" in fsck.output, fsck.output


def test_an_honest_index_still_refuses_a_second_registration(prov, template_trust, workdir):
    """The crowd's own records registered again under another source: refused as before (exit 2)."""
    r = prov("add", "crowd-batch.parquet", "--source", "scraper", "--unsigned", *PINNED)
    assert r.exit_code == 2 and "already registered as batch crowd@" in one_line(r), r.output


@pytest.mark.parametrize("entry", [False, True])
def test_a_planted_batches_row_for_the_callers_own_batch_fails_closed(prov, template_trust, workdir, entry):
    """report-trust12, found and left: a ``batches`` row planted under the id the scraper's batch will get made
    ``prov add`` refuse it as "already registered as batch scraper@..." (exit 2), a denial resting on a row no
    audit entry registers. It now fails closed (exit 1) naming the planted row, the store unchanged. With a
    ``batch.add`` entry appended for it too (chain intact, attack review 13, T13-2), the refusal no longer
    shows the planted facts ("signed, added ...") as facts: it says no signature covers the entry."""
    from provenance.store import Store

    _scrape()
    root = hash_batch(DatasetSpec("scrape.parquet"), "scraper").manifest.root.hex()
    planted = f"scraper@{root[:12]}"
    db = sqlite3.connect(".prov/prov.db")
    db.execute(
        "insert into batches (batch, source, signed, keyid, merkle_root, records, labels, manifest_object, "
        "envelope_object, captured_at, added_at, data, audit_seq) select ?, 'scraper', 1, keyid, ?, records, "
        "labels, manifest_object, envelope_object, captured_at, '2020-01-01T00:00:00+00:00', data, audit_seq "
        "from batches where source = 'crowd'",
        [planted, root],
    )
    db.commit()
    db.close()
    if entry:
        store = Store.open(workdir)
        with store.write():
            store.audit("batch.add", planted, {"source": "scraper", "signed": True, "added_at": "2020-01-01"})
        store.close()
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "scrape.parquet", "--source", "scraper", "--unsigned", *PINNED)
    line = one_line(r)
    assert store_fingerprint(workdir / ".prov") == before
    if entry:  # was: "already registered as batch scraper@... (signed, added 2020-01-01, audit entry 12)"
        assert r.exit_code == 2 and "which no maintainer's signature covers yet (pending)" in line, r.output
        assert "2020-01-01" not in line and "signed" not in line.split("(pending)")[0]
        return
    assert r.exit_code == 1, r.output  # was 2: "these records are already registered as batch scraper@..."
    assert f"holds a row for batch {planted} that no audit entry registers" in line and "planted" in line, line
    fsck = prov("fsck", *PINNED)
    assert fsck.exit_code == 1 and f"[batch {planted}] no audit entry adds this batch" in fsck.output, fsck.output
