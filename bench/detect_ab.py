"""Old code against new on one store: ``prov diff --detect`` alternated, CPU and wall time, load recorded.

Issue 15's rule for a speed change: measure the old and the new code alternated on the same
store in one script, on CPU time (the machine is shared; wall time under load includes
waiting for a core) and on wall time (what the user waits; work moved onto a second core
shows there, not in the CPU), with the load and ``uptime`` recorded, and check the outputs are the same.

One store (``user_versions.two_versions``: a 1% delta of N base records, 0.7% added and 0.3%
relabeled, as ``detect_e2e_bench.py``); before every run its ``.prov/`` is put back as it was
after the two commits, so each run stores its findings into the same store. Each code tree
runs with its own bytecode cache, filled by an untimed run first (``user_versions.bytecode_env``).
The JSON reports of the two trees must be byte-identical (the run's findings object and rows
are compared through ``prov findings --all --json``, run ids left out).

Usage: python bench/detect_ab.py OLD_TREE NEW_TREE [--records N] [--rounds R] [--store DIR] [--name NAME] [--chrt PRIORITY]
(a tree is a checkout of prov, e.g. ``git archive COMMIT | tar -x -C DIR``; ``--store`` reuses a folder
``user_versions.two_versions`` built, e.g. a 10 M-record one, instead of building one; it is left as it was).
Writes bench/results/detect-ab[-NAME].{md,json}. Where the report's format changed on purpose (the
findings list of session 10: flagged records only), the flagged findings of both are compared too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, put_back, uptime  # noqa: E402
from user_versions import PROV, bytecode_env, run, two_versions  # noqa: E402

SHARES = (0.0, 0.3, 0.7)  # removed, relabeled, added: as detect_e2e_bench.py


def one_run(
    tree: Path,
    folder: Path,
    pristine: Path,
    cache: Path,
    out: Path,
    extra: tuple[str, ...] = (),
    priority: int | None = None,
) -> tuple[float, float]:
    """Wall and CPU seconds of one ``prov diff --detect`` of the code in ``tree``, on a fresh copy of the store;
    ``priority``: run it at that real-time priority (``chrt -f``), ahead of this machine's other runnable threads."""
    put_back(folder, pristine)
    env = bytecode_env(cache) | {"PYTHONPATH": str(tree)}
    command = [PROV, "diff", "v1", "v2", "--detect", *extra, "--format", "json", "--out", str(out)]
    if priority is not None:
        command = ["chrt", "-f", str(priority), *command]
    wall, _, cpu = run(command, folder, env, probe_memory=False)  # a memory probe would take a core from it
    return wall, cpu


def stored_findings(tree: Path, folder: Path, cache: Path) -> dict:
    """``prov findings v2 --all --json`` of the last run, without its run id and times."""
    env = bytecode_env(cache) | {"PYTHONPATH": str(tree)}
    text = subprocess.run(
        [PROV, "findings", "v2", "--all", "--json"], cwd=folder, env=env, capture_output=True, text=True, check=True
    ).stdout
    found = json.loads(text)
    found.pop("run", None)
    for d in found.get("detectors", []):
        d.pop("run", None)
        d.pop("created_at", None)
    return found


