"""Label disagreement with the nearest trusted records.

Covers label flips and relabels (a record whose label its neighbours in the base do not
share) and dirty-label backdoors (a triggered record keeps its source class's features
but carries the target label). The probability of the label is the average of two
views that fail differently: a distance-weighted vote of the nearest base records (the
deep-kNN defence of Peri et al. 2020, local) and the softmax regression fitted on the
base at commit (global, the model cleanlab would use). Both are out of sample for base
and delta records alike: a record is never its own neighbour, and the regression used
for a record is the half fitted without its digest fold.
"""

from __future__ import annotations

import numpy as np

from provenance.detectors.base import Delta, Detector, DetectorResult
from provenance.detectors.shared import (
    build_result,
    delta_labels,
    delta_Z,
    describe_neighbours,
    reference_neighbours,
)
from provenance.features.softmax import with_bias
from provenance.profiles.reference import ReferenceProfile

VOTERS = 10
PRIOR_WEIGHT = 1.0  # pseudo-count of the uniform prior: no neighbours means "no idea"
NO_SUPPORT = -np.log(1e-12)  # raw score of a label the base never had
MODEL_LOG_FLOOR = -700.0  # log-probabilities below this are equally impossible (exp underflows)


def model_log_probability(
    profile: ReferenceProfile, Z: np.ndarray, labels: np.ndarray, folds: np.ndarray
) -> np.ndarray:
    """log P(label | x) under the base's linear model fitted on the other fold (-inf for a
    label the base never had). On the log scale, not floored: a confident contradiction
    (a flipped label) keeps ranking beyond the base's own least-supported records instead
    of stopping at a floor they reach too."""
    logp = np.full(len(Z), -np.inf)
    known = labels >= 0
    for fold in (0, 1):
        rows = np.flatnonzero((folds == fold) & known)
        # float64: the product's kernel varies with the chunk's shape, and float32 moved
        # probabilities by 1e-8 between a delta and the same delta in chunks.
        logits = with_bias(Z[rows].astype(np.float64)) @ profile.softmax_weights[1 - fold].astype(np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))
        logp[rows] = shifted[np.arange(len(rows)), labels[rows]] - log_norm
    return logp


