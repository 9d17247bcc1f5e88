"""Fill in a metadata value of a Parquet file written with a same-length placeholder.

A manifest's Parquet file names its Merkle root in its key-value metadata, which Apache Parquet
keeps in the file's footer (``FileMetaData``, Thrift compact protocol, then its 4-byte little-endian
length and ``PAR1``). The merge writes the rows while the root is still being computed: the
writer's schema carries a random placeholder of the root's length, and once the writer is closed
this module writes the root over it. Arrow keeps the value twice in that footer: as the
``prov.merkle_root`` value, and inside ``ARROW:schema`` (the Arrow IPC schema flatbuffer, base64),
both of which keep their lengths, so no offset or length in the file moves and the file is byte
for byte the one a writer given the root at the start makes.
"""

from __future__ import annotations

import base64
import os
import struct

import pyarrow.parquet as pq

_MAGIC = b"PAR1"


def fill_placeholder(path: str, placeholder: str, value: str) -> None:
    """Replace ``placeholder`` by ``value`` (the same length in ASCII) in the footer of the Parquet file ``path``.

    ``placeholder`` must occur exactly once among the footer's raw bytes and exactly once inside
    its ``ARROW:schema`` value (a metadata value of the Arrow schema the file was written with);
    it should be random (``os.urandom(32).hex()``) so that no data value or statistic in the
    footer can hold it.

    Raises:
        ValueError: lengths differ, or the footer does not hold the placeholder as described (the
            file is left as it was).
    """
    old, new = placeholder.encode("ascii"), value.encode("ascii")
    if len(old) != len(new):
        raise ValueError(f"{path}: a metadata value of {len(new)} bytes cannot replace one of {len(old)}")
    schema_b64 = pq.read_metadata(path).metadata[b"ARROW:schema"]
    schema = base64.b64decode(schema_b64)
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(size - 8)
        tail = fh.read(8)
        (length,) = struct.unpack("<I", tail[:4])
        if tail[4:] != _MAGIC or length + 12 > size:
            raise ValueError(f"{path}: not a Parquet file (no footer)")
        start = size - 8 - length
        fh.seek(start)
        footer = fh.read(length)
        # Arrow's base64 is the standard alphabet with padding: re-encoding gives the same bytes
        canonical = base64.b64encode(schema) == schema_b64
        if not canonical or footer.count(schema_b64) != 1 or schema.count(old) != 1:
            raise ValueError(f"{path}: the footer's Arrow schema does not hold the placeholder once")
        footer = footer.replace(schema_b64, base64.b64encode(schema.replace(old, new)))
        if footer.count(old) != 1:
            raise ValueError(f"{path}: the footer's metadata does not hold the placeholder once")
        footer = footer.replace(old, new)
        if len(footer) != length:
            raise ValueError(f"{path}: the footer's length would change")
        fh.seek(start)
        fh.write(footer)
