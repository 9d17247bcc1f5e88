"""Build a manifest from hashed partitions in bounded memory: an external bucket sort.

Each partition's rows are spilled to one Arrow IPC file, split into ``2**bits`` record
batches by the top bits of their digest (batch ``b`` holds bucket ``b``; digests are
SHA-256, so buckets are even). Then, bucket by bucket in digest order, the batches of
every spill file are read, sorted, appended to the manifest's Parquet file and fed to
an incremental Merkle root. Memory holds one bucket, not the dataset.

Where workers share our filesystem (local processes) they spill themselves and return
only the file's name; a cluster worker returns its rows and we spill them here. Either
way the files, and so the manifest, are the same.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provenance.encoding import ROW_DIGEST_ALGORITHM
from provenance.manifest import PARQUET_OPTIONS, SCHEMA, Manifest, digest_prefixes
from provenance.merkle import MerkleBuilder, chunk_roots
from provenance.profiles.batch_copies import (
    COPY_PSEUDO_BATCHES,
    BatchCopyCounter,  # the one count: manifest_batch_copies
    batch_rows,
)
from provenance.sources import memory
from provenance.sources.parquet_footer import fill_placeholder
from provenance.sources.spill import (
    SpilledPart,
    SpillFiles,
    allow_open_files,
    bucket_bits,
    spill_part,
)

SORT_KEYS = [  # the manifest's row order (the profile sample's capture keeps copies by it too)
    ("digest", "ascending"),
    ("label", "ascending"),
    ("source", "ascending"),
    ("locator", "ascending"),
]
_SORT_COLUMNS = [name for name, _ in SORT_KEYS]


class ExternalSort:
    """Collects spilled partitions, then merges them bucket by bucket into a manifest file."""

    def __init__(self, expected_rows: int, workdir: str | None = None):
        self.bits = bucket_bits(expected_rows)
        self.dir = tempfile.mkdtemp(prefix="prov-sort-", dir=workdir)
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.dir, True)
        self.spilled: list[SpilledPart] = []

    merkle_builder = MerkleBuilder  # the root's builder; its CHUNK_BITS sets the subtrees hashed on threads

    def spill_path(self, index: int) -> str:
        """Where partition ``index`` spills: ``part-<index, 8 digits>.arrow`` in this sort's temporary folder."""
        return os.path.join(self.dir, f"part-{index:08d}.arrow")

    def add(self, result, index: int) -> SpilledPart:
        """Take a worker's result: a ``SpilledPart`` already on disk, or a ``HashedPart`` to spill."""
        if not isinstance(result, SpilledPart):
            result = spill_part(result, self.spill_path(index), self.bits)
        self.spilled.append(result)
        return result

    def finish(
        self,
        digest_algorithm: str = ROW_DIGEST_ALGORITHM,
        batch: str | None = None,
        label_kind: str = "string",
        row_numbers: bool = False,
    ) -> Manifest:
        """Merge the spilled buckets in digest order, in one pass that writes the manifest's
        Parquet file while computing its root, which the file's metadata then names.

        ``label_kind`` must be the kind every part's leaves were made with (``HashedPart.finish``).
        This is the second pass of an external bucket (distribution) sort, not a k-way merge:
        bucket ``b`` of every spill file is read and sorted whole (``sorted_order``), and
        buckets are taken in digest-prefix order, so the concatenation is sorted. Since every
        bucket's place in the tree is known from the bucket sizes, the sorting threads also hash
        its whole aligned subtrees of RFC 6962 leaves (made by the parts; ``merkle.chunk_roots``);
        this thread folds them into ``MerkleBuilder`` and writes the rows. The file is written
        with a random placeholder of the root's length in its metadata, which the root then
        replaces (``parquet_footer.fill_placeholder``): the same bytes as a file written knowing
        the root. ``batch`` names the batch of every row (None: null). Spill files are deleted.
        ``row_numbers`` says the locators are the bare row numbers 0..rows-1 of one table, each once
        (``build._build_table`` knows it from the reading): then the sorting threads also count the
        within-pseudo-batch copies the profile keeps (``Manifest.within_batches``, as
        ``profiles.batch_copies.manifest_batch_copies`` counts them from the manifest's rows; only
        rows whose digest repeats take part, so the count costs a compare a row), sparing the profile
        stage a second pass over every row (0.7 s of CPU at 10M rows).

        Returns:
            A ``Manifest`` backed by a Parquet file in this sort's temporary folder (kept
            while the manifest holds this sorter), with its root and per-label and
            per-source row counts (a null label or source is counted under ``""``).

        Raises:
            MemoryLimitError: the largest bucket would not fit the memory bound (exit 2).
        """
        rows = sum(p.rows for p in self.spilled)
        files = [p.path for p in self.spilled if p.rows]
        allow_open_files(len(files) + 64)
        spill = SpillFiles(files)
        sizes = spill.bucket_sizes(1 << self.bits)
        _check_merge_memory(sizes, files, rows)
        placeholder = os.urandom(32).hex()  # a root's length; no footer value can hold it by chance
        meta = {"prov.digest_algorithm": digest_algorithm, "prov.merkle_root": placeholder}
        if label_kind != "string":
            meta["prov.label_kind"] = label_kind
        path = os.path.join(self.dir, "manifest.parquet")
        counter = BatchCopyCounter(COPY_PSEUDO_BATCHES) if row_numbers and rows else None
        with ThreadPoolExecutor(_MERGE_THREADS) as pool:
            root, labels, sources = self.merge_pass(
                pool, spill, sizes, SCHEMA.with_metadata(meta), path, batch, counter
            )
        fill_placeholder(path, placeholder, root.hex())
        spill.close()
        for p in self.spilled:  # the spill files are no longer needed
            if os.path.exists(p.path):
                os.unlink(p.path)
        manifest = Manifest(
            None,
            digest_algorithm,
            label_kind=label_kind,
            path=path,
            root=root,
            rows=rows,
            label_counts=dict(sorted(labels.items())),
            source_counts=dict(sorted(sources.items())),
            keepalive=self,
        )
        if counter is not None:
            manifest.within_batches = counter.result(batch_rows(COPY_PSEUDO_BATCHES, rows))
        return manifest

    def merge_pass(
        self,
        pool: ThreadPoolExecutor,
        spill: SpillFiles,
        sizes: list[int],
        schema: pa.Schema,
        path: str,
        batch,
        copies: BatchCopyCounter | None = None,
    ) -> tuple[bytes, Counter, Counter]:
        """The pass of :meth:`finish`: the sorted rows written to the manifest's Parquet file
        ``path`` (``schema`` with the prov metadata) in row groups of 2**20 rows, as
        ``Manifest.to_bytes`` writes them, and the RFC 6962 root of their leaves.

        Buckets are read, sorted, their whole subtrees hashed and their manifest rows built two at a
        time on ``pool``'s threads (numpy, Arrow and the hashing release the GIL); this thread folds
        the subtrees in bucket order and writes the rows. ``sizes`` are the rows of each bucket.
        With ``copies``, each bucket's repeated records are counted into it (``finish``'s ``row_numbers``).
        Returns (root, label counts, source counts).
        """
        merkle = self.merkle_builder()
        labels: Counter = Counter()
        sources: Counter = Counter()
        starts = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        rows = starts[-1] if copies is not None else 0
        thunks = (
            _merge_bucket(spill, b, starts[b], merkle.CHUNK_BITS, batch, rows) for b in range(len(sizes)) if sizes[b]
        )
        with pq.ParquetWriter(path, schema, **PARQUET_OPTIONS) as writer:
            pending: list[pa.Table] = []
            held = 0
            for (head, roots, tail), (table, label_counts, source_counts), copied in _in_order(
                pool, thunks, _MERGE_THREADS + 1
            ):
                if copied is not None and copies is not None:
                    copies.add(*copied)
                spill.consumed(table.num_rows)
                merkle.add_blob(head)
                merkle.add_chunk_roots(roots)
                merkle.add_blob(tail)
                labels.update(label_counts)
                sources.update(source_counts)
                pending.append(table)
                held += table.num_rows
                while held >= _ROW_GROUP:
                    pending, held = _write_group(writer, pending, _ROW_GROUP)
            if held:
                _write_group(writer, pending, held)
        return merkle.root(), labels, sources


