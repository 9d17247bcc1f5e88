"""What counting the base's within-pseudo-batch copies at check time costs (session 24).

The copies rule and ``detectors.extreme`` read the base's clumping (``profiles.batch_copies``). Session 23
read it from the base's signed profile (``load_profile(...).within_batch_copies``, the profile is read anyway);
session 24 counts it from the base's signed manifest object (``profiles.base_clumping.version_clumping``:
hash the object, stream its digest and locator columns, count). Timed here on a committed base of N rows
(a table: locators are row numbers; and a folder of 10 tables: ``file#row`` locators, ranked first), A/B
alternating in one process: A = the profile's arrays (session 23), B = the count (cache cleared each time).
The load (``uptime``) is recorded with each pair.

An image tree's locators are its paths (``class/file``), ranked by ``profiles.batch_copies.file_order_rank``
before the count. Until attack review 24b, one non-ASCII character anywhere in the column sent the whole
column to ``file_order``'s Python keys (15 s at 1M rows); Arrow ranks it now. Timed on a tree manifest of N
rows written as prov writes one (the count's streaming and ranking, no commit: 1M image files are not made
here), ASCII paths and the same with one non-ASCII directory name, A/B alternating: A = ``file_order``'s
Python keys (the path a non-ASCII column took before), B = Arrow's ranking (now), with whether both count
the same arrays.

    python bench/base_clumping_cost.py [rows, default 1000000] [pairs, default 5]

Writes bench/results/base-clumping-cost-ROWS.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from user_versions import PROV, load  # noqa: E402

from provenance.manifest import PARQUET_OPTIONS, SCHEMA  # noqa: E402
from provenance.profiles import base_clumping, batch_copies  # noqa: E402
from provenance.profiles.reference import PSEUDO_BATCHES  # noqa: E402
from provenance.profiles.stage import load_profile  # noqa: E402
from provenance.store import Store  # noqa: E402


def data(rows: int) -> pa.Table:
    """Two numeric columns and a label; a fifth of the rows repeat an earlier row (a record held 2-5 times)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=rows)
    repeat = rng.random(rows) < 0.2
    a[repeat] = a[rng.integers(0, rows, repeat.sum())]
    return pa.table({"a": a, "b": np.round(a * 3), "label": (np.abs(a * 7).astype(np.int64) % 5).astype(str)})


TREE_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def tree_manifest(path: Path, rows: int, directory: str) -> None:
    """A manifest of an image tree of ``rows`` files, ``<class>/<n>.png`` with the class ``deer`` named
    ``directory``, written to ``path`` as prov writes a manifest (sorted by digest, zstd); a fifth of the files
    repeat an earlier file's bytes (a record held 2-5 times)."""
    rng = np.random.default_rng(1)
    record = np.arange(rows)
    repeat = rng.random(rows) < 0.2
    record[repeat] = rng.integers(0, rows, repeat.sum())
    pool = np.frombuffer(rng.bytes(32 * rows), np.uint8).reshape(rows, 32)
    digests = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), rows, [None, pa.py_buffer(pool[record].tobytes())])
    classes = [directory if c == "deer" else c for c in TREE_CLASSES]
    klass = np.arange(rows) * len(classes) // rows  # the tree in file order: one class directory after another
    locators = pa.array([f"{classes[k]}/{i:07d}.png" for i, k in enumerate(klass.tolist())], pa.string())
    n = pa.nulls(rows, pa.string())
    labels = pa.array([classes[k] for k in klass.tolist()], pa.string())
    table = pa.table([digests, labels, n, n, locators], schema=SCHEMA)
    table = table.take(pc.sort_indices(table, sort_keys=[("digest", "ascending"), ("locator", "ascending")]))
    pq.write_table(table, path, row_group_size=1 << 20, **PARQUET_OPTIONS)


def tree_count(path: Path, rows: int):
    """The within-pseudo-batch count of the manifest at ``path``, streamed as ``version_clumping`` streams one."""
    parquet = pq.ParquetFile(path)
    return batch_copies.manifest_batch_copies(
        lambda: parquet.iter_batches(batch_size=base_clumping.READ_ROWS, columns=["digest", "locator"]),
        rows,
        PSEUDO_BATCHES,
    )


