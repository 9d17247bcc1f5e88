"""How long a large commit holds the store's write lock, seen from another process.

Writes a numeric table (default 200,000 rows x 32 columns, the size issue 11 measured),
runs ``prov commit`` on it as a real process, and meanwhile tries the store's lock
(``.prov/lock``, non-blocking ``flock``) every few milliseconds, as any other writer
would. Reports the commit's wall time, the time the lock was held (busy samples times
the polling interval) and the longest single hold. Results: bench/results/commit_lock.{json,md}.

    python bench/commit_lock_bench.py [--rows N] [--cols N]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PROV = str(Path(sys.executable).parent / "prov")
RESULTS = Path(__file__).resolve().parent / "results"
POLL = 0.005  # seconds between tries of the lock


def table(rows: int, cols: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    data = {f"x{j:02d}": rng.normal(size=rows) for j in range(cols)}
    data["label"] = [str(v) for v in rng.integers(0, 10, rows)]
    return pa.table(data)


def lock_free(lock: Path) -> bool:
    with open(lock, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
        return True


def measure(rows: int, cols: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pq.write_table(table(rows, cols), root / "train.parquet")
        env = dict(os.environ)
        subprocess.run([PROV, "init"], cwd=root, env=env, check=True, capture_output=True)
        subprocess.run([PROV, "keys", "generate", "owner"], cwd=root, env=env, check=True, capture_output=True)
        lock = root / ".prov" / "lock"
        started = time.perf_counter()
        proc = subprocess.Popen(
            [PROV, "commit", "train.parquet", "--tag", "v1", "--key", "owner.key", "--json"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        busy = 0
        holds: list[float] = []
        current: float | None = None
        while proc.poll() is None:
            now = time.perf_counter()
            if lock_free(lock):
                if current is not None:
                    holds.append(now - current)
                    current = None
            else:
                busy += 1
                current = current if current is not None else now
            time.sleep(POLL)
        wall = time.perf_counter() - started
        if current is not None:
            holds.append(time.perf_counter() - current)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"commit failed: {err}")
        result = json.loads(out)
        return {
            "rows": rows,
            "cols": cols,
            "commit_seconds": round(wall, 2),
            "lock_held_seconds": round(sum(holds), 2),
            "longest_hold_seconds": round(max(holds, default=0.0), 2),
            "holds": len(holds),
            "profile": result.get("profile", {}).get("status"),
            "lineage": bool(result.get("lineage")),
            "load_average": os.getloadavg(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--cols", type=int, default=32)
    args = parser.parse_args()
    result = measure(args.rows, args.cols)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "commit_lock.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "commit_lock.md").write_text(
        "| rows x cols | commit (s) | lock held (s) | longest hold (s) | load average |\n|---|---|---|---|---|\n"
        f"| {result['rows']:,} x {result['cols']} | {result['commit_seconds']} | {result['lock_held_seconds']} | "
        f"{result['longest_hold_seconds']} | {', '.join(f'{x:.1f}' for x in result['load_average'])} |\n"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
