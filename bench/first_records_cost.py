"""Old code against new: what naming the first records of a version replaced whole costs (``prov verify V``'s
none-shared path, ``version_verify._first_records``), before and after session 28 ranked them by
``change_pairing.natural_first`` (one int64 sort for row numbers, a heap of ``natural_bytes`` keys otherwise)
instead of a heap of ``changes.natural_key`` keys.

A manifest of ``--records`` records (random digests), its locators row numbers (a table: the int64 path) or
paths of an image tree (``class/img123.png``: the byte keys' path). Each round runs a child process per code
tree (``PYTHONPATH``: a snapshot, e.g. ``git archive COMMIT | tar -x -C DIR`` with the compiled helpers copied
in), alternated, sides swapped on odd rounds; the child times ``_first_records`` of both manifests in CPU
seconds and reports the records named (they must be the same).

Usage: python bench/first_records_cost.py OLD_TREE NEW_TREE [--records 1000000] [--rounds 5]
Writes bench/results/first-records-cost.{md,json}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import trees_alternated, write_results  # noqa: E402

KINDS = ("row numbers", "tree paths")


def child(records: int) -> None:
    """In the tree ``PYTHONPATH`` names: per kind of locator, CPU s of ``_first_records`` and a digest of its answer."""
    import numpy as np

    from provenance.manifest import Manifest
    from provenance.version_verify import _first_records

    rng = np.random.default_rng(records)
    digests = [bytes(d) for d in rng.integers(0, 256, size=(records, 32), dtype=np.uint8)]
    labels = [str(i % 10) for i in range(records)]
    order = rng.permutation(records).tolist()
    locators = {"row numbers": [str(i) for i in order], "tree paths": [f"c{i % 10}/img{i}.png" for i in order]}
    out = {}
    for kind in KINDS:
        manifest = Manifest.build(digests, labels, locators[kind])
        start = time.process_time()
        named = _first_records(manifest)
        seconds = time.process_time() - start
        out[kind] = {"cpu_s": seconds, "digest": hashlib.sha256(json.dumps(named).encode()).hexdigest()[:16]}
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    trees = {"main": args.old.resolve(), "new": args.new.resolve()}
    runs, loads, (before, after) = trees_alternated(__file__, trees, [str(args.records)], args.rounds)
    data: dict = {"records": args.records, "rounds": args.rounds, "trees": {k: str(v) for k, v in trees.items()}}
    data |= {"loads": loads, "uptime": [before, after], "runs": runs}
    lines = [
        f"# Naming the first records of a version replaced whole: {args.records:,} records, main against session 28",
        "",
        f"`bench/first_records_cost.py` ({args.rounds} rounds alternated, sides swapped on odd rounds; one child "
        "process per side and round): median CPU seconds of `version_verify._first_records` on one manifest.",
        "",
        "| locators | main (heap of natural_key) | new (natural_first) | new / main | records named |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        med = {side: statistics.median(r[kind]["cpu_s"] for r in runs[side]) for side in trees}
        same = "same" if len({r[kind]["digest"] for side in trees for r in runs[side]}) == 1 else "DIFFER"
        data[kind] = {"median_cpu_s": med, "named": same}
        lines.append(f"| {kind} | {med['main']:.3f} | {med['new']:.3f} | {med['new'] / med['main']:.2f} | {same} |")
    lines += ["", f"Trees: main {trees['main']}, new {trees['new']}.", ""]
    lines += [f"Load before and after each round: {', '.join(loads)}", "", f"uptime: {before} / {after}", ""]
    write_results("first-records-cost", data, lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
    else:
        main()