def python_keys_count(path: Path, rows: int):
    """``tree_count`` with the ranking ``file_order``'s Python keys give (the path before attack review 24b)."""
    arrow_keys = batch_copies._file_order_keys
    batch_copies._file_order_keys = lambda column: None  # type: ignore[assignment]
    try:
        return tree_count(path, rows)
    finally:
        batch_copies._file_order_keys = arrow_keys


def committed(folder: Path, table: pa.Table, split: int) -> None:
    """``table`` committed as ``v1`` in ``folder`` (one file, or ``split`` files in a folder)."""
    subprocess.run([PROV, "init"], cwd=folder, check=True, capture_output=True)
    subprocess.run([PROV, "keys", "generate", "k"], cwd=folder, check=True, capture_output=True)
    if split == 1:
        pq.write_table(table, folder / "data.parquet")
        target = "data.parquet"
    else:
        (folder / "data").mkdir()
        step = -(-table.num_rows // split)
        for i in range(split):
            pq.write_table(table.slice(i * step, step), folder / "data" / f"part{i:02d}.parquet")
        target = "data"
    subprocess.run([PROV, "-q", "commit", target, "--tag", "v1", "--key", "k.key"], cwd=folder, check=True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    table = data(rows)
    lines = [
        f"# Base clumping at check: profile arrays (A, session 23) vs counted from the manifest (B, session 24), {rows:,} rows",
        "",
        f"`python bench/base_clumping_cost.py {rows} {pairs}`; {pairs} A/B pairs alternating in one process, "
        "median seconds; B clears the count's cache each time (what the first reader of a check pays).",
        "",
        "| layout | A: profile arrays (s) | B: manifest count (s) | B - A (s) | same arrays | load during (1 / 5 / 15 min) |",
        "|---|---|---|---|---|---|",
    ]
    for layout, split in (("one table (row numbers)", 1), ("folder of 10 tables (file#row)", 10)):
        with tempfile.TemporaryDirectory(prefix="clumping-bench-") as tmp:
            folder = Path(tmp)
            committed(folder, table, split)
            os.chdir(folder)
            store = Store.open(folder)
            a_times, b_times = [], []
            loads = [load()]
            for _ in range(pairs):
                a_times.append(timed(lambda: load_profile(store, "v1").within_batch_copies))
                base_clumping._COUNTED.clear()  # the first reader of a check: nothing counted yet
                b_times.append(timed(lambda: base_clumping.version_clumping(store, "v1")))
            loads.append(load())
            signed = load_profile(store, "v1").within_batch_copies
            same = not base_clumping.signed_clumping_differs(signed, base_clumping.version_clumping(store, "v1"))
            a, b = statistics.median(a_times), statistics.median(b_times)
            lines.append(f"| {layout} | {a:.3f} | {b:.3f} | {b - a:+.3f} | {same} | {' -> '.join(loads)} |")
            os.chdir(HERE)
    lines += [
        "",
        f"## An image tree's paths, {rows:,} files: ranked by file_order's Python keys (A) vs Arrow (B)",
        "",
        "The count of a tree manifest (`tree_manifest`: 10 class directories, a fifth of the files repeated), "
        "streamed and ranked as `version_clumping` does (no object hashing, no commit); "
        f"{pairs} A/B pairs alternating, median seconds. A non-ASCII column took A before attack review 24b; "
        "an ASCII one took B already.",
        "",
        "| layout | A: Python keys (s) | B: Arrow (s) | A / B | same arrays | load during (1 / 5 / 15 min) |",
        "|---|---|---|---|---|---|",
    ]
    for layout, directory in (
        ("tree, ASCII paths", "deer"),
        ("tree, one non-ASCII directory (`cerf-élan`)", "cerf-élan"),
    ):
        with tempfile.TemporaryDirectory(prefix="clumping-bench-") as tmp:
            path = Path(tmp) / "manifest.parquet"
            tree_manifest(path, rows, directory)
            a_times, b_times = [], []
            loads = [load()]
            for _ in range(pairs):
                a_times.append(timed(lambda: python_keys_count(path, rows)))
                b_times.append(timed(lambda: tree_count(path, rows)))
            loads.append(load())
            same = not base_clumping.signed_clumping_differs(python_keys_count(path, rows), tree_count(path, rows))
            a, b = statistics.median(a_times), statistics.median(b_times)
            lines.append(f"| {layout} | {a:.3f} | {b:.3f} | {a / b:.1f} | {same} | {' -> '.join(loads)} |")
    out = HERE / "results" / f"base-clumping-cost-{rows}.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
