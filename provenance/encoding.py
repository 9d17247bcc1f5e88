"""Canonical encoding ``prov-row-v1`` and record digests (the Merkle tree is in ``merkle.py``).

A record's content digest is SHA-256 (FIPS 180-4) of the canonical encoding of its content
columns. The digest's algorithm name carries the encoding (``sha256/prov-row-v1``), so a
verifier needs no side channel; a change of bytes is a new name (``prov-row-v2``) beside
this one, never an edit of it. The golden vectors in ``tests/data/golden/prov-row-v1/``
pin every byte described here.

**Values.** A value is ``tag (1 ASCII byte) || length of payload (unsigned LEB128) || payload``:

====  ============================================================================
N     null, of any type (empty payload: ``4e 00``)
B     bool: one byte, 0x00 or 0x01
I     integer of any width (int8 … uint64): int64, big-endian two's complement;
      a uint64 of 2**63 or more is refused
F     float16/32/64, widened exactly to float64, big-endian IEEE 754; -0.0 is
      written as 0.0 and every NaN as 0x7ff8000000000000
S     string (also large_string, dictionary-encoded strings): its UTF-8 bytes, as
      written (no Unicode normalisation)
Y     binary, large_binary, fixed_size_binary: the raw bytes
T     timestamp of any unit, with or without a zone: int64 nanoseconds since
      1970-01-01T00:00Z, big-endian. A zoned timestamp is its UTC instant and the zone
      name is not encoded; a naive one is read as UTC. In v1, digits below a
      microsecond are dropped when pandas is installed (``pd.Timestamp``), and
      without pandas pyarrow refuses such a value (``ValueError``)
D     date32 or date64: int64 days since 1970-01-01, big-endian
X     decimal128/256: ``str(decimal.Decimal)`` in ASCII, so the scale is part of the
      text (``1.50``; a zero of scale 10 is ``0E-10``)
L     list, large_list, and in v1 also an Arrow *map*: the concatenated encodings of
      the items; a map is a list of two-item lists ``[key, value]`` in stored order
M     struct (or a Python ``dict``): for each field in key order (code points),
      ``enc(str(key)) || enc(value)``
====  ============================================================================

Time of day, duration, interval and union values have no v1 encoding (``TypeError``).

**Rows.** A row is ``R || LEB128(k) || enc(name_1) .. enc(name_k) || enc(value_1) ..
enc(value_k)`` over its k content columns sorted by name (code points). Names come first
so that the part every row of a table shares (:func:`row_header`) is hashed once and the
hash state copied per row. The digest does not depend on file format, column order, row
order or chunking: integers of every width encode as int64 and floats as float64, so the
same typed rows give the same digest whether they came from Parquet, CSV or JSON Lines.

:func:`encode_value` / :func:`encode_row` are the reference encoders (one Python value at
a time); :func:`table_digests` is the vectorised one used on real data (fixed-width
columns without nulls are laid out with numpy, the rest fall back to the reference
encoder), and the tests hold the two equal. A file record's digest is SHA-256 of the
file's bytes (``sha256/file-bytes``; :func:`file_digest`).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import hashlib
import math
import struct
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROW_ENCODING = "prov-row-v1"
ROW_DIGEST_ALGORITHM = f"sha256/{ROW_ENCODING}"
FILE_DIGEST_ALGORITHM = "sha256/file-bytes"

_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_EPOCH_DATE = _dt.date(1970, 1, 1)


def varint(n: int) -> bytes:
    """``n`` (>= 0) as unsigned LEB128: 7 bits per byte, low group first, high bit = more follows.

    Used for every length in ``prov-row-v1`` (``varint(200) == b"\\xc8\\x01"``).
    """
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tlv(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


def encode_value(value: object) -> bytes:
    """Canonical ``prov-row-v1`` bytes of one Python value, as ``pyarrow``'s ``to_pylist`` gives it.

    Accepts ``None``, ``bool``, ``int`` (must fit int64), ``float``, ``str``, bytes-like,
    ``datetime`` (naive = UTC), ``date``, ``Decimal``, lists and tuples (recursively),
    ``dict`` (recursively, keys as ``str``) and numpy scalars. Raises ``TypeError`` for any
    other type and ``struct.error`` for an integer outside int64. The tags are listed in
    the module docstring.
    """
    if value is None:
        return b"N\x00"
    if isinstance(value, bool):
        return _tlv(b"B", b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return _tlv(b"I", _I64.pack(value))
    if isinstance(value, float):
        if math.isnan(value):
            value = math.nan
        elif value == 0.0:
            value = 0.0
        return _tlv(b"F", _F64.pack(value))
    if isinstance(value, str):
        return _tlv(b"S", value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _tlv(b"Y", bytes(value))
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        delta = value - _EPOCH
        ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
        return _tlv(b"T", _I64.pack(ns))
    if isinstance(value, _dt.date):
        return _tlv(b"D", _I64.pack((value - _EPOCH_DATE).days))
    if isinstance(value, decimal.Decimal):
        return _tlv(b"X", str(value).encode("ascii"))
    if isinstance(value, (list, tuple)):
        return _tlv(b"L", b"".join(encode_value(v) for v in value))
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return _tlv(b"M", b"".join(encode_value(str(k)) + encode_value(v) for k, v in items))
    if isinstance(value, np.generic):
        return encode_value(value.item())
    raise TypeError(f"cannot encode a value of type {type(value).__name__}")


def row_header(names: Sequence[str]) -> bytes:
    """``R || LEB128(k) || enc(name_1) .. enc(name_k)``: the part of a row's encoding that
    depends only on its content column names (sorted here, by code point)."""
    names = sorted(names)
    return b"R" + varint(len(names)) + b"".join(encode_value(n) for n in names)


def encode_row(row: dict[str, object]) -> bytes:
    """Canonical bytes of one row given as ``{content column: value}`` (the reference encoder).

    The header of the sorted names, then each value in that order; see :func:`encode_value`
    for the values and the errors raised.
    """
    names = sorted(row)
    return row_header(names) + b"".join(encode_value(row[n]) for n in names)


def row_digest(row: dict[str, object]) -> bytes:
    """A record's content digest: the 32-byte SHA-256 of :func:`encode_row` (``sha256/prov-row-v1``)."""
    return hashlib.sha256(encode_row(row)).digest()


