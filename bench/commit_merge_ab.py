"""The merge of a table commit alone (``ExternalSort.finish``: bucket sort, Merkle root, manifest write), its CPU
split by piece, on synthetic hashed parts (random digests, ten labels, row-number locators), with two code trees
alternated in fresh processes, so a change of the machine's load falls on both alike (issue 15).

    python bench/commit_merge_ab.py OLD_TREE --rows 10000000 --rounds 2 --out commit-merge-ab-s26

Per run: the merge's wall and CPU seconds (all threads of the process), and the CPU of each piece, summed over the
threads that ran it (``time.thread_time``): reading a bucket from the spill files, ``sorted_order``, the 32-byte
takes, ``chunk_roots`` (the Merkle subtrees), the label and source counts, and writing the row groups. The parts are
built the same way for both trees (seeded), so both merge the same rows; the roots are compared. CPU holds on a
loaded machine where wall time does not. Results in bench/results/OUT.{json,md}. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIECES = ["bucket", "sorted_order", "take32", "chunk_roots", "counts", "write_group"]


def child(rows: int) -> dict:
    """One merge in this process, with the code of ``PROV_BENCH_CODE``; its seconds and the root."""
    sys.path.insert(0, os.environ["PROV_BENCH_CODE"])
    from provenance.cli import prepare_process

    prepare_process("commit")
    import threading

    import numpy as np
    import pyarrow as pa

    from provenance.sources import external_sort as es
    from provenance.sources.tables import HashedPart

    parts = max(1, rows // 262_144)
    rng = np.random.default_rng(1)
    sorter = es.ExternalSort(rows)
    for i in range(parts):
        n = rows // parts
        part = HashedPart(
            rng.bytes(32 * n),
            pa.array(rng.integers(0, 10, n).astype(str)),
            pa.nulls(n, pa.string()),
            pa.array(np.arange(i * n, (i + 1) * n).astype(str)),
        )
        sorter.add(part.finish("vendor"), i)
    cpu: dict[str, float] = {}
    lock = threading.Lock()

    def timed(name, fn):
        def run(*args, **kwargs):
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    cpu[name] = cpu.get(name, 0.0) + time.thread_time() - start

        return run

    es.SpillFiles.bucket = timed("bucket", es.SpillFiles.bucket)
    # the module's names the merge calls them by
    for piece, attr in zip(PIECES[1:], ["sorted_order", "_take32", "chunk_roots", "_counts", "_write_group"]):
        setattr(es, attr, timed(piece, getattr(es, attr)))
    start, process = time.perf_counter(), time.process_time()
    manifest = sorter.finish("sha256", None, "string")
    out = {"wall_s": round(time.perf_counter() - start, 3), "cpu_s": round(time.process_time() - process, 3)}
    out.update({f"{k}_cpu_s": round(cpu.get(k, 0.0), 3) for k in PIECES})
    out["root"] = manifest.root.hex()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "old", nargs="?", help="a folder holding the old code's provenance/ package (with its compiled extensions)"
    )
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--names", default="old,new")
    ap.add_argument("--out", default="commit-merge-ab")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.rows)))
        return
    sys.path.insert(0, str(HERE))
    from alternation import code_trees, recorded_rounds

    trees = code_trees(args.old, args.names, HERE.parent)
    old_name, new_name = trees

    def run(name: str, tree: str) -> dict:
        env = {**os.environ, "PROV_BENCH_CODE": tree}
        done = subprocess.run(
            [sys.executable, __file__, "--child", "--rows", str(args.rows)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(done.stdout)

    runs, stamps = recorded_rounds(trees, run, args.rounds)
    started, ended = stamps["started"], stamps["ended"]
    if len({r["root"] for r in runs}) != 1:
        raise SystemExit("the two trees' merges gave different roots")
    keys = ["wall_s", "cpu_s"] + [f"{k}_cpu_s" for k in PIECES]
    (HERE / "results" / f"{args.out}.json").write_text(json.dumps({"rows": args.rows, "runs": runs}, indent=2) + "\n")
    lines = [
        f"# The merge alone, {old_name} against {new_name}, alternated ({args.rows:,} synthetic rows)",
        "",
        f"`bench/commit_merge_ab.py`, {args.rounds} rounds, {os.cpu_count()} CPUs; every run's root is the same. "
        f"Started {started}, load (1/5/15 min) {runs[0]['load_before']}; ended {ended}, load {runs[-1]['load_after']}. "
        "CPU = user + system of the merging process (all its threads); a piece's CPU is summed over the threads "
        "that ran it (`time.thread_time`).",
        "",
        "## Medians",
        "",
        "| code | runs | " + " | ".join(keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for name in (old_name, new_name):
        mine = [r for r in runs if r["code"] == name]
        cells = " | ".join(str(round(statistics.median(r[k] for r in mine), 3)) for k in keys)
        lines.append(f"| {name} | {len(mine)} | {cells} |")
    lines += [
        "",
        "## Runs",
        "",
        "| code | round | " + " | ".join(keys) + " | load before / after |",
        "|---|---|" + "---|" * (len(keys) + 1),
    ]
    for r in runs:
        cells = " | ".join(str(r[k]) for k in keys)
        lines.append(f"| {r['code']} | {r['round']} | {cells} | {r['load_before']} / {r['load_after']} |")
    (HERE / "results" / f"{args.out}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
