"""The reference profile stage of a table commit as the classes and the base grow (issues 14, 15).

Aim (issue 15): the profile costs <= 3 s up to 100 classes and <= 10 s at 2,000 classes, in
<= 500 MiB, at any base size. Each row commits one table (64 float64 columns around one
centre per class, a label column) in a fresh process (``--child``) with the default stages,
on top of a small parent version (the table's first rows, committed first as users' earlier
versions are: ``core_bench.commit_parent``), and measures the profile stage there (``ProfileStage.prepare`` + ``record``): wall and CPU
time, and its own peak memory, i.e. how far the process's peak resident set rose above its
resident set when the stage began (the kernel's high-water mark is reset there through
``/proc/self/clear_refs``; Arrow's and numpy's buffers both count). The whole commit's
wall time and peak are recorded beside it. The machine's load is recorded before and
after each row.

    python bench/profile_bench.py                  # 10/100/2,000 classes at 200,000 rows; 10 classes at 2 M and 10 M
    python bench/profile_bench.py --rows 100000 --bases ""     # quicker: the class rows only

Writes bench/results/profile.{md,json}. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

CLASSES = (10, 100, 2_000)
AIM_MIB = 500


def aim_seconds(classes: int) -> float:
    """The issue's time aim for a class count (3 s up to 100 classes, 10 s at 2,000)."""
    return 3.0 if classes <= 100 else 10.0


