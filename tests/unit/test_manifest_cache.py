"""Inside ``manifest_cache`` (a check) a version's manifest is decoded once per store handle, and its object is read
and re-hashed at every use, so one deleted or altered since the first read is refused. Real store, key and Parquet."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from provenance import versions
from provenance.errors import VerificationError
from provenance.sources.interface import DatasetSpec
from provenance.version_facts import load_manifest, manifest_cache
from support import digits_table


@pytest.fixture
def committed(store, keypair, pins, workdir):
    """v1 committed with Alice's key, on a store handle carrying pins naming it."""
    pq.write_table(digits_table(60), workdir / "d.parquet")
    versions.commit(store, DatasetSpec(str(workdir / "d.parquet")), "v1", keypair.private_path, stages=[])
    store.pins = pins
    return store


def test_inside_the_block_a_manifest_is_decoded_once_and_outside_at_every_call(committed):
    row = committed.version("v1")
    with manifest_cache():
        first = load_manifest(committed, row)
        assert load_manifest(committed, row) is first
    again = load_manifest(committed, row)
    assert again is not first and again.root == first.root and len(again) == 60


def test_a_manifest_object_altered_or_deleted_after_the_first_read_is_refused_within_the_block(committed):
    row = committed.version("v1")
    path = committed.objects.path(row["manifest_object"])
    with manifest_cache():
        load_manifest(committed, row)
        path.chmod(0o644)
        data = path.read_bytes()
        path.write_bytes(data + b"x")
        with pytest.raises(VerificationError, match="manifest"):
            load_manifest(committed, row)
        path.unlink()
        with pytest.raises(VerificationError, match="missing from the store"):
            load_manifest(committed, row)
