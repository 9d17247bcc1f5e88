"""Benchmark: false alarms of the combined verdict on clean deltas, at random and in file order.

    python bench/clean_delta_fpr.py digits,cells,seattle_weather,breast_cancer random,inorder

For each real dataset (bench/real_datasets.py, shipped in installed packages) and mode,
four clean deltas of 100-400 records: ``inorder`` takes the base as the first rows of the
file and the delta as the next rows (new writers, later dates, other plates), ``random``
does the same after a fixed shuffle. Prints the combined verdict's false-alarm rate and
flag counts, each detector's own rate, and which detector set each flagged record's combined
statistic (its smallest weighted p-value: ``strongest``). Heavy-ish: run with ``nice -n 10``.
"""

import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_datasets import LOADERS, pipeline_delta, row_digests

from provenance.detectors import run_detectors
from provenance.detectors.combine import DETECTOR_WEIGHTS, combine
from provenance.profiles.reference import build_profile


def batches(name, mode, seed=0):
    X, y = LOADERS[name]()
    n = len(X)
    if mode == "random":
        o = np.random.default_rng(seed).permutation(n)
        X, y = X[o], y[o]
    rng = np.random.default_rng(seed + 1)
    out = []
    for s in np.linspace(0.4 * n, 0.8 * n, 4).astype(int):
        b = int(min(rng.integers(100, 401), n - s))
        out.append((X[:s], y[:s], X[s : s + b], y[s : s + b]))
    return out


def run(names, modes):
    for name in names:
        for mode in modes:
            rates = {}
            comb = []
            strongest: Counter[str] = Counter()
            ns = 0
            for Xb, yb, Xd, yd in batches(name, mode):
                p = build_profile(Xb, yb, row_digests(Xb), featurizer="x", positions=np.arange(len(Xb)))
                d, _ = pipeline_delta(Xb, Xd, yd)
                res = run_detectors(p, d, fpr=0.01)
                for r in res:
                    if r.status != "ran":
                        print(r.detector, r.error)
                        continue
                    rates.setdefault(r.detector, []).append(np.mean([f.flagged for f in r.findings]))
                v = combine(res, 0.01, p.sample_batches)
                comb.append(len(v.flagged))
                for record in v.flagged:
                    strongest[strongest_detector(record.detectors)] += 1
                ns += len(d)
            print(
                f"{name:16s} {mode:7s} combined {sum(comb) / ns:.3f} {comb} | "
                + " ".join(f"{k}={np.mean(v):.3f}" for k, v in rates.items())
                + " | strongest: "
                + (" ".join(f"{k}={c}" for k, c in strongest.most_common()) or "-"),
                flush=True,
            )


def strongest_detector(detectors: list[dict]) -> str:
    """The detector whose weighted p-value set a flagged record's combined statistic (its minimum)."""
    return min(detectors, key=lambda x: (1.0 - x["score"]) / DETECTOR_WEIGHTS.get(x["detector"], 1.0))["detector"]


if __name__ == "__main__":
    run(sys.argv[1].split(","), sys.argv[2].split(","))
