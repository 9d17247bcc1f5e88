"""The copy index's cost (fix33a, A32e-1): the profile stage with and without it, its size, and a check's look-ups.

Each row commits one table (``profile_bench.make_table``: float64 columns around one centre per class) in a fresh
process, as ``bench/profile_bench.py`` does, twice in turn: with the copy index (every base record featurised and
kept in the profile) and without it (``copy_index_or_reason`` answering "none needed", the profile before fix33a).
It records the profile stage's wall and CPU time and own peak memory, the profile object's size, and the time the
index takes to find the nearest base records of 1,000 added records (base records nudged by 0.001 standard units,
half under another label) and whether it found every planted copy. The load average is recorded before and after.

    OMP_NUM_THREADS=1 nice .venv/bin/python bench/fix33a_copy_index.py

Writes bench/results/fix33a-copy-index.{md,json}. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

PLAN = [(250_000, 16, 10), (250_000, 16, 100), (100_000, 64, 10), (100_000, 64, 100)]
QUERIES = 1000


def child(path: str, with_index: bool) -> dict:
    """One commit of ``path`` (``profile_bench.child``), with or without the copy index, plus its size and look-ups."""
    import profile_bench

    from provenance.profiles import stage

    if not with_index:
        stage.copy_index_or_reason = lambda *args: (None, None)
    kept: dict = {}
    record = stage.PreparedProfile.record

    def keep(self, store, tag, predicate):
        kept["bytes"], kept["profile"] = len(self.data), self.profile
        return record(self, store, tag, predicate)

    stage.PreparedProfile.record = keep
    out = profile_bench.child(path)
    out["profile_mib"] = round(kept["bytes"] / 2**20, 2)
    index = kept["profile"].copy_index if kept.get("profile") is not None else None
    if index is not None:
        rng = np.random.default_rng(33)
        rows = rng.choice(len(index.keys), QUERIES, replace=False)
        Z = index.Z[rows].astype(np.float64) + rng.normal(scale=0.001 / np.sqrt(index.dim), size=(QUERIES, index.dim))
        labels = index.labels[rows].astype(np.int64)
        flipped = np.arange(QUERIES) % 2 == 1
        labels[flipped] = (labels[flipped] + 1) % len(kept["profile"].classes)
        digests = rng.integers(0, 256, (QUERIES, 32), dtype=np.uint8)
        start, cpu = time.perf_counter(), time.process_time()
        own, other = index.nearest(Z, labels, digests)
        out["lookup_s_per_1000"] = round(time.perf_counter() - start, 3)
        out["lookup_cpu_s_per_1000"] = round(time.process_time() - cpu, 3)
        out["copies_found"] = f"{int((other[flipped] < 0.01).sum())}/{int(flipped.sum())}"
        out["radius"] = round(index.radius, 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--without", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--plan", default="", help="rows:features:classes,... instead of PLAN")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, not args.without)))
        return
    from profile_bench import commit_plan

    plan = [tuple(int(x) for x in item.split(":")) for item in args.plan.split(",")] if args.plan else PLAN

    def variants(shape: dict) -> list[tuple[dict, list[str]]]:
        return [({**shape, "index": False}, ["--without"]), ({**shape, "index": True}, [])]

    commit_plan(Path(__file__).resolve(), plan, variants, write, "prov-fix33a-")


def write(rows: list[dict]) -> None:
    results = HERE / "results"
    results.joinpath("fix33a-copy-index.json").write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    lines = [
        "# fix33a: the copy index's cost at commit and at check",
        "",
        f"{os.cpu_count()} CPUs (shared). `OMP_NUM_THREADS=1 nice .venv/bin/python bench/fix33a_copy_index.py`: each "
        "table committed in a fresh process without the index (the profile before fix33a) and with it, in turn; the "
        "profile stage measured from inside (bench/profile_bench.py's harness). Look-ups: 1,000 base records nudged "
        "by 0.001 standard units, every second one under another label, searched in the index (a check's cost for "
        "1,000 added records); 'copies found' counts the relabelled ones whose other-class twin it found. Aim "
        "(issue 15): profile <= 3 s up to 100 classes, <= 500 MiB. Wall times are inflated by the load.",
        "",
        "| rows | features | classes | index | profile (s) | CPU (s) | peak (MiB) | profile size (MiB) | "
        "look-ups / 1,000 (s) | CPU (s) | copies found | radius | load before / after |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rows']:,} | {r['features']} | {r['classes']} | {'yes' if r['index'] else 'no'} | {r['profile_s']} | "
            f"{r['profile_cpu_s']} | {r['profile_peak_mib']} | {r['profile_mib']} | {r.get('lookup_s_per_1000', '')} | "
            f"{r.get('lookup_cpu_s_per_1000', '')} | "
            f"{r.get('copies_found', '')} | {r.get('radius', '')} | {r['load_before']} / {r['load_after']} |"
        )
    (results / "fix33a-copy-index.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
