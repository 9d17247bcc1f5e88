"""Label disagreement with the nearest trusted records.

Covers label flips and relabels (a record whose label its neighbours in the base do not
share) and dirty-label backdoors (a triggered record keeps its source class's features
but carries the target label). This is the deep-kNN defence of Peri et al. (2020)
applied to the delta only.
"""

from __future__ import annotations

import numpy as np

from provenance.detectors.base import Delta, Detector, DetectorResult
from provenance.detectors.shared import build_result, delta_Z, describe_neighbours, reference_neighbours
from provenance.features.profile import ReferenceProfile

VOTERS = 10
PRIOR_WEIGHT = 1.0  # pseudo-count of the uniform prior: no neighbours means "no idea"


def disagreement(labels: np.ndarray, neighbour_labels: np.ndarray, neighbour_dist: np.ndarray, n_classes: int) -> np.ndarray:
    """1 - P(label | neighbours), weighting nearer neighbours more (continuous, few ties)."""
    valid = np.isfinite(neighbour_dist)
    scale = np.median(neighbour_dist[valid]) if valid.any() else 1.0
    weights = np.where(valid, 1.0 / (neighbour_dist / max(scale, 1e-12) + 0.1), 0.0)
    agree = (weights * (neighbour_labels == labels[:, None])).sum(1)
    prior = PRIOR_WEIGHT / n_classes
    p_label = (agree + prior) / (weights.sum(1) + PRIOR_WEIGHT)
    return np.where(labels >= 0, 1.0 - p_label, 1.0)  # a class the base never had: no support


class KnnLabelDetector(Detector):
    name = "knn_label"
    families = ("label_flip", "relabel", "backdoor")

    def run(self, profile: ReferenceProfile, delta: Delta, fpr: float) -> DetectorResult:
        k = min(VOTERS, profile.nn_idx.shape[1])
        n_classes = len(profile.classes)
        ref_labels = profile.sample_labels.astype(np.int64)
        ref_idx = profile.nn_idx[:, :k].astype(np.int64)
        reference_raw = disagreement(
            ref_labels, np.where(ref_idx >= 0, ref_labels[np.maximum(ref_idx, 0)], -2),
            profile.nn_dist[:, :k], n_classes,
        )
        labels = profile.label_indexes(delta.labels)
        idx, dist = reference_neighbours(profile, delta)
        idx, dist = idx[:, :k], dist[:, :k]
        neighbour_labels = np.where(idx >= 0, ref_labels[np.maximum(idx, 0)], -2)
        delta_Z(profile, delta)
        raw = disagreement(labels, neighbour_labels, dist, n_classes) if len(delta) else np.zeros(0)

        def explain(i: int, value: float, flagged: bool) -> str:
            label = delta.labels[i]
            if labels[i] < 0:
                head = f"label {label!r} does not occur in the base"
            else:
                votes = neighbour_labels[i][neighbour_labels[i] >= 0]
                counts = np.bincount(votes, minlength=n_classes)
                top = int(counts.argmax())
                head = (f"{int(counts[labels[i]])} of {len(votes)} nearest base records are labelled "
                        f"{label!r}; most are {profile.classes[top]!r} ({int(counts[top])})")
            if delta.kinds[i] == "relabeled":
                head += f"; relabeled from {delta.old_labels[i]!r}"
            return f"{head}; {describe_neighbours(profile, idx[i], dist[i])}"

        return build_result(self.name, delta, raw, reference_raw, fpr, explain)
