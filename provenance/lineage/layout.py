"""The layouts of a version's lineage object (Parquet), and how a reader tells them apart.

A lineage object has one row per record of the version's signed manifest, in manifest
order; it is bound to the version by its SHA-256 in the signed predicate
(``lineage.object``), so everything in it, its schema metadata included, is signed.

- Format 1 (every version committed before format 2): columns ``digest``, ``label``,
  ``status``, ``source``, ``batch``, ``signed_label``; no format key.
- Format 2: the same columns without ``digest`` (row i is record i of the manifest, so the
  digest is the manifest's; the 32 random bytes per row were most of the object and of the
  bytes a diff hashes), and the schema metadata key ``prov.lineage.format`` = ``2``; written
  without column statistics.

Readers accept both and pair rows with the manifest by position; any other format key is
refused (``VerificationError``, exit 1), so an object written by a later prov is never
misread.
"""

from __future__ import annotations

import pyarrow as pa

from provenance.errors import VerificationError

FORMAT_KEY = b"prov.lineage.format"
FORMAT = 2  # what commit writes now
FORMATS = (1, 2)

# Format 1's columns (and the in-memory lineage table's, ``classify.LINEAGE_SCHEMA``).
V1_SCHEMA = pa.schema(
    [
        pa.field("digest", pa.binary(32), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("batch", pa.string()),
        pa.field("signed_label", pa.string()),
    ]
)
# Format 2: no digest column, and the format in the schema metadata.
OBJECT_SCHEMA = pa.schema([f for f in V1_SCHEMA if f.name != "digest"], metadata={FORMAT_KEY: str(FORMAT).encode()})


def object_schema(fmt: int) -> pa.Schema:
    """The Arrow schema a lineage object of format ``fmt`` (1 or 2) is written with."""
    return V1_SCHEMA if fmt == 1 else OBJECT_SCHEMA


def write_options(fmt: int) -> dict:
    """The ``pyarrow.parquet`` writer options of a lineage object of format ``fmt``: zstd; format 2
    without column statistics (no reader uses them, and the strings' minima and maxima cost a
    quarter of the write)."""
    return {"compression": "zstd"} if fmt == 1 else {"compression": "zstd", "write_statistics": False}


def object_format(schema: pa.Schema, name: str) -> int:
    """The format (1 or 2) of a lineage object whose Parquet schema is ``schema``.

    Args:
        schema: the object's Arrow schema as read (``ParquetFile.schema_arrow``), metadata included.
        name: the object as errors name it (e.g. ``"lineage of v1"``).

    Raises:
        VerificationError: the format key is unknown, or the columns do not fit the format
            (format 1 must hold a ``digest`` column, format 2 must not), or there is no
            ``status`` column (exit 1).
    """
    raw = (schema.metadata or {}).get(FORMAT_KEY)
    names = schema.names
    if raw is None:
        fmt = 1
    elif raw in (b"2",):
        fmt = 2
    else:
        raise VerificationError(f"{name}: lineage format {raw.decode(errors='replace')!r} is not one this prov reads")
    if "status" not in names or (fmt == 1) != ("digest" in names):
        raise VerificationError(f"{name}: its columns {names} are not lineage format {fmt}'s")
    return fmt
