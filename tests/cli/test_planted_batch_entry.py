"""A planted ``batch.add`` audit entry, replayed for real (attack review 6, finding 10; review 5b finding 1).

A ``.prov/`` writer (no key) who sees a delivery's envelope before the maintainer registers
it appends a ``batch.add`` entry for its batch id. ``prov add`` then appended a second entry
and every later commit and check failed "registered twice", while ``prov audit verify`` and
``prov fsck`` called the log fine. Now ``prov add`` refuses before appending (exit 1, naming
the entry), and audit verify and fsck report an id registered twice as the lineage reader does.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import sqlite_utils

from provenance import signing
from provenance.lineage.batches import batch_id
from provenance.store import audit
from support import store_fingerprint

PINNED = ("--signer", "maintainer.pub")


def _plant(bid: str) -> int:
    """Append a ``batch.add`` entry for ``bid`` to ``.prov/prov.db`` on the attacker's own connection (a correct
    hash chain: the attacker has no key, so no checkpoint covers it); returns its seq."""
    db = sqlite_utils.Database(sqlite3.connect(".prov/prov.db", isolation_level=None))
    manifest = db.execute("select manifest_object from batches where source = 'vendor'").fetchone()[0]
    detail = {"source": "vendor", "signed": False, "keyid": None, "records": 0, "envelope": None}
    audit.append(db, "batch.add", bid, detail | {"manifest": manifest, "added_at": "2026-12-01T00:00:00Z"})
    seq = audit.head(db)[0]
    db.conn.close()
    return seq


def test_prov_add_refuses_a_batch_whose_id_a_planted_entry_already_registers(prov, template_trust, workdir):
    pq.write_table(pq.read_table("crowd-batch.parquet").slice(0, 30), "vendor2.parquet")
    assert prov("sign", "vendor2.parquet", "--source", "vendor", "--key", "vendor.key").exit_code == 0
    envelope = signing.parse_envelope(Path("vendor2.parquet.prov.json").read_bytes(), "envelope")
    bid = batch_id("vendor", signing.subject_root(signing.unverified_statement(envelope)))
    seq = _plant(bid)
    before = store_fingerprint(Path(".prov"))
    r = prov("add", "vendor2.parquet", "--source", "vendor", "--checkpoint-key", "maintainer.key", *PINNED)
    assert r.exit_code == 1, r.output
    assert f"audit entry {seq} already registers batch {bid}" in r.stderr and "Restore .prov/" in r.stderr
    assert store_fingerprint(Path(".prov")) == before  # nothing appended: the store is not bricked by the add


def test_audit_verify_and_fsck_name_a_batch_registered_twice(prov, template_trust, workdir):
    """The plant for an existing batch id (review 5 finding 2's rename): the lineage reader refuses the log; audit
    verify and fsck said rc=0, so CI could not name the pull request that planted it."""
    bid, first = (
        sqlite3.connect(".prov/prov.db")
        .execute("select batch, audit_seq from batches where source = 'vendor'")
        .fetchone()
    )
    seq = _plant(bid)
    expected = f"audit log is broken: batch {bid} is registered twice (entries {first} and {seq})"
    r = prov("commit", "v3.parquet", "--tag", "v4", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 1 and expected in r.output, r.output  # what the lineage reader says
    r = prov("audit", "verify", *PINNED)
    assert r.exit_code == 1 and expected in r.output, r.output
    r = prov("fsck", "--json", *PINNED)
    assert r.exit_code == 1 and expected in r.output, r.output
    assert json.loads(r.stdout)
