"""`prov commit`'s notes verify the version it wrote and its parent once each (session 30's own review: the four notes
verified the same two statements up to seven times), and still say what they said, on a real store, keys and Parquet.

The count is taken by wrapping the real ``version_facts._verify_statement`` in a counter that calls it: every
signature is still checked against the pins."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance
from provenance.commit_notes import with_notes
from provenance.errors import InputError
from provenance.version_facts import statement_cache, verified_predicate, verified_statement
from support import digits_table


def _retyped_commit(workdir, pins, keypair):
    """r1 of 200 digits, then r2 with one column turned to text: a retype note, a features note (r1's profile read
    the column) and lineage with every record unattributed, so every note reads both statements."""
    table = digits_table(200)
    pq.write_table(table, workdir / "train.parquet")
    store = provenance.Store.open(workdir, pins=pins)
    provenance.commit(store, str(workdir / "train.parquet"), tag="r1", key=str(keypair.private_path))
    at = table.schema.get_field_index("px13")
    pq.write_table(table.set_column(at, "px13", table.column("px13").cast(pa.string())), workdir / "train.parquet")
    return store, provenance.commit(store, str(workdir / "train.parquet"), tag="r2", key=str(keypair.private_path))


def test_the_notes_verify_each_version_once_and_say_what_they_said(workdir, store, pins, keypair, verified_tags):
    store, result = _retyped_commit(workdir, pins, keypair)
    assert result.schema_note and result.schema_note.startswith("column 'px13' changed type: int64 -> string since r1")
    assert result.features_note and result.features_note.startswith("column 'px13' (string now) left the features")
    verified_tags.clear()
    again = with_notes(store, result)
    assert sorted(verified_tags) == ["r1", "r2"], verified_tags  # seven verifications before: r2 four times, r1 three
    notes = ("retype_note", "schema_note", "features_note", "unfeatured_note")
    assert [getattr(again, n) for n in notes] == [getattr(result, n) for n in notes]


def test_a_block_gives_the_verified_predicate_and_keeps_no_failure(workdir, store, pins, keypair, verified_tags):
    store, _ = _retyped_commit(workdir, pins, keypair)
    verified_tags.clear()
    with statement_cache():
        assert verified_predicate(store, "r2") == verified_statement(store, store.version("r2"))["predicate"]
        assert verified_predicate(store, "r2") is verified_predicate(store, "r2")
        assert verified_tags == ["r2"]  # the block's one verification, for every read in it
        for _ in range(2):  # a version with no row: raised at every read, never kept as an answer
            with pytest.raises(InputError, match="nope"):
                verified_predicate(store, "nope")
    # what a block kept ends with it: the next block, and a read outside any, verify again
    with statement_cache():
        verified_predicate(store, "r2")
    verified_predicate(store, "r2")
    assert verified_tags == ["r2", "r2", "r2"]
