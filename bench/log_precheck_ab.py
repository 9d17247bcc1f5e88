"""``prov log`` start-up with a release and nothing revoked: the old lost-attestation pre-check vs the new, alternated.

Review 24a changed ``prov log``'s cheap pre-check (``version_releases.mark_lost_attestation``): the old one made
five one-row SQL looks for a revocation or a retirement; the new one (``lineage.standing.may_have_lost_standing``)
compares every signed ``batch.add`` entry's key with ``Pins.source_keys`` (the signed trust statements, verified)
and looks for each envelope object. Neither judges lineage here: nothing is revoked and every key is trusted, so
both print the same log. The figures are the pre-check alone (median of ``CALLS`` calls in one process, after the
first) and what the new look costs on a store with a release (``startup_bench.py``'s
world has none, so its ``prov log`` row never reaches the pre-check).

Each code is a snapshot (``git archive`` of a commit, with the compiled helpers copied) put first on
``PYTHONPATH``. The store: a vendor key a maintainer trusts, ``BATCHES`` batches the vendor signed (4 records
each), v1 without them, v2 with them, released against v1 (``prov check --attest``, detectors off). Runs alternate old / new,
``ROUNDS`` rounds, each a fresh ``prov log --signer maintainer.pub`` with the bytecode cache filled; the load is
recorded before and after each round; CPU time (user + system) is the figure, since other engineers load the
machine. The two outputs must be the same.

Usage: python bench/log_precheck_ab.py OLD_SNAPSHOT NEW_SNAPSHOT
Writes bench/results/log-precheck-ab.{md,json}.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, uptime  # noqa: E402
from user_versions import PROV, bytecode_env, run  # noqa: E402

SIZES = (1, 40)  # signed batches registered
ROUNDS = 9
CALLS = 30
# The pre-check alone, in one process per side after a warm-up call: median milliseconds of CALLS calls.
PRECHECK = """
import statistics, sys, time
from provenance.store import Store
from provenance.trust.pins import Pins
store = Store.open(pins=Pins.load(["maintainer.pub"]))
try:
    from provenance.lineage.standing import may_have_lost_standing as precheck
except ImportError:
    from provenance.trust.revocations import standing_may_have_changed as precheck
assert precheck(store) is False
times = []
for _ in range(CALLS):
    start = time.perf_counter()
    precheck(store)
    times.append(time.perf_counter() - start)
print(round(statistics.median(times) * 1000, 3))
""".replace("CALLS", str(CALLS))


def world(folder: Path, batches: int, env: dict) -> None:
    """The store described in the module docstring, built by the new code."""
    folder.mkdir(parents=True)

    def prov(*args: str) -> None:
        subprocess.run([PROV, *args], cwd=folder, env=env, check=True, capture_output=True)

    base = {"x": [float(i) for i in range(200)], "label": ["a", "b"] * 100}
    pq.write_table(pa.table(base), folder / "v1.parquet")
    prov("init")
    prov("keys", "generate", "vendor")
    prov("keys", "generate", "maintainer")
    prov("trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", "--signer", "maintainer.pub")
    rows = dict(base)
    for b in range(batches):
        batch = {"x": [1000.0 + 4 * b + i for i in range(4)], "label": ["a", "b", "a", "b"]}
        pq.write_table(pa.table(batch), folder / f"batch{b}.parquet")
        prov("sign", f"batch{b}.parquet", "--source", "vendor", "--key", "vendor.key")
        prov("add", f"batch{b}.parquet", "--source", "vendor", "--signer", "maintainer.pub")
        rows = {k: rows[k] + batch[k] for k in rows}
    pq.write_table(pa.table(rows), folder / "v2.parquet")
    for tag in ("v1", "v2"):
        prov("commit", f"{tag}.parquet", "--tag", tag, "--key", "maintainer.key", "--signer", "maintainer.pub")
    (folder / "policy.toml").write_text("[detectors]\nenabled = false\n")  # the release is the point, not detection
    prov("check", "v2", "--base", "v1", "--policy", "policy.toml", "--attest", "--key", "maintainer.key",
         "--signer", "maintainer.pub")  # fmt: skip


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    code = {"old": str(Path(args[0]).resolve()), "new": str(Path(args[1]).resolve())}
    root = Path(tempfile.mkdtemp(prefix="prov-log-precheck-ab-"))
    envs = {name: bytecode_env(root / f"pycache-{name}") | {"PYTHONPATH": snap} for name, snap in code.items()}
    command = [PROV, "log", "--signer", "maintainer.pub"]
    uptimes, rows = [uptime()], []
    try:
        for batches in SIZES:
            folder = root / f"world-{batches}"
            world(folder, batches, envs["new"])
            outputs = {}
            for name in code:  # untimed: fills each side's bytecode cache; the outputs must agree
                out = subprocess.run(command, cwd=folder, env=envs[name], capture_output=True, text=True, check=True)
                outputs[name] = out.stdout
            assert outputs["old"] == outputs["new"], outputs
            assert "released: release" in outputs["new"] and "warning" not in outputs["new"], outputs["new"]
            times, loads = alternate(
                list(code), lambda name: run(command, folder, envs[name], probe_memory=False), ROUNDS, swap=True
            )
            row: dict = {"batches": batches, "loads": loads, "precheck_ms": {}}
            for name in code:
                out = subprocess.run(
                    [sys.executable, "-c", PRECHECK], cwd=folder, env=envs[name], capture_output=True, text=True
                )
                assert out.returncode == 0, out.stderr
                row["precheck_ms"][name] = float(out.stdout)
            for name, runs in times.items():
                row[name] = {
                    "median_s": round(statistics.median(w for w, _, _ in runs), 3),
                    "median_cpu_s": round(statistics.median(c for _, _, c in runs), 3),
                    "all_cpu_s": [round(c, 3) for _, _, c in runs],
                }
            row["cpu_ratio_new_old"] = round(row["new"]["median_cpu_s"] / row["old"]["median_cpu_s"], 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    uptimes.append(uptime())
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "log-precheck-ab.json").write_text(
        json.dumps({"uptime": uptimes, "code": code, "rounds": ROUNDS, "sizes": rows}, indent=2) + "\n"
    )
    lines = [
        "# `prov log` start-up with a release, nothing revoked: old pre-check (SQL looks) vs new (keys of signed batches)",
        "",
        f"{ROUNDS} rounds alternating old / new (order swapped every other round), fresh processes, bytecode cache "
        f"filled. Before: `{uptimes[0]}`; after: `{uptimes[-1]}`. CPU time is user + system of the process.",
        "",
        "| signed batches | old median CPU (s) | new median CPU (s) | new / old | old median wall (s) | new median wall (s) "
        "| pre-check alone, old / new (ms) | load per round |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batches']} | {r['old']['median_cpu_s']} | {r['new']['median_cpu_s']} | {r['cpu_ratio_new_old']} "
            f"| {r['old']['median_s']} | {r['new']['median_s']} "
            f"| {r['precheck_ms']['old']} / {r['precheck_ms']['new']} | {' → '.join(r['loads'])} |"
        )
    (HERE / "results" / "log-precheck-ab.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
