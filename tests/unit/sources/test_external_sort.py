"""Streaming commit: the bucketed external sort, the incremental root and the batch fast paths
give the same bytes as the in-memory reference code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from provenance import fastsha, merkle
from provenance.executor import InlineExecutor, LocalExecutor
from provenance.manifest import Manifest
from provenance.merkle import MerkleBuilder, merkle_root
from provenance.profiles.batch_copies import COPY_PSEUDO_BATCHES, manifest_batch_copies
from provenance.profiles.stage import manifest_within_batches
from provenance.sources import external_sort
from provenance.sources.build import build_manifest
from provenance.sources.external_sort import ExternalSort, sorted_order
from provenance.sources.interface import DatasetSpec
from provenance.sources.spill import bucket_bits
from provenance.sources.tables import HashedPart
from support import digits_table

PATHS = ["python", "compiled"] if fastsha.available() else ["python"]


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


@pytest.mark.parametrize("sha_path", PATHS)
def test_bucketed_sort_equals_the_in_memory_manifest(sha_path):
    with fastsha.forced(sha_path):
        parts = _parts(5, 700)
    reference = Manifest.from_parts(parts, batch="b1")
    for expected_rows in (10, 10**6, 10**9):  # 1, 4 and 4096 buckets
        sorter = ExternalSort(expected_rows)
        assert sorter.bits == bucket_bits(expected_rows)
        for i, part in enumerate(parts):
            sorter.add(part, i)
        with fastsha.forced(sha_path):
            got = sorter.finish(batch="b1")
        assert got.root == reference.root and len(got) == len(reference) == 3500
        assert got.table.equals(reference.table)
        assert got.label_counts() == reference.label_counts() and got.source_counts() == reference.source_counts()
        # the file is an ordinary manifest: the same bytes as writing the in-memory one
        assert got.to_bytes() == reference.to_bytes()
        again = Manifest.from_bytes(got.to_bytes())
        assert again.root == reference.root and again.leaves() == reference.leaves()


def test_a_merge_of_many_buckets_writes_the_bytes_of_the_manifest_written_in_memory():
    # 120,000 rows in 64 buckets: the row group reaches Arrow's writer as one chunk per bucket (the merge
    # does not copy them into one), and its digest and locator columns fill several data pages each
    # (1 MiB apiece: 32,768 digests), whose cuts must fall where one chunk would put them
    parts = _parts(4, 30_000, seed=7)
    reference = Manifest.from_parts(parts, batch="b2")
    sorter = ExternalSort(10**7)
    assert sorter.bits == 6
    for i, part in enumerate(parts):
        sorter.add(part, i)
    got = sorter.finish(batch="b2")
    assert got.root == reference.root and len(got) == 120_000
    assert got.to_bytes() == reference.to_bytes()
    pages = pq.ParquetFile(got.path).metadata.row_group(0).column(0)
    assert pages.total_compressed_size > 3 << 20 and pages.compression == "UNCOMPRESSED"


@pytest.mark.parametrize("chunk_bits", [2, 5, 9])
def test_subtrees_hashed_on_the_merge_threads_give_the_reference_root(chunk_bits):
    # 3,500 rows in 4 buckets of ~875: buckets start and end off chunk boundaries, hold
    # many chunks (2**2), a few (2**5), or none (2**9 leaves to the next boundary)
    parts = _parts(5, 700, seed=4)
    reference = Manifest.from_parts(parts)

    class Builder(MerkleBuilder):
        CHUNK_BITS = chunk_bits

    sorter = ExternalSort(10**6)
    sorter.merkle_builder = Builder
    for i, part in enumerate(parts):
        sorter.add(part, i)
    got = sorter.finish()
    assert got.root == reference.root == merkle_root(reference.leaves())
    assert got.to_bytes() == reference.to_bytes()


@pytest.mark.parametrize("start", [0, 1, 3, 4, 7, 8, 13])
def test_chunk_roots_split_leaves_at_their_place_in_the_tree(start):
    rng = np.random.default_rng(start)
    before = [rng.bytes(32) for _ in range(start)]
    for n in (0, 1, 2, 5, 9, 17, 40):
        leaves = [rng.bytes(32) for _ in range(n)]
        head, roots, tail = merkle.chunk_roots(b"".join(leaves), start, 2)
        assert len(head) // 32 + 4 * len(roots) + len(tail) // 32 == n
        assert roots == [merkle_root(leaves[i : i + 4]) for i in range(len(head) // 32, n - len(tail) // 32, 4)]
        builder = SmallChunks()
        builder.add_blob(b"".join(before))
        builder.add_blob(head)
        builder.add_chunk_roots(roots)
        builder.add_blob(tail)
        assert builder.root() == merkle_root(before + leaves)
    with pytest.raises(ValueError, match="whole chunks"):
        odd = SmallChunks()
        odd.add_blob(rng.bytes(32))
        odd.add_chunk_roots([rng.bytes(32)])


def test_prefix_sort_gives_the_four_key_order_when_prefixes_and_digests_repeat():
    rng = np.random.default_rng(3)
    pool = [rng.bytes(32) for _ in range(6)]
    pool += [pool[0][:8] + rng.bytes(24), pool[1][:12] + rng.bytes(20)]  # same 8-byte prefix, other digest
    n = 2000
    digests = [pool[i] for i in rng.integers(0, len(pool), n // 2)] + [rng.bytes(32) for _ in range(n // 2)]
    table = pa.table(
        {
            "digest": pa.array(digests, pa.binary(32)),
            "label": pa.array([f"c{i}" for i in rng.integers(0, 3, n)]),
            "source": pa.array([None if i == 0 else f"s{i}" for i in rng.integers(0, 3, n)], pa.string()),
            "locator": pa.array([f"f#{i}" for i in rng.permutation(n)]),
        }
    )
    keys = [(name, "ascending") for name in ("digest", "label", "source", "locator")]
    expected = table.take(pc.sort_indices(table, sort_keys=keys))
    assert table.take(pa.array(sorted_order(table))).equals(expected)


def test_the_radix_sort_orders_digests_that_differ_in_any_byte_of_the_prefix_or_after_it():
    # digests that share their first k bytes for every k from 0 to 9: each of the sort's three 16-bit digits
    # decides somewhere, and digests agreeing in all six sorted bytes (k >= 6) reach the full-key sort
    rng = np.random.default_rng(8)
    base = rng.bytes(32)
    digests = [base[:k] + rng.bytes(32 - k) for k in range(10) for _ in range(40)]
    digests += [rng.bytes(32) for _ in range(3000)]
    n = len(digests)
    table = pa.table(
        {
            "digest": pa.array(digests, pa.binary(32)),
            "label": pa.array([f"c{i}" for i in rng.integers(0, 3, n)]),
            "source": pa.array(["s"] * n, pa.string()),
            "locator": pa.array([str(i) for i in rng.permutation(n)]),
        }
    )
    keys = [(name, "ascending") for name in ("digest", "label", "source", "locator")]
    expected = table.take(pc.sort_indices(table, sort_keys=keys))
    assert table.take(pa.array(sorted_order(table))).equals(expected)


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


def test_a_file_backed_manifest_streams_its_rows_in_order_reading_only_the_columns_asked():
    parts = _parts(3, 500, seed=5)
    sorter = ExternalSort(10**6)
    for i, part in enumerate(parts):
        sorter.add(part, i)
    streamed = sorter.finish()
    assert streamed.path is not None
    in_memory = Manifest.from_parts(parts)
    for manifest in (streamed, in_memory):
        batches = list(manifest.iter_batches(["digest", "label"], rows=256))
        assert all(b.num_rows <= 256 and b.schema.names == ["digest", "label"] for b in batches)
        assert pa.Table.from_batches(batches).equals(in_memory.table.select(["digest", "label"]))
    assert pa.Table.from_batches(list(streamed.iter_batches())).equals(in_memory.table)


_STREAMED_COMMIT = """
import sys
from provenance.executor import LocalExecutor
from provenance.merkle import MerkleBuilder
from provenance.sources import external_sort, spill
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec

class SmallChunks(MerkleBuilder):
    CHUNK_BITS = 3

spill.ROWS_PER_BUCKET = 64  # 32 digest buckets for ~1,800 rows
external_sort.ExternalSort.merkle_builder = SmallChunks  # subtrees on the threads, across buckets' ends
hashed = build_manifest(DatasetSpec(sys.argv[1]), executor=LocalExecutor(2), batch="b7")
open(sys.argv[2], "wb").write(hashed.manifest.to_bytes())
"""


@pytest.mark.parametrize("sha_path", ["compiled", "python"])
def test_a_streamed_commit_writes_the_bytes_of_the_manifest_written_in_memory(sha_path, workdir):
    # A real Parquet folder (3 files: 3 partitions on 2 worker processes, 32 buckets; a source column
    # partly null, repeated records) committed by the merge in a fresh process on one SHA-256 path
    # (PROV_NO_FASTSHA=1: the pure-Python one). Its file must be byte for byte the file Arrow writes
    # for the same rows with the root known from the start (``Manifest.to_bytes`` of the rows read back).
    if sha_path == "compiled" and not fastsha.available():
        pytest.skip("the compiled fastsha extension is not built")
    digits = digits_table()  # 1,797 rows
    sources = pa.array([None if i % 3 else f"s{i % 2}" for i in range(1797)], pa.string())
    table = digits.append_column("source", sources)
    table = pa.concat_tables([table, table.slice(0, 40)])  # the same records twice
    Path("data").mkdir()
    for i, (start, n) in enumerate([(0, 700), (700, 600), (1300, 537)]):
        pq.write_table(table.slice(start, n), f"data/part{i}.parquet", row_group_size=100)
    env = {**os.environ, "PYTHONPATH": str(Path(external_sort.__file__).parents[2])}
    env.pop("PROV_NO_FASTSHA", None)
    if sha_path == "python":
        env["PROV_NO_FASTSHA"] = "1"
    subprocess.run([sys.executable, "-c", _STREAMED_COMMIT, "data", "m.parquet"], env=env, check=True)
    streamed = Path("m.parquet").read_bytes()
    reference = Manifest.from_bytes(streamed)  # rows read back; root recomputed from them
    assert len(reference) == 1837 and reference.table.column("batch").unique().to_pylist() == ["b7"]
    assert pq.read_metadata("m.parquet").metadata[b"prov.merkle_root"] == reference.root.hex().encode()
    assert streamed == reference.to_bytes()


def _streamed_copies(manifest: Manifest):
    """The within-pseudo-batch copies as the profile stage counts them without the merge's: every row read back."""
    return manifest_batch_copies(
        lambda: manifest.iter_batches(["digest", "locator"], rows=97), len(manifest), COPY_PSEUDO_BATCHES
    )


