"""What naming records by their lineage batch's source costs ``prov diff`` (not a timed test).

Data without a source column has its records named by the source of the registered batch
that carries them (``provenance.delta.attribution``): the diff then hashes the lineage object
before the merge and reads its ``source`` and ``status`` columns beside the manifest. This
commits the same two versions twice in one store, once with a ``source`` column
(``--source-column source``: nothing extra is read) and once without it (the attribution
path), and times ``prov diff --format json`` on each pair in fresh processes, alternating.
Writes bench/results/attribution.md and attribution.json.

Usage: python bench/attribution_bench.py [--records N] [--repeats R]   (default 1,000,000 and 5)
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from user_versions import PROV, load, prov, repeat, two_versions  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Build the store, time both diffs, write the results files."""
    n = int(sys.argv[sys.argv.index("--records") + 1]) if "--records" in sys.argv else 1_000_000
    times = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 5
    root = Path(tempfile.mkdtemp(prefix="prov-attribution-bench-"))
    try:
        facts = two_versions(root, n, 0.01)
        for tag in ("v1", "v2"):  # the same rows without their source column: named by lineage
            pq.write_table(pq.read_table(root / f"{tag}.parquet").drop(["source"]), root / f"{tag}n.parquet")
            prov(["commit", f"{tag}n.parquet", "--tag", f"{tag}n", "--key", "maintainer.key"], root)
        runs: dict[str, list[dict]] = {"source column": [], "no source column (lineage names them)": []}
        for _ in range(times):  # alternate, so a change of load hits both alike
            for name, (a, b) in zip(runs, (("v1", "v2"), ("v1n", "v2n"))):
                runs[name].append(repeat([PROV, "diff", a, b, "--format", "json", "--out", "d.json"], root, 1))
        report = json.loads((root / "d.json").read_text())
        named = {r["source"]: r["named_by"] for r in report["by_source"]}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = {}
    for name, rs in runs.items():
        wall = sorted(r["median_s"] for r in rs)
        cpu = sorted(r["median_cpu_s"] for r in rs)
        rows[name] = {
            "median_s": wall[len(wall) // 2],
            "median_cpu_s": cpu[len(cpu) // 2],
            "peak_mib": max(r["peak_mib"] for r in rs),
            "loads": [r["load_before"] for r in rs],
        }
    results = {"records": n, "facts": facts, "repeats": times, "runs": rows, "named_by": named, "load_end": load()}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "attribution.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# prov diff: naming records by their lineage batch's source",
        "",
        f"{n:,} records, 1% changed, committed with lineage (a signed vendor batch of 10%); "
        f"`prov diff --format json`, {times} fresh runs each, alternating. "
        "Command: `nice -n 10 python bench/attribution_bench.py`.",
        "",
        "| data | median wall (s) | median CPU (s) | peak PSS (MiB) | load (1, 5, 15 min) before each run |",
        "|---|---:|---:|---:|---|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['median_s']} | {r['median_cpu_s']} | {r['peak_mib']} | {'; '.join(r['loads'])} |")
    lines += ["", f"Sources the last no-source diff named: {json.dumps(named)}.", ""]
    (HERE / "results" / "attribution.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
