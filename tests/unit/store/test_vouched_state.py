"""``vouched.log_state``: what lets a write skip reading the log again under the lock (its first refusal found
nothing on the same state). Every change a ``.prov/`` writer can make to what the refusal reads must change it,
or the write would sign over what it did not check; each is made here for real with sqlite3."""

from __future__ import annotations

import sqlite3

import pyarrow.parquet as pq
import pytest

from provenance import versions
from provenance.sources.interface import DatasetSpec
from provenance.store import vouched
from support import digits_table, plant_pending_entry


@pytest.fixture
def two_versions(store, keypair, workdir):
    for tag, n in (("v1", 100), ("v2", 120)):
        pq.write_table(digits_table(n), workdir / "d.parquet")
        versions.commit(store, DatasetSpec(str(workdir / "d.parquet")), tag, keypair.private_path, stages=[])
    return store


def _edit(store, sql: str, args=()) -> None:
    with sqlite3.connect(store.root / "prov.db") as db:
        db.execute(sql, list(args))
    db.close()


@pytest.mark.parametrize(
    "change",
    [
        "delete from checkpoints where rowid = (select max(rowid) from checkpoints)",
        "update checkpoints set size = size - 1 where rowid = (select min(rowid) from checkpoints)",
        "delete from versions where tag = 'v1'",
        "update versions set envelope_object = manifest_object where tag = 'v2'",
        "update keys set revoked_at = '2026-01-01T00:00:00+00:00'",
    ],
)
def test_every_row_the_refusal_reads_changes_the_state(two_versions, change):
    store = two_versions
    upto = store.audit_head()[0]
    before = vouched.log_state(store, upto)
    assert vouched.log_state(store, upto) == before  # read twice, the same
    _edit(store, change)
    assert vouched.log_state(store, upto) != before, change


def test_an_appended_entry_changes_the_state_and_the_first_refusal_remembers_only_a_clear_one(two_versions):
    store = two_versions
    vouched.refuse(store)  # nothing pending: remembered
    state = vouched.log_state(store, store.audit_head()[0])
    vouched.refuse_at_write(store, store.audit_head()[0], state)  # the same state: nothing read, nothing raised
    plant_pending_entry(store.root / "prov.db", "commit", "v9", {"parent": "v2"})
    upto = store.audit_head()[0]
    planted = vouched.log_state(store, upto)
    assert planted != state
    with pytest.raises(Exception, match="version v9's commit entry"):
        vouched.refuse_at_write(store, upto, planted)
    with pytest.raises(Exception, match="version v9's commit entry"):
        vouched.refuse(store)
    assert planted not in vouched._CLEARED