def _tallies(neighbour_labels: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[list[int], ...]:
    """For every record at once, what its explanation counts of its voters (``neighbour_labels`` (n x k), -2 where
    there is none; ``labels`` (n,) its class, -1 if the base has none): how many vote, how many of them share its
    label, the label most share (the lowest among ties) and how many do. The same integers as a ``np.bincount``
    of each row's votes (3,700 flagged records' explanations made them one row at a time)."""
    n = len(neighbour_labels)
    voting = neighbour_labels >= 0
    width = max(n_classes, int(neighbour_labels.max()) + 1 if voting.any() else 0)  # as bincount's minlength
    rows = np.broadcast_to(np.arange(n)[:, None], neighbour_labels.shape)[voting]
    counts = np.bincount(rows * width + neighbour_labels[voting], minlength=n * width).reshape(n, width)
    top = counts.argmax(axis=1)
    at = np.arange(n)
    own = counts[at, np.maximum(labels, 0)]
    return voting.sum(axis=1).tolist(), own.tolist(), top.tolist(), counts[at, top].tolist()


def disagreement(
    labels: np.ndarray,
    neighbour_labels: np.ndarray,
    neighbour_dist: np.ndarray,
    n_classes: int,
    model_logp: np.ndarray,
    scale: float,
) -> np.ndarray:
    """-log P(label), the geometric mean of the neighbour vote (nearer weigh more) and the model.

    On the log scale a confident contradiction (a flipped label) stands far out in the
    tail instead of piling up just under 1, so extreme records stay ranked.

    ``scale`` (the base's typical neighbour distance) comes from the profile, so a
    record's score never depends on which other records share its delta.
    """
    valid = np.isfinite(neighbour_dist)
    weights = np.where(valid, 1.0 / (neighbour_dist / max(scale, 1e-12) + 0.1), 0.0)
    agree = (weights * (neighbour_labels == labels[:, None])).sum(1)
    prior = PRIOR_WEIGHT / n_classes
    p_label = (agree + prior) / (weights.sum(1) + PRIOR_WEIGHT)
    # Geometric mean: both views must support the label; two confident contradictions add up.
    log_support = 0.5 * (np.log(np.maximum(p_label, 1e-12)) + np.maximum(model_logp, MODEL_LOG_FLOOR))
    return np.where(labels >= 0, -log_support, NO_SUPPORT)  # a class the base never had: no support


class KnnLabelDetector(Detector):
    """Label disagreement with the nearest trusted records (see the module docstring)."""

    name = "knn_label"
    families = ("label_flip", "relabel", "backdoor")
    record_independent = True

    def run(self, profile: ReferenceProfile, delta: Delta, fpr: float) -> DetectorResult:
        """Score every record of ``delta`` against ``profile``; flags calibrated to ``fpr`` on the reference."""
        k = min(VOTERS, profile.nn_idx.shape[1])
        n_classes = len(profile.classes)
        ref_labels = profile.sample_labels.astype(np.int64)
        ref_idx = profile.nn_idx[:, :k].astype(np.int64)
        finite = np.isfinite(profile.nn_dist[:, :k])
        scale = float(np.median(profile.nn_dist[:, :k][finite])) if finite.any() else 1.0
        reference_raw = disagreement(
            ref_labels,
            np.where(ref_idx >= 0, ref_labels[np.maximum(ref_idx, 0)], -2),
            profile.nn_dist[:, :k],
            n_classes,
            model_log_probability(profile, profile.sample_Z, ref_labels, profile.sample_folds),
            scale,
        )
        labels = delta_labels(profile, delta)
        idx, dist = reference_neighbours(profile, delta)
        idx, dist = idx[:, :k], dist[:, :k]
        neighbour_labels = np.where(idx >= 0, ref_labels[np.maximum(idx, 0)], -2)
        if len(delta):
            folds = (delta.digest_array[:, 0] & 1).astype(np.int64)
            model_logp = model_log_probability(profile, delta_Z(profile, delta), labels, folds)
            raw = disagreement(labels, neighbour_labels, dist, n_classes, model_logp, scale)
        else:
            model_logp, raw = np.zeros(0), np.zeros(0)

        tallies: list[tuple[list[int], ...]] = []  # each record's votes, own, top and top count, on first use

        def explain(i: int, value: float, flagged: bool) -> str:
            label = delta.labels[i]
            if labels[i] < 0:
                head = f"label {label!r} does not occur in the base"
            else:
                if not tallies:
                    tallies.append(_tallies(neighbour_labels, labels, n_classes))
                votes, own, top, top_count = (column[i] for column in tallies[0])
                head = (
                    f"{own} of {votes} nearest base records are labelled "
                    f"{label!r}; most are {profile.classes[top]!r} ({top_count}); a model fitted "
                    f"on the base gives {label!r} probability {np.exp(model_logp[i]):.2g}"
                )
            if delta.kinds[i] == "relabeled":
                head += f"; relabeled from {delta.old_labels[i]!r}"
            return f"{head}; {describe_neighbours(profile, idx[i], dist[i])}"

        result = build_result(self.name, delta, raw, reference_raw, fpr, explain)
        # Extreme evidence (provenance.detectors.extreme): a known label that none of the
        # voting base records shares, at its tail p-value; the pipeline adds the batch-mates.
        unsupported = (labels >= 0) & ((neighbour_labels == labels[:, None]).sum(axis=1) == 0)
        assert result.p_values is not None
        result.extreme_p = np.where(unsupported, result.p_values, 1.0)
        result.extreme_is_label_based = True
        return result
