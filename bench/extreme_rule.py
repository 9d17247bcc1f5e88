"""Benchmark: the gate's ``detectors.extreme`` rule on clean batches and on three planted label flips.

    python bench/extreme_rule.py digits,cells,seattle_weather,breast_cancer inorder,random [alpha]

For each real dataset and mode, six clean batches of 100-400 records (``inorder``: the
base is the file's first rows and the batch the next ones; ``random``: after a fixed
shuffle). Each batch is scored twice: as it is (a clean batch: any record whose
extreme p-value is at most alpha / n is a false block) and with three of its records'
labels flipped (blocked if any record is extreme). Deltas are built as the pipeline
builds them (distinct records, copies counted). Heavy-ish: run with ``nice``.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_datasets import LOADERS, pipeline_delta, row_digests

from provenance.detectors import run_detectors
from provenance.detectors.combine import combine
from provenance.detectors.extreme import DEFAULT_EXTREME_ALPHA, batch_label_support
from provenance.profiles.reference import build_profile


def verdicts(Xb, yb, Xd, yd):
    profile = build_profile(Xb, yb, row_digests(Xb), featurizer="x", positions=np.arange(len(Xb)))
    delta, rows = pipeline_delta(Xb, Xd, yd)
    results = run_detectors(profile, delta, fpr=0.01)
    return combine(results, 0.01, profile.sample_batches, batch_label_support(profile, delta)), rows


def run(names, modes, alpha=DEFAULT_EXTREME_ALPHA, batches_per=6, seed=0):
    rng = np.random.default_rng(seed)
    totals = {}
    for name in names:
        X0, y0 = LOADERS[name]()
        classes = np.unique(y0)
        for mode in modes:
            X, y = X0, y0
            if mode == "random":
                order = np.random.default_rng(seed + 5).permutation(len(X))
                X, y = X[order], y[order]
            false_blocks = flips_blocked = flips_extreme = 0
            for start in np.linspace(0.3 * len(X), 0.85 * len(X), batches_per).astype(int):
                size = int(min(rng.integers(100, 401), len(X) - start))
                Xb, yb, Xd, yd = X[:start], y[:start], X[start : start + size], y[start : start + size]
                clean, _ = verdicts(Xb, yb, Xd, yd)
                n = len(clean.records)
                false_blocks += any(v.extreme_p <= alpha / n for v in clean.records)
                flipped = yd.copy()
                planted = rng.choice(size, 3, replace=False)
                for i in planted:
                    shift = rng.integers(1, len(classes))
                    flipped[i] = classes[(np.searchsorted(classes, yd[i]) + shift) % len(classes)]
                poisoned, rows = verdicts(Xb, yb, Xd, flipped)
                n = len(poisoned.records)
                position = {int(r): j for j, r in enumerate(rows)}
                extreme = [
                    poisoned.records[position[int(i)]].extreme_p <= alpha / n for i in planted if int(i) in position
                ]
                flips_extreme += sum(extreme)
                flips_blocked += any(v.extreme_p <= alpha / n for v in poisoned.records)
            totals[(name, mode)] = (false_blocks, flips_blocked, flips_extreme, batches_per)
            print(
                f"{name:16s} {mode:7s} clean batches blocked {false_blocks}/{batches_per}; batches with 3 flips "
                f"blocked {flips_blocked}/{batches_per} ({flips_extreme}/{3 * batches_per} flips extreme)",
                flush=True,
            )
    fb = sum(t[0] for t in totals.values())
    fl = sum(t[1] for t in totals.values())
    nb = sum(t[3] for t in totals.values())
    print(f"all: clean batches blocked {fb}/{nb}; batches with 3 flips blocked {fl}/{nb} (alpha {alpha})")


if __name__ == "__main__":
    run(sys.argv[1].split(","), sys.argv[2].split(","), *(float(a) for a in sys.argv[3:4]))
