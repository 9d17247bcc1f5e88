"""A delta object's content part holds each column as the one plain type its signed name allows (``content_types``).

Every leaf type prov hashes, written by the commit's writer (``delta_content.content_column``) and read back
through real Parquet, passes the check against the type name the version signs for it; a dictionary, ``large_``
or ``_view`` variant of it (the same prov-row bytes) is refused naming the column (attack review 21d, finding 2).
"""

from __future__ import annotations

import datetime as dt
import decimal
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.delta import delta_content
from provenance.delta.content_types import require_signed_types
from provenance.encoding import table_digest_blob
from provenance.encoding.values import type_name
from provenance.errors import VerificationError
from support import arrow_array

_S, _B = ["a", None], [b"abc", None]
LEAVES = [  # (type, values): one of each family the suite's tables and prov's hashing take
    (pa.bool_(), [True, None]),
    *((t, [1, None]) for t in (pa.int8(), pa.int32(), pa.int64(), pa.uint8(), pa.uint64())),
    *((t, [1.5, None]) for t in (pa.float32(), pa.float64())),
    (pa.decimal128(7, 2), [decimal.Decimal("1.25"), None]),
    *((t, _S) for t in (pa.string(), pa.large_string(), pa.string_view(), pa.dictionary(pa.int32(), pa.string()))),
    *((t, _B) for t in (pa.binary(), pa.large_binary(), pa.binary(3))),
    (pa.date32(), [dt.date(2026, 12, 3), None]),
    *((pa.timestamp(u, tz), [1, None]) for u in ("s", "ms", "us", "ns") for tz in (None, "UTC", "+05:30")),
    *((t, [1, None]) for t in (pa.time32("s"), pa.time32("ms"), pa.time64("ns"), pa.duration("s"))),
    (pa.list_(pa.int64()), [[1, 2], None]),
    (pa.large_list(pa.string()), [["a"], []]),
    (pa.list_(pa.timestamp("s")), [[1], None]),
    (pa.struct([("b", pa.int32()), ("a", pa.large_string())]), [{"b": 1, "a": "x"}, None]),
]


def _read_back(table: pa.Table) -> pa.DataType:
    """The ``content`` struct type a content part holding ``table`` has once written and read as Parquet."""
    column = delta_content.content_column(1, table)
    sink = io.BytesIO()
    pq.write_table(pa.table({delta_content.FIELD: column}), sink)
    return pq.read_schema(pa.BufferReader(sink.getvalue())).field(delta_content.FIELD).type


@pytest.mark.parametrize(("leaf", "values"), LEAVES, ids=[str(t) for t, _ in LEAVES])
def test_what_a_commit_writes_reads_back_as_the_signed_type(leaf, values):
    data = pa.table({"c": arrow_array(leaf, values)})
    signed = {"c": type_name(leaf)}  # what the version signs for the data's column
    require_signed_types(_read_back(data), signed, ["c"], "delta object of v2")


@pytest.mark.parametrize(
    ("plain", "variant"),
    [
        (pa.array(["a", "b"]), pa.array(["a", "b"]).dictionary_encode()),
        (pa.array(["a", "b"]), pa.array(["a", "b"], pa.large_string())),
        (pa.array([1, 2], pa.int64()), pa.array([1, 2], pa.int64()).dictionary_encode()),
        (pa.array([[1], [2]], pa.list_(pa.int64())), pa.array([[1], [2]], pa.large_list(pa.int64()))),
    ],
)
def test_another_encoding_of_the_signed_type_is_refused_naming_the_column(plain, variant):
    # the same prov-row bytes (the digest check passes), another Arrow type: not what the commit writes
    assert table_digest_blob(pa.table({"c": plain}), ["c"], "prov-row-v2") == table_digest_blob(
        pa.table({"c": variant}), ["c"], "prov-row-v2"
    )
    struct = pa.struct([pa.field("c", variant.type)])
    with pytest.raises(VerificationError, match=r"delta object of v2: its content column 'c' is .*the version signs"):
        require_signed_types(struct, {"c": type_name(plain.type)}, ["c"], "delta object of v2")


def test_a_narrower_integer_or_a_column_with_no_signed_type_is_refused():
    struct = pa.struct([pa.field("c", pa.int32())])
    with pytest.raises(VerificationError, match="'c' is int32, the version signs int64"):
        require_signed_types(struct, {"c": "int64"}, ["c"], "delta object of v2")
    with pytest.raises(VerificationError, match="'c' has no signed type"):
        require_signed_types(struct, {}, ["c"], "delta object of v2")


def test_a_struct_field_named_like_a_seconds_type_keeps_its_name():
    """Attack review 22a, finding 4: the seconds-to-milliseconds rule rewrote the signed type's name, a struct's field
    names too, so an honest column with a field named ``timestamp[s]`` was refused; it is applied to the Arrow type."""
    leaf = pa.struct([("timestamp[s]", pa.int64()), ("at", pa.timestamp("s")), ("time32[s]", pa.time32("ms"))])
    data = pa.table({"c": arrow_array(leaf, [{"timestamp[s]": 1, "at": 2, "time32[s]": 3}, None])})
    require_signed_types(_read_back(data), {"c": type_name(leaf)}, ["c"], "delta object of v2")
    # a field named so is not a type: its int64 is not read back as another unit, nor its name as another name
    renamed = pa.struct([("timestamp[ms]", pa.int64()), ("at", pa.timestamp("s")), ("time32[s]", pa.time32("ms"))])
    with pytest.raises(VerificationError, match="its content column 'c' is struct<"):
        require_signed_types(_read_back(data), {"c": type_name(renamed)}, ["c"], "delta object of v2")


def test_a_millisecond_column_is_not_taken_for_a_microsecond_one():
    """Only the seconds unit reads back as milliseconds: a column signed in microseconds is refused as milliseconds."""
    data = pa.table({"c": arrow_array(pa.timestamp("ms"), [1, None])})
    with pytest.raises(VerificationError, match=r"the version signs timestamp\[us\]"):
        require_signed_types(_read_back(data), {"c": "timestamp[us]"}, ["c"], "delta object of v2")
