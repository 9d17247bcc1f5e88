"""fix34b (A33a-1, A33c-3): how often a clean delivery holds a near twin, under another label, of a removed record.

    OMP_NUM_THREADS=1 nice python bench/fix34b_removed_twins.py

``gate.removed_twins.near_twins`` pairs an added record with a removed record of another label (a near copy within
``copy_radius``, or an edit of at most 2 columns each moved at most 5%), and the pair counts as a relabel of the
removed record. On the gate bench's batches (bench/gate_pass_rate.py: 6 batches a dataset, seed 0, in file order and
at random, each a clean delivery of 100-400 records onto the file before it), every record of the base's profile
sample is taken as removed (the worst case: a release that removed the whole sample), and the clean delivery's added
records are paired against them. Prints, per dataset and order, the batches with a paired record and the records
paired, with ``uptime`` before and after and the CPU time. Then the pairing's cost on a large change: 100,000 added
records of 16 Gaussian features against 20,000 removed, beside a plain nearest-neighbour query of the same records
(``cKDTree.query``, k=1) as the baseline, in the same run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate_pass_rate import DEFAULT_DATASETS, RANDOM_ORDER_SEED
from real_datasets import LOADERS, pipeline_delta, row_digests

from provenance.gate.removed_twins import RemovedPool, copy_radius, near_twins
from provenance.profiles.reference import build_profile


def batches(name: str, order: str, per: int = 6, seed: int = 0):
    """The gate bench's (base X, base y, delivery X, delivery y) of ``name``, as ``gate_pass_rate.run`` cuts them."""
    rng = np.random.default_rng(seed)
    X, y = LOADERS[name]()
    if order == "random":
        shuffle = np.random.default_rng(RANDOM_ORDER_SEED).permutation(len(X))
        X, y = X[shuffle], y[shuffle]
    y = y.astype(str)
    for start in np.linspace(0.3 * len(X), 0.85 * len(X), per).astype(int):
        size = int(min(rng.integers(100, 401), len(X) - start))
        yield X[:start], y[:start], X[start : start + size], y[start : start + size]


def main() -> None:
    """Print the table (see the module docstring)."""
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    cpu = time.process_time()
    print("| dataset | order | batches with a paired record | records paired / added | removed (sample) | radius |")
    print("|---|---|---|---|---|---|")
    for name in DEFAULT_DATASETS.split(","):
        for order in ("inorder", "random"):
            hit = paired = added = removed = n = 0
            radii = []
            for Xb, yb, Xd, yd in batches(name, order):
                profile = build_profile(Xb, yb, row_digests(Xb), featurizer="x", positions=np.arange(len(Xb)))
                delta, _ = pipeline_delta(Xb, Xd, yd)
                labels = [str(profile.classes[int(i)]) for i in profile.sample_labels]
                digests = [bytes(d) for d in np.asarray(profile.sample_digests, dtype=np.uint8)]
                pool = RemovedPool(np.asarray(profile.sample_X), labels, digests, ["base"] * len(labels))
                keep = [i for i, kind in enumerate(delta.kinds) if kind == "added"]
                twins = near_twins(profile, delta.X[keep], [delta.labels[i] for i in keep], pool)
                found = sum(j >= 0 for j, _, _ in twins)
                n, hit, paired, added = n + 1, hit + (found > 0), paired + found, added + len(keep)
                removed += len(labels)
                radii.append(copy_radius(profile))
            print(f"| {name} | {order} | {hit} of {n} | {paired} / {added} | {removed} | {np.median(radii):.3g} |")
    cost()
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"CPU {time.process_time() - cpu:.1f} s")


def cost(added: int = 100_000, removed: int = 20_000, dim: int = 16, pool_of=None) -> None:
    """Seconds (CPU) of ``near_twins`` for ``added`` records against ``removed`` ones, and of the baseline.
    ``pool_of(profile, removed)`` gives the removed records (default: the base's first ``removed`` rows)."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(34)
    Xb = rng.normal(0, 1, (40_000, dim)).astype(np.float32)
    yb = np.array(["a", "b"])[np.arange(len(Xb)) % 2]
    profile = build_profile(Xb, yb, row_digests(Xb), featurizer="x", positions=np.arange(len(Xb)))
    pool = RemovedPool(Xb[:removed], [str(v) for v in yb[:removed]], [b""] * removed, ["base"] * removed)
    pool = pool if pool_of is None else pool_of(profile, removed)
    X = rng.normal(0, 1, (added, dim)).astype(np.float32)
    labels = [("a", "b")[i % 2] for i in range(added)]
    t = time.process_time()
    cKDTree(profile.standardize(pool.X)).query(profile.standardize(X), k=1)
    baseline = time.process_time() - t
    t = time.process_time()
    found = sum(j >= 0 for j, _, _ in near_twins(profile, X, labels, pool))
    took = time.process_time() - t
    print(
        f"cost: {added:,} added x {len(pool.X):,} removed, {dim} features: near_twins {took:.2f} s CPU, baseline "
        f"(k-d tree nearest) {baseline:.2f} s, ratio {took / baseline:.1f}; {found} paired"
    )


if __name__ == "__main__":
    main()
