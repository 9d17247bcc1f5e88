"""Streaming commit: the bucketed external sort, the incremental root and the batch fast paths
give the same bytes as the in-memory reference code."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import encoding, fastsha, merkle
from provenance.encoding import split_digests, table_digest_blob
from provenance.executor import InlineExecutor, LocalExecutor
from provenance.manifest import Manifest, leaf_blob
from provenance.merkle import MerkleBuilder, merkle_root
from provenance.sources.build import build_manifest
from provenance.sources.external_sort import ExternalSort, bucket_bits
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import HashedPart
from support import digits_table

needs_fast = pytest.mark.skipif(not fastsha.available(), reason="the fastsha extension is not built")


class SmallChunks(MerkleBuilder):
    CHUNK_BITS = 2  # exercise chunk boundaries with few leaves


@pytest.mark.parametrize("builder", [MerkleBuilder, SmallChunks])
def test_incremental_root_equals_rfc6962_root(builder):
    rng = np.random.default_rng(0)
    for n in list(range(0, 40)) + [63, 64, 65, 127, 128, 129, 1000]:
        leaves = [rng.bytes(32) for _ in range(n)]
        b = builder()
        cuts = sorted(rng.integers(0, n + 1, 3)) if n else []
        start = 0
        for cut in list(cuts) + [n]:
            b.add_blob(b"".join(leaves[start:cut]))
            start = cut
        assert b.root() == merkle_root(leaves), n
        assert b.size == n


@needs_fast
def test_fast_paths_give_the_reference_bytes():
    rng = np.random.default_rng(1)
    rows = [rng.bytes(int(k)) for k in rng.integers(0, 300, 500)]
    prefix = b"R\x02header"
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    expected = b"".join(hashlib.sha256(prefix + r).digest() for r in rows)
    assert fastsha.sha256_rows(prefix, b"".join(rows), offsets) == expected
    matrix = rng.integers(0, 256, (300, 70), dtype=np.uint8)
    assert fastsha.sha256_fixed(b"", matrix) == b"".join(hashlib.sha256(r.tobytes()).digest() for r in matrix)
    for n in (1, 2, 3, 5, 8, 1000, 1025):
        blob = rng.bytes(32 * n)
        assert fastsha.merkle_root(blob) == merkle_root(split_digests(blob))


@needs_fast
def test_table_digests_and_leaves_match_the_row_by_row_reference():
    t = digits_table(300)
    t = t.append_column("note", pa.array([None if i % 7 == 0 else f"n{i}é" for i in range(300)]))
    t = t.append_column(
        "score", pa.array([float("nan") if i % 5 == 0 else -0.0 if i % 3 == 0 else i / 3 for i in range(300)])
    )
    t = t.append_column("flag", pa.array([i % 2 == 0 for i in range(300)]))
    for cols in (
        [c for c in t.column_names if c.startswith("px")] + ["score", "flag"],
        [c for c in t.column_names if c != "label"],
    ):
        reference = b"".join(encoding.row_digest({c: row[c] for c in cols}) for row in t.to_pylist())
        assert table_digest_blob(t, cols) == reference
    digests = pa.array([hashlib.sha256(str(i).encode()).digest() for i in range(300)], pa.binary(32))
    labels = pa.array([str(i % 4) for i in range(300)])
    sources = pa.array([None if i % 3 else "vendor-é" for i in range(300)])
    expected = b"".join(merkle.leaf_hashes(digests.to_pylist(), labels.to_pylist(), sources.to_pylist()))
    assert leaf_blob(digests, labels, sources) == expected


def _parts(n_parts: int, rows: int, seed: int = 0) -> list[HashedPart]:
    rng = np.random.default_rng(seed)
    parts = []
    for p in range(n_parts):
        digests = rng.bytes(32 * rows)
        if p == 1:  # the same content under two labels, and twice under one label
            digests = digests[:32] * 3 + digests[96:]
        labels = pa.array([f"c{i % 3}" for i in range(rows)])
        sources = pa.array([None if i % 2 else f"s{p}" for i in range(rows)], pa.string())
        locators = pa.array([f"f{p}#{i}" for i in range(rows)])
        parts.append(HashedPart(digests, labels, sources, locators, ["x"]).finish(None))
    return parts


def test_bucketed_sort_equals_the_in_memory_manifest():
    parts = _parts(5, 700)
    reference = Manifest.from_parts(parts, batch="b1")
    for expected_rows in (10, 10**6, 10**9):  # 1, 4 and 4096 buckets
        sorter = ExternalSort(expected_rows)
        assert sorter.bits == bucket_bits(expected_rows)
        for i, part in enumerate(parts):
            sorter.add(part, i)
        got = sorter.finish(batch="b1")
        assert got.root == reference.root and len(got) == len(reference) == 3500
        assert got.table.equals(reference.table)
        assert got.label_counts() == reference.label_counts() and got.source_counts() == reference.source_counts()
        # the file is an ordinary manifest: the same bytes as writing the in-memory one
        assert got.to_bytes() == reference.to_bytes()
        again = Manifest.from_bytes(got.to_bytes())
        assert again.root == reference.root and again.leaves() == reference.leaves()


def test_an_empty_dataset_part_gives_the_empty_manifest():
    sorter = ExternalSort(0)
    sorter.add(HashedPart().finish(None), 0)
    m = sorter.finish()
    assert len(m) == 0 and m.root == merkle.EMPTY_ROOT and m.table.num_rows == 0


def test_spill_files_are_gone_after_the_merge_and_the_folder_with_the_manifest(workdir):
    pq.write_table(digits_table(500), workdir / "d.parquet", row_group_size=50)
    hashed = build_manifest(DatasetSpec(str(workdir / "d.parquet")), executor=LocalExecutor(2))
    folder = os.path.dirname(hashed.manifest.path)
    assert os.listdir(folder) == ["manifest.parquet"]
    root = hashed.manifest.root
    del hashed
    import gc

    gc.collect()
    assert not os.path.exists(folder)
    assert build_manifest(DatasetSpec(str(workdir / "d.parquet")), executor=InlineExecutor()).manifest.root == root
