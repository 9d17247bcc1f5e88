"""``lineage.lineage_cache``: a version's lineage read once per check, every later read re-checking its objects."""

from __future__ import annotations

import pytest

from provenance.errors import VerificationError
from provenance.lineage.classify import trusted_lineage, version_lineage
from provenance.lineage.lineage_cache import lineage_cache
from provenance.store import Store
from provenance.trust.pins import Pins
from support import vendor_and_crowd_v1


@pytest.fixture
def committed(prov, keypair, monkeypatch, workdir, store) -> Store:
    """A store holding v1 (a lineage object signed with it), opened under Alice's pinned key."""
    vendor_and_crowd_v1(prov, keypair, monkeypatch)
    return Store.open(workdir, pins=Pins.load([keypair.public_path]))


def _lineage_object(store: Store) -> str:
    return store.db.execute("select object from version_lineage where tag = 'v1'").fetchone()[0]


def test_inside_a_block_each_table_is_built_once_and_outside_at_every_call(committed):
    with lineage_cache():
        first = version_lineage(committed, "v1")
        assert version_lineage(committed, "v1") is first
        judged = trusted_lineage(committed, "v1")
        assert trusted_lineage(committed, "v1") is judged
    again = version_lineage(committed, "v1")
    assert again is not first and again.equals(first)


def test_a_lineage_object_altered_after_the_first_read_is_refused_at_the_next(committed):
    with lineage_cache():
        version_lineage(committed, "v1")
        path = committed.objects.path(_lineage_object(committed))
        path.chmod(0o644)
        path.write_bytes(path.read_bytes() + b"x")
        with pytest.raises(VerificationError, match="lineage of v1"):
            version_lineage(committed, "v1")
        with pytest.raises(VerificationError, match="lineage of v1"):
            trusted_lineage(committed, "v1")


def test_a_change_to_the_database_reads_the_lineage_again(committed):
    with lineage_cache():
        first = version_lineage(committed, "v1")
        with committed.db.conn:  # any write through the connection is another state of prov.db
            committed.db.execute("create table scratch (x)")
            committed.db.execute("insert into scratch values (1)")
        assert version_lineage(committed, "v1") is not first
