"""The manifest: one row per record, sorted by (digest, label), stored as plain Parquet.

A manifest is a value object: two manifests with the same entries are equal whatever
order their records arrived in, and its Merkle root (RFC 6962, ``merkle.py``) commits to
(digest, label, source) of every record, not to locators or batches.

The file is Parquet (:data:`PARQUET_OPTIONS`) with the columns of :data:`SCHEMA`: ``digest``
(fixed_size_binary(32), the record's content digest), ``label`` (string), ``source``
(string or null), ``batch`` (string or null) and ``locator`` (string: the 0-based row
number, ``file#row`` in a folder of tables, or the path relative to a tree's root), sorted
by (digest, label, source, batch, locator). Its key-value metadata holds
``prov.digest_algorithm`` (e.g. ``sha256/prov-row-v1``) and ``prov.merkle_root`` (hex),
for people and other tools; prov recomputes the root rather than trusting the metadata.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provenance import fastsha
from provenance.encoding import ROW_DIGEST_ALGORITHM, encode_label, encode_value, split_digests
from provenance.errors import InputError, VerificationError
from provenance.merkle import merkle_root_of_blob

if TYPE_CHECKING:  # batch_copies imports this module
    from provenance.profiles.batch_copies import BatchCopies

SCHEMA = pa.schema(
    [
        pa.field("digest", pa.binary(32), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("batch", pa.string()),
        pa.field("locator", pa.string(), nullable=False),
    ]
)
_SORT_KEYS = [
    ("digest", "ascending"),
    ("label", "ascending"),
    ("source", "ascending"),
    ("batch", "ascending"),
    ("locator", "ascending"),
]
PARQUET_OPTIONS = {
    "compression": {"digest": "none", "label": "zstd", "source": "zstd", "batch": "zstd", "locator": "zstd"},
    "use_dictionary": ["label", "source", "batch"],
    "write_statistics": False,
}
"""How a manifest's Parquet file is written, in memory or streamed (the one setting both use, so a
manifest's bytes are a function of its rows). Dictionary pages only for the columns that repeat (a
dictionary tried on digests and locators is built, then thrown away); the digests are stored raw, as
zstd cannot shrink SHA-256 output; and no column statistics, which no reader of prov uses (min/max of
random digests and of locators select no row group). Since session 27; manifests written before, with
zstd digests and statistics, read and verify the same: the store names an object by the SHA-256 of its
bytes as written, and prov recomputes the root from the rows, never the bytes from the rows."""
_DIGEST_PREFIX = encode_value(b"\x00" * 32)[:-32]  # tag + length of a 32-byte value


class Manifest:
    """Sorted manifest rows, in memory or (for a large, streamed build) in a Parquet file.

    A file-backed manifest knows its length, root and counts without reading the file;
    ``table`` reads it on first use.
    """

    def __init__(
        self,
        table: pa.Table | None = None,
        digest_algorithm: str = ROW_DIGEST_ALGORITHM,
        meta: dict[str, str] | None = None,
        leaf_blob: bytes | None = None,
        *,
        path: str | None = None,
        root: bytes | None = None,
        rows: int | None = None,
        label_counts: dict[str, int] | None = None,
        source_counts: dict[str, int] | None = None,
        keepalive=None,
        label_kind: str = "string",
    ):
        if table is None and path is None:
            raise ValueError("a manifest needs a table or a path")
        self._table = table
        self.digest_algorithm = digest_algorithm
        self.meta = meta or {}
        self.leaf_blob = leaf_blob  # leaf hashes in table order, if known
        self.path = path
        self._rows = rows
        self._label_counts = label_counts
        self._source_counts = source_counts
        self._keepalive = keepalive  # e.g. the temporary folder holding ``path``
        self.label_kind = label_kind  # string | int | float | bool: how labels enter Merkle entries
        # The within-pseudo-batch copies of these rows (``profiles.batch_copies.BatchCopies``), when the merge
        # that sorted them counted them on the way (``ExternalSort.finish(row_numbers=True)``); None: not counted
        self.within_batches: BatchCopies | None = None
        if root is not None:
            self.__dict__["root"] = root

    @property
    def table(self) -> pa.Table:
        """The sorted rows as an Arrow table of :data:`SCHEMA` (read from ``path`` on first use)."""
        if self._table is None:
            self._table = pq.ParquetFile(self.path).read().replace_schema_metadata(None).cast(SCHEMA)
        return self._table

    def __repr__(self) -> str:
        return f"Manifest({len(self)} records, root {self.root.hex()[:16]})"

    @classmethod
    def build(
        cls,
        digests: Sequence[bytes],
        labels: Sequence[str],
        locators: Sequence[str],
        sources: Sequence[str | None] | None = None,
        batches: Sequence[str | None] | None = None,
        digest_algorithm: str = ROW_DIGEST_ALGORITHM,
        label_kind: str = "string",
    ) -> Manifest:
        """A sorted manifest from parallel per-record sequences (32-byte digests, labels, locators,
        and optionally sources and batches; ``None`` means all null)."""
        n = len(digests)
        table = pa.table(
            {
                "digest": pa.array(digests, pa.binary(32)),
                "label": pa.array(labels, pa.string()),
                "source": pa.array(sources if sources is not None else [None] * n, pa.string()),
                "batch": pa.array(batches if batches is not None else [None] * n, pa.string()),
                "locator": pa.array(locators, pa.string()),
            },
            schema=SCHEMA,
        )
        return cls.from_table(table, digest_algorithm, label_kind)

    @classmethod
    def from_table(
        cls, table: pa.Table, digest_algorithm: str = ROW_DIGEST_ALGORITHM, label_kind: str = "string"
    ) -> Manifest:
        """A sorted manifest from any Arrow table holding (at least) the :data:`SCHEMA` columns.

        ``label_kind`` is how its labels enter the Merkle entries (``encode_label``).
        Raises ``pyarrow.ArrowInvalid`` when a column cannot be cast to its manifest type.
        """
        table = table.select(SCHEMA.names).cast(SCHEMA)
        table = table.take(pc.sort_indices(table, sort_keys=_SORT_KEYS)).combine_chunks()
        return cls(table, digest_algorithm, label_kind=label_kind)

    @classmethod
    def from_parts(
        cls, parts: Sequence, digest_algorithm: str = ROW_DIGEST_ALGORITHM, batch: str | None = None
    ) -> Manifest:
        """Merge hashed partitions (digest and leaf blobs plus Arrow columns) into one sorted manifest."""
        n = sum(len(p.digests) // 32 for p in parts)
        kinds = {getattr(p, "label_kind", "string") for p in parts if len(p.digests)}
        label_kind = kinds.pop() if len(kinds) == 1 else "string"
        if n == 0:
            return cls(SCHEMA.empty_table(), digest_algorithm, leaf_blob=b"")
        digests = b"".join(p.digests for p in parts)
        leaves = b"".join(p.leaves for p in parts)
        table = pa.table(
            {
                "digest": pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(digests)]),
                "label": pa.concat_arrays([p.labels for p in parts]),
                "source": pa.concat_arrays([p.sources for p in parts]),
                "batch": pa.nulls(n, pa.string()) if batch is None else pa.array([batch] * n, pa.string()),
                "locator": pa.concat_arrays([p.locators for p in parts]),
                "_leaf": pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(leaves)]),
            }
        )
        order = pc.sort_indices(table, sort_keys=_SORT_KEYS)
        table = table.take(order).combine_chunks()
        leaf_col = table.column("_leaf").chunk(0)
        sorted_leaves = leaf_col.buffers()[1].to_pybytes()[leaf_col.offset * 32 : (leaf_col.offset + n) * 32]
        return cls(table.drop(["_leaf"]).cast(SCHEMA), digest_algorithm, leaf_blob=sorted_leaves, label_kind=label_kind)

    @classmethod
    def concat(
        cls, parts: Iterable[pa.Table], digest_algorithm: str = ROW_DIGEST_ALGORITHM, label_kind: str = "string"
    ) -> Manifest:
        """One sorted manifest from several manifest tables (an empty manifest from none)."""
        tables = [t.cast(SCHEMA) for t in parts]
        table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
        return cls.from_table(table, digest_algorithm, label_kind)

    # --- facts --------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._rows if self._rows is not None else self.table.num_rows

    @property
    def digests(self) -> list[bytes]:
        """Every record's 32-byte content digest, in manifest order."""
        return self.table.column("digest").to_pylist()

    @property
    def labels(self) -> list[str]:
        """Every record's label, in manifest order."""
        return self.table.column("label").to_pylist()

    @property
    def sources(self) -> list[str | None]:
        """Every record's source (``None`` when it has none), in manifest order."""
        return self.table.column("source").to_pylist()

    def iter_batches(self, columns: Sequence[str] | None = None, rows: int = 1 << 16) -> Iterator[pa.RecordBatch]:
        """The manifest's rows in manifest order as record batches of at most ``rows`` rows.

        ``columns`` (default: all of ``SCHEMA``) are the only ones read. A file-backed
        manifest (a large commit's) is read from its Parquet file one row group at a time,
        so a stage that streams through it holds one row group, never the whole manifest.
        """
        names = list(columns) if columns is not None else SCHEMA.names
        if self._table is not None or self.path is None:
            yield from self.table.select(names).to_batches(max_chunksize=rows)
            return
        reader = pq.ParquetFile(self.path, pre_buffer=False)
        for batch in reader.iter_batches(batch_size=rows, columns=names, use_threads=False):
            yield batch.replace_schema_metadata(None)

    def label_counts(self) -> dict[str, int]:
        """``{label: number of records}``, sorted by label."""
        if self._label_counts is not None:
            return dict(self._label_counts)
        return column_counts(self.table.column("label"))

    def source_counts(self) -> dict[str, int]:
        """``{source: number of records}``, sorted by source; records without one count under ``""``."""
        if self._source_counts is not None:
            return dict(self._source_counts)
        return column_counts(self.table.column("source"))

    def leaves(self) -> list[bytes]:
        """Leaf hashes in manifest order."""
        if self.leaf_blob is not None:
            return split_digests(self.leaf_blob)
        return split_digests(
            leaf_blob(
                self.table.column("digest"), self.table.column("label"), self.table.column("source"), self.label_kind
            )
        )

    @cached_property
    def root(self) -> bytes:
        """The 32-byte RFC 6962 Merkle root over the manifest's entries (``rfc6962-sha256``)."""
        from provenance.executor import LocalExecutor

        blob = self.leaf_blob
        if blob is None:
            blob = leaf_blob(
                self.table.column("digest"), self.table.column("label"), self.table.column("source"), self.label_kind
            )
        return merkle_root_of_blob(blob, LocalExecutor() if len(self) >= (1 << 17) else None)

    def entries(self) -> set[tuple[bytes, str, str | None]]:
        """The set of (digest, label, source) the root commits to."""
        return set(zip(self.digests, self.labels, self.sources))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and self.root == other.root and len(self) == len(other)

    def __hash__(self) -> int:
        return hash(self.root)

    # --- Parquet ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The manifest as Parquet file bytes (:data:`PARQUET_OPTIONS`, row groups of 2**20 rows, with prov metadata).

        A file-backed manifest returns its file's bytes unchanged.
        """
        if self._table is None and self.path is not None:
            return Path(self.path).read_bytes()
        meta = {"prov.digest_algorithm": self.digest_algorithm, "prov.merkle_root": self.root.hex()}
        if self.label_kind != "string":
            meta["prov.label_kind"] = self.label_kind
        table = self.table.replace_schema_metadata(meta)
        sink = io.BytesIO()
        pq.write_table(table, sink, row_group_size=1 << 20, **PARQUET_OPTIONS)
        return sink.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "manifest") -> Manifest:
        """Read a manifest from Parquet bytes and check it, naming ``name`` in errors.

        Raises ``VerificationError`` (exit 1) when the bytes are not readable Parquet, the
        columns differ from :data:`SCHEMA`, or the rows are not in manifest order.
        """
        try:
            # ParquetFile, not pq.read_table: that goes through pyarrow.dataset, which imports pandas (0.3-0.6 s)
            table = pq.ParquetFile(pa.BufferReader(data)).read()
        except (pa.ArrowException, OSError) as exc:
            raise VerificationError(f"{name}: not a readable manifest ({exc})") from exc
        if table.schema.remove_metadata() != SCHEMA.remove_metadata():
            raise VerificationError(f"{name}: manifest columns are {table.schema.names}, expected {SCHEMA.names}")
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        algorithm = meta.get("prov.digest_algorithm", ROW_DIGEST_ALGORITHM)
        manifest = cls(table.replace_schema_metadata(None), algorithm, label_kind=meta.get("prov.label_kind", "string"))
        if manifest.table.num_rows > 1:
            again = cls.from_table(manifest.table, manifest.digest_algorithm, manifest.label_kind)
            if not again.table.equals(manifest.table):
                raise VerificationError(f"{name}: manifest rows are not sorted by (digest, label)")
        return manifest

    @classmethod
    def read(cls, path: str | Path) -> Manifest:
        """Read and check a manifest file; ``InputError`` if unreadable, else as :meth:`from_bytes`."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read manifest ({exc.strerror})") from exc
        return cls.from_bytes(data, str(path))


