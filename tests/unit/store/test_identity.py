"""The store id a signing write must sign (``identity.expected``), asked many times in one command."""

from __future__ import annotations

import sqlite3

import pyarrow.parquet as pq

from provenance import versions
from provenance.sources.interface import DatasetSpec
from provenance.store import identity
from support import digits_table


def test_the_answer_is_read_again_once_another_connection_changes_the_store(store, keypair, workdir):
    """``prov log`` asks once per release, so the answer is remembered; a change committed by another
    process (a ``.prov/`` writer deleting every version and its commit entry) must be seen at the next ask,
    never answered from before it."""
    pq.write_table(digits_table(60), workdir / "d.parquet")
    versions.commit(store, DatasetSpec(str(workdir / "d.parquet")), "v1", keypair.private_path, stages=[])
    first = identity.expected(store)
    assert first.store_id is not None and first.record is not None and not first.first
    assert identity.expected(store) == first  # nothing changed: the same answer
    with sqlite3.connect(workdir / ".prov" / "prov.db") as other:
        other.execute("delete from versions")
        other.execute("delete from audit where action = 'commit'")
    after = identity.expected(store)
    assert after.record is None and after.store_id is None and after.first
