"""The stage-timed table commit (``commit_stages.py``, the call behind the README's read -> signed
manifest row) with two code trees, alternated on one file: OLD (a checkout of the code before a
change, with its compiled extensions) against this tree, in fresh processes, ``--rounds`` times
each (old, new, then new, old, ...), so a change of the machine's load falls on both alike.

    python bench/commit_stages_ab.py OLD_TREE --rows 2000000 --rounds 3 --out commit-stages-ab-2m

Per run: rows/s to the signed manifest (hashing + merge + Merkle root + signing, as
``scale_bench.py`` counts them), those stages' wall seconds (and the merge with its root, wall and
this process's CPU: since session 22 one pass does both), their CPU (user + system, the
hashing workers included), the whole call's CPU, peak PSS of the process tree, and the load
(``uptime``'s 1/5/15-minute averages) before and after; medians per code tree. Results in
bench/results/OUT.{json,md}. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from alternation import ab_tables, code_trees, warm_table  # noqa: E402
from scale_bench import PY, load, run_json  # noqa: E402

FIELDS = [  # (key, heading) of the per-run and median tables
    ("manifest_rows_per_s", "to manifest rows/s"),
    ("to_manifest_s", "to manifest s"),
    ("manifest_tree_cpu_s", "to manifest CPU s"),
    ("hash_s", "hash s"),
    ("merge_s", "merge s"),
    ("merkle_s", "Merkle s"),
    ("merge_root_s", "merge + Merkle s"),
    ("merge_root_cpu_s", "merge + Merkle CPU s"),
    ("profile_s", "profile s"),
    ("profile_cpu_s", "profile CPU s"),
    ("commit_s", "whole call s"),
    ("commit_tree_cpu_s", "whole call CPU s"),
    ("peak_mib", "peak MiB"),
]


def one_run(tree: str, table: Path, work: Path, workers: int) -> dict:
    """One fresh ``commit_stages.py`` process timing ``tree``'s code on ``table``."""
    env_code = {"PROV_BENCH_CODE": tree}
    old_env = {k: os.environ.get(k) for k in env_code}
    os.environ.update(env_code)
    try:
        before = load()
        stages, peak = run_json([PY, HERE / "commit_stages.py", str(table), "--workers", str(workers)], work)
    finally:
        for k, v in old_env.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    to_manifest = stages["hash_s"] + stages["merge_s"] + stages["merkle_s"] + stages["sign_s"]
    stages.update(
        # the merge and its root, together: code since session 22 hashes the root inside the merge's one pass
        merge_root_s=round(stages["merge_s"] + stages["merkle_s"], 3),
        merge_root_cpu_s=round(stages["merge_cpu_s"] + stages["merkle_cpu_s"], 3),
        to_manifest_s=round(to_manifest, 3),
        manifest_rows_per_s=int(stages["records"] / to_manifest),
        peak_mib=round(peak / 2**20),
        load_before=before,
        load_after=load(),
    )
    return stages


def medians(runs: list[dict], code: str) -> dict:
    mine = [r for r in runs if r["code"] == code]
    # an even number of rounds makes a median the mean of two: rounded as the runs are
    return {key: round(statistics.median(r[key] for r in mine), 3) for key, _ in FIELDS}


def write(result: dict, out: str) -> None:
    (HERE / "results" / f"{out}.json").write_text(json.dumps(result, indent=2) + "\n")
    names = result["codes"]
    lines = [
        f"# Stage-timed table commit, {names[0]} against {names[1]}, alternated ({result['rows']:,} rows)",
        "",
        f"`bench/commit_stages_ab.py` on {result['rows']:,} rows x 64 float64 + label, {result['workers']} workers, "
        f"{result['rounds']} rounds (old and new code alternated, each in a fresh process, on one file; page cache "
        f"warm), on top of a 3-row parent version. {result['machine']}; {result['sha256_path']}. "
        f"Started {result['started']}, load (1/5/15 min) {result['load_start']}; ended {result['ended']}, "
        f"load {result['load_end']}. To manifest = hashing + merge + Merkle root + signing (`scale_bench.py`'s "
        "figure); CPU = user + system, the hashing workers included.",
        "",
        *ab_tables(result, FIELDS),
    ]
    (HERE / "results" / f"{out}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old", help="a folder holding the old code's provenance/ package (with its compiled extensions)")
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--names", default="old,new", help="what to call the old and the new code")
    ap.add_argument("--table", help="an existing table to commit (default: write the bench's table)")
    ap.add_argument("--out", default="commit-stages-ab", help="results file name in bench/results/, no suffix")
    args = ap.parse_args()
    import time

    trees = code_trees(args.old, args.names, HERE.parent)
    work = Path(tempfile.mkdtemp(prefix="prov-stages-ab-"))
    runs: list[dict] = []
    try:
        table = warm_table(args.table, args.rows, work)
        started, load_start = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), load()
        for rnd in range(args.rounds):
            order = list(trees.items()) if rnd % 2 == 0 else list(trees.items())[::-1]
            for name, tree in order:
                run = {"code": name, "round": rnd, **one_run(tree, table, work, args.workers)}
                runs.append(run)
                print(json.dumps(run), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "rows": runs[0]["records"],
        "workers": args.workers,
        "rounds": args.rounds,
        "codes": list(trees),
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "sha256_path": runs[0]["sha256_path"],
        "started": started,
        "load_start": load_start,
        "ended": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_end": load(),
        "medians": {name: medians(runs, name) for name in trees},
        "runs": runs,
    }
    write(result, args.out)
    print(json.dumps(result["medians"]))


if __name__ == "__main__":
    main()
