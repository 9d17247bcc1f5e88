"""What the benches' memory probe costs the process it watches: ``prov diff --detect`` alternated
probed and not probed, on one store, wall and CPU seconds, load recorded.

``user_versions.run`` polls the process tree's peak PSS every 10 ms (``core_bench.tree_rss``:
a walk of ``/proc`` and of the process's page tables). On a 2-core machine that poller takes
CPU the timed process could use, so its wall time is partly the probe's. This script runs the
same command on the same store (``.prov/`` put back before each run, as ``detect_ab.py``),
probed and unprobed in alternating order, and reports the medians; it also times the probe
alone against a process of prov's size.

Usage: python bench/memory_probe_ab.py [--records N] [--rounds R] [--store DIR] [--name NAME]
Writes bench/results/memory-probe-ab[-NAME].{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, put_back, uptime  # noqa: E402
from core_bench import tree_rss  # noqa: E402
from user_versions import PROV, bytecode_env, run, two_versions  # noqa: E402

SHARES = (0.0, 0.3, 0.7)  # removed, relabeled, added: as detect_e2e_bench.py


def probe_cost(calls: int = 100) -> dict:
    """Wall and CPU seconds of one ``tree_rss`` of this process with ~300 MiB resident (prov's peak)."""
    resident = np.ones(40_000_000)  # noqa: F841 (kept resident while the probe walks it)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        tree_rss(os.getpid())
    return {"wall_s": (time.perf_counter() - start) / calls, "cpu_s": (time.process_time() - cpu) / calls}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--store", type=Path, help="a folder two_versions built (v1, v2 committed), reused")
    parser.add_argument("--name", help="results file suffix: memory-probe-ab-NAME.md")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="prov-probe-ab-"))
    try:
        if args.store is None:
            folder = root / "store"
            two_versions(folder, args.records, 0.01, shares=SHARES)
        else:
            folder = args.store.resolve()
        pristine = root / "pristine"
        shutil.copytree(folder / ".prov", pristine)
        env = bytecode_env(root / "pycache")
        command = [PROV, "diff", "v1", "v2", "--detect", "--flagged-only", "--format", "json", "--out", "d.json"]

        def once(name: str) -> tuple[float, float]:
            put_back(folder, pristine)
            seconds, _, cpu = run(command, folder, env, probe_memory=name == "probed")
            return round(seconds, 3), round(cpu, 3)

        once("unprobed")  # untimed: fills the bytecode cache
        uptimes = [uptime()]
        runs, loads = alternate(("probed", "unprobed"), once, args.rounds, swap=True)
        uptimes.append(uptime())
        if args.store is not None:
            put_back(folder, pristine)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    cost = probe_cost()
    medians = {
        k: {"wall_s": statistics.median(w for w, _ in v), "cpu_s": statistics.median(c for _, c in v)}
        for k, v in runs.items()
    }
    result = {
        "records": args.records,
        "runs": runs,
        "medians": medians,
        "probe": cost,
        "loads": loads,
        "uptime": uptimes,
    }
    stem = "memory-probe-ab" + (f"-{args.name}" if args.name else "")
    (HERE / "results" / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    p, u = medians["probed"], medians["unprobed"]
    lines = [
        "# What the memory probe costs the timed process (memory-probe-ab)",
        "",
        f"`prov diff v1 v2 --detect --flagged-only` on one store of {args.records:,} base records and a 1% delta, "
        f"{args.rounds} rounds, probed (peak PSS polled every 10 ms, as `user_versions.run` did for every timed run "
        "before session 21) and unprobed in alternating order; every run a fresh process, `.prov/` put back "
        "before each, bytecode cached.",
        "",
        "| run | wall per run (s) | median wall | CPU per run (s) | median CPU |",
        "|---|---|---:|---|---:|",
        *(
            f"| {k} | {', '.join(str(w) for w, _ in v)} | {medians[k]['wall_s']:.3f} | "
            f"{', '.join(str(c) for _, c in v)} | {medians[k]['cpu_s']:.3f} |"
            for k, v in runs.items()
        ),
        "",
        f"Probed / unprobed: wall {p['wall_s'] / u['wall_s']:.2f} ({p['wall_s'] - u['wall_s']:+.3f} s), "
        f"CPU {p['cpu_s'] / u['cpu_s']:.2f} ({p['cpu_s'] - u['cpu_s']:+.3f} s; the probe's own CPU is the "
        f"bench's, not counted here). One probe of a process with ~300 MiB resident: "
        f"{cost['wall_s'] * 1e3:.1f} ms wall, {cost['cpu_s'] * 1e3:.1f} ms CPU, every 10 ms.",
        "",
        f"Load (1, 5, 15 min) before and after each round: {' | '.join(loads)}. The machine is shared (other "
        "engineers' tests run beside it), so single runs vary a lot; compare the medians.",
        "",
        f"`uptime` before and after: {uptimes[0]} / {uptimes[-1]}.",
        "",
    ]
    (HERE / "results" / f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
