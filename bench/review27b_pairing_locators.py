"""Attack review 27b: the columnar change pairing with row-number locators (the int64 fast path) against
file#row locators (a multi-file table: a Python sort key per locator), every record but one edited.

Each kind runs in its own process (peak RSS is per process); the same N, in one script, alternated. Writes
bench/results/review27b-pairing-locators.md. Usage: bench/review27b_pairing_locators.py [N] [REPEATS]
"""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def child(kind: str, n: int) -> dict:
    import numpy as np

    from provenance.changes import record_changes
    from provenance.manifest import Manifest

    if kind == "rows":
        locators = [str(i) for i in range(n)]
    else:  # ten files of a multi-file table
        per = n // 10 + 1
        locators = [f"part-{i // per}.parquet#{i % per}" for i in range(n)]
    rng = np.random.default_rng(0)
    old = [hashlib.sha256(rng.bytes(8)).digest() for _ in range(n)]
    new = [old[0]] + [hashlib.sha256(b"x" + d).digest() for d in old[1:]]
    labels = [str(i % 3) for i in range(n)]
    signed, current = Manifest.build(old, labels, locators), Manifest.build(new, labels, locators)
    del old, new
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.process_time()
    changes = record_changes(signed, current)
    cpu = time.process_time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "kind": kind,
        "n": n,
        "cpu_s": round(cpu, 2),
        "rss_before_mib": before // 1024,
        "rss_peak_mib": peak // 1024,
        "changed": changes.counts["changed"],
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    runs = []
    for _ in range(repeats):
        for kind in ("rows", "files"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(n)], capture_output=True, text=True, check=True
            )
            runs.append(json.loads(out.stdout))
    med = {k: sorted(r["cpu_s"] for r in runs if r["kind"] == k)[repeats // 2] for k in ("rows", "files")}
    lines = [
        f"# Change pairing by locator kind, {n:,} records, all but one edited (attack review 27b)",
        "",
        "| kind | CPU s | RSS before MiB | peak RSS MiB | changed |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['kind']} | {r['cpu_s']} | {r['rss_before_mib']} | {r['rss_peak_mib']} | {r['changed']:,} |" for r in runs
    ]
    lines += [
        "",
        f"Median CPU: row numbers {med['rows']} s, file#row {med['files']} s, ratio "
        f"{med['files'] / max(med['rows'], 1e-9):.1f}x (same script, alternated, machine loaded).",
    ]
    path = Path(__file__).resolve().parent / "results" / "review27b-pairing-locators.md"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
