"""Inside ``statement_cache`` (a check, ``prov log``'s and ``show``'s release lines) a version is verified once,
but never answered from before a change another process made to ``prov.db`` or to its envelope's object."""

from __future__ import annotations

import sqlite3

import pyarrow.parquet as pq
import pytest

from provenance import versions
from provenance.errors import VerificationError
from provenance.sources.interface import DatasetSpec
from provenance.version_facts import statement_cache, verified_statement
from support import digits_table


@pytest.fixture
def committed(store, keypair, pins, workdir):
    """v1 committed with Alice's key, on a store handle carrying pins naming it."""
    pq.write_table(digits_table(60), workdir / "d.parquet")
    versions.commit(store, DatasetSpec(str(workdir / "d.parquet")), "v1", keypair.private_path, stages=[])
    store.pins = pins
    return store


def test_a_key_revoked_by_another_connection_is_seen_within_the_block(committed, keypair, workdir):
    with statement_cache():
        assert verified_statement(committed, committed.version("v1"))["predicate"]["version"] == "v1"
        with sqlite3.connect(workdir / ".prov" / "prov.db") as other:
            other.execute("update keys set revoked_at = '2026-01-01T00:00:00+00:00' where keyid = ?", [keypair.keyid])
        with pytest.raises(VerificationError, match="revoked"):
            verified_statement(committed, committed.version("v1"))


def test_an_envelope_deleted_after_it_verified_is_refused_within_the_block(committed, workdir):
    row = committed.version("v1")
    with statement_cache():
        verified_statement(committed, row)
        (workdir / ".prov" / "objects" / f"{row['envelope_object']}.json").unlink()
        with pytest.raises(VerificationError, match="missing from the store"):
            verified_statement(committed, row)