def _same_copies(got, expected) -> bool:
    return (got.rows.tolist(), got.copies.tolist(), got.most.tolist()) == (
        expected.rows.tolist(),
        expected.copies.tolist(),
        expected.most.tolist(),
    )


def test_the_merge_counts_the_within_batch_copies_the_manifest_rows_give():
    # 4 parts of row-numbered rows, shuffled across parts: records repeated within and across pseudo-batches
    # (some under another label), and digests that share their first 8 bytes but differ after (one record
    # each, not copies), in 1, 4 and 4096 buckets: the merge's count is the count of every row read back
    rng = np.random.default_rng(3)
    base = [rng.bytes(32) for _ in range(1500)]
    base[10:20] = [base[9][:8] + rng.bytes(24) for _ in range(10)]  # a shared prefix, other digests
    keys = list(range(1500)) + [int(k) for k in rng.integers(0, 60, 700)] + [k for k in range(9, 20)]
    order = rng.permutation(len(keys))
    parts = []
    for chunk in np.array_split(order, 4):
        digests = b"".join(base[keys[i]] for i in chunk)
        labels = pa.array([f"c{(keys[i] + (i % 5 == 0)) % 3}" for i in chunk])  # some copies relabeled
        locators = pa.array([str(i) for i in chunk])
        parts.append(HashedPart(digests, labels, pa.nulls(len(chunk), pa.string()), locators, ["x"]).finish("s"))
    for expected_rows in (10, 10**6, 10**9):
        sorter = ExternalSort(expected_rows)
        for i, part in enumerate(parts):
            sorter.add(part, i)
        got = sorter.finish(row_numbers=True)
        assert got.within_batches is not None and got.within_batches.copies.sum() > 0
        assert _same_copies(got.within_batches, _streamed_copies(got)), expected_rows
        assert manifest_within_batches(got) is got.within_batches  # the profile stage takes it, no second pass


@pytest.mark.parametrize("executor", [InlineExecutor(), LocalExecutor(2)])
def test_a_table_file_commits_with_the_copies_counted_and_a_folder_is_counted_from_its_rows(executor, workdir):
    # real digits with copies (the same rows again, some far from their first rows) in one Parquet file: the merge
    # counts them; in a folder the locators are file#row, which the profile stage ranks from the rows as before
    digits = digits_table()
    table = pa.concat_tables([digits, digits.slice(0, 300), digits.slice(1000, 50), digits.slice(5, 20)])
    pq.write_table(table, "one.parquet", row_group_size=200)
    hashed = build_manifest(DatasetSpec("one.parquet"), executor=executor)
    counted = hashed.manifest.within_batches
    assert counted is not None and counted.copies.sum() > 0
    assert _same_copies(counted, _streamed_copies(hashed.manifest))
    Path("data").mkdir()
    pq.write_table(table.slice(0, 1000), "data/a.parquet")
    pq.write_table(table.slice(1000), "data/b.parquet")
    folder = build_manifest(DatasetSpec("data"), executor=executor).manifest
    assert folder.within_batches is None
    assert _same_copies(manifest_within_batches(folder), _streamed_copies(folder))