def column_counts(column: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """``{value: count}`` sorted by value, a null counted as ""."""
    counts = pc.value_counts(pc.fill_null(column, ""))
    return dict(sorted(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())))


def leaf_blob(
    digests: pa.Array | pa.ChunkedArray,
    labels: pa.Array | pa.ChunkedArray,
    sources: pa.Array | pa.ChunkedArray,
    label_kind: str = "string",
) -> bytes:
    """Leaf hashes (RFC 6962: SHA-256(0x00 || entry)) of (digest, label, source) rows, concatenated.

    ``digests`` is a ``binary(32)`` Arrow array, ``labels`` and ``sources`` string arrays
    of the same length (a null source is no source, ``N``; every string, ``"\\x00"`` included, is
    ``S``: ``merkle.merkle_entry`` for every source). (label, source) pairs repeat, so each
    distinct pair's encoding is made once and rows refer to it by code; digests are read
    straight from the Arrow buffer and the whole batch is hashed in one ``fastsha`` call.
    A label enters its entry typed by ``label_kind`` (``encode_label``): text as S (as in every
    manifest before label kinds), an integer label as I, a float as F, a boolean as B.
    Gives the bytes of ``merkle.leaf_hashes`` on the same rows.
    """
    n = len(digests)
    if n == 0:
        return b""
    label = pc.dictionary_encode(labels)
    # a null source is its own dictionary entry (None, encoded N): never a stand-in string, which a
    # source holding that string would share (attack review 3, finding 12: "\x00" took the leaf of no source)
    source = pc.dictionary_encode(sources, null_encoding="encode")
    if isinstance(label, pa.ChunkedArray):
        label, source = label.combine_chunks(), source.combine_chunks()
    n_src = max(len(source.dictionary), 1)
    pair = label.indices.to_numpy().astype(np.int64) * n_src + source.indices.to_numpy().astype(np.int64)
    if len(label.dictionary) * n_src <= 1 << 12:
        present, codes = np.arange(len(label.dictionary) * n_src), pair  # every pair: no sort needed
    else:  # many distinct sources: encode only the pairs that occur
        present, codes = np.unique(pair, return_inverse=True)
    label_values = label.dictionary.to_pylist()
    source_values = source.dictionary.to_pylist()
    suffixes = [
        encode_label(label_values[c // n_src], label_kind) + encode_value(source_values[c % n_src])
        for c in present.tolist()
    ]
    if isinstance(digests, pa.ChunkedArray):
        digests = digests.combine_chunks()
    buf = memoryview(digests.buffers()[1])[digests.offset * 32 : (digests.offset + n) * 32]
    return fastsha.sha256_keyed(b"\x00" + _DIGEST_PREFIX, buf, codes, suffixes)


def digest_prefixes(digests: pa.Array | pa.ChunkedArray | np.ndarray) -> np.ndarray:
    """The first 8 bytes of each digest as an unsigned 64-bit integer, in byte order.

    ``digests`` is a ``binary(32)`` Arrow array without nulls (chunked or not), or a numpy
    ``S32`` array (:func:`digest_matrix`). Read as
    big-endian, so comparing two keys compares the digests' first 8 bytes: sorting by key
    sorts by digest up to digests that share their first 8 bytes. Returns a ``uint64``
    array of ``len(digests)`` (a copy of 8 bytes per row).
    """
    if isinstance(digests, np.ndarray):
        return np.ascontiguousarray(digests).view(">u8").reshape(-1, 4)[:, 0].astype(np.uint64)
    if isinstance(digests, pa.ChunkedArray):
        digests = digests.combine_chunks()
    n = len(digests)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    whole = np.frombuffer(digests.buffers()[1], dtype=np.uint8, count=32 * n, offset=32 * digests.offset)
    return np.ascontiguousarray(whole.reshape(n, 32)[:, :8]).view(">u8").reshape(n).astype(np.uint64)


def digest_matrix(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A ``fixed_size_binary(32)`` digest column as a numpy ``S32`` array (no copy when it has one chunk)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return np.frombuffer(array.buffers()[1], dtype="S32", count=len(array), offset=array.offset * 32)
