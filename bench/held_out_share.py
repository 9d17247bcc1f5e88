"""Old code against new: the CPU one combined verdict and its relabel scan spend refitting the base's held-out
pseudo-batches, before and after session 28 shared those refits (``beyond.held_out_folds``).

``beyond.out_of_fold`` (the beyond and far rates), ``feature_level.held_out_level`` (the feature level) and
``relabel_scan.held_out_null`` (the relabel scan's null) each held every pseudo-batch out in turn and refitted
every detector's calibration on the others: the same refits three times. Now the first computes them and the
other two read them.

Synthetic detector results as the runner gives them: six built-ins with raw reference scores (exponential), one
without (volume), a delta of ``--delta`` records, ``--batches`` pseudo-batches, at each reference size. Each round
runs a child process per code tree (``PYTHONPATH``: a snapshot, e.g. ``git archive COMMIT | tar -x -C DIR`` with
the compiled helpers copied in), alternated (``alternation.alternate``, sides swapped on odd rounds); a child
times, in CPU seconds, ``combine.combine`` and then ``relabel_scan.held_out_null`` on the same results (as a
``prov check`` with relabels runs them), fresh inputs per size. The outputs of both trees are compared (a digest of
the verdicts and the null): they must be the same.

Usage: python bench/held_out_share.py OLD_TREE NEW_TREE [--sizes 2000,4000,8000] [--rounds 7]
Writes bench/results/held-out-share.{md,json}.
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

FPR = 0.01
DETECTORS = ("collision", "duplicates", "gradient", "knn_label", "outlier", "spectral")


def child(sizes: list[int], delta: int, batches: int) -> None:
    """In the tree ``PYTHONPATH`` names: per size, CPU s of the verdict and of the scan's null, and their digest."""
    import numpy as np

    from provenance.detectors.base import DetectorResult, Finding
    from provenance.detectors.combine import DETECTOR_WEIGHTS, combine
    from provenance.detectors.relabel_scan import held_out_null

    out = {}
    for m in sizes:
        rng = np.random.default_rng(m)
        pseudo = np.repeat(np.arange(batches), -(-m // batches))[:m]
        labels = [str(i % 10) for i in range(m)]
        results = []
        for name in (*DETECTORS, "volume"):
            p = rng.uniform(size=delta)
            findings = [Finding(f"{i:064x}", name, float(1 - v), bool(v <= FPR), "") for i, v in enumerate(p)]
            if name == "volume":  # scores records, no p-values: listed, not in the statistic
                results.append(DetectorResult(name, "ran", None, 0.5, findings))
                continue
            raw = rng.exponential(size=m)
            reference_p = (np.argsort(np.argsort(-raw)) + 1.0) / (m + 1.0)
            results.append(
                DetectorResult(name, "ran", None, 0.5, findings, p_values=p, reference_p=reference_p, reference_raw=raw)
            )
        start = time.process_time()
        verdicts = combine(results, FPR, pseudo)
        verdict_s = time.process_time() - start
        start = time.process_time()
        # since tidy29 the verdict hands its folds on (``Verdicts.held_out``); before, a module cache kept them
        passed = (verdicts.held_out,) if hasattr(verdicts, "held_out") else ()
        null = held_out_null(results, DETECTOR_WEIGHTS, pseudo, labels, FPR, *passed)
        null_s = time.process_time() - start
        digest = hashlib.sha256(
            repr((verdicts.summary(), verdicts.feature_level, verdicts.beyond_rate, verdicts.far_rate)).encode()
            + b"".join(r.explanation.encode() for r in verdicts.records)
            + b"".join(k.encode() + v.tobytes() for k, v in sorted(null.p.items()))
        ).hexdigest()[:16]
        out[m] = {"verdict_s": verdict_s, "null_s": null_s, "digest": digest}
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--sizes", default="2000,4000,8000")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--delta", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    sizes = [int(v) for v in args.sizes.split(",")]
    trees = {"main": args.old.resolve(), "new": args.new.resolve()}
    child_args = [args.sizes, str(args.delta), str(args.batches)]
    runs, loads, (before, after) = trees_alternated(__file__, trees, child_args, args.rounds)
    data: dict = {"sizes": sizes, "rounds": args.rounds, "delta": args.delta, "batches": args.batches}
    data |= {"trees": {k: str(v) for k, v in trees.items()}, "loads": loads, "uptime": [before, after], "runs": runs}
    lines = [
        "# Held-out refits shared: one verdict and its relabel scan, main against session 28",
        "",
        f"`bench/held_out_share.py` ({args.rounds} rounds alternated, sides swapped on odd rounds; one child "
        f"process per side and round). Synthetic results: six built-ins with raw reference scores and volume, "
        f"a delta of {args.delta:,} records, {args.batches} pseudo-batches. Median CPU seconds of "
        "`combine.combine` (which refits the held-out batches for the beyond/far rates and the feature level) "
        "and of `relabel_scan.held_out_null` after it (a third time on main).",
        "",
        "| reference records | main: verdict | new: verdict | main: null | new: null | main: both | new: both "
        "| CPU saved | new / main | outputs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in sizes:
        key = str(m)
        med = {
            side: {part: statistics.median(r[key][part] for r in runs[side]) for part in ("verdict_s", "null_s")}
            for side in trees
        }
        both = {side: statistics.median(r[key]["verdict_s"] + r[key]["null_s"] for r in runs[side]) for side in trees}
        digests = {r[key]["digest"] for side in trees for r in runs[side]}
        same = "same" if len(digests) == 1 else "DIFFER"
        data[key] = {"median": med, "median_both": both, "outputs": same}
        lines.append(
            f"| {m:,} | {med['main']['verdict_s']:.3f} | {med['new']['verdict_s']:.3f} | {med['main']['null_s']:.3f} "
            f"| {med['new']['null_s']:.3f} | {both['main']:.3f} | {both['new']:.3f} | {both['main'] - both['new']:.3f} s "
            f"| {both['new'] / both['main']:.2f} | {same} |"
        )
    lines += ["", f"Trees: main {trees['main']}, new {trees['new']}.", ""]
    lines += [f"Load before and after each round: {', '.join(loads)}", "", f"uptime: {before} / {after}", ""]
    write_results("held-out-share", data, lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child([int(v) for v in sys.argv[2].split(",")], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
