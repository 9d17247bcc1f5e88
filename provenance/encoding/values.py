"""The canonical encodings of values and rows, one value at a time (the reference encoders).

Everything here is deliberately simple: the vectorised encoder in ``columns.py`` must give
exactly these bytes (the tests compare them on random typed data).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import hashlib
import math
import struct
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

ROW_ENCODING_V1 = "prov-row-v1"
ROW_ENCODING_V2 = "prov-row-v2"
ROW_ENCODING = ROW_ENCODING_V2
ROW_DIGEST_ALGORITHM_V1 = f"sha256/{ROW_ENCODING_V1}"
ROW_DIGEST_ALGORITHM = f"sha256/{ROW_ENCODING}"
FILE_DIGEST_ALGORITHM = "sha256/file-bytes"
ROW_ENCODINGS = {ROW_DIGEST_ALGORITHM_V1: ROW_ENCODING_V1, ROW_DIGEST_ALGORITHM: ROW_ENCODING_V2}

NULL = b"N\x00"
_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")
_INT64_MIN, _INT64_END = -(1 << 63), 1 << 63
_INT128_MIN, _INT128_END = -(1 << 127), 1 << 127
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_EPOCH_DATE = _dt.date(1970, 1, 1)
NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
MS_PER_DAY = 86_400_000


class EncodingError(TypeError, ValueError):
    """A value or type that has no canonical encoding (for example a union, or a date64
    that is not a whole day). Readers turn it into an input error naming the file.

    A ``TypeError`` (as prov-row-v1 raised for a type it has no tag for) and a ``ValueError``.
    """


def varint(n: int) -> bytes:
    """Unsigned LEB128 of ``n >= 0`` (the length prefix of every value)."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tlv(tag: bytes, payload: bytes) -> bytes:
    """``tag || varint(len(payload)) || payload``: the shape of every encoded value."""
    return tag + varint(len(payload)) + payload


def int_payload(value: int) -> bytes:
    """Two's complement big-endian: 8 bytes inside int64's range, else 16 bytes.

    Raises:
        EncodingError: ``value`` needs more than 128 bits (no Arrow integer holds one).
    """
    if _INT64_MIN <= value < _INT64_END:
        return _I64.pack(value)
    if _INT128_MIN <= value < _INT128_END:
        return value.to_bytes(16, "big", signed=True)
    raise EncodingError(f"integer {value} needs more than 128 bits")


def float_payload(value: float) -> bytes:
    """float64 big-endian, with -0.0 written as 0.0 and every NaN as 0x7ff8000000000000."""
    if math.isnan(value):
        value = math.nan
    elif value == 0.0:
        value = 0.0
    return _F64.pack(value)


