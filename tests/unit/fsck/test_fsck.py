"""fsck on a real store: leftovers are listed (capped per check) and repaired; damage is an error that blocks repair."""

from __future__ import annotations

from provenance import versions
from provenance.fsck.check import fsck
from provenance.fsck.problems import MAX_PER_CHECK
from provenance.sources.interface import DatasetSpec


def test_leftovers_are_capped_warnings_and_repair_removes_exactly_them(store, keypair, digits_parquet):
    versions.commit(store, DatasetSpec(str(digits_parquet)), "v1", str(keypair.private_path))
    kept = sorted(p.name for p in (store.root / "objects").iterdir())
    for i in range(MAX_PER_CHECK + 5):
        (store.root / "objects" / f".tmp-{i}").write_bytes(b"half")
    report = fsck(store.root)
    assert report.ok and not report.errors
    listed = [p for p in report.warnings if p.check == "objects"]
    assert len(listed) == MAX_PER_CHECK + 1 and listed[-1].message == "... and more like the above"
    repaired = fsck(store.root, repair=True)
    assert len(repaired.repaired) == MAX_PER_CHECK + 5 and not repaired.warnings
    assert sorted(p.name for p in (store.root / "objects").iterdir()) == kept


def test_an_altered_object_is_an_error_and_nothing_is_repaired(store, keypair, digits_parquet):
    versions.commit(store, DatasetSpec(str(digits_parquet)), "v1", str(keypair.private_path))
    obj = sorted((store.root / "objects").iterdir())[0]
    obj.write_bytes(obj.read_bytes() + b"!")
    (store.root / "objects" / ".tmp-left").write_bytes(b"half")
    report = fsck(store.root, repair=True)
    assert not report.ok
    assert any(p.check == "objects" and "was altered" in p.message for p in report.errors)
    assert report.repaired == [] and (store.root / "objects" / ".tmp-left").exists()
