"""``prov diff`` reads only the lineage objects' status column, beside the manifests' rows:
its lineage figures must equal those computed from the whole lineage tables."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from provenance.lineage import classify as lineage
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


def test_lineage_figures_equal_the_whole_table_reference(prov, world: World):
    vendor, crowd = world.table(), pq.read_table(world.crowd_data)
    owner = world.owner.private_path
    # v0 before any batch is registered: all unattributed
    world.write("v0.parquet", pa.concat_tables([vendor.slice(0, 80), crowd.slice(0, 30)]))
    assert prov("commit", "v0.parquet", "--tag", "v0", "--key", owner).exit_code == 0
    assert prov("add", world.vendor_data, "--source", "vendor").exit_code == 0
    assert prov("add", world.crowd_data, "--source", "crowd", "--unsigned").exit_code == 0
    # v1: one vendor record relabeled, one carried twice (once relabeled), some removed, crowd added
    relabeled = flip_label(vendor, 5)
    twice = flip_label(vendor, 7).slice(7, 1)
    world.write("v1.parquet", pa.concat_tables([relabeled.slice(0, 100), twice, crowd.slice(10, 40)]))
    assert prov("commit", "v1.parquet", "--tag", "v1", "--key", owner).exit_code == 0

    store = Store.open(world.root)
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


def test_a_lineage_object_altered_in_the_store_is_refused(prov, world: World):
    assert prov("add", world.vendor_data, "--source", "vendor").exit_code == 0
    vendor = world.table()
    for tag, rows in (("v0", 100), ("v1", 120)):
        world.write(f"{tag}.parquet", vendor.slice(0, rows))
        assert prov("commit", f"{tag}.parquet", "--tag", tag, "--key", world.owner.private_path).exit_code == 0
    store = Store.open(world.root)
    oid = store.db.execute("select object from version_lineage where tag = 'v1'").fetchone()[0]
    path = store.objects.path(oid)
    table = pq.read_table(path)
    pq.write_table(table.slice(0, 119), path)  # one row short: would shift every status after it
    r = prov("diff", "v0", "v1")
    assert r.exit_code == 1 and "lineage of v1" in r.output and "was altered" in r.output