def compiled_paths(tree: Path) -> list[str]:
    """Which optional compiled paths (``provenance.fastsha``, ``provenance.fastknn``) the tree's prov runs."""
    env = {k: v for k, v in os.environ.items()} | {"PYTHONPATH": str(tree)}
    lines = []
    for module in ("fastsha", "fastknn"):
        # the module as the tree has it: an older tree without it would find the installed one
        code = (
            f"import provenance.{module} as m, sys; print(m.path_description() if m.__file__.startswith(sys.argv[1]) "
            f"else 'no provenance.{module} in this tree')"
        )
        # run in the tree: ``python -c`` puts the working directory first on sys.path, and from another
        # checkout of prov it would find that checkout's module instead of the tree's
        done = subprocess.run(
            [sys.executable, "-c", code, str(tree)], capture_output=True, text=True, env=env, cwd=tree
        )
        failed = done.stderr.strip().splitlines()[-1:] if done.returncode else []  # say why, not "absent"
        lines.append(
            done.stdout.strip() or (f"unknown ({failed[0]})" if failed else f"no provenance.{module} in this tree")
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--old-name", help="what the old tree is, for the results (default: its path)")
    parser.add_argument("--new-name", help="what the new tree is (default: its path)")
    parser.add_argument("--store", type=Path, help="a folder two_versions built (v1, v2 committed), reused")
    parser.add_argument("--name", help="results file suffix: detect-ab-NAME.md")
    parser.add_argument(
        "--chrt",
        type=int,
        metavar="PRIORITY",
        help="time each run at this real-time priority (chrt -f): a quiet machine emulated, as sessions 22 and 25 did",
    )
    parser.add_argument(
        "--flagged-only", action="store_true", help="list only the flagged records, as detect_e2e_bench.py runs prov"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="prov-detect-ab-"))
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    try:
        pristine = root / "pristine"
        if args.store is None:
            folder = root / "store"
            facts = two_versions(folder, args.records, 0.01, shares=SHARES)
            shutil.copytree(folder / ".prov", pristine)
        else:
            folder = args.store.resolve()
            shutil.copytree(folder / ".prov", pristine)
            facts = {}
        outs = {name: root / f"{name}.json" for name in trees}
        extra = ("--flagged-only",) if args.flagged_only else ()
        caches = {name: root / f"pycache-{name}" for name in trees}
        same_findings = True
        for name, tree in trees.items():  # untimed: fills each tree's bytecode cache
            one_run(tree, folder, pristine, caches[name], outs[name], extra, args.chrt)
        found: dict[str, dict | None] = {name: None for name in trees}

        def once(name: str) -> tuple[float, float]:
            seconds, cpu_s = one_run(trees[name], folder, pristine, caches[name], outs[name], extra, args.chrt)
            if found[name] is None:
                found[name] = stored_findings(trees[name], folder, caches[name])
            return round(seconds, 3), round(cpu_s, 3)

        uptimes = [uptime()]
        runs, loads = alternate(list(trees), once, args.rounds, swap=True)
        uptimes.append(uptime())
        wall = {name: [w for w, _ in done] for name, done in runs.items()}
        cpu = {name: [c for _, c in done] for name, done in runs.items()}
        same_report = outs["old"].read_bytes() == outs["new"].read_bytes()
        same_findings = found["old"] == found["new"]
        reports = {name: json.loads(outs[name].read_text()) for name in trees}
        same_flagged = [f for f in reports["old"]["findings"] if f["flagged"]] == [
            f for f in reports["new"]["findings"] if f["flagged"]
        ]
        summary = reports["new"]["summary"]
        records = summary["records_base"]
        facts["changed"] = facts.get("changed", summary["added"] + summary["relabeled"] + summary["removed"])
        sizes = {name: outs[name].stat().st_size for name in trees}
    finally:
        if args.store is not None:  # put the reused store back as it was
            shutil.rmtree(folder / ".prov", ignore_errors=True)
            shutil.copytree(pristine, folder / ".prov")
        shutil.rmtree(root, ignore_errors=True)
    paths = {name: compiled_paths(tree) for name, tree in trees.items()}
    result = {
        "records": records,
        "paths": paths,
        "delta": facts["changed"],
        "trees": {k: str(v) for k, v in trees.items()},
        "cpu_s": cpu,
        "median_cpu_s": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
        "wall_s": wall,
        "median_wall_s": {k: round(statistics.median(v), 3) for k, v in wall.items()},
        "loads": loads,
        "uptime": uptimes,
        "report_identical": same_report,
        "findings_identical": same_findings,
        "flagged_findings_identical": same_flagged,
        "report_bytes": sizes,
        "flagged_only": args.flagged_only,
        "chrt": args.chrt,
    }
    stem = "detect-ab" + (f"-{args.name}" if args.name else "")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    old, new = result["median_cpu_s"]["old"], result["median_cpu_s"]["new"]
    old_wall, new_wall = result["median_wall_s"]["old"], result["median_wall_s"]["new"]
    names = {"old": args.old_name or f"`{trees['old']}`", "new": args.new_name or f"`{trees['new']}`"}
    lines = [
        "# `prov diff --detect`: old code against new, alternated on one store (detect-ab)",
        "",
        f"{records:,} base records, a {facts['changed']:,}-record delta (70% of it added, 30% relabeled); "
        f"{args.rounds} rounds, the order alternating; every run a fresh process on the same store "
        + ("listing the flagged records only (`--flagged-only`, as detect_e2e_bench.py) " if args.flagged_only else "")
        + (f"at real-time priority (`chrt -f {args.chrt}`: this machine's other threads wait) " if args.chrt else "")
        + "(its `.prov/` put back before each), bytecode cached. CPU seconds (user + system) and wall seconds.",
        "",
        "| code | tree | compiled paths | CPU per run (s) | median CPU | wall per run (s) | median wall |",
        "|---|---|---|---|---:|---|---:|",
        *(
            f"| {k} | {names[k]} | {'; '.join(paths[k])} | {', '.join(map(str, cpu[k]))} | {result['median_cpu_s'][k]} "
            f"| {', '.join(map(str, wall[k]))} | {result['median_wall_s'][k]} |"
            for k in trees
        ),
        "",
        f"New / old: CPU {new / old:.2f} ({new - old:+.3f} s), wall {new_wall / old_wall:.2f} "
        f"({new_wall - old_wall:+.3f} s). JSON report byte-identical: "
        f"{'yes' if same_report else '**no**'}; stored findings (`prov findings v2 --all --json`, run ids "
        f"left out) identical: {'yes' if same_findings else '**no**'}; the flagged findings in both reports "
        f"identical: {'yes' if same_flagged else '**no**'}. Report size: old {sizes['old']:,} bytes, "
        f"new {sizes['new']:,} bytes.",
        "",
        f"Load (1, 5, 15 min) before and after each round: {' | '.join(loads)}. The machine is shared (other "
        "engineers' tests run beside it): under load a run's wall time includes waiting for a core.",
        "",
        f"`uptime` before and after: {uptimes[0]} / {uptimes[-1]}.",
        "",
    ]
    (HERE / "results" / f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
