"""``prov diff v1 v2 --detect`` reading v2's signed delta object vs merging both manifests, alternated.

The flat aim of issue 15 (bench/detect_e2e_bench.py ``--flat``): a fixed 10,000-record delta
(30% relabeled, 70% added, as there) against bases of 100 k, 1 M and (``--10m``) 10 M records.
Both paths run the same code in the same store: ``PROV_DIFF_MERGE=1`` makes the diff merge both
whole manifests as before the delta object (the reference the tests hold the delta path to).
Runs alternate merge / delta, ``ROUNDS`` rounds, each a fresh process with the bytecode cache
filled; CPU time (user + system) is the figure, since other engineers load the machine.

Usage: python bench/signed_delta_ab.py [--10m]   Writes bench/results/signed-delta-ab.{md,json}.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, timing_summary, uptime  # noqa: E402
from user_versions import PROV, bytecode_env, run, two_versions  # noqa: E402

FIXED_DELTA = 10_000
SHARES = (0.0, 0.3, 0.7)  # removed, relabeled, added
ROUNDS = 3


def bench_size(root: Path, n: int) -> dict:
    folder = root / f"base-{n}"
    facts = two_versions(folder, n, FIXED_DELTA / n, shares=SHARES)
    env = bytecode_env(root / "pycache")
    command = [PROV, "diff", "v1", "v2", "--detect", "--flagged-only", "--format", "json", "--out", "detect.json"]
    paths = {"merge": env | {"PROV_DIFF_MERGE": "1"}, "delta": env}
    outputs = {}
    for path_env in paths.values():
        run(command, folder, path_env)  # untimed: fills the bytecode cache (and stores one run, as every run does)
    for name, path_env in paths.items():  # the store as it is: a stored run changes the next report's audit coverage
        run(command + ["--no-save"], folder, path_env)
        outputs[name] = (folder / "detect.json").read_bytes()
    assert outputs["merge"] == outputs["delta"], "the two paths' reports differ"
    times, loads = alternate(list(paths), lambda name: run(command, folder, paths[name]), ROUNDS)
    row = facts | {name: timing_summary(runs) for name, runs in times.items()}
    row["loads"] = loads
    row["report_bytes_identical"] = True
    print(json.dumps(row), flush=True)
    shutil.rmtree(folder)
    return row


def main() -> None:
    sizes = [100_000, 1_000_000] + ([10_000_000] if "--10m" in sys.argv else [])
    root = Path(tempfile.mkdtemp(prefix="prov-delta-ab-"))
    uptimes = [uptime()]
    try:
        rows = [bench_size(root, n) for n in sizes]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    uptimes.append(uptime())
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "signed-delta-ab.json").write_text(
        json.dumps({"uptime": uptimes, "sizes": rows}, indent=2) + "\n"
    )
    small, big = rows[0], rows[-1]
    lines = [
        "# `prov diff v1 v2 --detect`: the signed delta object vs merging both manifests",
        "",
        f"A fixed {FIXED_DELTA:,}-record delta (30% relabeled, 70% added); fresh processes, bytecode cached, merge "
        f"and delta runs alternated, {ROUNDS} rounds, median CPU (user + system). Reports byte-identical. "
        f"uptime before: `{uptimes[0]}`; after: `{uptimes[1]}`.",
        "",
        "| base records | merge CPU s (runs) | delta CPU s (runs) | merge wall s | delta wall s | peak MiB merge / delta | load per round |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        m, d = r["merge"], r["delta"]
        lines.append(
            f"| {r['records']:,} | {m['median_cpu_s']} ({', '.join(map(str, m['all_cpu_s']))}) | {d['median_cpu_s']} "
            f"({', '.join(map(str, d['all_cpu_s']))}) | {m['median_s']} | {d['median_s']} | {m['peak_mib']} / "
            f"{d['peak_mib']} | {'; '.join(r['loads'])} |"
        )
    for name in ("merge", "delta"):
        growth = big[name]["median_cpu_s"] / small[name]["median_cpu_s"]
        lines.append("")
        lines.append(
            f"{name}: {small['records']:,} -> {big['records']:,} base records: {growth:.2f}x the CPU "
            f"(aim ≤ 1.5x from 100 k to 10 M: {'met' if growth <= 1.5 and big['records'] >= 10_000_000 else 'not met'})"
        )
    (HERE / "results" / "signed-delta-ab.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
