"""Attack review 35b, the honest side of fix35b's band count: two real classes held out together, each delivered
under its own listed name. Is either judged in full (a genuine new class blocked), and by which count?

    OMP_NUM_THREADS=1 python bench/review35b_two_held_out.py digits seattle_weather
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
from real_datasets import LOADERS, pipeline_delta, row_digests

from provenance.detectors.knn_label import VOTERS
from provenance.detectors.shared import delta_Z, reference_neighbours
from provenance.gate.class_inside import inside_classes
from provenance.profiles.reference import build_profile


def judged_pairs(name: str) -> None:
    """Print every pair of ``name``'s classes whose held-out records are judged in full, with the words, and a count."""
    X, y = LOADERS[name]()
    classes = sorted(set(y.tolist()))
    judged = pairs = 0
    for a, b in itertools.combinations(classes, 2):
        if len(classes) - 2 < 2:  # a base of one class: no case
            continue
        rest = (y != a) & (y != b)
        Xb, yb = X[rest], y[rest]
        profile = build_profile(
            Xb, [str(v) for v in yb], row_digests(Xb), featurizer="numeric/v1", positions=np.arange(len(Xb))
        )
        delta, _ = pipeline_delta(Xb, X[~rest], np.array([f"new_{v}" for v in y[~rest]]))
        rows = [i for i, kind in enumerate(delta.kinds) if kind == "added"]
        found = inside_classes(
            profile, reference_neighbours(profile, delta), delta_Z(profile, delta), delta.labels, rows, VOTERS
        )
        pairs += 1
        inside = {label: v for label, v in found.items() if v is not None}
        judged += bool(inside)
        for label, v in inside.items():
            print(name, a, b, "IN FULL", label, v.words, flush=True)
    print(name, "pairs judged in full:", judged, "of", pairs, flush=True)


if __name__ == "__main__":
    sys.path.insert(0, "bench")
    for dataset in sys.argv[1:]:
        judged_pairs(dataset)