_ROW_GROUP = 1 << 20


def _check_merge_memory(sizes: list[int], files: list[str], rows: int) -> None:
    """Stop with ``MemoryLimitError`` (exit 2) before a merge whose largest bucket, with the
    row group being written, would pass the memory bound.
    Buckets are even for distinct records; one grows only with many copies of the same record."""
    if not rows:
        return
    per_row = sum(os.path.getsize(f) for f in files) / rows
    biggest, bucket = max((n, b) for b, n in enumerate(sizes))
    need = memory.PROCESS_BASE + int(
        per_row * (memory.BUCKET_COPIES * (_MERGE_THREADS + 1) * biggest + 2 * min(rows, _ROW_GROUP))
    )
    skewed = biggest > 2 * rows / len(sizes) + 1000  # SHA-256 buckets are even unless records repeat
    memory.check(
        need,
        memory.memory_limit(),
        f"merging {rows:,} records (digest bucket {bucket} holds {biggest:,}"
        + (", most of them copies of the same records)" if skewed else ")"),
        "remove duplicate records" if skewed else "commit the data in smaller datasets",
    )


def _write_group(writer, pending: list[pa.Table], n: int) -> tuple[list[pa.Table], int]:
    """Write the first ``n`` rows of ``pending`` as one row group; return what is left.

    The buckets' tables go to the writer as the chunks of one table, not copied into one chunk first:
    Arrow's Parquet writer gives the same bytes however a row group's rows are chunked (pinned by
    ``test_a_merge_of_many_buckets_writes_the_bytes_of_the_manifest_written_in_memory``), and the
    copies cost ~0.05 s of CPU per million rows. What is left stays a slice of the last bucket's table."""
    table = pa.concat_tables(pending)
    writer.write_table(table.slice(0, n), row_group_size=n)
    rest = table.slice(n)
    return ([rest] if rest.num_rows else []), rest.num_rows


