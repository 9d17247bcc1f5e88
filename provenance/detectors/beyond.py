"""Records "beyond every reference record": the bar, and how often a clean batch lands past it.

The combined verdict (``detectors.combine``) ranks a delta record's statistic
``T = min_d p_d / w_d`` among the reference records' own. The gate's second count
(``detectors.budget``) blocks when more records lie below *every* record of the reference
than a clean batch puts there.

**The bar** is judged against a *trimmed* reference (attack review 2, finding 1(a)): the
pseudo-batch holding the most extreme reference record is left out, and a record is beyond
when its statistic lies below all but a few records of the other batches (their
``BAR_SHARE``-th smallest statistic, a low order statistic rather than the minimum). One
earlier accepted batch of odd records in the base (a source's waived delivery) would
otherwise set the bar for every later delivery and disarm the count, and with the minimum of
the other batches, one odd record in each of two batches did (attack review 9, D1).

**The rate** at which a clean record lands there is *measured*, not assumed. Taking it as
1 / (m' + 1) (m' the records kept) supposes a delta record's ``T`` is computed as the
reference's are, and it is not: a reference record's per-detector p-values come from a
calibration that holds its own raw score, a delta record's from one that never saw it, and
its batch-mates are as new as it is. bench/beyond_rate.py measured clean records beyond the
bar 2.7x that rate at random and 4.2x in file order. So the rate is measured the way a
delta is judged (``out_of_fold_rate``): each pseudo-batch of the base in turn is held out,
every detector's calibration is refitted on the other batches' raw scores (themselves out of
sample: leave-one-batch-out neighbours, cross-fitted models), and the held-out records are
counted beyond the trimmed bar of the others. The batch with the most such records is left
out of the rate, as the bar leaves out the most extreme batch, so one odd batch in the base
cannot buy later deliveries a lenient count; the rate is at least 1 / (m' + 1) and at most
``fpr`` (``RATE_CAP``): a record beyond is a flagged one, so at ``fpr`` the count says nothing
the flag budget does not, and the flag budget alone decides (a cap of fpr / 2 was measured and
not kept: 100 of 112 clean in-order batches of the gate bench passed, 101 at fpr). Odd records
accepted into two or more base batches still raise the rate, at most to ``fpr`` (README Known gaps).

**Far beyond** (``FAR_FACTOR``): on a small base the bar is the smallest of a few hundred
statistics, the measured rate reaches ``fpr``, and the budget widened for drift lets a dozen
records through however far out they are (session 10: 5-13 backdoored breast-cancer records, every
one flagged, passed). So the same held-out batches also count records below a thousandth of the
bar, and a delta is judged against that rate too, with the overdispersion those counts show
between the held-out batches (not the flag count's: a batch's drift moves many records past the
bar, and very few this far). The batch with the most such records is left out here as well.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from provenance.detectors.budget import overdispersion
from provenance.detectors.calibration import Calibration

RATE_CAP = 1.0  # the measured rate is at most fpr


BAR_SHARE = 0.0025
"""The bar is the ``order``-th smallest statistic of the batches kept, ``order`` = this share of them
(at least 1): a quarter of the default fpr, so a clean record lands beyond at about fpr / 4 and the
count still says more than the flag budget, while a base writer must plant that many odd records in
batches other than the one left out to move it (4 in a 1,600-record sample, 18 in 8,000), not one
in each of two batches (attack review 9, D1)."""


class Trimmed(NamedTuple):
    """The bar for "beyond the reference" (``trimmed_reference``): records with a combined
    statistic below ``bar`` are beyond all but ``order - 1`` of the ``size`` records kept;
    ``left_out`` is the pseudo-batch of the base left out (its index in
    ``profile.sample_batches``), None when none was."""

    bar: float
    size: int
    left_out: int | None
    order: int = 1


def bar_order(size: int) -> int:
    """Which smallest statistic of ``size`` kept reference records is the bar (``BAR_SHARE``)."""
    return max(1, int(BAR_SHARE * size))


def trimmed_reference(reference_T: np.ndarray, batches: np.ndarray | None) -> Trimmed:
    """The bar for "beyond the reference".

    ``reference_T`` (m,) are the reference records' combined statistics (NaN where none),
    ``batches`` (m,) their pseudo-batches. With three or more pseudo-batches, the one
    holding the smallest statistic is left out, so a batch of odd base records cannot lower
    the bar (attack review 2, finding 1(a)), and the bar is the ``bar_order(size)``-th
    smallest statistic of the others, so neither can a few odd records in other batches
    (attack review 9, D1: one in each of two batches disarmed the count); ``size`` is their
    number. Otherwise the whole reference: its minimum and size. ``Trimmed(0.0, 0, None)``
    when no reference record has a statistic.
    """
    ok = np.isfinite(reference_T)
    if not ok.any():
        return Trimmed(0.0, 0, None)
    T = reference_T[ok]
    if batches is None or len(batches) != len(reference_T) or len(np.unique(batches[ok])) < 3:
        return Trimmed(float(T.min()), int(len(T)), None)
    b = np.asarray(batches)[ok]
    left_out = b[int(np.argmin(T))]
    kept = T[b != left_out]
    order = bar_order(len(kept))
    return Trimmed(float(np.partition(kept, order - 1)[order - 1]), int(len(kept)), int(left_out), order)


def weighted_statistic(p_values: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """``T = min_d p_d / w_d`` per record from per-detector p-values (each (k,), NaN where a
    detector has none); NaN where no detector has one."""
    if not p_values:
        return np.zeros(0)
    # column by column, not a (k, d) matrix reduced along its short rows (~4x the cost at d = 6): the same
    # quotients, and a least value is the same whichever order it is picked in (p-values are never -0.0)
    T = np.full(len(p_values[0]), np.inf)
    for column, weight in zip(p_values, np.asarray(weights, dtype=np.float64), strict=True):
        weighted = np.asarray(column, dtype=np.float64) / weight
        np.minimum(T, weighted, out=T, where=np.isfinite(weighted))
    T[T == np.inf] = np.nan  # no detector has a finite one
    return T


class OutOfFold(NamedTuple):
    """What the base's own pseudo-batches, each held out in turn, show (``out_of_fold``): ``rate``,
    how often a held-out record lies beyond the trimmed bar (``out_of_fold_rate``); ``far_rate``, how
    often it lies *far* beyond, below ``FAR_FACTOR`` times the bar; ``far_rho``, how much the far
    count spreads between held-out batches beyond the binomial (``budget.overdispersion``)."""

    rate: float
    far_rate: float = 0.0
    far_rho: float = 0.0


FAR_FACTOR = 1e-3
"""A record lies *far* beyond the reference when its statistic is below this share of the bar: a
thousand times less likely than the least likely record the trimmed reference holds, by every
detector (``T`` is the smallest weighted p-value). A batch carrying more such records than the
base's own held-out pseudo-batches explain blocks (``budget.Budget.far``), however many flags the
drift-widened budget allows: on the gate bench (bench/results/gate-pass-rate*.md) the poisoned
batches that passed carried 5-13 records this deep (backdoors, outliers), every clean batch 0-3,
and the clean batch nearest to blocking had p 0.05 against alpha 0.001 (factors 1e-2 to 1e-6 gave
the same picture, within two poisoned batches)."""


def out_of_fold_rate(
    reference_raw: Sequence[np.ndarray], weights: np.ndarray, batches: np.ndarray, fpr: float, floor: float
) -> float:
    """How often a record of a batch the reference never saw lies beyond its trimmed bar (module
    docstring): ``out_of_fold(...).rate``."""
    return out_of_fold(reference_raw, weights, batches, fpr, floor).rate


def out_of_fold(
    reference_raw: Sequence[np.ndarray],
    weights: np.ndarray,
    batches: np.ndarray,
    fpr: float,
    floor: float,
    computed: HeldOutFolds | None = None,
) -> OutOfFold:
    """How often a record of a batch the reference never saw lies beyond its trimmed bar, and far beyond it.

    Args:
        reference_raw: per detector, the reference sample's raw scores (m,), NaN where none.
        weights: per detector, its weight in the statistic.
        batches: (m,) the pseudo-batch of each sample record.
        fpr: the combined verdict's rate (the cap is ``RATE_CAP * fpr``).
        floor: the least rate returned (order / (m' + 1), the exchangeable rate: ``Trimmed.order``).
        computed: the held-out folds when the caller holds them (``held_out_folds``' ``computed``).

    Returns:
        ``rate``: ``(1 + beyond) / (1 + held out)`` over the held-out batches but the one with the most
        records beyond, within [floor, RATE_CAP * fpr]. ``far_rate``: the same for records below
        ``FAR_FACTOR`` times the bar (the batch with the most of those left out), at most ``RATE_CAP *
        fpr``; ``far_rho`` the overdispersion of those counts over the batches kept. With fewer than four
        batches ``OutOfFold(floor)``: no far count (``far_rate`` 0 turns its clause off).
    """
    cap = max(RATE_CAP * fpr, floor)
    labels = np.unique(batches)
    if len(labels) < 4 or not reference_raw:
        return OutOfFold(floor)
    counts = held_out_counts(reference_raw, weights, batches, fpr, computed)

    def kept_counts(column: int) -> list[tuple[int, int]]:
        """(count, scored) of every held-out batch but the one with the largest share in ``column``."""
        worst = max(range(len(counts)), key=lambda i: (counts[i][column] / max(counts[i][2], 1), counts[i][column]))
        return [(c[column], c[2]) for i, c in enumerate(counts) if i != worst]

    beyond_kept, far_kept = kept_counts(0), kept_counts(1)
    rate = (1.0 + sum(k for k, _ in beyond_kept)) / (1.0 + sum(s for _, s in beyond_kept))
    far_rate = (1.0 + sum(k for k, _ in far_kept)) / (1.0 + sum(s for _, s in far_kept))
    far_rho = overdispersion([s for _, s in far_kept if s > 0], [k for k, s in far_kept if s > 0])
    return OutOfFold(float(min(max(rate, floor), cap)), float(min(far_rate, cap)), far_rho)


def held_out_counts(
    reference_raw: Sequence[np.ndarray],
    weights: np.ndarray,
    batches: np.ndarray,
    fpr: float,
    computed: HeldOutFolds | None = None,
) -> list[tuple[int, int, int]]:
    """Per pseudo-batch of the base (in order), held out: its records beyond the trimmed bar of the
    others, far beyond it (``FAR_FACTOR``), and scored, with every detector's calibration fitted on
    the other batches' raw scores (arguments as ``out_of_fold``; ``held_out_folds``)."""
    counts: list[tuple[int, int, int]] = []
    for fold in held_out_folds(reference_raw, weights, batches, fpr, computed):
        trimmed = trimmed_reference(fold.T_kept, batches[~fold.out])
        T_scored = fold.T_out[np.isfinite(fold.T_out)]
        beyond = int((T_scored < trimmed.bar).sum()) if trimmed.size else 0
        far = int((T_scored < trimmed.bar * FAR_FACTOR).sum()) if trimmed.size else 0
        counts.append((beyond, far, int(T_scored.size)))
    return counts


class HeldOutFold(NamedTuple):
    """One pseudo-batch of the base held out (``held_out_folds``): ``out`` (m,) bool, its records; ``held``, per
    detector, their p-values from a calibration fitted on the other batches' raw scores, and ``T_out`` their
    statistics; ``T_kept`` the other batches' own statistics under those calibrations (NaN where none)."""

    out: np.ndarray
    held: tuple[np.ndarray, ...]
    T_out: np.ndarray
    T_kept: np.ndarray


class HeldOutFolds(NamedTuple):
    """``held_out``'s answer: the ``folds`` (``held_out_folds``) with ``key``, a digest of the arguments they were
    computed from (``arguments_key``; None when they cannot be keyed, then they answer no other call). The combined
    verdict computes them once and passes them to every measure that holds the base's pseudo-batches out in turn
    (``out_of_fold``, ``feature_level.held_out_level``, ``relabel_scan.held_out_null``, via ``Verdicts.held_out``)."""

    key: bytes | None
    folds: tuple[HeldOutFold, ...]


def held_out(reference_raw: Sequence[np.ndarray], weights: np.ndarray, batches: np.ndarray, fpr: float) -> HeldOutFolds:
    """``held_out_folds`` of these arguments with their key, to pass on (``HeldOutFolds``)."""
    return HeldOutFolds(
        arguments_key(reference_raw, weights, batches, fpr), held_out_folds(reference_raw, weights, batches, fpr)
    )


def held_out_folds(
    reference_raw: Sequence[np.ndarray],
    weights: np.ndarray,
    batches: np.ndarray,
    fpr: float,
    computed: HeldOutFolds | None = None,
) -> tuple[HeldOutFold, ...]:
    """Each pseudo-batch of the base held out in turn (``np.unique``'s order of ``batches``), scored as a delta
    record is: ``held_out_p_values`` and ``weighted_statistic`` (arguments as ``out_of_fold``); its arrays are
    read-only (the folds are passed to several measures).

    ``computed``: folds the caller holds (``held_out``); they are the answer when their key is these arguments'
    (every score, weight, batch and the rate: the same dtypes, shapes and bytes), else the folds are computed
    anew. The refits are most of each measure's cost, and one verdict reads them up to three times."""
    if computed is not None and computed.key is not None:
        if computed.key == arguments_key(reference_raw, weights, batches, fpr):
            return computed.folds
    by_value = values_order(reference_raw)
    folds = []
    for b in np.unique(batches):
        out = batches == b
        held, kept = held_out_p_values(reference_raw, out, fpr, by_value)
        fold = HeldOutFold(out, tuple(held), weighted_statistic(held, weights), weighted_statistic(kept, weights))
        for array in (fold.out, *fold.held, fold.T_out, fold.T_kept):
            array.setflags(write=False)
        folds.append(fold)
    return tuple(folds)


def arguments_key(
    reference_raw: Sequence[np.ndarray], weights: np.ndarray, batches: np.ndarray, fpr: float
) -> bytes | None:
    """A digest (BLAKE2b, 32 bytes) of ``held_out_folds``' arguments: the rate, then each array's type, shape and
    bytes; None for object arrays, whose bytes are addresses, not values."""
    arrays = [np.asarray(batches), np.asarray(weights), *(np.asarray(raw) for raw in reference_raw)]
    if any(a.dtype.hasobject for a in arrays):
        return None
    digest = hashlib.blake2b(f"{float(fpr)!r} {len(arrays)}".encode(), digest_size=32)
    for a in arrays:
        digest.update(f"|{a.dtype.str}{a.shape}|".encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.digest()


def values_order(reference_raw: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per detector, the positions of its finite raw scores in order of value (stable)."""
    order = []
    for raw in reference_raw:
        finite = np.flatnonzero(np.isfinite(raw))
        order.append(finite[np.argsort(raw[finite], kind="stable")])
    return order


def values_order_of_subset(by_value: list[np.ndarray], keep: np.ndarray) -> list[np.ndarray]:
    """``values_order([raw[keep] for raw in reference_raw])`` from ``by_value = values_order(reference_raw)``
    without sorting again: a stable order restricted to a subset is the subset's stable order (ties stay in
    record order), renumbered to the subset's positions (``keep`` (m,) bool; tested equal)."""
    position = np.cumsum(keep) - 1
    return [position[order[keep[order]]] for order in by_value]


def held_out_p_values(
    reference_raw: Sequence[np.ndarray], out: np.ndarray, fpr: float, by_value: list[np.ndarray] | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per detector, the p-values of the held-out records (``out``, (m,) bool) and of the others, both
    from a calibration fitted on the others' finite raw scores; NaN where a record has none.

    Each detector's scores are put in order of value once (``by_value``: ``values_order``): the
    calibration is fitted on the others' sorted scores, and their own p-values are computed in that
    order and put back, the same values elementwise (a search with sorted keys is several times
    cheaper; tested equal to fitting and scoring in the records' own order)."""
    by_value = values_order(reference_raw) if by_value is None else by_value
    rest = ~out
    held: list[np.ndarray] = []
    kept: list[np.ndarray] = []
    for raw, order in zip(reference_raw, by_value):
        p_out = np.full(int(out.sum()), np.nan)
        p_rest = np.full(int(rest.sum()), np.nan)
        fitted_at = order[rest[order]]  # the others' finite records, by value
        if fitted_at.size:
            fitted = np.asarray(raw[fitted_at], dtype=np.float64)
            calibration = Calibration.of_sorted(fitted, fpr)  # finite and in order already: not sorted again
            ok = np.isfinite(raw[out])
            p_out[ok] = calibration.p_values(raw[out][ok])
            p_all = np.full(len(raw), np.nan)
            p_all[fitted_at] = calibration.reference_p_values()  # ``p_values(fitted)``: fitted is its reference
            p_rest = p_all[rest]
        held.append(p_out)
        kept.append(p_rest)
    return held, kept
