"""The verifying loader's speed against plain pyarrow reading and against commit's hashing (issue 15).

    python bench/loader_bench.py                    # 400k rows x 64 float64 + label
    python bench/loader_bench.py --rows 1000000 --columns 32 --repeat 3

One table, written once as Parquet, then timed (each the best of ``--repeat`` runs, in this
process, one core unless said):

- ``pyarrow``: ``pq.ParquetFile.iter_batches`` over the file, nothing else (plain reading);
- ``pyarrow_numpy``: the same batches turned into an ``n x d`` float64 array (what a
  training loop does with them);
- ``commit_hash_1``: ``build_manifest`` on one process (read, encode, hash, sort, Merkle:
  what ``prov commit`` spends per record before its stages), and ``commit_hash_N`` on
  ``--workers`` local processes (how ``prov commit`` runs by default);
- ``loader_batches``: ``provenance.load(v, verify_first=False).batches()``: read, encode, hash and
  check every record against the signed manifest, including opening the version (signature,
  manifest), one pass; ``loader_batches_verify_first`` the default (a verifying pass that hands
  out nothing, then the batches it verified, from memory: the version fits the default buffer
  budget), and ``loader_batches_two_passes`` the default forced over its budget (``buffer=`` half
  the table's decoded bytes: a verifying pass that keeps batches until the budget is passed and
  drops them, then a second pass that reads and checks everything again);
- ``loader_numpy``: ``numpy_batches()``, the loader's ``(X, y)`` for a training loop;
- ``loader_records``: ``for record in dataset`` (one Python object per record), on the
  first ``--record-rows`` rows' worth of a smaller table.

The aim (issue 15): the loader at >= 0.5x the rows/s at which commit hashes the same table.
Writes JSON on stdout and, with ``--out``, a Markdown table; the machine's load average
is recorded before and after, since the machine is shared. Not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the commit's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _table(rows: int, columns: int, seed: int = 0):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    data = {f"f{i:02d}": rng.standard_normal(rows) for i in range(columns)}
    data["label"] = pa.array(rng.integers(0, 10, rows).astype(str))
    return pa.table(data)


def measure(work: Path, rows: int, columns: int, workers: int, repeat: int, record_rows: int) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    import provenance as prov
    from provenance import keys
    from provenance.executor import InlineExecutor, LocalExecutor
    from provenance.sources.build import build_manifest
    from provenance.sources.interface import DatasetSpec
    from provenance.store.store import Store

    path = work / "train.parquet"
    table = _table(rows, columns)
    pq.write_table(table, path, row_group_size=65_536)
    over_budget = table.nbytes // 2  # the version's decoded bytes do not fit: buffered, then dropped half-way
    del table
    small = work / "small.parquet"
    pq.write_table(_table(record_rows, columns, seed=1), small)
    store = Store.init(work)
    pair = keys.generate(work / "bench")
    for tag, data in (("v1", path), ("small", small)):
        prov.commit(store, data, tag=tag, key=pair.private_path, executor="local:1")
    pins = prov.Pins.load([pair.public_path])

    def plain() -> None:
        for _ in pq.ParquetFile(path).iter_batches(batch_size=65_536):
            pass

    def plain_numpy() -> None:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
            np.column_stack([batch.column(i).to_numpy() for i in range(batch.num_columns - 1)])

    def commit_hash(executor) -> None:
        build_manifest(DatasetSpec(str(path)), executor=executor)

    def loader(verify_first: bool = False, buffer: int | None = None) -> None:
        for _ in prov.load("v1", store=store, pins=pins, verify_first=verify_first, buffer=buffer).batches():
            pass

    def loader_numpy() -> None:
        for _ in prov.load("v1", store=store, pins=pins, verify_first=False).numpy_batches():
            pass

    def loader_records() -> None:
        for _ in prov.load("small", store=store, pins=pins, verify_first=False):
            pass

    pool = LocalExecutor(workers)
    seconds = {
        "pyarrow": _best(plain, repeat),
        "pyarrow_numpy": _best(plain_numpy, repeat),
        "commit_hash_1": _best(lambda: commit_hash(InlineExecutor()), repeat),
        f"commit_hash_{workers}": _best(lambda: commit_hash(pool), repeat),
        "loader_batches": _best(loader, repeat),
        "loader_batches_verify_first": _best(lambda: loader(True), repeat),
        "loader_batches_two_passes": _best(lambda: loader(True, buffer=over_budget), repeat),
        "loader_numpy": _best(loader_numpy, repeat),
    }
    pool.close()
    rates = {k: rows / v for k, v in seconds.items()}
    rates["loader_records"] = record_rows / _best(loader_records, repeat)
    return {"rows": rows, "columns": columns, "seconds": seconds, "rows_per_s": rates}


def markdown(result: dict) -> str:
    r = result["rows_per_s"]
    commit = r["commit_hash_1"]
    lines = [
        f"# Loader speed ({result['rows']:,} rows x {result['columns']} float64 columns + label)",
        "",
        f"Load average before {result['load_before']}, after {result['load_after']} (2 shared cores); "
        f"best of {result['repeat']}; CPU {result['cpu_seconds']:.1f} s over {result['wall_seconds']:.1f} s wall. "
        f"SHA-256 path: {result['sha256_path']}.",
        "",
        "| reading | rows/s | vs plain pyarrow | vs commit hashing (1 process) |",
        "|---|---:|---:|---:|",
    ]
    for key, text in (
        ("pyarrow", "plain pyarrow `iter_batches`"),
        ("pyarrow_numpy", "plain pyarrow, to a float64 array"),
        ("commit_hash_1", "commit hashing, 1 process"),
        (f"commit_hash_{result['workers']}", f"commit hashing, {result['workers']} processes"),
        ("loader_batches", "`prov.load(v, verify_first=False).batches()` (one pass)"),
        (
            "loader_batches_verify_first",
            "`prov.load(v).batches()` (default, under the buffer budget: a verifying pass, then its batches)",
        ),
        (
            "loader_batches_two_passes",
            "`prov.load(v, buffer=size // 2).batches()` (default, over the budget: a verifying pass, then a second pass)",
        ),
        ("loader_numpy", "`prov.load(v, verify_first=False).numpy_batches()`"),
        ("loader_records", "`for record in prov.load(v, verify_first=False)`"),
    ):
        lines.append(f"| {text} | {r[key]:,.0f} | {r[key] / r['pyarrow']:.2f}x | {r[key] / commit:.2f}x |")
    lines += ["", "Aim (issue 15): the loader at >= 0.5x the rows/s at which commit hashes the same table."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--columns", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--record-rows", type=int, default=50_000)
    ap.add_argument("--out", help="also write the Markdown table here")
    args = ap.parse_args()
    from provenance import fastsha

    before = os.getloadavg()
    cpu, wall = _cpu(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="prov-loader-") as work:
        result = measure(Path(work), args.rows, args.columns, args.workers, args.repeat, args.record_rows)
    result.update(
        workers=args.workers,
        repeat=args.repeat,
        load_before=" ".join(f"{x:.1f}" for x in before),
        load_after=" ".join(f"{x:.1f}" for x in os.getloadavg()),
        sha256_path=fastsha.path_description(),
        cpu_seconds=_cpu() - cpu,
        wall_seconds=time.perf_counter() - wall,
    )
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(markdown(result))


if __name__ == "__main__":
    main()
