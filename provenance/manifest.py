"""The manifest: one row per record, sorted by (digest, label), stored as plain Parquet.

A manifest is a value object: two manifests with the same entries are equal whatever
order their records arrived in, and its Merkle root commits to (digest, label, source)
of every record, not to locators or batches.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import InputError, VerificationError
from .hashing import ROW_DIGEST_ALGORITHM, encode_value, merkle_root_of_blob, split_digests

SCHEMA = pa.schema(
    [
        pa.field("digest", pa.binary(32), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("batch", pa.string()),
        pa.field("locator", pa.string(), nullable=False),
    ]
)
_SORT_KEYS = [("digest", "ascending"), ("label", "ascending"), ("source", "ascending"),
              ("batch", "ascending"), ("locator", "ascending")]
_DIGEST_PREFIX = encode_value(b"\x00" * 32)[:-32]  # tag + length of a 32-byte value


@dataclass(frozen=True, eq=False)
class Manifest:
    table: pa.Table
    digest_algorithm: str = ROW_DIGEST_ALGORITHM
    meta: dict[str, str] = field(default_factory=dict)
    leaf_blob: bytes | None = field(default=None, repr=False)  # leaf hashes in table order, if known

    @classmethod
    def build(
        cls,
        digests: Sequence[bytes],
        labels: Sequence[str],
        locators: Sequence[str],
        sources: Sequence[str | None] | None = None,
        batches: Sequence[str | None] | None = None,
        digest_algorithm: str = ROW_DIGEST_ALGORITHM,
    ) -> "Manifest":
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
        return cls.from_table(table, digest_algorithm)

    @classmethod
    def from_table(cls, table: pa.Table, digest_algorithm: str = ROW_DIGEST_ALGORITHM) -> "Manifest":
        table = table.select(SCHEMA.names).cast(SCHEMA)
        table = table.take(pc.sort_indices(table, sort_keys=_SORT_KEYS)).combine_chunks()
        return cls(table, digest_algorithm)

    @classmethod
    def from_parts(cls, parts: Sequence, digest_algorithm: str = ROW_DIGEST_ALGORITHM,
                   batch: str | None = None) -> "Manifest":
        """Merge hashed partitions (digest and leaf blobs plus Arrow columns) into one sorted manifest."""
        n = sum(len(p.digests) // 32 for p in parts)
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
        return cls(table.drop(["_leaf"]).cast(SCHEMA), digest_algorithm, leaf_blob=sorted_leaves)

    @classmethod
    def concat(cls, parts: Iterable[pa.Table], digest_algorithm: str = ROW_DIGEST_ALGORITHM) -> "Manifest":
        tables = [t.cast(SCHEMA) for t in parts]
        table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
        return cls.from_table(table, digest_algorithm)

    # --- facts --------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def digests(self) -> list[bytes]:
        return self.table.column("digest").to_pylist()

    @property
    def labels(self) -> list[str]:
        return self.table.column("label").to_pylist()

    @property
    def sources(self) -> list[str | None]:
        return self.table.column("source").to_pylist()

    def label_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    def source_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(s if s is not None else "" for s in self.sources).items()))

    def leaves(self) -> list[bytes]:
        """Leaf hashes in manifest order."""
        if self.leaf_blob is not None:
            return split_digests(self.leaf_blob)
        return split_digests(leaf_blob(self.table.column("digest"), self.table.column("label"), self.table.column("source")))

    @cached_property
    def root(self) -> bytes:
        from .executor import LocalExecutor

        blob = self.leaf_blob
        if blob is None:
            blob = leaf_blob(self.table.column("digest"), self.table.column("label"), self.table.column("source"))
        return merkle_root_of_blob(blob, LocalExecutor() if len(self) >= (1 << 17) else None)

    def entries(self) -> set[tuple[bytes, str, str | None]]:
        return set(zip(self.digests, self.labels, self.sources))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and self.root == other.root and len(self) == len(other)

    def __hash__(self) -> int:
        return hash(self.root)

    # --- Parquet ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        table = self.table.replace_schema_metadata(
            {"prov.digest_algorithm": self.digest_algorithm, "prov.merkle_root": self.root.hex()}
        )
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd", row_group_size=1 << 20)
        return sink.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "manifest") -> "Manifest":
        try:
            table = pq.read_table(io.BytesIO(data))
        except (pa.ArrowException, OSError) as exc:
            raise VerificationError(f"{name}: not a readable manifest ({exc})") from exc
        if table.schema.remove_metadata() != SCHEMA.remove_metadata():
            raise VerificationError(f"{name}: manifest columns are {table.schema.names}, expected {SCHEMA.names}")
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        manifest = cls(table.replace_schema_metadata(None), meta.get("prov.digest_algorithm", ROW_DIGEST_ALGORITHM))
        if manifest.table.num_rows > 1:
            again = cls.from_table(manifest.table, manifest.digest_algorithm)
            if not again.table.equals(manifest.table):
                raise VerificationError(f"{name}: manifest rows are not sorted by (digest, label)")
        return manifest

    @classmethod
    def read(cls, path: str | Path) -> "Manifest":
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read manifest ({exc.strerror})") from exc
        return cls.from_bytes(data, str(path))


def leaf_blob(digests: pa.Array | pa.ChunkedArray, labels, sources) -> bytes:
    """Leaf hashes of (digest, label, source) rows, concatenated.

    (label, source) pairs repeat, so each pair's encoding is made once and rows refer to
    it by dictionary code; digests are sliced straight from the Arrow buffer.
    """
    n = len(digests)
    if n == 0:
        return b""
    label = pc.dictionary_encode(labels)
    source = pc.dictionary_encode(pc.fill_null(sources, "\x00"))
    if isinstance(label, pa.ChunkedArray):
        label, source = label.combine_chunks(), source.combine_chunks()
    n_src = max(len(source.dictionary), 1)
    codes = (label.indices.to_numpy().astype(np.int64) * n_src + source.indices.to_numpy()).tolist()
    label_values = label.dictionary.to_pylist()
    source_values = [None if s == "\x00" else s for s in source.dictionary.to_pylist()]
    head = b"\x00" + _DIGEST_PREFIX
    suffix_of = {c: encode_value(label_values[c // n_src]) + encode_value(source_values[c % n_src]) for c in set(codes)}
    if isinstance(digests, pa.ChunkedArray):
        digests = digests.combine_chunks()
    buf = digests.buffers()[1].to_pybytes()[digests.offset * 32 : (digests.offset + n) * 32]
    sha = hashlib.sha256
    out = bytearray()
    for i, c in enumerate(codes):
        out += sha(head + buf[i * 32 : i * 32 + 32] + suffix_of[c]).digest()
    return bytes(out)
