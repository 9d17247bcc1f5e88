"""A struct field name holding a NUL byte, at any depth, is refused when a table is read, as a column name holding
one is (attack review 25a, A25a-2; left by session 25): exit 2, one line naming the file, the store unchanged.

Real Parquet files written by pyarrow, a real store and key.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import digits_table, store_fingerprint


def _struct(name: str, inner: pa.DataType = pa.int64()) -> pa.DataType:
    return pa.struct([(name, inner)])


FIELD = "x\x00y"


def _nested(field: str) -> dict[str, tuple[pa.DataType, object]]:
    """(column type, one value) with a struct field named ``field``: in a struct, a list of structs, a map's values
    and keys, a struct two deep."""
    return {
        "struct": (_struct(field), {field: 1}),
        "list<struct>": (pa.list_(_struct(field)), [{field: 1}]),
        "map<string, struct>": (pa.map_(pa.string(), _struct(field)), [("k", {field: 1})]),
        "map<struct, int64>": (pa.map_(_struct(field), pa.int64()), [({field: 1}, 2)]),
        "struct<list<struct>>": (_struct("outer", pa.list_(_struct(field))), {"outer": [{field: 1}]}),
    }


NESTED = _nested(FIELD)


@pytest.mark.parametrize("shape", sorted(NESTED))
def test_a_struct_field_name_holding_nul_is_refused_at_any_depth(prov, workdir, store, keypair, shape):
    kind, value = NESTED[shape]
    table = digits_table(20)
    table = table.append_column("meta", pa.array([value] * table.num_rows, type=kind))
    pq.write_table(table, "train.parquet")
    assert FIELD in str(pq.read_schema("train.parquet").field("meta").type)  # the file holds the name as written
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "train.parquet", "--tag", "v1", "--key", str(keypair.private_path))
    assert r.exit_code == 2, r.output
    assert r.output.startswith("Error: train.parquet: column 'meta' has a struct field 'x\\x00y' holding a NUL byte")
    assert r.output.count("\n") == 1, r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_a_metadata_column_with_such_a_field_is_refused_too(prov, workdir, store, keypair):
    """The name is refused whatever role the column has: a metadata column's type is in no digest, but its name
    still reaches the read options and every reader of the file."""
    table = digits_table(20).append_column("meta", pa.array([{FIELD: 1}] * 20, type=_struct(FIELD)))
    pq.write_table(table, "train.parquet")
    r = prov("commit", "train.parquet", "--tag", "v1", "--metadata", "meta", "--key", str(keypair.private_path))
    assert r.exit_code == 2 and "has a struct field 'x\\x00y' holding a NUL byte" in r.output, r.output


def test_struct_fields_without_nul_still_commit(prov, workdir, store, keypair):
    """The same shapes with a plain field name commit as before (the check refuses the NUL, not the nesting)."""
    table = digits_table(20)
    for i, (kind, value) in enumerate(_nested("x y").values()):
        table = table.append_column(f"meta{i}", pa.array([value] * table.num_rows, type=kind))
    pq.write_table(table, "train.parquet")
    r = prov("commit", "train.parquet", "--tag", "v1", "--key", str(keypair.private_path))
    assert r.exit_code == 0, r.output


def test_a_json_lines_object_key_holding_nul_is_refused(prov, workdir, store, keypair):
    """JSON Lines objects read as structs: a key ``"x\\u0000y"`` is such a field name."""
    import json

    rows = digits_table(20).to_pylist()
    (workdir / "train.jsonl").write_text("".join(json.dumps(r | {"meta": {FIELD: 1}}) + "\n" for r in rows))
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "train.jsonl", "--tag", "v1", "--key", str(keypair.private_path))
    assert r.exit_code == 2, r.output
    assert r.output.startswith("Error: train.jsonl: column 'meta' has a struct field 'x\\x00y' holding a NUL byte")
    assert store_fingerprint(workdir / ".prov") == before
