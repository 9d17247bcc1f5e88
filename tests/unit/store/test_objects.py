"""An object put from a file the caller owns (a large commit's manifest) is linked into the store,
not copied, and is the same object a copy would make; across filesystems it is copied."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from provenance.store.objects import ObjectStore

DATA = b"manifest bytes " * 1000


def _objects(tmp_path: Path) -> ObjectStore:
    root = tmp_path / "objects"
    root.mkdir()
    return ObjectStore(root)


def test_an_owned_file_is_linked_into_the_store_and_outlives_its_temporary_name(tmp_path):
    objects = _objects(tmp_path)
    source = tmp_path / "sort" / "manifest.parquet"
    source.parent.mkdir()
    source.write_bytes(DATA)
    os.chmod(source, 0o600)
    oid, created = objects.put_file(source, "parquet", owned=True)
    assert created and oid == hashlib.sha256(DATA).hexdigest()
    stored = objects.path(oid)
    assert os.stat(stored).st_ino == os.stat(source).st_ino  # linked, not copied
    assert oid == hashlib.sha256(stored.read_bytes()).hexdigest() and os.stat(stored).st_mode & 0o777 == 0o644
    source.unlink()  # the sort's temporary folder goes
    assert objects.get(oid) == DATA
    assert [p.name for p in stored.parent.iterdir()] == [stored.name]  # no temporary link left behind
    again = tmp_path / "again.parquet"
    again.write_bytes(DATA)
    assert objects.put_file(again, "parquet", owned=True) == (oid, False)


def test_a_file_not_owned_is_copied(tmp_path):
    objects = _objects(tmp_path)
    source = tmp_path / "data.parquet"
    source.write_bytes(DATA)
    oid, created = objects.put_file(source, "parquet")
    assert created and os.stat(objects.path(oid)).st_ino != os.stat(source).st_ino
    assert objects.get(oid) == DATA


def test_an_owned_file_on_another_filesystem_is_copied(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem to put the source on")
    objects = _objects(tmp_path)
    source = shm / f"prov-test-{os.getpid()}.parquet"
    source.write_bytes(DATA)
    try:
        oid, created = objects.put_file(source, "parquet", owned=True)
        assert created and os.stat(objects.path(oid)).st_ino != os.stat(source).st_ino
    finally:
        source.unlink()
    assert objects.get(oid) == DATA
    assert len(list(objects.root.iterdir())) == 1
