"""What counting the base's within-pseudo-batch copies at check time costs (session 24).

The copies rule and ``detectors.extreme`` read the base's clumping (``profiles.batch_copies``). Session 23
read it from the base's signed profile (``load_profile(...).within_batch_copies``, the profile is read anyway);
session 24 counts it from the base's signed manifest object (``profiles.base_clumping.version_clumping``:
hash the object, stream its digest and locator columns, count). Timed here on a committed base of N rows
(a table: locators are row numbers; and a folder of 10 tables: ``file#row`` locators, ranked first), A/B
alternating in one process: A = the profile's arrays (session 23), B = the count (cache cleared each time).
The load (``uptime``) is recorded with each pair.

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
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from user_versions import PROV, load  # noqa: E402

from provenance.profiles import base_clumping  # noqa: E402
from provenance.profiles.stage import load_profile  # noqa: E402
from provenance.store import Store  # noqa: E402


def data(rows: int) -> pa.Table:
    """Two numeric columns and a label; a fifth of the rows repeat an earlier row (a record held 2-5 times)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=rows)
    repeat = rng.random(rows) < 0.2
    a[repeat] = a[rng.integers(0, rows, repeat.sum())]
    return pa.table({"a": a, "b": np.round(a * 3), "label": (np.abs(a * 7).astype(np.int64) % 5).astype(str)})


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
    out = HERE / "results" / f"base-clumping-cost-{rows}.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
