"""A lineage object's rows pair with its version's manifest records by position (format 2 has no
digest column): a truncated or reordered object is refused by every reader, whoever made it.

Replayed on real stores: the object rewritten in place (its hash no longer matches), the
object stored anew and the ``version_lineage`` row pointed at it by a ``.prov/`` writer (the
signed statement still names the old object), and a holder of the version key who signs a
statement naming a truncated object (the row count no longer pairs with the manifest).
"""

from __future__ import annotations

import base64
import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys, signing
from provenance.lineage import layout
from provenance.store import Store
from support import World

READERS = (("diff", "v0", "v1"), ("sources", "--version", "v1"), ("lineage", "LATER"))


def _commit_two(prov, world: World) -> Store:
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
    return Store.open(world.root)


def _object(store: Store, tag: str) -> tuple[str, pa.Table]:
    oid = store.db.execute("select object from version_lineage where tag = ?", [tag]).fetchone()[0]
    return oid, pq.read_table(store.objects.path(oid))


def _edited(table: pa.Table, how: str) -> pa.Table:
    if how == "truncated":  # one row short: every status after it would shift onto another record
        return table.slice(0, table.num_rows - 1)
    # reordered: the first attested row swapped with the last row, same length, same counts
    order = list(range(table.num_rows))
    order[0], order[-1] = order[-1], order[0]
    return table.take(pa.array(order))


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _refused(prov, store: Store, *said: str) -> None:
    digest = store.db.execute("select lower(hex(digest)) from batch_records limit 1").fetchone()[0]
    for args in READERS:
        args = tuple(digest[:20] if a == "LATER" else a for a in args)
        r = prov(*args)
        assert r.exit_code == 1, (args, r.output)
        assert any(s in r.output for s in said), (args, r.output)


@pytest.mark.parametrize("how", ["truncated", "reordered"])
def test_a_lineage_object_edited_in_place_is_refused(prov, world: World, how):
    store = _commit_two(prov, world)
    oid, table = _object(store, "v1")
    assert layout.object_format(table.schema, "lineage") == 2 and "digest" not in table.column_names
    store.objects.path(oid).write_bytes(_parquet_bytes(_edited(table, how)))
    _refused(prov, store, "was altered")


@pytest.mark.parametrize("how", ["truncated", "reordered"])
def test_a_lineage_object_swapped_by_a_prov_writer_is_refused(prov, world: World, how):
    store = _commit_two(prov, world)
    _, table = _object(store, "v1")
    new_oid = store.objects.put(_parquet_bytes(_edited(table, how)), "parquet")[0]
    with sqlite3.connect(world.root / ".prov" / "prov.db") as db:  # whoever can write .prov/ (no key)
        db.execute("update version_lineage set object = ? where tag = 'v1'", [new_oid])
    _refused(prov, store, "differs from the lineage it signed")


@pytest.mark.parametrize("fmt", [1, 2])
def test_a_signed_lineage_object_of_another_row_count_is_refused(prov, world: World, monkeypatch, fmt):
    # a holder of the version key signs a statement naming a truncated object: the hash and the
    # signature hold, so only the pairing with the manifest's records can catch it
    monkeypatch.setattr(layout, "FORMAT", fmt)
    store = _commit_two(prov, world)
    _, table = _object(store, "v1")
    new_oid = store.objects.put(_parquet_bytes(_edited(table, "truncated")), "parquet")[0]
    envelope_oid = store.db.execute("select envelope_object from versions where tag = 'v1'").fetchone()[0]
    stmt = json.loads(base64.b64decode(json.loads(store.objects.get(envelope_oid))["payload"]))
    stmt["predicate"]["lineage"]["object"] = new_oid
    envelope = signing.sign(stmt, keys.load_private(world.owner.private_path))
    signed_oid = store.objects.put(signing.canonical_json(envelope), "json")[0]
    with sqlite3.connect(world.root / ".prov" / "prov.db") as db:
        db.execute("update version_lineage set object = ? where tag = 'v1'", [new_oid])
        db.execute("update versions set envelope_object = ? where tag = 'v1'", [signed_oid])
    _refused(prov, store, "holds 119 rows")
    r = prov("sources", "--version", "v1")
    assert "version v1" in r.output or "lineage of v1" in r.output, r.output
