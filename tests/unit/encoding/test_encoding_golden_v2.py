"""Golden vectors of prov-row-v2: fixed rows, their exact bytes and digests.

The vectors live in ``tests/data/golden/prov-row-v2.json``; an independent implementation
can check itself against them. Each case is one row; a value is given in the JSON form
``pa.array([value], type)`` accepts (temporal values as their stored integers).
"""

from __future__ import annotations

import decimal
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pytest

from provenance.encoding import ROW_ENCODING_V1, encode_row, table_digests

GOLDEN = Path(__file__).parents[2] / "data" / "golden" / "prov-row-v2.json"

TYPES = {
    "int8": pa.int8(),
    "int64": pa.int64(),
    "uint64": pa.uint64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "binary": pa.binary(),
    "decimal128(5,2)": pa.decimal128(5, 2),
    "date32": pa.date32(),
    "date64": pa.date64(),
    "timestamp[s]": pa.timestamp("s"),
    "timestamp[ns, tz=Europe/Paris]": pa.timestamp("ns", "Europe/Paris"),
    "time64[ns]": pa.time64("ns"),
    "duration[s]": pa.duration("s"),
    "list<int64>": pa.list_(pa.int64()),
    "struct<b: string, a: int64>": pa.struct([("b", pa.string()), ("a", pa.int64())]),
    "map<string, int64>": pa.map_(pa.string(), pa.int64()),
}


def _value(type_name: str, value):
    if type_name.startswith("decimal") and value is not None:
        return decimal.Decimal(value)
    if type_name == "binary" and value is not None:
        return bytes.fromhex(value)
    if type_name.startswith("map") and value is not None:
        return [tuple(pair) for pair in value]
    return value


def _table(case: dict) -> pa.Table:
    return pa.table(
        {name: pa.array([_value(c["type"], c["value"])], TYPES[c["type"]]) for name, c in case["columns"].items()}
    )


CASES = json.loads(GOLDEN.read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_row_bytes_and_digests(case):
    table = _table(case)
    row = {name: table.column(name)[0] for name in table.column_names}
    encoded = encode_row(row)
    assert encoded.hex() == case["row_hex"]
    assert hashlib.sha256(encoded).hexdigest() == case["digest_hex"]
    assert table_digests(table, table.column_names)[0].hex() == case["digest_hex"]


def test_v1_and_v2_part_exactly_where_v1_lost_precision():
    """The one golden row where the encodings differ: a timestamp with nanoseconds."""
    case = next(c for c in CASES if c["name"] == "timestamp with nanoseconds and a zone")
    table = _table(case)
    assert table_digests(table, table.column_names, ROW_ENCODING_V1)[0].hex() != case["digest_hex"]
    ordinary = next(c for c in CASES if c["name"] == "ints, floats and text")
    table = _table(ordinary)
    assert table_digests(table, table.column_names, ROW_ENCODING_V1)[0].hex() == ordinary["digest_hex"]
