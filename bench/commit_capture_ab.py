"""`prov commit` of one 64-column Parquet table with two code trees, alternated: OLD (a checkout
of the code before a change) against this tree. Wall and CPU time (user + system, workers
included), peak memory and the load before each run; results in bench/results/ (``--out``).

    python bench/commit_capture_ab.py OLD_TREE [--rows 10000000] [--reps 2]
        # the sample capture (speed5b): OLD = before it; writes commit-capture-ab.json
    python bench/commit_capture_ab.py OLD_TREE --names format1,format2 --out commit-format2-ab.json
        # lineage object format 2 and the manifest linked into the store (speed6): OLD = f54e47d
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from core_bench import CPU_SECONDS, make_table, prov_commit  # noqa: E402
from user_versions import load  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old", help="a folder holding the old code's provenance/ package")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--names", default="reread,capture", help="what to call the old and the new code")
    ap.add_argument("--out", default="commit-capture-ab.json", help="results file in bench/results/")
    args = ap.parse_args()
    old_name, new_name = args.names.split(",")
    work = Path(tempfile.mkdtemp(prefix="prov-capture-ab-"))
    trees = {old_name: str(Path(args.old).resolve()), new_name: str(HERE.parent)}
    runs = []
    try:
        path = work / "table.parquet"
        make_table(path, args.rows)
        for rep in range(args.reps):
            for name, tree in trees.items():
                os.environ["PYTHONPATH"] = tree
                before = load()
                seconds, peak = prov_commit(work, path, 2)
                run = {"code": name, "rep": rep, "rows": args.rows, "wall_s": round(seconds, 2)}
                run.update(cpu_s=round(CPU_SECONDS["prov"], 2), peak_mib=round(peak / 2**20), load_before=before)
                runs.append(run)
                print(json.dumps(run), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = HERE / "results" / args.out
    out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