def make_table(path: Path, rows: int, classes: int, cols: int = 64, chunk: int = 1 << 20) -> None:
    """``rows`` x ``cols`` float64 around one centre per class, plus a string label; written in
    chunks (row groups of 131,072 rows) so a 10 M-row table never sits in memory whole."""
    rng = np.random.default_rng(classes)
    centres = np.random.default_rng(7).normal(scale=3.0, size=(classes, cols))
    schema = pa.schema([pa.field(f"x{i:02d}", pa.float64()) for i in range(cols)] + [pa.field("label", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            labels = rng.integers(0, classes, n)
            X = centres[labels] + rng.normal(size=(n, cols))
            arrays = [pa.array(X[:, i]) for i in range(cols)] + [pa.array(labels.astype(str))]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=131_072)


def commit_plan(script: Path, plan: list[tuple[int, int, int]], variants_of, write, prefix: str) -> None:
    """For each ``(rows, features, classes)`` of ``plan``: a ``make_table`` table in a temporary folder, committed once
    per variant (:func:`commit_each`; ``variants_of(shape)`` gives ``[(fields, arguments)]``, ``shape`` the row's
    ``rows``, ``features`` and ``classes``), every row so far handed to ``write`` after each table; the folder is
    removed at the end."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    rows: list[dict] = []
    try:
        for n, cols, classes in plan:
            path = work / f"t{n}_{cols}_{classes}.parquet"
            make_table(path, n, classes, cols)
            rows += commit_each(script, path, variants_of({"rows": n, "features": cols, "classes": classes}), work)
            path.unlink()
            write(rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def commit_each(script: Path, path: Path, variants: list[tuple[dict, list[str]]], work: Path) -> list[dict]:
    """Commit the table at ``path`` once per variant, each in a fresh process (``script --child PATH`` and the
    variant's arguments, which prints one JSON line): one row each, the variant's fields, what the child measured and
    the load average before and after, printed as it comes."""
    from scale_bench import PY, load, run_json

    rows = []
    for fields, arguments in variants:
        before = load()
        measured, _ = run_json([PY, script, "--child", str(path), *arguments], work)
        row = {**fields, **measured, "load_before": before, "load_after": load()}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def child(path: str) -> dict:
    """One commit of ``path`` in this process, the profile stage measured from inside."""
    from core_bench import commit_parent

    from provenance import keys, versions
    from provenance.executor import LocalExecutor
    from provenance.profiles import stage
    from provenance.sources.interface import DatasetSpec
    from provenance.store.store import Store

    measured = {"wall": 0.0, "cpu": 0.0, "peak_kib": 0}

    def measure(fn):
        def wrapper(*args, **kwargs):
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # reset the peak resident set to the current one
            rss = _status_kib("VmRSS")
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                measured["wall"] += time.perf_counter() - start
                measured["cpu"] += time.process_time() - cpu
                measured["peak_kib"] = max(measured["peak_kib"], _status_kib("VmHWM") - rss)

        return wrapper

    stage.ProfileStage.prepare = measure(stage.ProfileStage.prepare)
    stage.PreparedProfile.record = measure(stage.PreparedProfile.record)
    with tempfile.TemporaryDirectory(prefix="prov-profile-child-") as work:
        store_dir = Path(work) / "store"
        store_dir.mkdir()
        Store.init(store_dir)
        pair = keys.generate(Path(work) / "bench")
        commit_parent(store_dir, Path(path), pair.private_path)  # a second version, as users commit
        store = Store.open(store_dir)
        start = time.perf_counter()
        result = versions.commit(store, DatasetSpec(path), "v1", str(pair.private_path), executor=LocalExecutor(2))
        commit_s = time.perf_counter() - start
    return {
        "profile_s": round(measured["wall"], 3),
        "profile_cpu_s": round(measured["cpu"], 3),
        "profile_peak_mib": round(measured["peak_kib"] / 1024),
        "sample": (result.profile or {}).get("sample"),
        "commit_s": round(commit_s, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000, help="rows of the class-count rows")
    ap.add_argument("--bases", default="2000000,10000000", help="base sizes (rows) at 10 classes; '' for none")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    from scale_bench import PY, load, run_json

    plan = [(args.rows, c) for c in CLASSES] + [(int(b), 10) for b in args.bases.split(",") if b]
    work = Path(tempfile.mkdtemp(prefix="prov-profile-"))
    rows = []
    try:
        for n, classes in plan:
            path = work / f"t{n}_{classes}.parquet"
            make_table(path, n, classes)
            before = load()
            measured, tree_peak = run_json([PY, Path(__file__).resolve(), "--child", str(path)], work)
            row = {"rows": n, "classes": classes, **measured, "commit_tree_peak_mib": round(tree_peak / 2**20)}
            row |= {"load_before": before, "load_after": load()}
            rows.append(row)
            print(json.dumps(row), flush=True)
            path.unlink()
            write(rows, plan)  # after every row: a run stopped early keeps the others
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write(rows: list[dict], plan: list[tuple[int, int]]) -> None:
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    env = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_at_write": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout
    env["commit"] = commit.strip()
    (results / "profile.json").write_text(json.dumps({"machine": env, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Reference profile stage by number of classes and base size",
        "",
        f"{env['cpus']} CPUs, Python {env['python']}, commit {env['commit']}. One table commit per row (64 float64 "
        "columns around one centre per class), in a fresh process with the default stages and 2 hashing workers, "
        "on top of a small parent version (the table's first 3 rows, committed first and not timed, as a "
        "user's earlier version); "
        "the profile stage (`ProfileStage.prepare` + `record`) is measured from inside: wall and CPU time, and its "
        "own peak memory (how far the peak resident set rose above the resident set at the stage's start); the "
        "whole commit's peak is the proportional set size of its process tree, polled. "
        "`python bench/profile_bench.py`. Aim (issue 15): <= 3 s up to 100 classes, <= 10 s at 2,000, <= 500 MiB, "
        "at any base size. On a shared machine wall times are inflated by the load; CPU time much less.",
        "",
        "| rows | classes | profile (s) | profile CPU (s) | aim (s) | profile peak (MiB) | aim (MiB) | verdict | "
        "whole commit (s) | commit peak (MiB) | load before / after |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        aim = aim_seconds(r["classes"])
        time_ok, mem_ok = r["profile_s"] <= aim, r["profile_peak_mib"] <= AIM_MIB
        verdict = f"time {'met' if time_ok else '**not met**'}, memory {'met' if mem_ok else '**not met**'}"
        lines.append(
            f"| {r['rows']:,} | {r['classes']:,} | {r['profile_s']} | {r['profile_cpu_s']} | ≤ {aim} | "
            f"{r['profile_peak_mib']} | ≤ {AIM_MIB} | {verdict} | {r['commit_s']} | {r['commit_tree_peak_mib']} | "
            f"{r['load_before']} / {r['load_after']} |"
        )
    missing = [p for p in plan if p not in {(r["rows"], r["classes"]) for r in rows}]
    if missing:
        lines += [
            "",
            "Not measured (the run was stopped first): " + ", ".join(f"{n:,} rows x {c:,} classes" for n, c in missing),
        ]
    (results / "profile.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
