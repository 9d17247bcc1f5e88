"""The vectorised column encoder gives exactly the reference encoder's bytes, for every type."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.encoding import (
    ROW_ENCODING_V1,
    EncodingError,
    encode_scalar,
    encode_value,
    row_digest,
    table_digests,
)
from support import arrow_array, arrow_types, arrow_values

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def typed_columns(draw, max_rows=6):
    """Two or three columns of random Arrow types (nesting included), with nulls."""
    n = draw(st.integers(1, max_rows))
    columns = {}
    for name in draw(st.lists(st.sampled_from(["a", "b", "c", "zz"]), min_size=1, max_size=3, unique=True)):
        t = draw(arrow_types())
        columns[name] = arrow_array(t, draw(st.lists(arrow_values(t), min_size=n, max_size=n)))
    return pa.table(columns)


def reference(table: pa.Table) -> list[bytes]:
    return [row_digest({name: table.column(name)[i] for name in table.column_names}) for i in range(table.num_rows)]


@SETTINGS
@given(typed_columns())
def test_vectorised_digests_equal_the_reference_for_every_type(table):
    assert table_digests(table, table.column_names) == reference(table)


@SETTINGS
@given(typed_columns(max_rows=9), st.integers(0, 4), st.integers(1, 4))
def test_slices_and_chunks_do_not_change_a_digest(table, start, chunk):
    """Arrow slices share buffers with an offset, and batches arrive in chunks: neither may show."""
    expected = reference(table)[start:]
    part = table.slice(start)
    assert table_digests(part, part.column_names) == expected
    rechunked = pa.Table.from_batches(part.to_batches(max_chunksize=chunk), schema=part.schema)
    assert table_digests(rechunked, part.column_names) == expected


@SETTINGS
@given(st.data())
def test_stored_values_that_differ_encode_differently(data):
    """Full precision: two values of one type encode alike only if Arrow stores them alike
    (floats: after the documented -0.0 and NaN normalisation)."""
    t = data.draw(arrow_types(nested=False))
    values = data.draw(st.lists(arrow_values(t), min_size=2, max_size=2))
    arr = arrow_array(t, values)
    a, b = encode_scalar(arr[0]), encode_scalar(arr[1])
    if pa.types.is_floating(t) and values[0] is not None and values[1] is not None:
        same = values[0] == values[1] or (values[0] != values[0] and values[1] != values[1])
    else:
        same = arr.slice(0, 1).equals(arr.slice(1, 1))
    assert (a == b) == same, (t, values)


def test_v2_keeps_what_v1_lost():
    ns = pa.table({"t": pa.array([1_000, 1_001], pa.timestamp("ns"))})
    v1 = table_digests(ns, ["t"], ROW_ENCODING_V1)
    assert v1[0] == v1[1]  # prov-row-v1 dropped the nanoseconds (kept, so old versions verify)
    v2 = table_digests(ns, ["t"])
    assert v2[0] != v2[1]

    far = pa.table({"t": pa.array([32_503_680_000], pa.timestamp("s"))})  # the year 3000
    assert table_digests(far, ["t"]) == reference(far)

    big = pa.table({"u": pa.array([2**64 - 1, None, 2**63], pa.uint64())})
    digests = table_digests(big, ["u"])
    assert len(set(digests)) == 3 and digests == reference(big)
    assert encode_scalar(big.column("u")[0]) == b"I\x10" + b"\x00" * 8 + b"\xff" * 8


def test_v2_is_v1_wherever_v1_was_exact():
    """A store of v1 versions and a new v2 version digest the same ordinary rows alike."""
    table = pa.table(
        {
            "i": pa.array([1, -2, None], pa.int32()),
            "f": [0.5, -0.0, float("nan")],
            "s": ["a", None, "ß"],
            "t": pa.array([1_000_000, None, -3_000], pa.timestamp("us", "UTC")),
            "l": [[1, 2], None, []],
            "m": [{"x": 1, "y": "a"}, None, {"x": None, "y": "b"}],
        }
    )
    assert table_digests(table, table.column_names) == table_digests(table, table.column_names, ROW_ENCODING_V1)


@pytest.mark.parametrize(
    "column, needle",
    [
        (pa.array([86_400_001], pa.date64()), "not a whole day"),
        (pa.UnionArray.from_sparse(pa.array([0, 1], pa.int8()), [pa.array([1, 2]), pa.array([3, 4])]), "union"),
        (pa.StructArray.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"]), "two fields named 'a'"),
    ],
)
def test_values_that_cannot_be_signed_without_loss_are_refused_naming_the_column(column, needle):
    table = pa.table({"x": column})
    with pytest.raises(EncodingError, match=needle) as err:
        table_digests(table, ["x"])
    assert "column 'x'" in str(err.value)


def test_dictionaries_and_run_end_encodings_encode_their_values():
    plain = pa.array(["a", "b", "a", None])
    for encoded in (plain.dictionary_encode(), pa.compute.run_end_encode(plain)):
        assert table_digests(pa.table({"x": encoded}), ["x"]) == table_digests(pa.table({"x": plain}), ["x"])


def test_python_values_and_arrow_scalars_agree():
    arr = pa.array([[1, None], None], pa.list_(pa.int64()))
    assert encode_scalar(arr[0]) == encode_value([1, None])
    assert encode_scalar(arr[1]) == encode_value(None)


def test_a_null_struct_over_dictionary_indices_into_an_empty_dictionary_encodes_as_null():
    """Found by hypothesis: a null struct whose nested dictionary child holds indices into an
    empty dictionary (Arrow lets a null slot's children hold anything). The vectorised path
    decoded them and raised; the reference never reads them. Both give the null's digest."""
    codes = pa.DictionaryArray.from_arrays(pa.array([0, 0, 0, 0], pa.int32()), pa.array([], pa.string()), safe=False)
    nested = pa.FixedSizeListArray.from_arrays(pa.FixedSizeListArray.from_arrays(codes, 2), 2)
    column = pa.StructArray.from_arrays([pa.nulls(1), nested], names=["b", "a"], mask=pa.array([True]))
    table = pa.table({"a": column})
    assert table_digests(table, ["a"]) == reference(table)
