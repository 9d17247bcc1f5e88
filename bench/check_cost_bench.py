"""What ``prov check`` and ``prov diff --detect`` cost on a fixed delta, stage by stage, and old code against new.

Issue 15 (session 35, perf35): a 10,000-record delta (70% added, 30% relabeled, as ``detect_e2e_bench.py``'s
fixed delta) on a 100,000-record base, committed as users commit (``user_versions.two_versions``: lineage
against a signed vendor batch, reference profile).

  python bench/check_cost_bench.py build DIR
      builds the store in DIR (kept: DIR/.prov, and DIR/pristine.prov to put it back before each run).
  python bench/check_cost_bench.py stages DIR check|diff [NEW BASE]
      one run of the command in this process (``provenance.cli.prepare_process`` first, as the console
      script), with timers around its stages: each gate rule (inclusive of the shared facts it is the first
      to need), and inside them the version reads; prints one JSON line {stage: [wall s, CPU s, calls]}.
  python bench/check_cost_bench.py ab DIR OLD_TREE NEW_TREE [--rounds R] [--name NAME]
      both commands of each tree alternated in fresh processes (bytecode cached, the store put back before
      each run), CPU (user + system) and wall; outputs compared with their times and run ids left out; writes
      bench/results/check-cost-ab[-NAME].{md,json}.
"""

from __future__ import annotations

import functools
import importlib
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, put_back, uptime  # noqa: E402
from user_versions import PROV, _children_cpu, bytecode_env, load, two_versions  # noqa: E402

BASE_RECORDS = 100_000
DELTA_RECORDS = 10_000
SHARES = (0.0, 0.3, 0.7)  # removed, relabeled, added: as detect_e2e_bench.py
COMMANDS = {
    "check": ["check", "v2", "--base", "v1", "--signer", "maintainer.pub", "--format", "json"],
    "diff": ["diff", "v1", "v2", "--detect", "--format", "json"],
}


def between(command: str, new: str, base: str) -> list[str]:
    """``COMMANDS[command]`` for another pair of versions (a store with a longer ancestry)."""
    return [{"v2": new, "v1": base}.get(word, word) for word in COMMANDS[command]]


# functions timed inside the rules (inclusive), as their modules name them
INNER = {
    "provenance.versions": ("verify_version",),
    "provenance.version_verify": ("load_manifest", "check_sample", "build_manifest", "kept_object"),
    "provenance.delta.delta_check": ("check_signed_delta",),
    "provenance.version_facts": ("load_manifest",),
    "provenance.lineage.classify": ("version_lineage", "trusted_lineage"),
    "provenance.detectors.pipeline": ("detect_diff", "run_detectors", "save_findings"),
    "provenance.delta.compare": ("diff_versions",),
    "provenance.report": ("render", "write_output"),
    "provenance.detectors.collision": ("whole_base_nearest",),
}


def build(folder: Path) -> dict:
    """The store (``two_versions``) and a copy of its ``.prov`` as built, to put back before each run."""
    facts = two_versions(folder, BASE_RECORDS, DELTA_RECORDS / BASE_RECORDS, shares=SHARES)
    shutil.rmtree(folder / "pristine.prov", ignore_errors=True)
    shutil.copytree(folder / ".prov", folder / "pristine.prov")
    return facts


