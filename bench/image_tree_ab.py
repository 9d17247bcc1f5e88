"""`prov commit` of the 20,000-PNG image tree (profile included) with two code trees, alternated:
OLD (a folder holding the code before a change: ``git archive REV provenance | tar -x -C OLD``, plus
the compiled ``provenance/_fast*.so`` copied in) against this tree. Each run commits into a fresh store
on a 3-file parent, as ``core_bench.py --tree digits_png`` does; CPU is user + system of the command
(``core_bench.timed``), the order flips every round (the first of a pair tends to run slower), and the
load is read before each run. The stores' content-addressed Parquet objects (manifest, lineage) are
compared across every run: a speed change must leave them byte-identical (same names = same SHA-256).
The reference profile (``.npz``) cannot be compared this way: its sample is keyed by the commit's
signature (``profiles.sample.sample_key``), which covers the commit's time, so two commits of the same
files by the same code store different profiles; compare a profile change with a fixed sample instead.

With ``--dvc``, each round also runs ``dvc add`` on the same tree (``core_bench.dvc_add``, a fresh
git + DVC repository, CPU of the command and its children), so the ratio to ``dvc add`` is of runs
made in the same minutes: a ratio computed across sessions mixes loads.

    python bench/image_tree_ab.py OLD_TREE [--new NEW_TREE] [--rounds 8] [--names old,new] [--dvc]
        [--out image-tree-ab.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from core_bench import CPU_SECONDS, CPU_SPLIT, dvc_add, make_digits_tree, prov_commit, warm_up  # noqa: E402
from user_versions import load  # noqa: E402


def signed_objects(store: Path) -> set[str]:
    """Names (SHA-256 of the bytes) of the store's Parquet objects (manifest, lineage), which nothing
    time-dependent enters. Envelopes, checkpoints and the signature-keyed profile differ run to run."""
    return {p.name for p in (store / ".prov" / "objects").iterdir() if p.suffix == ".parquet"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old", help="a folder holding the old code's provenance/ package")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--names", default="old,new", help="what to call the old and the new code")
    ap.add_argument("--new", default=str(HERE.parent), help="a folder holding the new code (default: this tree)")
    ap.add_argument("--dvc", action="store_true", help="run `dvc add` on the same tree in every round too")
    ap.add_argument("--out", default="image-tree-ab.json", help="results file in bench/results/")
    args = ap.parse_args()
    names = args.names.split(",")
    trees = dict(zip(names, (str(Path(args.old).resolve()), str(Path(args.new).resolve()))))
    work = Path(tempfile.mkdtemp(prefix="prov-image-ab-"))
    runs: list[dict] = []
    objects: dict[str, list[set[str]]] = {name: [] for name in names}
    try:
        data = work / "digits"
        make_digits_tree(data, args.files)
        for tree in trees.values():
            os.environ["PYTHONPATH"] = tree
            warm_up(work)  # each tree's bytecode cached (core_bench.compiled_env), as after a user's first run
        for rnd in range(args.rounds):
            for name in names if rnd % 2 == 0 else names[::-1]:
                os.environ["PYTHONPATH"] = trees[name]
                before = load()
                wall, peak = prov_commit(work, data, 2)
                objects[name].append(signed_objects(work / "store"))
                run = {"code": name, "round": rnd, "wall_s": round(wall, 3), "cpu_s": round(CPU_SECONDS["prov"], 3)}
                run.update(peak_mib=round(peak / 2**20), load_before=before)
                runs.append(run)
                print(json.dumps(run), flush=True)
            if args.dvc:
                before = load()
                wall = dvc_add(work, data)
                user, system = CPU_SPLIT["dvc"]
                run = {"code": "dvc add", "round": rnd, "wall_s": round(wall, 3), "cpu_s": round(CPU_SECONDS["dvc"], 3)}
                run.update(user_system_s=[round(user, 3), round(system, 3)], load_before=before)
                runs.append(run)
                print(json.dumps(run), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    same = len({frozenset(s) for sets in objects.values() for s in sets}) == 1
    summary = {
        name: {
            "cpu_median_s": round(statistics.median(r["cpu_s"] for r in runs if r["code"] == name), 3),
            "wall_median_s": round(statistics.median(r["wall_s"] for r in runs if r["code"] == name), 3),
        }
        for name in names + (["dvc add"] if args.dvc else [])
    }
    if args.dvc:  # each code's CPU median against dvc add's: the aim is >= 10x
        for name in names:
            summary[name]["dvc_add_cpu_ratio"] = round(
                summary["dvc add"]["cpu_median_s"] / summary[name]["cpu_median_s"], 2
            )
            summary[name]["dvc_add_wall_ratio"] = round(
                summary["dvc add"]["wall_median_s"] / summary[name]["wall_median_s"], 2
            )
    result = {"summary": summary, "objects_identical": same, "runs": runs}
    print(json.dumps({"summary": summary, "objects_identical": same}))
    (HERE / "results" / args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
