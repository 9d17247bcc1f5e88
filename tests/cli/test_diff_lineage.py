"""``prov diff`` reads only the lineage objects' status column, beside the manifests' rows:
its lineage figures must equal those computed from the whole lineage tables."""

from __future__ import annotations

import contextlib
import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.lineage import classify as lineage
from provenance.lineage import layout
from provenance.lineage.classify import RELABELED
from provenance.store import Store
from support import World, flip_label

RANK = {"attested": 0, "relabeled_after_source": 1, "unattributed": 2}


def worst_status(table: pa.Table) -> dict[bytes, str]:
    """The reference: every row of the lineage table, the worst status per digest."""
    out: dict[bytes, str] = {}
    for digest, status in zip(table.column("digest").to_pylist(), table.column("status").to_pylist()):
        if digest not in out or RANK[status] > RANK[out[digest]]:
            out[digest] = status
    return out


def commit_two_versions(prov, world: World, monkeypatch=None, old: str | None = None) -> Store:
    """v0 (80 vendor + 30 crowd records, before any batch is registered: all unattributed), then v1:
    one vendor record relabeled, one carried twice (once relabeled), some removed, crowd added.
    The version ``old`` (if any) is committed with the lineage object layout of before format 2."""
    vendor, crowd = world.table(), pq.read_table(world.crowd_data)
    owner = world.owner.private_path
    relabeled, twice = flip_label(vendor, 5), flip_label(vendor, 7).slice(7, 1)
    data = {
        "v0": pa.concat_tables([vendor.slice(0, 80), crowd.slice(0, 30)]),
        "v1": pa.concat_tables([relabeled.slice(0, 100), twice, crowd.slice(10, 40)]),
    }
    for tag in ("v0", "v1"):
        if tag == "v1":
            # the vendor's key trusted by a pinned key, as the store's unsigned entry is not under pins
            trust = (
                "trust",
                "add",
                "vendor",
                world.vendor.public_path,
                "--key",
                owner,
                "--signer",
                world.owner.public_path,
            )
            assert prov(*trust).exit_code == 0
            assert prov("add", world.vendor_data, "--source", "vendor", "--store-keys").exit_code == 0
            assert prov("add", world.crowd_data, "--source", "crowd", "--unsigned").exit_code == 0
        world.write(f"{tag}.parquet", data[tag])
        with monkeypatch.context() if monkeypatch else contextlib.nullcontext() as m:
            if tag == old:
                m.setattr(layout, "FORMAT", 1)
            pinned = ("--signer", world.owner.public_path)  # a store's second commit needs pins
            assert prov("commit", f"{tag}.parquet", "--tag", tag, "--key", owner, *pinned).exit_code == 0
    return Store.open(world.root)


def assert_lineage_figures(prov, store: Store) -> None:
    """``prov diff`` both ways: its lineage figures equal those of the whole lineage tables."""
    for base, new in (("v0", "v1"), ("v1", "v0")):
        r = prov("diff", base, new, "--format", "json", "--limit", "0")
        assert r.exit_code == 0, r.output
        report = json.loads(r.stdout)
        before = worst_status(lineage.version_lineage(store, base))
        after = worst_status(lineage.version_lineage(store, new))
        expected = Counter(f"{before[d]} -> {after[d]}" for d in before.keys() & after.keys() if before[d] != after[d])
        assert report["lineage"]["transitions"] == dict(expected) and expected
        added = [bytes.fromhex(x["digest"]) for x in report["changes"]["added"]]
        by_status = Counter(after[d] for d in added)
        assert report["summary"]["attested_added"] == by_status["attested"]
        assert report["summary"]["unattributed_added"] == by_status["unattributed"]
        assert report["summary"]["relabeled_after_source_added"] == by_status["relabeled_after_source"]
        assert sum(by_status.values()) == report["summary"]["added"] > 0


def test_lineage_figures_equal_the_whole_table_reference(prov, world: World):
    assert_lineage_figures(prov, commit_two_versions(prov, world))


def test_a_lineage_object_altered_in_the_store_is_refused(prov, world: World):
    assert prov("add", world.vendor_data, "--source", "vendor", "--store-keys").exit_code == 0
    vendor = world.table()
    for tag, rows in (("v0", 100), ("v1", 120)):
        world.write(f"{tag}.parquet", vendor.slice(0, rows))
        assert (
            prov(
                "commit",
                f"{tag}.parquet",
                "--tag",
                tag,
                "--key",
                world.owner.private_path,
                "--signer",
                world.owner.public_path,
            ).exit_code
            == 0
        )
    store = Store.open(world.root)
    oid = store.db.execute("select object from version_lineage where tag = 'v1'").fetchone()[0]
    path = store.objects.path(oid)
    table = pq.read_table(path)
    pq.write_table(table.slice(0, 119), path)  # one row short: would shift every status after it
    r = prov("diff", "v0", "v1")
    assert r.exit_code == 1 and "lineage of v1" in r.output and "was altered" in r.output


def _lineage_object(store: Store, tag: str) -> pq.ParquetFile:
    oid = store.db.execute("select object from version_lineage where tag = ?", [tag]).fetchone()[0]
    return pq.ParquetFile(store.objects.path(oid))


@pytest.mark.parametrize("old", ["v0", "v1"])
def test_a_version_with_the_old_lineage_layout_diffs_against_a_new_one(prov, world: World, monkeypatch, old):
    store = commit_two_versions(prov, world, monkeypatch, old)
    for tag in ("v0", "v1"):
        names = _lineage_object(store, tag).schema_arrow.names
        assert ("digest" in names) == (tag == old)  # the old layout really was written
    assert_lineage_figures(prov, store)
    # the other readers pair rows with the manifest's records by position, whatever the layout:
    # a relabeled record in both versions (``prov lineage``), each source's counts (``prov sources``), fsck
    relabeled = [
        r["digest"] for r in lineage.lineage_json(lineage.version_lineage(store, "v1")) if r["status"] == RELABELED
    ]
    r = prov("lineage", relabeled[0][:20], "--json")
    assert r.exit_code == 0, r.output
    found = {v["version"]: v for v in json.loads(r.stdout)["versions"]}
    assert found["v0"]["present"] and found["v0"]["status"] == "unattributed"
    assert found["v1"]["status"] == RELABELED and found["v1"]["source"] == "vendor"
    r = prov("sources", "--version", "v1", "--json")
    assert r.exit_code == 0, r.output
    by_source = {s["source"]: s for s in json.loads(r.stdout)["sources"]}
    assert by_source["vendor"][RELABELED] == len(relabeled) == 2 and by_source["crowd"]["unattributed"] == 40
    r = prov("fsck", "--json")
    assert r.exit_code == 0, r.output