def stages(folder: Path, command: str, versions: tuple[str, str] = ("v2", "v1")) -> dict:
    """One run of ``command`` in this process with timers around its stages: {stage: [wall, CPU, calls]}."""
    import os

    put_back(folder, folder / "pristine.prov")
    os.chdir(folder)
    times: dict[str, list] = {}

    def timer(label: str, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                entry = times.setdefault(label, [0.0, 0.0, 0])
                entry[0] += time.perf_counter() - wall
                entry[1] += time.process_time() - cpu
                entry[2] += 1

        return wrapper

    start_wall, start_cpu = time.perf_counter(), time.process_time()
    sys.argv = ["prov", *between(command, *versions)]
    import provenance.cli as cli

    cli.prepare_process(cli._command())
    for module, names in INNER.items():
        owner = importlib.import_module(module)
        for name in names:
            setattr(owner, name, timer(name, getattr(owner, name)))
    from provenance.gate.base import Rule
    from provenance.gate.results import GateResult

    rule_evaluate = Rule.evaluate

    def evaluate(self, ctx):
        return timer(f"rule {self.name}", rule_evaluate)(self, ctx)

    Rule.evaluate = evaluate  # type: ignore[method-assign]
    GateResult.to_dict = timer("GateResult.to_dict", GateResult.to_dict)  # type: ignore[method-assign]
    times["imports"] = [time.perf_counter() - start_wall, time.process_time() - start_cpu, 1]
    stdout = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    try:
        cli.app(prog_name="prov")
    except SystemExit:
        pass
    finally:
        sys.stdout.close()
        sys.stdout = stdout
    times["total"] = [time.perf_counter() - start_wall, time.process_time() - start_cpu, 1]
    return {k: [round(v[0], 3), round(v[1], 3), v[2]] for k, v in times.items()}


def comparable(command: str, text: str) -> dict:
    """The command's JSON output without what differs between two runs of the same code (times, run ids)."""
    doc = json.loads(text)

    def strip(value):
        if isinstance(value, dict):
            return {
                k: strip(v)
                for k, v in value.items()
                if k not in ("checked_at", "ts", "created_at", "run", "detection_saved", "by")
            }
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(doc)


def ab(folder: Path, trees: dict[str, Path], rounds: int, name: str) -> None:
    """Each command of each tree alternated; results and whether the outputs are the same."""
    caches = {side: folder / f"pycache-{side}" for side in trees}
    outputs: dict[tuple[str, str], dict] = {}
    for side, tree in trees.items():  # untimed: fills each tree's bytecode cache
        for command in COMMANDS:
            outputs[(side, command)] = comparable(command, one_run(tree, folder, command, caches[side])[2])
    same = {command: outputs[("old", command)] == outputs[("new", command)] for command in COMMANDS}
    before = uptime()

    def once(side_command: str) -> tuple[float, float]:
        side, command = side_command.split(":")
        wall, cpu, text = one_run(trees[side], folder, command, caches[side])
        same[command] = same[command] and comparable(command, text) == outputs[("old", command)]
        return wall, cpu

    sides = [f"{side}:{command}" for command in COMMANDS for side in trees]
    results, loads = alternate(sides, once, rounds, swap=True)
    after = uptime()
    rows = {
        side: {
            "cpu": [round(r[1], 3) for r in runs],
            "wall": [round(r[0], 3) for r in runs],
            "median_cpu": round(statistics.median(r[1] for r in runs), 3),
            "median_wall": round(statistics.median(r[0] for r in runs), 3),
        }
        for side, runs in results.items()
    }
    report = {"trees": {k: str(v) for k, v in trees.items()}, "rows": rows, "same": same, "loads": loads}
    report |= {"uptime_before": before, "uptime_after": after}
    suffix = f"-{name}" if name else ""
    (HERE / "results" / f"check-cost-ab{suffix}.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        f"# `prov check` and `prov diff --detect`: old code against new ({name or 'check-cost-ab'})",
        "",
        f"{BASE_RECORDS:,} base records, a {DELTA_RECORDS:,}-record delta (70% added, 30% relabeled); {rounds} "
        "rounds, the order alternating; every run a fresh process on the same store (its `.prov/` put back before "
        "each), bytecode cached. CPU seconds (user + system) and wall seconds.",
        "",
        "| command | code | tree | CPU per run (s) | median CPU | median wall |",
        "|---|---|---|---|---:|---:|",
    ]
    for side, row in rows.items():
        code, command = side.split(":")
        lines.append(
            f"| {command} | {code} | {trees[code]} | {', '.join(map(str, row['cpu']))} | {row['median_cpu']} | "
            f"{row['median_wall']} |"
        )
    for command in COMMANDS:
        old, new = rows[f"old:{command}"]["median_cpu"], rows[f"new:{command}"]["median_cpu"]
        lines.append("")
        lines.append(
            f"{command}: new / old CPU {new / old:.2f} ({new - old:+.3f} s); outputs the same (times and run ids "
            f"left out): {'yes' if same[command] else '**no**'}."
        )
    lines += ["", f"Load before the first round and after each: {' | '.join(loads)}.", ""]
    lines += [f"`uptime` before and after: {before} / {after}."]
    (HERE / "results" / f"check-cost-ab{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def one_run(tree: Path, folder: Path, command: str, cache: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of one fresh ``prov`` process of ``tree``'s code, and its output (``prov check``
    blocking, exit 1, is a run like any other)."""
    import subprocess

    put_back(folder, folder / "pristine.prov")
    out = folder / f"out-{command}.json"
    env = bytecode_env(cache) | {"PYTHONPATH": str(tree)}
    argv = [PROV, *COMMANDS[command], "--out", str(out)]
    cpu_before, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, check=False)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu_before
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode()[-2000:]}")
    return wall, cpu, out.read_text()


def main() -> None:
    action, folder = sys.argv[1], Path(sys.argv[2]).resolve()
    if action == "build":
        print(json.dumps(build(folder) | {"load": load()}))
    elif action == "stages":
        versions = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else ("v2", "v1")
        print(json.dumps(stages(folder, sys.argv[3], versions) | {"load": [load()]}), file=sys.stderr)
    elif action == "ab":
        args = sys.argv[3:]
        rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else 4
        name = args[args.index("--name") + 1] if "--name" in args else ""
        ab(folder, {"old": Path(args[0]).resolve(), "new": Path(args[1]).resolve()}, rounds, name)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
