"""Canonical encodings of records and their digests (the Merkle tree is in ``merkle.py``).

A digest's name carries its encoding (``sha256/prov-row-v2``), so a verifier needs no
side channel. A value is ``tag (1 byte) || length (unsigned LEB128) || payload``:

    N null (empty)      B bool (1 byte)       I integer (two's complement BE: 8 bytes, 16 past int64)
    F float (float64 BE, -0.0 -> 0.0, every NaN -> 0x7ff8000000000000)
    S UTF-8 string      Y raw bytes           X decimal (its text: digits and scale)
    D date (int64 days) T timestamp (ns since the epoch, UTC; 8 bytes, 16 past int64)
    H time of day (ns)  E duration (ns)       L list (encoded items; a map is a list of [key, value])
    M struct (encoded name, encoded value; names sorted)

A row is ``R || count || enc(name_1) .. enc(name_k) || enc(value_1) .. enc(value_k)``
over its content columns in name order. Names come first so that the part every row of
a table shares is hashed once and the hash state copied per row. The digest does not
depend on file format, column order, row order or chunking; integers of every width
encode alike and floats as float64, and the column types themselves are signed in the
version's schema, not in each digest.

``prov-row-v1``, byte by byte (kept so versions signed with it still verify; its golden
vectors are ``tests/data/golden/prov-row-v1/``)::

    A value is ``tag (1 ASCII byte) || length of payload (unsigned LEB128) || payload``:

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

``prov-row-v2`` (new versions) encodes every value at the full precision its type stores:
timestamps keep their nanoseconds and any year their unit can hold, uint64 values past
2^63 are encoded, times and durations are accepted, date64 must be whole days, unions and
structs with repeated field names are refused. ``prov-row-v1`` (older versions, still
verified) took temporal values through Python objects: nanoseconds were dropped, and the
other cases above were refused or crashed. For every value v1 encoded without loss, v2
gives the same bytes, so both digest the same rows alike.
"""

from provenance.encoding.columns import split_digests, table_digest_blob, table_digests
from provenance.encoding.values import (
    FILE_DIGEST_ALGORITHM,
    ROW_DIGEST_ALGORITHM,
    ROW_DIGEST_ALGORITHM_V1,
    ROW_ENCODING,
    ROW_ENCODING_V1,
    ROW_ENCODING_V2,
    ROW_ENCODINGS,
    EncodingError,
    check_type,
    encode_label,
    encode_row,
    encode_scalar,
    encode_value,
    file_digest,
    label_kind,
    row_digest,
    row_header,
    type_name,
    varint,
)

__all__ = [
    "FILE_DIGEST_ALGORITHM",
    "ROW_DIGEST_ALGORITHM",
    "ROW_DIGEST_ALGORITHM_V1",
    "ROW_ENCODING",
    "ROW_ENCODING_V1",
    "ROW_ENCODING_V2",
    "ROW_ENCODINGS",
    "EncodingError",
    "check_type",
    "encode_label",
    "encode_row",
    "encode_scalar",
    "encode_value",
    "file_digest",
    "label_kind",
    "row_digest",
    "row_header",
    "split_digests",
    "table_digest_blob",
    "table_digests",
    "type_name",
    "varint",
]
