"""The level at which the combined verdict flags records on the features' evidence alone (session 27, issue 14).

The combined verdict ranks a delta record's statistic ``T = min_d p_d / w_d`` among the reference's own
(``detectors.combine``). A reference record's per-detector p-values come from a calibration that holds its own
raw score, a delta record's from one that never saw it; and a delivery in file order (new writers, a new
camera, a later season) lies further from the base than the base's records lie from one another. So clean
records of a delivery fall at ``P <= fpr`` more often than ``fpr``: 1.78% at fpr 0.01 on the gate bench's 112
in-order batches (bench/results/inorder-fpr-s27.md), most of it from the feature detectors (``duplicates``,
``outlier``, ``collision``, ``spectral`` on digits' new writers).

What a clean delivery does there is measured on the base itself, as ``beyond.out_of_fold`` measures the
beyond rate: each pseudo-batch of the base's file order is held out in turn, every detector's calibration
refitted on the other batches' raw scores (themselves out of sample: leave-one-batch-out neighbours,
cross-fitted models), and the held-out records' statistics ranked against the others' in-sample statistics
exactly as a delta record's are. The level is the largest ``a <= fpr`` at which at most ``fpr`` of the
held-out records lie, and at least ``FLOOR_SHARE * fpr``: a conformal split in which the drift between the
base's own batches is part of the null.

It applies to the records whose statistic a feature detector set. A record whose statistic a detector that
judges its label set (``LABEL_DETECTORS``: ``knn_label``, its label against its nearest base records and the
base's model; ``collision``, a label whose class it lies further from than from another) is still flagged at
``fpr``: every recalibration that moved those records measured label flips and relabels lost (sessions 11 and
13; with ``collision`` at the level one of the ten planted flips of tests/unit/detectors/test_pipeline.py
passed), and on the gate bench the label evidence's in-order excess (Seattle weather's labels drift over the
years) is one no held-out batch of the base shows. Measured in bench/results/inorder-fpr-s27.md.

Label drift (session 28): that excess is one the base's file order shows *going forward*. Each pseudo-batch from
the third on is held out against the batches before it only (as deliveries arrive: the calibration never sees a
later batch), and the records whose statistic ``knn_label`` set counted at ``fpr``. Where they are significantly
more (``EXCESS_ALPHA``, a Poisson tail) than the base's own in-sample records ``knn_label`` sets at ``fpr`` (scaled
to the pool), the base's labels drift in its file order, and ``knn_label``'s records are flagged at the largest
level at which its held-out records hold no more than that count, at least ``FLOOR_SHARE * fpr``
(``label_drift_level``). Otherwise, as on data whose labels do not drift, its level stays ``fpr``. Measured in
bench/results/inorder-fpr-s28.md: Seattle weather's clean records flagged in file order 1.61 -> 1.07%, label
flips and relabels kept in order on the gate bench, 3 poisoned records of 741 lost at random there, and on the
detection bench no clean record moved and 2 of 86 label flips were lost in file order (a trade, not a free
gain). It reads what ``held_out_level`` reads (so a base writer's label-contradicting records in the base's later
batches, or a delivery through ``spectral``'s and ``gradient``'s projections, can lower it, at most to the floor,
and only for ``knn_label``'s evidence), and costs about what ``beyond.out_of_fold`` costs
(bench/results/feature-level-cost.md).

It reads the profile's pseudo-batches and the reference scores the verdict is calibrated on (under the
commit's signature), which for ``spectral`` and ``gradient`` are projections on the delta's own direction (as
the combined threshold and ``beyond.out_of_fold`` already read them): a delivery, or a base writer who plants
odd records in its batches, can lower the level, at most to the floor, and only for feature evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from provenance.detectors.beyond import (
    HeldOutFolds,
    held_out_folds,
    held_out_p_values,
    values_order,
    values_order_of_subset,
    weighted_statistic,
)
from provenance.stats import poisson_sf_many

# the detectors that judge a record's label against the base (its nearest records and model; the class it lies
# closer to): a statistic one of them set keeps the level ``fpr``
LABEL_DETECTORS = ("knn_label", "collision")
FLOOR_SHARE = 0.5  # the level is at least this share of fpr (bounds what a base writer's odd records can take)
MIN_BATCHES = 4  # fewer pseudo-batches: no held-out measure, the level is fpr
DRIFTING_LABEL = "knn_label"  # the label evidence whose drift along the base's file order is measured
FIRST_FORWARD = 2  # the forward pool holds out pseudo-batches 2.. each against those before it
# a label drift is acted on when the forward excess is this significant (Poisson tail). A batch held out against
# fewer batches sees heavier tails even in i.i.d. data: at 0.05 the level moved at random too (10 of 28 clean
# Seattle weather batches) and cost 5 of 741 poisoned records there; at 0.001 the in-order gain is the same
# (bench/results/inorder-fpr-s28.md)
EXCESS_ALPHA = 0.001


def held_out_level(
    reference_raw: Sequence[np.ndarray],
    weights: np.ndarray,
    batches: np.ndarray,
    fpr: float,
    combined_p: Callable[[np.ndarray, np.ndarray], np.ndarray],
    computed: HeldOutFolds | None = None,
) -> float:
    """The level at which records the feature detectors' evidence sets are flagged (module docstring).

    Args:
        reference_raw: per detector, the reference sample's raw scores (m,), NaN where none.
        weights: per detector, its weight in the statistic.
        batches: (m,) the pseudo-batch of each sample record.
        fpr: the combined verdict's rate.
        combined_p: ``combine.combined_p_values``: statistics ranked against a reference's.
        computed: the held-out folds the combined verdict computed (``beyond.held_out_folds``' ``computed``).

    Returns:
        The largest level in ``[FLOOR_SHARE * fpr, fpr]`` at which at most ``fpr`` of the held-out records'
        combined p-values lie; ``fpr`` with fewer than ``MIN_BATCHES`` pseudo-batches or no raw scores.
    """
    labels = np.unique(batches)
    if len(labels) < MIN_BATCHES or not reference_raw:
        return fpr
    pooled = []
    for fold in held_out_folds(reference_raw, weights, batches, fpr, computed):  # ``beyond.out_of_fold``'s too
        T_out, T_kept = fold.T_out[np.isfinite(fold.T_out)], fold.T_kept[np.isfinite(fold.T_kept)]
        if len(T_out) and len(T_kept):
            pooled.append(combined_p(T_out, T_kept))
    if not pooled:
        return fpr
    return max(FLOOR_SHARE * fpr, level_holding(np.concatenate(pooled), fpr))


def level_holding(p: np.ndarray, fpr: float) -> float:
    """The largest level ``a <= fpr`` at which at most ``fpr`` of the p-values ``p`` lie (``fpr`` when none)."""
    if len(p) == 0:
        return fpr
    allowed = int(np.floor(fpr * len(p)))
    if allowed >= len(p):
        return fpr
    at = float(np.partition(p, allowed)[allowed])  # any level below it holds at most ``allowed``
    return float(min(fpr, np.nextafter(at, 0.0)))


def set_by_label(P: np.ndarray, detectors: Sequence[str]) -> np.ndarray:
    """(n,) whether one of ``LABEL_DETECTORS``' weighted p-values is the smallest of a record's (``P`` (n, d), its
    columns the ``detectors``'; the first smallest, as the explanation orders them)."""
    label_columns = [j for j, d in enumerate(detectors) if d in LABEL_DETECTORS]
    if not label_columns or not len(P):
        return np.zeros(len(P), dtype=bool)
    return np.isin(strongest_column(P), label_columns)


def strongest_column(P: np.ndarray) -> np.ndarray:
    """(n,) the column of each row's smallest finite weighted p-value (the first smallest; 0 where none is)."""
    if not P.shape[1]:
        return np.zeros(len(P), dtype=np.int64)
    return np.argmin(np.where(np.isfinite(P), P, np.inf), axis=1)


def label_drift_level(
    reference_raw: Sequence[np.ndarray],
    weights: np.ndarray,
    batches: np.ndarray,
    fpr: float,
    combined_p: Callable[[np.ndarray, np.ndarray], np.ndarray],
    column: int,
) -> float:
    """The level records whose statistic detector ``column`` (``DRIFTING_LABEL``) set are flagged at (module
    docstring, "Label drift"): ``fpr`` unless the base's pseudo-batches, each held out against those before it,
    show that detector's records at ``fpr`` significantly more often than in sample; then the largest level,
    at least ``FLOOR_SHARE * fpr``, at which its held-out records hold no more than the in-sample count.

    Args: as ``held_out_level``'s (``batches`` numbered in the base's file order); ``column``: the detector's
    position in ``reference_raw`` and ``weights``.
    """
    if len(np.unique(batches)) < MIN_BATCHES or not reference_raw:
        return fpr
    p_out, by, p_in, set_in = held_out_pools(reference_raw, weights, batches, fpr, combined_p, forward=True)
    if not len(p_out) or not len(p_in):
        return fpr
    expected = float(((p_in <= fpr) & (set_in == column)).sum()) * len(p_out) / len(p_in)
    seen = int(((p_out <= fpr) & (by == column)).sum())
    if float(poisson_sf_many(np.array([seen]), np.array([max(expected, 1e-12)]))[0]) > EXCESS_ALPHA:
        return fpr
    mine, allowed = p_out[by == column], int(np.floor(expected))
    if allowed >= len(mine):
        return fpr
    at = float(np.partition(mine, allowed)[allowed])  # any level below it holds at most ``allowed``
    return max(FLOOR_SHARE * fpr, float(min(fpr, np.nextafter(at, 0.0))))


def held_out_pools(
    reference_raw: Sequence[np.ndarray],
    weights: np.ndarray,
    batches: np.ndarray,
    fpr: float,
    combined_p: Callable[[np.ndarray, np.ndarray], np.ndarray],
    forward: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(p_out, set_out, p_in, set_in)``: the reference records' combined p-values with each pseudo-batch held out
    against the others (``forward``: from ``FIRST_FORWARD`` on, against the ones before it only), pooled, and in
    sample (every detector calibrated on all of them), each with the column whose weighted p-value set its
    statistic (``strongest_column``). Arguments as ``held_out_level``'s."""
    # every detector's scores put in order once; each forward pool's order is read off it (``values_order_of_subset``),
    # not sorted again for each of its pseudo-batches (the sorts were half of this function's cost)
    by_value = values_order(reference_raw)
    _, everything = held_out_p_values(reference_raw, np.zeros(len(batches), dtype=bool), fpr, by_value)
    T_in = weighted_statistic(everything, weights)
    inside = np.isfinite(T_in)
    set_in = strongest_column(np.column_stack(everything)[inside] / weights)
    p_in = combined_p(T_in[inside], T_in[inside])
    pooled, set_out = [np.zeros(0)], [np.zeros(0, dtype=np.int64)]
    for held, T_out, T_kept in _held_out_batches(reference_raw, weights, batches, fpr, forward, by_value):
        finite, T_kept = np.isfinite(T_out), T_kept[np.isfinite(T_kept)]
        if finite.any() and len(T_kept):
            pooled.append(combined_p(T_out[finite], T_kept))
            set_out.append(strongest_column(np.column_stack(held)[finite] / weights))
    return np.concatenate(pooled), np.concatenate(set_out), p_in, set_in


def _held_out_batches(
    reference_raw: Sequence[np.ndarray],
    weights: np.ndarray,
    batches: np.ndarray,
    fpr: float,
    forward: bool,
    by_value: list[np.ndarray],
) -> Iterator[tuple[Sequence[np.ndarray], np.ndarray, np.ndarray]]:
    """Per pseudo-batch held out, ``(held, T_out, T_kept)``: its per-detector p-values and statistics, and the
    others' statistics. ``forward``: from ``FIRST_FORWARD`` on, against the batches before it only; otherwise
    against all the others, which is what ``beyond.held_out_folds`` computes (read from there: the same refits).
    ``by_value``: ``values_order(reference_raw)``; each forward pool's order is read off it."""
    if not forward:
        for fold in held_out_folds(reference_raw, weights, batches, fpr):
            yield fold.held, fold.T_out, fold.T_kept
        return
    for b in np.unique(batches)[FIRST_FORWARD:]:
        keep = batches <= b
        held, kept = held_out_p_values(
            [raw[keep] for raw in reference_raw], batches[keep] == b, fpr, values_order_of_subset(by_value, keep)
        )
        yield held, weighted_statistic(held, weights), weighted_statistic(kept, weights)
