"""Gradient-manipulation poisons: records that push a reference model in one shared direction.

A softmax regression fitted on the profile sample stands in for the user's model
(profile.softmax_weights, fitted at commit, two halves for cross-fitting). Gradient
matching poisons (e.g. Witches' Brew) are crafted so that their loss gradients add up to
a chosen direction; clean records' gradients point every which way. The delta is split
in two by digest; the mean gradient of one half (less the base's mean gradient) is the
shared direction that scores the other half, by projection (computed on the factored
gradients, so memory stays n*(d+k)). On a clean delta that direction is noise, and
base records projected on it look the same, which is what the threshold is calibrated
on. (The mean shift beat the top singular direction in bench trials: the widest natural
spread of clean gradients drowns a few poisons.)

The summary reports ``shared_direction_ratio``: the squared norm of the delta's mean
gradient shift over ``var / n``, the variance of a mean of n independent clean records.
With no attack it is about 1 + n/m (n delta records, m in the profile sample, whose own
mean is estimated too); heavy-tailed gradients on small bases inflate it (bench: 2 on
digits and breast cancer, 10 on wine), so compare it across deltas of one dataset
rather than with a fixed number.
"""

from __future__ import annotations

import numpy as np

from provenance.detectors.base import Delta, Detector, DetectorResult
from provenance.detectors.shared import build_result, delta_Z
from provenance.features.softmax import gradient_projections, loss_residuals, mean_gradient
from provenance.profiles.reference import ReferenceProfile


def _cross_fitted(profile: ReferenceProfile, Z: np.ndarray, labels: np.ndarray, folds: np.ndarray):
    """Gradient factors of each record under the model fitted on the other half of the base."""
    d1, k = profile.softmax_weights.shape[1:]
    Xb = np.zeros((len(Z), d1), np.float32)
    residual = np.zeros((len(Z), k), np.float32)
    for fold in (0, 1):
        rows = np.flatnonzero(folds == fold)
        Xb[rows], residual[rows] = loss_residuals(profile.softmax_weights[1 - fold], Z[rows], labels[rows])
    return Xb, residual


def _shared_direction_scores(
    Xb: np.ndarray, res: np.ndarray, halves: np.ndarray, ref_mean: np.ndarray
) -> tuple[np.ndarray, list[tuple[np.ndarray, float]]]:
    """Each record's projection on the mean gradient shift of the *other* half of its set
    (cross-fitting), oriented the way that half pushes; also the (direction, offset) pairs."""
    out = np.full(len(Xb), np.nan)
    directions = []
    for half in (0, 1):
        scored = halves == half
        other = ~scored if (~scored).any() else scored
        if not scored.any():
            continue
        direction = mean_gradient(Xb[other], res[other]) - ref_mean
        norm = float(np.linalg.norm(direction))
        if norm == 0:
            out[scored] = 0.0
            continue
        direction /= norm
        offset = float((ref_mean * direction).sum())
        # Orient the direction the way the finding half pushes: one-sided scores put the
        # whole false-positive budget on the side poisons are on.
        if (gradient_projections(Xb[other], res[other], direction) - offset).mean() < 0:
            direction, offset = -direction, -offset
        out[scored] = gradient_projections(Xb[scored], res[scored], direction) - offset
        directions.append((direction, offset))
    return out, directions


class GradientDetector(Detector):
    """Gradient-manipulation poisons: records that push a reference model in one shared direction (see the module docstring)."""

    name = "gradient"
    families = ("gradient",)

    def run(self, profile: ReferenceProfile, delta: Delta, fpr: float) -> DetectorResult:
        """Score every record of ``delta`` against ``profile``; flags calibrated to ``fpr`` on the reference."""
        ref_Xb, ref_res = _cross_fitted(
            profile, profile.sample_Z, profile.sample_labels.astype(np.int64), profile.sample_folds
        )
        ref_mean = mean_gradient(ref_Xb, ref_res)
        # Total variance of a clean record's gradient: E||g - mean||^2.
        sq_norms = (ref_Xb**2).sum(1) * (ref_res**2).sum(1)
        ref_var = float(sq_norms.mean() - (ref_mean**2).sum())

        n = len(delta)
        labels = profile.label_indexes(delta.labels)
        known = labels >= 0
        raw = np.zeros(n)
        summary: dict = {}
        if n and known.any():
            folds = (delta.digest_array[:, 0] & 1).astype(np.int64)
            Xb, res = _cross_fitted(profile, delta_Z(profile, delta)[known], labels[known], folds[known])
            raw[known], _ = _shared_direction_scores(Xb, res, folds[known], ref_mean)
            shift = mean_gradient(Xb, res) - ref_mean
            summary["shared_direction_ratio"] = float((shift**2).sum() / max(ref_var / max(len(Xb), 1), 1e-12))
        reference_raw = _pseudo_batch_reference(profile, ref_Xb, ref_res, ref_mean, int(known.sum()))
        if not np.isfinite(reference_raw).any():  # nothing to compare: every record typical
            reference_raw = np.zeros(len(ref_Xb))
        raw[~known] = float(np.nanmedian(reference_raw))
        spread = float(np.nanstd(reference_raw)) or 1.0

        def explain(i: int, value: float, flagged: bool) -> str:
            if not known[i]:
                return f"label {delta.labels[i]!r} has no base records to compare with (see knn_label)"
            return (
                f"its loss gradient on a model fitted to the base reaches {value / spread:+.1f} base "
                f"standard deviations along the direction the other new records' gradients share "
                f"(shared-direction ratio of the delta {summary.get('shared_direction_ratio', 0):.1f})"
            )

        return build_result(self.name, delta, raw, reference_raw, fpr, explain, summary)


def _pseudo_batch_reference(
    profile: ReferenceProfile, ref_Xb: np.ndarray, ref_res: np.ndarray, ref_mean: np.ndarray, delta_size: int
) -> np.ndarray:
    """The same score for base records, each projected on the shared direction of its own
    pseudo-batch (a run of the base's file order, widened to about the delta's size).

    A clean batch from a new writer shares a direction too (its drift); scoring base
    records against their own batch's direction puts that natural drift into the
    reference, where the delta's direction would only show noise.
    """
    batches = profile.sample_batches.astype(np.int64)
    count = int(batches.max()) + 1 if len(batches) else 0
    out = np.full(len(ref_Xb), np.nan)
    if count == 0:
        return out
    per_batch = len(batches) / count
    width = int(np.clip(round(delta_size / max(per_batch, 1.0)), 1, max(count // 2, 1)))
    halves = (profile.sample_digests[:, 1] & 1).astype(np.int64)
    for b in range(count):
        window = np.isin(batches, [(b + j) % count for j in range(width)])
        rows = np.flatnonzero(window)
        scores, _ = _shared_direction_scores(ref_Xb[rows], ref_res[rows], halves[rows], ref_mean)
        mine = batches[rows] == b
        out[rows[mine]] = scores[mine]
    return out
