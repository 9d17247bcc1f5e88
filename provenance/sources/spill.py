"""Spill files: one hashed partition on disk, its rows in digest buckets, read back without copies.

A partition's rows (digest, label, source, locator, leaf hash) go to one Arrow IPC file as
``2**bits`` record batches, batch ``b`` holding the rows whose digests start with ``b``'s
bits (``spill_part``); ``bucket_bits`` sizes the buckets. The merge (``external_sort``) maps
every spill file and reads bucket ``b`` of all of them together (``SpillFiles``).
"""

from __future__ import annotations

import math
import mmap
import resource
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

ROWS_PER_BUCKET = 1 << 18
MAX_BUCKET_BITS = 12
SPILL_SCHEMA = pa.schema(
    [
        pa.field("digest", pa.binary(32)),
        pa.field("label", pa.string()),
        pa.field("source", pa.string()),
        pa.field("locator", pa.string()),
        pa.field("leaf", pa.binary(32)),
    ]
)


def bucket_bits(expected_rows: int) -> int:
    """Bits of digest prefix to bucket on, so a bucket holds about ``ROWS_PER_BUCKET`` rows."""
    if expected_rows <= ROWS_PER_BUCKET:
        return 0
    return min(MAX_BUCKET_BITS, math.ceil(math.log2(expected_rows / ROWS_PER_BUCKET)))


@dataclass
class SpilledPart:
    """What a worker returns after spilling its partition: where, how many, which columns."""

    path: str
    rows: int
    columns: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    label_type: str = "string"
    label_kind: str = "string"
    where: str = ""
    text: bool = False  # from CSV/JSONL (inferred types)
    sample: Any = None  # the part's profile-sample candidates (``sample_capture.CapturedSample``), if captured


def _fsb(blob: bytes, n: int) -> pa.Array:
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(blob)])


def spill_part(part, path: str, bits: int) -> SpilledPart:
    """Write a finished ``HashedPart`` as ``2**bits`` digest-bucketed record batches."""
    n = len(part)
    table = pa.table(
        [_fsb(part.digests, n), part.labels, part.sources, part.locators, _fsb(part.leaves, n)], schema=SPILL_SCHEMA
    )
    buckets = 1 << bits
    if bits and n:
        top = np.frombuffer(part.digests, dtype=np.uint8).reshape(n, 32)[:, :2].astype(np.uint16)
        bucket = ((top[:, 0] << 8) | top[:, 1]) >> (16 - bits)
        order = np.argsort(bucket, kind="stable")
        table = table.take(pa.array(order))
        bounds = np.searchsorted(bucket[order], np.arange(buckets + 1), side="left")
    else:
        bounds = np.array([0] + [n] * buckets)
    table = table.combine_chunks()
    whole = table.to_batches()[0] if n else pa.RecordBatch.from_pylist([], schema=SPILL_SCHEMA)
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, SPILL_SCHEMA) as writer:
        for b in range(buckets):
            lo, hi = int(bounds[b]), int(bounds[b + 1])
            writer.write_batch(whole.slice(lo, hi - lo))
    return SpilledPart(
        path,
        n,
        list(part.columns),
        dict(part.types),
        part.label_type,
        part.label_kind,
        part.where,
        part.text,
        getattr(part, "sample", None),
    )


_RELEASE_ROWS = 1 << 19  # spill rows read between two releases of the pages read


class SpillFiles:
    """The spill files of a merge, each mapped once and read through Arrow's IPC file reader
    without copies (bucket ``b`` is record batch ``b`` of every file).

    A mapping kept through the merge would keep every spill page it touched resident (and
    counted in the process's memory); so after every ``_RELEASE_ROWS`` rows consumed the
    pages read so far are let go (``madvise(MADV_DONTNEED)``: the kernel drops them from
    this process and reads them again from the page cache if touched).
    """

    def __init__(self, paths: list[str]):
        self.paths = paths
        self._maps: list[mmap.mmap] = []
        self.readers = []
        for path in paths:
            with open(path, "rb") as fh:
                self._maps.append(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
            self.readers.append(pa.ipc.open_file(pa.BufferReader(pa.py_buffer(self._maps[-1]))))
        self._since = 0

    def bucket_sizes(self, buckets: int) -> list[int]:
        """Rows of each of ``buckets`` digest buckets, summed over the files (from their footers)."""
        return [sum(r.get_batch(b).num_rows for r in self.readers) for b in range(buckets)]

    def bucket(self, b: int, columns: list[str] = SPILL_SCHEMA.names) -> pa.Table:
        """``columns`` of bucket ``b`` of every file, as one table (one chunk per column)."""
        batches = [x.select(columns) for x in (r.get_batch(b) for r in self.readers) if x.num_rows]
        schema = pa.schema([SPILL_SCHEMA.field(c) for c in columns])
        return pa.Table.from_batches(batches, schema=schema).combine_chunks()

    def consumed(self, rows: int) -> None:
        """Count ``rows`` read and used; let the pages read go every ``_RELEASE_ROWS``."""
        self._since += rows
        if self._since >= _RELEASE_ROWS and hasattr(mmap, "MADV_DONTNEED"):
            for mapped in self._maps:
                mapped.madvise(mmap.MADV_DONTNEED)
            self._since = 0

    def close(self) -> None:
        """Drop the readers and unmap the files (a mapping still referenced by Arrow goes with it)."""
        self.readers = []
        for mapped in self._maps:
            try:
                mapped.close()
            except BufferError:  # an Arrow buffer still points into it: unmapped when that goes
                pass
        self._maps = []


def allow_open_files(n: int) -> None:
    """Each spill file stays open through the merge; raise the soft limit if it is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard) if hard != resource.RLIM_INFINITY else n, hard))
