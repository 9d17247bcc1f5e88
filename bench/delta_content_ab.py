"""``prov diff v1 v2 --detect`` on the signed delta: without (old code) vs with its content part (new), alternated.

Issue 15's flat aim (``bench/signed_delta_ab.py``'s fixed 10,000-record delta, 30% relabeled,
70% added). The old code re-reads the delta's records from the data file for detection; the new
code scores the content rows its commit kept in the delta object (``delta.delta_content``). Each
code is a snapshot (``git archive`` of a commit, with the compiled helpers copied) put first on
``PYTHONPATH``, so edits in the worktree during a run cannot change what is measured. Each side
commits v2 on a copy of one store holding v1 (the same keys, so the same reference profile): a
store whose v2 the new code committed holds a delta object the old code does not read. Runs alternate old / new, ``ROUNDS`` rounds, each a
fresh process with the bytecode cache filled; CPU time (user + system) is the figure, since
other engineers load the machine. The two reports must be byte for byte the same.

Usage: python bench/delta_content_ab.py OLD_SNAPSHOT NEW_SNAPSHOT [--10m]
Writes bench/results/delta-content-ab.{md,json}.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import user_versions  # noqa: E402
from alternation import alternate, timing_summary, uptime  # noqa: E402
from user_versions import PROV, bytecode_env, run, two_versions  # noqa: E402

FIXED_DELTA = 10_000
SHARES = (0.0, 0.3, 0.7)  # removed, relabeled, added
ROUNDS = 3


def bench_size(root: Path, n: int, code: dict[str, str]) -> dict:
    command = [PROV, "diff", "v1", "v2", "--detect", "--flagged-only", "--format", "json", "--out", "detect.json"]
    envs = {name: bytecode_env(root / f"pycache-{name}") | {"PYTHONPATH": snapshot} for name, snapshot in code.items()}
    # one store up to v1 (the same keys, so the same reference profile), then v2 committed by each code
    common = root / f"common-{n}"
    skipped: list[list[str]] = []
    real = user_versions.prov

    def but_v2(args: list[str], cwd: Path) -> None:
        if args[:2] == ["commit", "v2.parquet"]:
            skipped.append(args)
        else:
            real(args, cwd)

    user_versions.prov = but_v2
    os.environ["PYTHONPATH"] = code["new"]
    try:
        facts = two_versions(common, n, FIXED_DELTA / n, shares=SHARES)
    finally:
        user_versions.prov = real
        del os.environ["PYTHONPATH"]
    folders, commits = {}, {}
    for name in code:
        folders[name] = root / f"{name}-{n}"
        shutil.copytree(common, folders[name])
        _, _, cpu = run([PROV, *skipped[0]], folders[name], envs[name])
        commits[name] = round(cpu, 3)
    shutil.rmtree(common)
    outputs = {}
    for name in code:
        run(command, folders[name], envs[name])  # untimed: fills the bytecode cache (and stores one run)
    for name in code:
        run(command + ["--no-save"], folders[name], envs[name])
        outputs[name] = (folders[name] / "detect.json").read_bytes()
    # the stores differ in v2's commit (its time, its delta object): compare the findings
    findings = {name: json.loads(out)["findings"] for name, out in outputs.items()}
    assert findings["old"] == findings["new"], "the two codes' findings differ"
    times, loads = alternate(list(code), lambda name: run(command, folders[name], envs[name]), ROUNDS)
    row = {k: v for k, v in facts.items() if k != "commit_both_s"} | {
        "commit_v2_cpu_s": commits,
        "delta_object_bytes": {name: _delta_bytes(folders[name]) for name in code},
    }
    for name, runs in times.items():
        row[name] = timing_summary(runs)
    row["loads"] = loads
    row["findings_identical"] = True
    print(json.dumps(row), flush=True)
    for folder in folders.values():
        shutil.rmtree(folder)
    return row


def _delta_bytes(folder: Path) -> int:
    """The size of v2's delta object (the one parquet object whose footer says ``prov.delta``)."""
    import pyarrow.parquet as pq

    for path in (folder / ".prov" / "objects").iterdir():
        try:
            if b"prov.delta" in (pq.read_schema(path).metadata or {}):
                return path.stat().st_size
        except Exception:  # JSON objects, other Parquet objects
            continue
    return 0


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    code = {"old": str(Path(args[0]).resolve()), "new": str(Path(args[1]).resolve())}
    sizes = [100_000, 1_000_000] + ([10_000_000] if "--10m" in sys.argv else [])
    root = Path(tempfile.mkdtemp(prefix="prov-content-ab-"))
    uptimes = [uptime()]
    rows = []
    try:
        for n in sizes:
            rows.append(bench_size(root, n, code))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    uptimes.append(uptime())
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "delta-content-ab.json").write_text(
        json.dumps({"uptime": uptimes, "code": code, "sizes": rows}, indent=2) + "\n"
    )
    lines = [
        "# `prov diff v1 v2 --detect` on the signed delta: data re-read (old) vs the delta's content part (new)",
        "",
        f"A fixed {FIXED_DELTA:,}-record delta (30% relabeled, 70% added, 8 float columns); fresh processes, "
        f"bytecode cached, old and new code alternated, {ROUNDS} rounds, median CPU (user + system). Findings "
        f"identical. uptime before: `{uptimes[0]}`; after: `{uptimes[1]}`.",
        "",
        "| base records | old CPU s (runs) | new CPU s (runs) | old wall s | new wall s | delta object bytes old / new "
        "| commit v2 CPU s old / new | load per round |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        o, w = r["old"], r["new"]
        lines.append(
            f"| {r['records']:,} | {o['median_cpu_s']} ({', '.join(map(str, o['all_cpu_s']))}) | {w['median_cpu_s']} "
            f"({', '.join(map(str, w['all_cpu_s']))}) | {o['median_s']} | {w['median_s']} | "
            f"{r['delta_object_bytes']['old']:,} / {r['delta_object_bytes']['new']:,} | "
            f"{r['commit_v2_cpu_s']['old']} / {r['commit_v2_cpu_s']['new']} | {'; '.join(r['loads'])} |"
        )
    small, big = rows[0], rows[-1]
    for name in ("old", "new"):
        growth = big[name]["median_cpu_s"] / small[name]["median_cpu_s"]
        lines += [
            "",
            f"{name}: {small['records']:,} -> {big['records']:,} base records: {growth:.2f}x the CPU "
            f"(aim ≤ 1.5x from 100 k to 10 M: "
            f"{'met' if growth <= 1.5 and big['records'] >= 10_000_000 else 'not measured at 10 M' if big['records'] < 10_000_000 else 'not met'})",
        ]
    (HERE / "results" / "delta-content-ab.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
