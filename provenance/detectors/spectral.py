"""Spectral signatures on the delta (after Tran, Li and Madry, 2018).

A backdoor's poisons share a trigger, so within their (target) class they are shifted
along one shared direction. Per class, the delta's records are whitened by the base
class's covariance (from the profile sample) and centred on its mean; the top singular
direction of those residuals is the candidate trigger direction, and a record's score
is its squared projection on it.

The class covariance is shrunk toward the base's covariance over every class, not toward
a multiple of the identity: in the metric of the whole base, a trigger that moves
records along directions where the base hardly varies (a faint blended pattern, a
gradient-matching perturbation) stands out, where the identity's metric weighs it like
any pixel's natural spread (SPECTRE, Hayase et al. 2021, whitens before its spectral
score for the same reason). On the gate bench's 112 in-order batches (bench/results/
gate-pass-rate*.md, session 10) it took clean-label blend backdoor records flagged from 2 to
52 of 58, clean-label patches 25 -> 53 of 76, gradient matching 4 -> 20 of 46, and poisoned
batches blocked 60 -> 68 of 112, at 1.61 -> 1.78% of clean records flagged and 110 -> 107 of
112 clean batches passing (bench/results/spectral-total.md).

Cross-fitting keeps a clean delta from flagging itself: records are split in two folds
by digest and each fold is scored on the direction found in the other, whitened by one
half of the base's file order (its first or last pseudo-batches; a class with too few records in
either, as in a base listed class by class, by the first or last half of its own records in file
order), and base records are scored whitened by the half they are not in. So a base record faces a covariance
estimated without its writers, as a new batch's records do (with even against odd
pseudo-batches its neighbours' batches, which hold its own writers, whitened it), and
under no attack a delta record's projection is distributed like a base record's, which
is what the threshold is calibrated on (base records projected on the same directions).
"""

from __future__ import annotations

import numpy as np

from provenance.detectors.base import Delta, Detector, DetectorResult
from provenance.detectors.clock_columns import clock_columns, clock_names, on_the_base_clock
from provenance.detectors.drift import recentre_on_batch
from provenance.detectors.shared import build_result, delta_labels, delta_Z
from provenance.profiles.reference import ReferenceProfile


def total_covariance(Z: np.ndarray) -> np.ndarray:
    """The covariance of base records ``Z`` (m, d) of every class, float64, with a tiny ridge."""
    Z = np.asarray(Z, dtype=np.float64)
    d = Z.shape[1]
    if len(Z) < 2:
        return np.eye(d)
    centred = Z - Z.mean(axis=0)
    return centred.T @ centred / (len(Z) - 1) + 1e-6 * np.eye(d)


