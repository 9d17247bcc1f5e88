"""`prov diff v1 v2` with two (code, store) pairs, alternated in fresh processes: OLD code on a store
whose versions it committed (lineage objects of format 1, with their digest column) against this
tree on a store it committed (format 2), sides swapped on odd rounds. Wall and CPU time (user + system), peak
PSS, and the load before and after each run; results in bench/results/diff-format2-ab.json. Not a test: nothing is asserted.

Make the stores with ``user_versions.two_versions`` (as ``diff_bench.py`` does), once with each code:

    PYTHONPATH=OLD_TREE python -c "import sys; sys.path.insert(0, 'bench'); from pathlib import Path; \\
        from user_versions import two_versions; two_versions(Path('/tmp/s-old'), 10_000_000, 0.01)"
    PYTHONPATH=. python -c "...same with Path('/tmp/s-new')..."
    python bench/diff_format_ab.py OLD_TREE /tmp/s-old /tmp/s-new [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from alternation import recorded_rounds  # noqa: E402
from user_versions import PROV, run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old", help="a folder holding the old code's provenance/ package")
    ap.add_argument("old_store", help="a folder whose .prov/ the old code committed v1 and v2 into")
    ap.add_argument("new_store", help="the same versions committed by this tree")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    trees = {"format1": str(Path(args.old).resolve()), "format2": str(HERE.parent)}
    stores = {"format1": Path(args.old_store), "format2": Path(args.new_store)}

    def one(name: str, code: str) -> dict:
        out = stores[name] / "diff-ab.json"
        env = dict(os.environ, PYTHONPATH=code)
        seconds, peak, cpu = run([PROV, "diff", "v1", "v2", "--format", "json", "--out", str(out)], stores[name], env)
        return {"wall_s": round(seconds, 3), "cpu_s": round(cpu, 3), "peak_mib": round(peak / 2**20, 1)}

    runs, _ = recorded_rounds(trees, one, args.rounds)
    summary = {
        name: {
            "median_wall_s": statistics.median(r["wall_s"] for r in runs if r["code"] == name),
            "median_cpu_s": statistics.median(r["cpu_s"] for r in runs if r["code"] == name),
            "best_wall_s": min(r["wall_s"] for r in runs if r["code"] == name),
            "peak_mib": max(r["peak_mib"] for r in runs if r["code"] == name),
        }
        for name in trees
    }
    result = {"old_code": args.old, "summary": summary, "runs": runs}
    (HERE / "results" / "diff-format2-ab.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