_MERGE_THREADS = 2


def _merge_bucket(spill: SpillFiles, b: int, start: int, bits: int, batch: str | None, rows: int = 0):
    """A thunk sorting bucket ``b`` of every spill file, for a bucket whose first leaf is leaf
    ``start`` of the tree: its leaf hashes in manifest order split by ``merkle.chunk_roots``
    (head, subtree roots, tail), (manifest rows in digest order, label counts, source counts), and, with
    ``rows`` (the manifest's, whose locators are its row numbers), ``_repeated_rows``' (record, pseudo-batch)
    of the bucket's repeated records (None when none repeats or without ``rows``)."""

    def run():
        table = spill.bucket(b)
        n = table.num_rows
        order = sorted_order(table)
        leaves = _take32(table.column("leaf").chunk(0), order).tobytes()
        indices = pa.array(order)
        digests = _take32(table.column("digest").chunk(0), order)
        out = pa.table(
            [
                pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(digests)]),
                table.column("label").take(indices),
                table.column("source").take(indices),
                pa.nulls(n, pa.string()) if batch is None else pa.repeat(batch, n),
                table.column("locator").take(indices),
            ],
            schema=SCHEMA,
        )
        copied = _repeated_rows(table, order, digests, rows) if rows else None
        return (
            chunk_roots(leaves, start, bits),
            (out, _counts(table.column("label")), _counts(table.column("source"))),
            copied,
        )

    return run


def _repeated_rows(table: pa.Table, order: np.ndarray, digests: np.ndarray, rows: int):
    """(groups, batches) of the rows of ``table`` whose digest another row shares, in manifest order: ``groups``
    numbers their records (never falling), ``batches`` is each row's pseudo-batch from its locator, a row number
    of ``rows`` (``profiles.batch_copies``: row * COPY_PSEUDO_BATCHES // rows); None when every digest is
    single. ``digests`` are the rows' digests in ``order`` (``_take32``). A record held once has no copy in
    any batch, so the rows left out add nothing to the count (``BatchCopyCounter.add``)."""
    same = digests[1:, 0] == digests[:-1, 0]  # the first 8 bytes first: a full compare only where they agree
    maybe = np.flatnonzero(same)
    if not len(maybe):
        return None
    same[maybe] = (digests[maybe + 1] == digests[maybe]).all(axis=1)
    if not same.any():
        return None
    in_run = np.zeros(len(digests), dtype=bool)
    in_run[1:] |= same
    in_run[:-1] |= same
    where = np.flatnonzero(in_run)
    opens = np.ones(len(where), dtype=bool)
    opens[1:] = ~same[where[1:] - 1]
    locators = table.column("locator").take(pa.array(order[where]))
    numbers = pc.cast(locators, pa.int64()).to_numpy(zero_copy_only=False)
    return np.cumsum(opens), numbers * COPY_PSEUDO_BATCHES // rows


