"""fix35a (A34b-2, A34b-3, A34b-7): how often a clean delivery pairs, under another label, with a removed record when
pairs are ranked against every rival instead of switched by the base's data.

    OMP_NUM_THREADS=1 nice python bench/fix35a_removed_twins.py

As bench/fix34b_removed_twins.py: the gate bench's batches (6 a dataset, seed 0, in file order and at random), every
record of the base's profile sample taken as removed (the worst case), the clean delivery's added records paired by
``gate.removed_twins.near_twins`` (with each removed record's spacing, as ``removed_pool`` gives it). Prints, per
dataset and order, the batches with a paired record, the records paired by kind, with ``uptime`` before and after,
then the pairing's cost on a large change beside a k-d tree's nearest query (the baseline), in the same run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fix34b_removed_twins import batches, cost
from gate_pass_rate import DEFAULT_DATASETS
from real_datasets import pipeline_delta, row_digests

from provenance.gate.removed_twins import RemovedPool, near_twins
from provenance.profiles.reference import build_profile


def whole_sample(profile) -> RemovedPool:
    """Every record of ``profile``'s sample as removed, with its spacing."""
    labels = [str(profile.classes[int(i)]) for i in profile.sample_labels]
    digests = [bytes(d) for d in np.asarray(profile.sample_digests, dtype=np.uint8)]
    spacing = np.asarray(profile.loo_dist, dtype=np.float64)[:, 0]
    return RemovedPool(np.asarray(profile.sample_X), labels, digests, ["base"] * len(labels), spacing)


def main() -> None:
    """Print the table (see the module docstring)."""
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    cpu = time.process_time()
    print("| dataset | order | batches with a paired record | near copies / edits paired | added | removed (sample) |")
    print("|---|---|---|---|---|---|")
    for name in DEFAULT_DATASETS.split(","):
        for order in ("inorder", "random"):
            hit = near = edits = added = removed = n = 0
            for Xb, yb, Xd, yd in batches(name, order):
                profile = build_profile(Xb, yb, row_digests(Xb), featurizer="x", positions=np.arange(len(Xb)))
                delta, _ = pipeline_delta(Xb, Xd, yd)
                pool = whole_sample(profile)
                keep = [i for i, kind in enumerate(delta.kinds) if kind == "added"]
                twins = near_twins(profile, delta.X[keep], [delta.labels[i] for i in keep], pool)
                found = [how for j, how, _ in twins if j >= 0]
                n, hit, added, removed = n + 1, hit + bool(found), added + len(keep), removed + len(pool.labels)
                near, edits = near + found.count("near copy"), edits + found.count("edit")
            print(f"| {name} | {order} | {hit} of {n} | {near} / {edits} | {added} | {removed} |")
    cost(pool_of=sample_head)  # the sample of a 40,000-record base: 4,000 records
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"CPU {time.process_time() - cpu:.1f} s")


def sample_head(profile, removed: int) -> RemovedPool:
    """The first ``removed`` records of ``profile``'s sample as removed, with their spacing."""
    whole = whole_sample(profile)
    return RemovedPool(
        whole.X[:removed],
        whole.labels[:removed],
        whole.digests[:removed],
        whole.held_in[:removed],
        None if whole.spacing is None else whole.spacing[:removed],
    )


if __name__ == "__main__":
    main()