def encode_value(value: object) -> bytes:
    """Canonical bytes of one Python value (the manifest's labels and sources, ``prov-row-v1`` rows).

    ``None`` N, ``bool`` B, ``int`` I, ``float`` F, ``str`` S (UTF-8), bytes Y, ``datetime``
    T (ns since the epoch, naive taken as UTC, microsecond precision as Python stores it),
    ``date`` D (days), ``Decimal`` X (its text), list/tuple L, dict M (keys sorted as text).
    For these values prov-row-v1 and prov-row-v2 give the same bytes.

    Raises:
        EncodingError: a type with no encoding, or an integer wider than 128 bits.
    """
    if value is None:
        return NULL
    if isinstance(value, bool):
        return tlv(b"B", b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return tlv(b"I", int_payload(value))
    if isinstance(value, float):
        return tlv(b"F", float_payload(value))
    if isinstance(value, str):
        return tlv(b"S", value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return tlv(b"Y", bytes(value))
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        delta = value - _EPOCH
        ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
        return tlv(b"T", int_payload(ns))
    if isinstance(value, _dt.date):
        return tlv(b"D", _I64.pack((value - _EPOCH_DATE).days))
    if isinstance(value, decimal.Decimal):
        return tlv(b"X", str(value).encode("ascii"))
    if isinstance(value, (list, tuple)):
        return tlv(b"L", b"".join(encode_value(v) for v in value))
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return tlv(b"M", b"".join(encode_value(str(k)) + encode_value(v) for k, v in items))
    if isinstance(value, np.generic):
        return encode_value(value.item())
    raise EncodingError(f"cannot encode a value of type {type(value).__name__}")


# --- prov-row-v2: one Arrow scalar at a time, typed --------------------------------------


def check_type(t: pa.DataType, where: str = "") -> None:
    """Refuse, before any row is read, a type prov-row-v2 cannot encode without loss.

    Raises:
        EncodingError: a union (its type code would be lost), a struct with two fields of
            one name, or a type prov does not know.
    """
    if pa.types.is_union(t):
        raise EncodingError(f"{where}type {t} is a union, which prov cannot sign without losing its type code")
    if pa.types.is_dictionary(t):
        return check_type(t.value_type, where)
    if isinstance(t, pa.ExtensionType):
        return check_type(t.storage_type, where)
    if pa.types.is_run_end_encoded(t):
        return check_type(t.value_type, where)
    if pa.types.is_struct(t):
        names = [t.field(i).name for i in range(t.num_fields)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise EncodingError(f"{where}struct has two fields named {dup[0]!r}")
        for i in range(t.num_fields):
            check_type(t.field(i).type, where)
        return
    if pa.types.is_map(t):
        check_type(t.key_type, where)
        return check_type(t.item_type, where)
    if _is_list_like(t):
        return check_type(t.value_type, where)
    if not _is_scalar_type(t):
        raise EncodingError(f"{where}type {t} has no canonical encoding in prov")


def _is_list_like(t: pa.DataType) -> bool:
    return (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    )


def _is_scalar_type(t: pa.DataType) -> bool:
    return any(
        check(t)
        for check in (
            pa.types.is_null,
            pa.types.is_boolean,
            pa.types.is_integer,
            pa.types.is_floating,
            pa.types.is_decimal,
            is_text,
            is_bytes,
            pa.types.is_date,
            pa.types.is_timestamp,
            pa.types.is_time,
            pa.types.is_duration,
            lambda x: x == pa.month_day_nano_interval(),
        )
    )


def is_text(t: pa.DataType) -> bool:
    """string, large_string or string_view."""
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def is_bytes(t: pa.DataType) -> bool:
    """binary, large_binary, fixed_size_binary or binary_view."""
    return (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_binary_view(t)
    )


def date64_days(ms: int) -> int:
    """Days of a date64 value; Arrow requires whole days, and a fraction would be lost.

    Raises:
        EncodingError: ``ms`` is not a multiple of 86,400,000.
    """
    days, rest = divmod(ms, MS_PER_DAY)
    if rest:
        raise EncodingError(f"date64 value {ms} ms is not a whole day")
    return days


def encode_scalar(scalar: pa.Scalar) -> bytes:
    """prov-row-v2 bytes of one Arrow scalar: every value at the full precision its type stores.

    Temporal values are counted in nanoseconds from their raw integer (timestamps T since
    the epoch in UTC, times H since midnight, durations E), so no unit loses digits;
    integers of every width, uint64 included, are I (8 bytes, or 16 beyond int64);
    dictionaries, run-end encodings and extension types encode their values. The type
    itself (width, unit, zone, scale) is not in these bytes: it is in the signed schema.

    Raises:
        EncodingError: a type :func:`check_type` refuses, or a date64 that is not a whole day.
    """
    t = scalar.type
    if not scalar.is_valid or pa.types.is_null(t):
        return NULL
    if pa.types.is_dictionary(t) or pa.types.is_run_end_encoded(t):
        return encode_scalar(scalar.value)
    if isinstance(t, pa.ExtensionType):
        return encode_scalar(scalar.value)
    if pa.types.is_boolean(t):
        return tlv(b"B", b"\x01" if scalar.as_py() else b"\x00")
    if pa.types.is_integer(t):
        return tlv(b"I", int_payload(scalar.as_py()))
    if pa.types.is_floating(t):
        return tlv(b"F", float_payload(float(scalar.as_py())))
    if pa.types.is_decimal(t):
        return tlv(b"X", str(scalar.as_py()).encode("ascii"))
    if is_text(t):
        return tlv(b"S", scalar.as_py().encode("utf-8"))
    if is_bytes(t):
        return tlv(b"Y", scalar.as_py())
    if pa.types.is_date32(t):
        return tlv(b"D", _I64.pack(scalar.value))
    if pa.types.is_date64(t):
        return tlv(b"D", _I64.pack(date64_days(scalar.value)))
    if pa.types.is_timestamp(t):
        return tlv(b"T", int_payload(scalar.value * NS_PER_UNIT[t.unit]))
    if pa.types.is_time(t):
        return tlv(b"H", int_payload(scalar.value * NS_PER_UNIT[t.unit]))
    if pa.types.is_duration(t):
        return tlv(b"E", int_payload(scalar.value * NS_PER_UNIT[t.unit]))
    if t == pa.month_day_nano_interval():
        v = scalar.as_py()
        return encode_value([v.months, v.days, v.nanoseconds])
    if pa.types.is_map(t):
        pairs = scalar.values  # a struct array of (key, value)
        return tlv(b"L", b"".join(tlv(b"L", encode_scalar(p["key"]) + encode_scalar(p["value"])) for p in pairs))
    if _is_list_like(t):
        return tlv(b"L", b"".join(encode_scalar(v) for v in scalar.values))
    if pa.types.is_struct(t):
        check_type(t)
        fields = sorted(((t.field(i).name, scalar[i]) for i in range(t.num_fields)), key=lambda kv: kv[0])
        return tlv(b"M", b"".join(encode_value(name) + encode_scalar(v) for name, v in fields))
    check_type(t)
    raise EncodingError(f"type {t} has no canonical encoding in prov")


def type_name(t: pa.DataType) -> str:
    """The name a column's type has in the signed schema: what a reader sees, not how it is stored.

    Encodings of one logical type share a name (dictionary and run-end encoded as their
    values; ``large_``/``_view`` variants as the plain type; a list's child field name is
    dropped; struct fields sorted), so the same data written back by pyarrow or pandas
    keeps its schema. Widths, units, zones, precision and scale are kept.
    """
    if pa.types.is_dictionary(t) or pa.types.is_run_end_encoded(t):
        return type_name(t.value_type)
    if isinstance(t, pa.ExtensionType):
        return f"extension<{t.extension_name}>[{type_name(t.storage_type)}]"
    if is_text(t):
        return "string"
    if pa.types.is_fixed_size_binary(t):
        return f"fixed_size_binary[{t.byte_width}]"
    if is_bytes(t):
        return "binary"
    if pa.types.is_fixed_size_list(t):
        return f"fixed_size_list<{type_name(t.value_type)}>[{t.list_size}]"
    if _is_list_like(t):
        return f"list<{type_name(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{type_name(t.key_type)}, {type_name(t.item_type)}>"
    if pa.types.is_struct(t):
        fields = sorted((t.field(i).name, type_name(t.field(i).type)) for i in range(t.num_fields))
        return "struct<" + ", ".join(f"{name}: {sub}" for name, sub in fields) + ">"
    return str(t)


# --- rows, labels and files ----------------------------------------------------------


def row_header(names: Sequence[str]) -> bytes:
    """The part of a row's encoding that depends only on its (sorted) column names."""
    names = sorted(names)
    return b"R" + varint(len(names)) + b"".join(encode_value(n) for n in names)


def encode_row(row: Mapping[str, object]) -> bytes:
    """Canonical bytes of one row ``{column: value}`` (the reference row encoder).

    A value that is an Arrow scalar is encoded with :func:`encode_scalar` (prov-row-v2);
    a Python value with :func:`encode_value` (the same bytes in v1 and v2).
    """
    names = sorted(row)
    values = (row[n] for n in names)
    return row_header(names) + b"".join(
        encode_scalar(v) if isinstance(v, pa.Scalar) else encode_value(v) for v in values
    )


def row_digest(row: Mapping[str, object]) -> bytes:
    """SHA-256 of :func:`encode_row` (32 bytes)."""
    return hashlib.sha256(encode_row(row)).digest()


LABEL_TYPES = ("string", "int", "float", "bool")


def label_kind(t: pa.DataType) -> str | None:
    """The kind of label an Arrow type holds (``string``, ``int``, ``float``, ``bool``), or None."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if is_text(t):
        return "string"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_boolean(t):
        return "bool"
    return None


def encode_label(text: str, kind: str = "string") -> bytes:
    """The bytes a label contributes to its Merkle entry: its text, typed by its column's kind.

    A ``string`` label is its text (S, as in v1); an ``int`` label its integer (I), a
    ``float`` label its float64 (F, from the shortest text that round-trips), a ``bool``
    label B. So ``"1"`` (text), ``1`` and ``1.0`` give three different Merkle roots.

    Raises:
        EncodingError: ``kind`` is unknown, or ``text`` is not a value of that kind.
    """
    try:
        if kind == "string":
            return encode_value(text)
        if kind == "int":
            return encode_value(int(text))
        if kind == "float":
            return encode_value(float(text))
        if kind == "bool" and text in ("true", "false"):
            return encode_value(text == "true")
    except ValueError as exc:
        raise EncodingError(f"label {text!r} is not a {kind}") from exc
    raise EncodingError(f"label {text!r} of kind {kind!r}: kinds are {', '.join(LABEL_TYPES)}")


def file_digest(path: str) -> bytes:
    """A file record's digest: SHA-256 of its bytes, so ``sha256sum`` gives the same."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").digest()