def _in_order(pool: ThreadPoolExecutor, thunks, window: int):
    """Results of ``thunks`` run on ``pool``, in order, with at most ``window`` in flight."""
    pending: deque = deque()
    for thunk in thunks:
        pending.append(pool.submit(thunk))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _fixed32(array: pa.FixedSizeBinaryArray) -> np.ndarray:
    """A ``binary(32)`` array without nulls as an ``n x 32`` uint8 matrix over its buffer (no copy)."""
    n = len(array)
    return np.frombuffer(array.buffers()[1], dtype=np.uint8, count=32 * n, offset=32 * array.offset).reshape(n, 32)


def _take32(array: pa.FixedSizeBinaryArray, order: np.ndarray) -> np.ndarray:
    """The 32-byte values of ``array`` (no nulls) in ``order``, as an ``n x 4`` uint64 matrix:
    ``np.take`` of four words per row is ~10x faster than fancy indexing of 32 bytes."""
    return np.take(_fixed32(array).view(np.uint64), order, axis=0)


def sorted_order(table: pa.Table, keys=None) -> np.ndarray:
    """Row order of ``table`` by (digest, label, source, locator): the manifest's order.

    ``table`` has one chunk per column; ``digest`` is ``binary(32)``. Rows are sorted on the
    digest's first 6 bytes with numpy (``_radix_order``; digests are SHA-256, so a prefix repeats
    only for copies of one record, or by chance, rarely); only rows whose prefix repeats go through
    Arrow's full four-key sort, whose order (nulls last, bytes compared) is the reference order.
    The four keys are read from ``table``, or from ``keys()`` (a table of the same rows)
    when given: only when a prefix repeats. Returns an int64 permutation.
    """
    n = table.num_rows
    key = digest_prefixes(table.column("digest").chunk(0)) >> np.uint64(16)  # big-endian: integer order is byte order
    # Not a stable order of rows: rows of equal prefix are ordered by the full key below, and
    # rows equal in all four keys are equal in every column.
    order = _radix_order(key)
    ordered = key[order]
    tie = ordered[1:] == ordered[:-1]
    if tie.any():
        in_run = np.zeros(n, dtype=bool)
        in_run[1:] |= tie
        in_run[:-1] |= tie
        where = np.flatnonzero(in_run)
        rows = order[where]
        tied = (table if keys is None else keys()).select(["digest", "label", "source", "locator"])
        tied = tied.take(pa.array(rows))
        # Runs of equal prefix are contiguous in ``order`` and in prefix order, so one sort of
        # all tied rows by the full key puts each run's rows back in its own positions.
        order[where] = rows[pc.sort_indices(tied, sort_keys=SORT_KEYS).to_numpy()]
    return order.astype(np.int64, copy=False)


def _radix_order(key: np.ndarray) -> np.ndarray:
    """The order sorting ``key`` (uint64 values below 2**48): an LSD radix sort of three 16-bit digits.

    numpy's stable argsort of ``uint16`` is a counting sort, so three passes cost ~4x less than
    a comparison sort (argsort of the 64-bit prefix: ~16 ms per bucket of 250,000 rows here, 0.7 s
    of CPU at 10M rows). 48 bits leave a few rows whose prefixes agree by chance, which
    ``sorted_order`` orders by the full key as it orders copies."""
    order = np.argsort(key.astype(np.uint16), kind="stable")
    for shift in (16, 32):
        digit = (key >> np.uint64(shift)).astype(np.uint16)
        order = order[np.argsort(digit[order], kind="stable")]
    return order


def _counts(column) -> dict:
    counts = pc.value_counts(pc.fill_null(column, ""))
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))


def sorted_manifest(
    parts,
    expected_rows: int,
    digest_algorithm: str = ROW_DIGEST_ALGORITHM,
    batch: str | None = None,
    label_kind: str = "string",
) -> Manifest:
    """A manifest from in-memory ``HashedPart``s (DVC revisions, small inputs), by the same route.

    ``expected_rows`` sizes the buckets (``bucket_bits``); the other arguments are
    ``ExternalSort.finish``'s. Raises ``MemoryLimitError`` (exit 2) as ``finish`` does.
    """
    sorter = ExternalSort(expected_rows)
    for i, part in enumerate(parts):
        sorter.add(part, i)
    return sorter.finish(digest_algorithm, batch, label_kind)