def _whitener(Zc: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class mean and a shrunk inverse square root of its covariance.

    The class covariance is shrunk by ``d / (d + m)`` toward ``total`` (the base's covariance
    over every class, ``total_covariance``), scaled to the class's own size in that metric."""
    mean = Zc.mean(axis=0)
    centred = (Zc - mean).astype(np.float64)
    m, d = centred.shape
    cov = centred.T @ centred / max(m - 1, 1)
    shrink = d / (d + m)  # fewer records than dimensions: lean on the target
    scale = float(np.trace(np.linalg.solve(total, cov))) / d if d else 1.0
    cov = (1 - shrink) * cov + shrink * max(scale, 1e-6) * total
    values, vectors = np.linalg.eigh(cov)
    inv_sqrt = vectors @ np.diag(1.0 / np.sqrt(np.maximum(values, 1e-9))) @ vectors.T
    return mean, inv_sqrt


WHITENING_MIN = 3
"""Base records of a class a half needs to whiten the other half by."""


def file_order_halves(profile: ReferenceProfile) -> np.ndarray:
    """Fold 0 or 1 of each sample record (int64, (m,)): the first or the last half of the base's
    pseudo-batches in file order (at random for a profile built without file positions).

    A class with fewer than ``WHITENING_MIN`` records in either half (a base listed class by class,
    as an image folder is, puts each class wholly in one half) is cut into its own file-order
    halves instead (``class_halves``), so only a class with too few records goes unwhitened."""
    batches = profile.sample_batches.astype(np.int64)
    count = int(batches.max()) + 1 if len(batches) else 0
    halves = (batches >= (count + 1) // 2).astype(np.int64)
    for c in np.unique(profile.sample_labels):
        members = np.flatnonzero(profile.sample_labels == c)
        if min(np.count_nonzero(halves[members] == 0), np.count_nonzero(halves[members] == 1)) < WHITENING_MIN:
            halves[members] = class_halves(batches[members])
    return halves


def class_halves(batches: np.ndarray) -> np.ndarray:
    """Fold 0 or 1 (int64) of one class's records, given their pseudo-batches ``batches`` (n,):
    cut at the boundary between pseudo-batches that splits the class most evenly (lowest on a tie),
    so each pseudo-batch's records (its writers) stay on one side; a class whose records lie in too
    few pseudo-batches for that to leave ``WHITENING_MIN`` on each side is cut by count instead, the
    first half of its records in file order (ties in sample order) against the rest."""
    n = len(batches)
    cuts = np.unique(batches)[1:]
    if len(cuts):
        before = np.array([np.count_nonzero(batches < cut) for cut in cuts])
        best = int(np.argmin(np.abs(2 * before - n)))
        if min(before[best], n - before[best]) >= WHITENING_MIN:
            return (batches >= cuts[best]).astype(np.int64)
    halves = np.zeros(n, dtype=np.int64)
    halves[np.argsort(batches, kind="stable")[(n + 1) // 2 :]] = 1
    return halves


def top_direction_scores(source: np.ndarray, scored: np.ndarray, held_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared projections of whitened rows ``scored`` (n, d) and ``held_out`` (m, d) on the top singular direction
    of whitened rows ``source`` (k, d): ``(n,)`` and ``(m,)`` float64 arrays, in squared base standard deviations.
    With no ``source`` rows (the delta has no records of the class) the first coordinate axis stands in."""
    if len(source):
        # Uncentred: a shift of the poisons away from the base mean is itself the signal.
        direction = np.linalg.svd(source, full_matrices=False)[2][0]
    else:
        direction = np.eye(source.shape[1])[0]
    return (scored @ direction) ** 2, (held_out @ direction) ** 2


shift_scores = top_direction_scores
"""How a class's whitened records are scored on the shift the delta's other fold shares (bench/det32_que.py swaps
in other scores to measure them against this one)."""


class SpectralDetector(Detector):
    """Spectral signatures on the delta (after Tran, Li and Madry, 2018) (see the module docstring)."""

    name = "spectral"
    families = ("backdoor",)

    def run(self, profile: ReferenceProfile, delta: Delta, fpr: float) -> DetectorResult:
        """Score every record of ``delta`` against ``profile``; flags calibrated to ``fpr`` on the reference."""
        n = len(delta)
        labels = delta_labels(profile, delta)
        folds = (delta.digest_array[:, 0] & 1).astype(np.int64) if n else np.zeros(0, np.int64)
        Z = delta_Z(profile, delta) if n else np.zeros((0, profile.dim), np.float32)
        sample_Z = profile.sample_Z
        # A column that grows with the base's file order and that every added record lies past (a year) is the
        # batch's move, not a direction its records share against their batch: taken off the added records in that
        # column, each one's distance from its batch kept (newcomer review 32: half a clean gapminder delivery
        # flagged; ``detectors.clock_columns``).
        clocks = clock_columns(profile, delta) if n else np.zeros(profile.dim, dtype=bool)
        if clocks.any():
            Z = on_the_base_clock(Z, sample_Z, clocks, np.array([k == "added" for k in delta.kinds], dtype=bool))
        left_out = clock_names(profile, clocks)
        raw = np.zeros(n)
        was_scored = np.zeros(n, dtype=bool)
        reference_raw = np.full(len(sample_Z), np.nan)
        ref_folds = file_order_halves(profile)
        # the base's covariance over every class, from the half each fold is whitened by
        totals = [total_covariance(sample_Z[ref_folds != fold]) for fold in (0, 1)]
        for c in range(len(profile.classes)):
            in_class = profile.sample_labels == c
            rows = np.flatnonzero(labels == c)
            for fold in (0, 1):
                # Everything scored in this fold (delta and base records alike) is whitened
                # by the base half it was not drawn from, so both are out of sample.
                train = in_class & (ref_folds != fold)
                held_out = in_class & (ref_folds == fold)
                if train.sum() < WHITENING_MIN or not held_out.any():
                    continue
                mean, inv_sqrt = _whitener(sample_Z[train], totals[fold])
                residuals = (Z[rows] - mean) @ inv_sqrt
                scored = folds[rows] == fold
                source = residuals[~scored] if (~scored).any() else residuals[scored]
                held_out_residuals = (sample_Z[held_out] - mean) @ inv_sqrt
                raw[rows[scored]], reference_raw[held_out] = shift_scores(source, residuals[scored], held_out_residuals)
                was_scored[rows[scored]] = True
        unknown = labels < 0
        too_few = ~unknown & ~was_scored  # a class with too few base records to whiten
        # Projections are squared, so a drifted batch shows as a larger median: scale it back.
        adjusted, effect = recentre_on_batch(np.sqrt(raw[was_scored]), np.sqrt(reference_raw))
        raw[was_scored] = np.sign(adjusted) * adjusted**2
        typical = float(np.nanmedian(reference_raw)) if np.isfinite(reference_raw).any() else 0.0
        raw[unknown | too_few] = typical

        def explain(i: int, value: float, flagged: bool) -> str:
            if unknown[i]:
                return f"label {delta.labels[i]!r} has no base records to compare with (see knn_label)"
            if too_few[i]:
                return f"not scored: the base has too few {delta.labels[i]!r} records (fewer than {2 * WHITENING_MIN}) to whiten"
            return (
                f"projection on the shared direction of new {delta.labels[i]!r} records is "
                f"{np.sqrt(value):.1f} base standard deviations (a shared shift suggests a trigger)"
                + (
                    f"; {', '.join(left_out)} taken as the batch's own time: it grows with the base's file order"
                    if left_out
                    else ""
                )
            )

        if len(profile.sample_Z) and not np.isfinite(reference_raw).any():
            raise ValueError(
                f"the base is too small for spectral: no class has {2 * WHITENING_MIN} base records to whiten by "
                f"({WHITENING_MIN} in each half of the class's file order); commit a base with {2 * WHITENING_MIN} "
                "or more records of a class, or leave spectral out of the policy's [detectors] run"
            )
        return build_result(self.name, delta, raw, reference_raw, fpr, explain, {"drift": effect})