# --- vectorised encoding of Arrow columns -----------------------------------------------

_FIXED = {"int": (b"I", 8), "float": (b"F", 8), "bool": (b"B", 1)}


def _fixed_kind(column) -> str | None:
    """Columns without nulls whose values are fixed-width: encoded without Python loops."""
    t = column.type
    if column.null_count:
        return None
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_boolean(t):
        return "bool"
    return None


def _fixed_values(column, kind: str) -> np.ndarray:
    """A fixed-width column's values as native numpy, floats normalised (-0.0 -> 0.0, one NaN)."""
    if kind == "int":
        if pa.types.is_uint64(column.type):
            column = pc.cast(column, pa.int64())  # raises on overflow: a value int64 can't hold
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)
    if kind == "float":
        values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
        zero, nan = values == 0.0, np.isnan(values)
        if zero.any() or nan.any():  # copy only when there is something to normalise
            values = values.copy()
            values[zero] = 0.0
            values[nan] = np.nan
        return values
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.uint8)


_BIG_ENDIAN = {"int": ">i8", "float": ">f8", "bool": "u1"}


def _value_pieces(column) -> list[bytes]:
    """Per-row encoded values of a column that is not fixed-width (Python fallback)."""
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    return [encode_value(v) for v in column.to_pylist()]


_BLOCK_ROWS = 2048  # rows filled at a time, so the matrix block being written stays in cache


