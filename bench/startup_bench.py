"""Start-up of the ``prov`` command line (issue 15): median of 7 fresh processes per command.

Aims: ``prov --help``, ``init``, ``log``, ``show`` <= 0.15 s; ``verify``, ``sign``, ``add``
<= 0.4 s, on a tiny store and a 4-record batch (so the figure is start-up, not work).
Also lists the heavy modules each command imports (pandas, scipy, dvc, scikit-learn, dask
must load only for the commands that use them). The machine's load is recorded per row.

``prov status`` reads and hashes the 5-record data again (pyarrow), so its aim is the slower one.

Usage: python bench/startup_bench.py [--only WORD]
Writes bench/results/startup.{md,json}; with ``--only WORD`` only the commands whose row
names WORD run, written to bench/results/startup-WORD.{md,json} (a before/after of one command).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from user_versions import PROV, load, use_bytecode_cache  # noqa: E402

RUNS = 7
HEAVY = ("pandas", "scipy", "dvc", "sklearn", "dask", "numpy", "pyarrow", "sqlite_utils")
FAST, SLOWER = 0.15, 0.4
# (what the row says, arguments, aim, a fresh folder per run?)
COMMANDS = [
    ("prov --help", ["--help"], FAST, False),
    ("prov init", ["init"], FAST, True),
    ("prov log", ["log"], FAST, False),
    ("prov show v1", ["show", "v1"], FAST, False),
    (
        "prov verify batch.parquet --signer maintainer.pub",
        ["verify", "batch.parquet", "--signer", "maintainer.pub"],
        SLOWER,
        False,
    ),
    ("prov verify v1 --signer maintainer.pub", ["verify", "v1", "--signer", "maintainer.pub"], SLOWER, False),
    # --force: the world already holds the envelope, and sign refuses to replace a file without it
    (
        "prov sign batch.parquet",
        ["sign", "batch.parquet", "--source", "vendor", "--key", "vendor.key", "--force"],
        SLOWER,
        False,
    ),
    ("prov add batch.parquet", ["add", "batch.parquet", "--source", "vendor"], SLOWER, True),
    ("prov status --signer maintainer.pub", ["status", "--signer", "maintainer.pub"], SLOWER, False),
]

MODULES = (
    "import sys, atexit\n"
    "atexit.register(lambda: print(' '.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr))\n"
    "sys.argv = ['prov', *{args!r}]\n"
    "from provenance.cli import main\n"
    "main()\n"
)


def prov(args: list[str], cwd: Path) -> None:
    subprocess.run([PROV, *args], cwd=cwd, check=True, capture_output=True)


def world(folder: Path) -> None:
    """A store with one tiny version, a vendor key it trusts, and a 4-record batch the vendor signed."""
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0, 4.0], "label": ["a", "b", "a", "b"]}), folder / "batch.parquet")
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "label": list("ababa")}), folder / "data.parquet")
    prov(["init"], folder)
    prov(["keys", "generate", "vendor"], folder)
    prov(["keys", "generate", "maintainer"], folder)
    prov(["trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key"], folder)
    prov(["sign", "batch.parquet", "--source", "vendor", "--key", "vendor.key"], folder)
    prov(["commit", "data.parquet", "--tag", "v1", "--key", "maintainer.key"], folder)


def one_run(args: list[str], template: Path, fresh: bool, scratch: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one fresh ``prov`` process.

    The CPU time is what the process itself used: it barely moves with the machine's load,
    while the wall time under load includes waiting for a core."""
    cwd = template
    if fresh:  # init and add change the store: each run gets its own copy (made before timing)
        if scratch.exists():
            shutil.rmtree(scratch)
        shutil.copytree(template, scratch)
        if args[0] == "init":
            shutil.rmtree(scratch / ".prov")
        cwd = scratch
    start = time.perf_counter()
    proc = subprocess.Popen([PROV, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, [PROV, *args])
    return wall, usage.ru_utime + usage.ru_stime


def heavy_modules(args: list[str], template: Path, scratch: Path) -> list[str]:
    cwd = scratch if args[0] in ("init", "add") else template
    if cwd == scratch:
        if scratch.exists():
            shutil.rmtree(scratch)
        shutil.copytree(template, scratch)
        if args[0] == "init":
            shutil.rmtree(scratch / ".prov")
    code = MODULES.format(heavy=HEAVY, args=args)
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
    return out.stderr.strip().splitlines()[-1].split() if out.stderr.strip() else []


def main() -> None:
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    commands = [c for c in COMMANDS if only is None or only in c[0]]
    out = f"startup-{only}" if only else "startup"
    root = Path(tempfile.mkdtemp(prefix="prov-startup-"))
    env = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "machine": platform.machine(),
        "load_at_start": load(),
    }
    rows = []
    try:
        template, scratch = root / "world", root / "scratch"
        use_bytecode_cache(root / "pycache")  # as users run prov: its modules compiled once, not in every run
        world(template)
        floor = []
        for _ in range(RUNS):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            floor.append(time.perf_counter() - start)
        env["python_floor_s"] = round(statistics.median(floor), 3)
        for name, args, aim, fresh in commands:
            one_run(args, template, fresh, scratch)  # untimed: fills the bytecode cache for this command
            before = load()
            runs = [one_run(args, template, fresh, scratch) for _ in range(RUNS)]
            seconds = [wall for wall, _ in runs]
            rows.append(
                {
                    "command": name,
                    "median_s": round(statistics.median(seconds), 3),
                    "median_cpu_s": round(statistics.median(cpu for _, cpu in runs), 3),
                    "all_s": [round(s, 3) for s in seconds],
                    "aim_s": aim,
                    "heavy_modules": heavy_modules(args, template, scratch),
                    "load_before": before,
                    "load_after": load(),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{out}.json").write_text(json.dumps({"environment": env, "commands": rows}, indent=2) + "\n")
    lines = [
        "# Start-up of the prov command line",
        "",
        f"Machine: {env['cpus']} CPUs ({env['affinity']} usable), {env['machine']}, Python {env['python']}; "
        f"load at start {env['load_at_start']}; `python -c pass` takes {env['python_floor_s']} s here. "
        f"Median of {RUNS} fresh processes per command, on a tiny store and a 4-record batch. "
        "The verdict is on the wall time; the CPU time (user + system of the process) is what a quiet "
        "machine's wall time would be close to, and barely moves with load.",
        "",
        "| command | median wall (s) | median CPU (s) | aim (s) | | heavy modules imported | load before / after |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        ok = "met" if r["median_s"] <= r["aim_s"] else "**not met**"
        mods = ", ".join(r["heavy_modules"]) or "none"
        lines.append(
            f"| `{r['command']}` | {r['median_s']} | {r['median_cpu_s']} | ≤ {r['aim_s']} | {ok} | {mods} | {r['load_before']} / {r['load_after']} |"
        )
    (HERE / "results" / f"{out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
