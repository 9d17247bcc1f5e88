"""Old code against new, stage by stage: ``bench/detect_stages.py`` alternated on one store, main-thread CPU medians.

An end-to-end A/B (``detect_ab.py``) on this shared machine swings by +-0.05 s from one run to the next, so a
change worth 0.02 s of one stage is lost in it. Here each run is ``detect_stages.py`` (one fresh process, the
stages timed inside it) for each code tree in turn, the order swapped every other round, on a fresh copy of
the same store's ``.prov/``, each tree with its own bytecode cache filled by an untimed first run; the table
gives each stage's median main-thread CPU for both trees. The outputs' sameness is ``detect_outputs_same.py``'s
to check. Session 32 (perf32b) used it for the combined verdict's cut (bench/results/detect-ab-s32.md).

Usage: python bench/detect_stages_ab.py OLD_TREE NEW_TREE STORE_FOLDER [--rounds R] [--chrt PRIORITY] [--name NAME]
(a tree is a checkout of prov with its compiled extensions copied in, as for ``detect_ab.py``; STORE_FOLDER one
``user_versions.two_versions`` built, with v1 and v2, left as it was). Writes
bench/results/detect-stages-ab[-NAME].{md,json}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, put_back, uptime, write_results  # noqa: E402
from user_versions import bytecode_env  # noqa: E402

COMMAND = ("diff", "v1", "v2", "--detect", "--flagged-only", "--format", "json")


def stages_of_one_run(tree: Path, folder: Path, pristine: Path, cache: Path, out: Path, priority: int | None) -> dict:
    """``{stage: [wall s, main-thread CPU s, calls]}`` of one ``detect_stages.py`` run of the code in ``tree``."""
    put_back(folder, pristine)
    command = [sys.executable, str(HERE / "detect_stages.py"), *COMMAND, "--out", str(out)]
    if priority is not None:
        command = ["chrt", "-f", str(priority), *command]
    env = bytecode_env(cache) | {"PYTHONPATH": str(tree)}
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):  # 1: the delta was flagged, as this store's is
        raise SystemExit(f"{tree}: detect_stages.py exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return json.loads(done.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("store", type=Path, help="a folder two_versions built (v1, v2 committed), left as it was")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--chrt", type=int, metavar="PRIORITY", help="run at this real-time priority (chrt -f)")
    parser.add_argument("--name", help="results file suffix: detect-stages-ab-NAME.md")
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    root = Path(tempfile.mkdtemp(prefix="prov-stages-ab-"))
    folder = args.store.resolve()
    pristine = root / "pristine"
    shutil.copytree(folder / ".prov", pristine)
    before = uptime()
    try:
        caches = {side: root / f"pycache-{side}" for side in trees}
        outs = {side: root / f"{side}.json" for side in trees}
        for side, tree in trees.items():  # untimed: fills each tree's bytecode cache
            stages_of_one_run(tree, folder, pristine, caches[side], outs[side], args.chrt)
        runs, loads = alternate(
            list(trees),
            lambda side: stages_of_one_run(trees[side], folder, pristine, caches[side], outs[side], args.chrt),
            args.rounds,
            swap=True,
        )
    finally:
        put_back(folder, pristine)
        shutil.rmtree(root, ignore_errors=True)
    after = uptime()
    stages = list(runs["old"][0])
    medians = {
        side: {stage: statistics.median(run[stage][1] for run in runs[side]) for stage in stages} for side in trees
    }
    lines = [
        "# `prov diff --detect` stage by stage: old code against new, alternated (detect-stages-ab)",
        "",
        f"`bench/detect_stages.py {' '.join(COMMAND)}` on {folder.name}, {args.rounds} rounds, the order swapped every"
        f" other round{f', at real-time priority (`chrt -f {args.chrt}`)' if args.chrt else ''}; each run a fresh"
        " process on a fresh copy of the store's `.prov/`. Median main-thread CPU per stage (ms); a stage's wall time"
        " on this shared machine includes waiting for a core.",
        "",
        f"old: {trees['old']}; new: {trees['new']}",
        "",
        "| stage | old (ms) | new (ms) | new - old (ms) |",
        "|---|---:|---:|---:|",
    ]
    for stage in stages:
        old, new = medians["old"][stage] * 1000, medians["new"][stage] * 1000
        lines.append(f"| {stage} | {old:.1f} | {new:.1f} | {new - old:+.1f} |")
    lines += [
        "",
        f"Load (1, 5, 15 min) before and after each round: {' | '.join(loads)}.",
        "",
        f"`uptime`: {before} / {after}.",
    ]
    data = {"trees": {k: str(v) for k, v in trees.items()}, "runs": runs, "median_cpu_s": medians, "loads": loads}
    write_results(f"detect-stages-ab{'-' + args.name if args.name else ''}", data, lines + [""])


if __name__ == "__main__":
    main()
