"""What ``prov status`` pays to pair the records a retyped column re-keyed (newcomer review 29, ``status_rekey.py``).

Builds a store in a temporary folder with N records of eight int64 columns (v1), then two files of N records
each, none of them v1's: ``edited`` (every value of one column changed, the schema the same: the baseline, which
status counts as every record added and removed, as before) and ``retyped`` (that column cast to double, the values the same: status reads
those records again and pairs them with v1's by content). Runs ``prov status FILE --version v1`` on each, alternating,
``RUNS`` times, and reports the CPU seconds of each run (user + system of the child) and the ratio of the medians,
with the load average before and after. Usage: ``python bench/status_retype_s30.py [N] [RUNS]``; writes
``bench/results/status-retype-s30.md``.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
PROV = [sys.executable, "-m", "provenance"]


def _cpu_of(args: list[str], cwd: Path, env: dict) -> float:
    """CPU seconds (user + system) the command took, read from the children's usage around it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rng = np.random.default_rng(0)
    table = pa.table({f"x{i}": rng.integers(0, 1000, n) for i in range(8)} | {"label": (np.arange(n) % 10).astype(str)})
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")} | {"PROV_SIGNERS": str(here / "k.pub")}
        pq.write_table(table, here / "v1.parquet")
        x0 = table.column("x0")
        pq.write_table(table.set_column(0, "x0", pa.array(np.asarray(x0) + 5000)), here / "edited.parquet")
        pq.write_table(table.set_column(0, "x0", x0.cast(pa.float64())), here / "retyped.parquet")
        for args in (["init"], ["keys", "generate", "k"], ["commit", "v1.parquet", "--tag", "v1", "--key", "k.key"]):
            subprocess.run(PROV + args, cwd=here, env=env, check=True, stdout=subprocess.DEVNULL)
        cpu: dict[str, list[float]] = {"edited": [], "retyped": []}
        for _ in range(runs):
            for name in cpu:
                cpu[name].append(_cpu_of(PROV + ["status", f"{name}.parquet", "--version", "v1"], here, env))
    load_after = os.getloadavg()
    median = {name: statistics.median(v) for name, v in cpu.items()}
    line = (
        f"prov status of {n:,} records none of which is v1's (`bench/status_retype_s30.py {n} {runs}`), CPU seconds "
        f"per run: edited (baseline: counted added and removed) {', '.join(f'{s:.2f}' for s in cpu['edited'])}; retyped "
        f"(paired by content) {', '.join(f'{s:.2f}' for s in cpu['retyped'])}; median ratio retyped/edited "
        f"{median['retyped'] / median['edited']:.2f}; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after, on {os.cpu_count()} cores."
    )
    print(line)
    out = HERE / "results" / "status-retype-s30.md"
    out.write_text(f"# prov status of a retyped column: the cost of pairing by content\n\n{line}\n")


if __name__ == "__main__":
    main()