def _fixed_matrix(columns: list, kinds: list[str]) -> np.ndarray:
    """One ``n x width`` matrix holding the encoded values of consecutive fixed columns.

    The matrix is viewed as a packed record array (a 2-byte tag+length, then the value,
    per column), so numpy writes each column's big-endian values in one strided pass.
    """
    n = len(columns[0])
    fields, template = [], b""
    for i, kind in enumerate(kinds):
        tag, width = _FIXED[kind]
        fields += [(f"h{i}", "u1", 2), (f"v{i}", _BIG_ENDIAN[kind])]
        template += tag + varint(width) + b"\x00" * width
    records = np.empty(n, dtype=np.dtype(fields))
    matrix = records.view(np.uint8).reshape(n, len(template))
    head = np.frombuffer(template, dtype=np.uint8)
    values = [_fixed_values(column, kind) for column, kind in zip(columns, kinds)]
    for start in range(0, n, _BLOCK_ROWS):
        end = min(n, start + _BLOCK_ROWS)
        matrix[start:end] = head
        block = records[start:end]
        for i, v in enumerate(values):
            block[f"v{i}"] = v[start:end]
    return matrix


def table_digest_blob(table: pa.Table | pa.RecordBatch, columns: Sequence[str]) -> bytes:
    """Every row's content digest over ``columns``, as one ``32 * num_rows``-byte string in row order.

    Byte-identical to :func:`row_digest` of each row (the vectorised path of the same
    encoding); uses the optional ``fastsha`` extension when it is built. Raises what
    :func:`encode_value` raises for a value without an encoding, and
    ``pyarrow.ArrowInvalid`` for a uint64 value of 2**63 or more.
    """
    n = table.num_rows
    names = sorted(columns)
    if n == 0:
        return b""
    base = hashlib.sha256(row_header(names))
    parts: list[np.ndarray | list[bytes]] = []
    run_cols: list = []
    run_kinds: list[str] = []
    for name in names:
        column = table.column(name)
        kind = _fixed_kind(column)
        if kind is not None:
            run_cols.append(column)
            run_kinds.append(kind)
            continue
        if run_cols:
            parts.append(_fixed_matrix(run_cols, run_kinds))
            run_cols, run_kinds = [], []
        parts.append(_value_pieces(column))
    if run_cols:
        parts.append(_fixed_matrix(run_cols, run_kinds))

    from provenance import fastsha

    fast = fastsha.available()
    if fast and len(parts) == 1 and isinstance(parts[0], np.ndarray):
        return fastsha.sha256_fixed(row_header(names), parts[0])
    out = bytearray()
    copy = base.copy
    if len(parts) == 1 and isinstance(parts[0], np.ndarray):
        matrix = parts[0]
        width = matrix.shape[1]
        flat = matrix.reshape(-1).data  # a memoryview: slices without copying
        for i in range(0, n * width, width):
            h = copy()
            h.update(flat[i : i + width])
            out += h.digest()
        return bytes(out)

    per_row: list[list[bytes]] = []
    for part in parts:
        if isinstance(part, np.ndarray):
            w = part.shape[1]
            packed = part.tobytes()
            per_row.append([packed[i : i + w] for i in range(0, n * w, w)])
        else:
            per_row.append(part)
    if fast:
        rows = list(map(b"".join, zip(*per_row)))
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, rows), dtype=np.int64, count=n), out=offsets[1:])
        return fastsha.sha256_rows(row_header(names), b"".join(rows), offsets)
    for pieces in zip(*per_row):
        h = copy()
        h.update(b"".join(pieces))
        out += h.digest()
    return bytes(out)


def split_digests(blob: bytes) -> list[bytes]:
    """Cut concatenated 32-byte digests (a length that is a multiple of 32) into a list."""
    return [blob[i : i + 32] for i in range(0, len(blob), 32)]


def table_digests(table: pa.Table | pa.RecordBatch, columns: Sequence[str]) -> list[bytes]:
    """Each row's 32-byte content digest over ``columns``, in row order (see :func:`table_digest_blob`)."""
    return split_digests(table_digest_blob(table, columns))


def file_digest(path: str) -> bytes:
    """A file record's 32-byte digest (``sha256/file-bytes``): SHA-256 of the bytes at ``path``,
    what ``sha256sum`` prints. Raises ``OSError`` when the file cannot be read."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").digest()
