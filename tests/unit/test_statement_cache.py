"""Inside ``statement_cache`` (a check, ``prov log``'s and ``show``'s release lines, a commit's notes) a version is
verified once, but never answered from before a change another process made to ``prov.db`` or to its envelope's
object, under other pins, or for another store; a failure is never kept. Real stores, keys and Parquet; the counting
wrapper calls the real verification."""

from __future__ import annotations

import shutil
import sqlite3

import pyarrow.parquet as pq
import pytest

from provenance import keys, versions
from provenance.errors import VerificationError
from provenance.sources.interface import DatasetSpec
from provenance.store.store import Store
from provenance.trust.pins import Pins
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


def test_a_key_unpinned_between_two_calls_is_refused_and_the_failure_not_kept(committed, workdir, verified_tags):
    trusted = committed.pins
    other = keys.generate(workdir / "bob")
    with statement_cache():
        verified_statement(committed, committed.version("v1"))
        committed.pins = Pins.load([other.public_path])  # Alice's key no longer pinned
        for _ in range(2):  # refused each time: a failure is verified again, never kept
            with pytest.raises(VerificationError, match="v1"):
                verified_statement(committed, committed.version("v1"))
        committed.pins = trusted
        verified_statement(committed, committed.version("v1"))
    assert verified_tags == ["v1", "v1", "v1"]  # Alice's pins: one verification for both reads under them


def test_a_store_without_pins_is_verified_once_per_block(store, keypair, workdir, verified_tags):
    pq.write_table(digits_table(60), workdir / "d.parquet")
    versions.commit(store, DatasetSpec(str(workdir / "d.parquet")), "v1", keypair.private_path, stages=[])
    verified_tags.clear()
    with statement_cache():
        first = verified_statement(store, store.version("v1"))
        assert verified_statement(store, store.version("v1")) is first
    assert verified_tags == ["v1"]


def test_a_version_row_edited_with_sqlite3_between_two_blocks_is_refused(committed, workdir):
    with statement_cache():
        verified_statement(committed, committed.version("v1"))
    with sqlite3.connect(workdir / ".prov" / "prov.db") as other:
        other.execute("update versions set merkle_root = ? where tag = 'v1'", ["00" * 32])
    with statement_cache(), pytest.raises(VerificationError, match="Merkle root differs"):
        verified_statement(committed, committed.version("v1"))


def test_two_stores_in_one_process_are_verified_apart(committed, keypair, pins, workdir, verified_tags):
    copy = workdir / "copy"
    copy.mkdir()
    shutil.copytree(workdir / ".prov", copy / ".prov")
    with sqlite3.connect(copy / ".prov" / "prov.db") as other:  # the copy revokes Alice's key; the first store not
        other.execute("update keys set revoked_at = '2026-01-01T00:00:00+00:00' where keyid = ?", [keypair.keyid])
    second = Store(copy / ".prov")
    second.pins = pins
    assert second.version("v1") == committed.version("v1")  # the same row, the same envelope object
    with statement_cache():
        verified_statement(committed, committed.version("v1"))
        with pytest.raises(VerificationError, match="revoked"):
            verified_statement(second, second.version("v1"))
        verified_statement(committed, committed.version("v1"))
    assert verified_tags == ["v1", "v1"]  # one verification per store; the first store's answer is not the copy's
