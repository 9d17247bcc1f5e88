"""Records far outside anything the reference explains: evidence that blocks whatever the budget.

The combined verdict (``combine``) flags records at the policy's false-alarm rate, and
the gate allows a clean delta its binomial share of flags. Three planted label flips fit
in that share, so a rule that counts flags lets them through. Some evidence is strong
enough to act on one record at a time; a detector marks it with an *extreme p-value*
per record (``DetectorResult.extreme_p``, 1 where it has none), and the gate blocks any
record whose extreme p-value is at most ``alpha / n`` (Bonferroni over the n records
and over the detectors that give such evidence), whatever the budget:

- ``knn_label``: the record's label beyond the reference (its tail p-value), with no
  support from any of its nearest base records *and* none from its nearest batch-mates
  whose own label the base supports (``batch_label_support``). The second condition is
  the drift model: a new writer's odd "7" is unlike the base, but the same writer's
  other 7s in the batch share it; a flipped label has no such batch-mate, and flipped
  records cannot vouch for each other (bench/results/extreme-rule.md: on in-order digits
  it separates planted flips from clean records the base alone cannot explain);
- ``duplicates``: an empty or constant record when the base has none (p = 0), a record
  with at least three other delta records closer to it than the closest two base records
  are to each other (a tight cluster of copies, p = 0), and a record's extra exact copies
  against the base's own repetition (Poisson tail);
- ``outlier`` (a range rule): a record more than ``OUTLIER_RANGE`` times further from its
  nearest base records than any base record is from the rest (p = 0): on 48 clean
  batches of four real datasets no record went past 2.2 times;
- ``volume`` (a range rule): every record of a known source that added more than five
  times what growing like the other sources would give, at its Poisson tail;
- ``collision``: an added record that is a near-copy of a base record of another class
  (``other_class_copy_p``): the larger of two p-values, its collision p-value (far closer to
  that class than to its own) and how rarely a base record comes as close to its nearest
  record of another class (an intersection-union test: both must be small, so no Bonferroni between
  them). A base record nudged by a gram and relabelled is the label-flip attack dressed as a
  new delivery; the count rules cannot see one such record on a base of a few hundred (its
  "far beyond" rate is at least 1 / (1 + held out), above ``alpha``), and knn_label cannot where
  its twin is one vote among other-class neighbours (issue 14, fix32f). It takes
  ``OTHER_CLASS_COPY_SHARE`` (4%) of the level, a weighted Bonferroni: such a copy's p-values are
  tiny (the issue's, 1.8e-7 on a base of 300, blocks in deltas of up to about 2,000 records),
  while an equal third would have made knn_label's and duplicates' evidence 1.5 times weaker
  (flipped digits at 0.9 of the bar went past it); the two split the other 96% (2.08 times
  their p-value, where it was 2). On the gate bench's 224 clean batches no record came within
  2,000 times of its bar, and no outcome moved (bench/results/fix32f-copies.md). The closeness is
  calibrated on each base record's distance to its nearest record of *another* class (A32e-4: two
  honest same-class repeats in the base set a bar off its nearest of any class and switched the
  evidence off); with it no clean record comes within 450 times of its bar, and no outcome moves
  (bench/results/fix32k-copies.md). The other-class record is looked up among *every* base record where the base is
  a table larger than its sample (A32e-1: a copy of an unsampled record passed): the profile keeps a copy index
  (``profiles.copy_index``, signed with it), searched exactly within ``copy_search_radius`` for the delta's own
  bar (uncapped, at the policy's ``extreme_alpha``: A33d-1, A34a-1), and the closeness
  p-value is multiplied by ``copy_density`` (a class's records over its sampled ones: a union bound, since a record's
  nearest other-class record among the whole base is closer than among the sample); collision's p-value is
  recomputed from the whole-base distances. Past the index's cap, and in file trees, the look-up stays the sample's
  (bench/results/fix33a-copy-index.md).

Why a p-value and not a flag: the level is the policy's (``detectors.extreme_alpha``),
and ``alpha / n`` shrinks with the delta, so a clean delta has any extreme record with
probability about ``alpha`` when the per-detector p-values are calibrated. The tail
p-values past the reference's range come from the calibration's exponential tail model,
an extrapolation; bench/results reports the false-block rate on clean batches.
"""

from __future__ import annotations

import numpy as np

from provenance.detectors.base import DEFAULT_EXTREME_ALPHA, Delta
from provenance.detectors.calibration import Calibration
from provenance.detectors.shared import delta_labels, delta_neighbours, reference_neighbours, typical_distance
from provenance.profiles.reference import ReferenceProfile

OTHER_CLASS_COPY_SHARE = 0.04  # collision's share of extreme_alpha (``other_class_copy_p``; the module docstring)
BASE_VOTERS = 10  # nearest base records asked whether they share it (knn_label's voters)
OUTLIER_RANGE = 3.0  # times the base's own largest distance to its nearest records
# The copy index searches at most this share of the sample's median distance to another class: a record further
# from its twin is no near copy, and past it the grid's cells hold most of a blob-shaped base (1.25 units on 16
# Gaussian features made each look-up read every record: 50 s for 1,000 under load, bench/results/fix33a-copy-index.md)
COPY_RADIUS_SHARE = 0.1


def batch_label_support(profile: ReferenceProfile, delta: Delta) -> np.ndarray:
    """For each delta record, how many of its ``BATCH_NEIGHBOURS`` nearest other delta records carry its
    label *and* have that label supported by the base (at least one of their nearest base
    records shares it).

    The second condition keeps poisons from vouching for each other: several records
    flipped from one class to another sit together in the batch, but none of them has a
    base neighbour with the new label, while a new writer's odd "7"s come with 7s the base
    recognises. Looks across the whole delta, so it is computed once per delta (never per
    chunk), from the delta x delta pass ``duplicates`` shares (``shared.delta_neighbours``).
    Returns (n,) int64.
    """
    n = len(delta)
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    labels = delta_labels(profile, delta)
    base_idx, _ = reference_neighbours(profile, delta)
    voters = base_idx[:, :BASE_VOTERS]
    base_labels = np.where(voters >= 0, profile.sample_labels.astype(np.int64)[np.maximum(voters, 0)], -2)
    base_supported = (labels >= 0) & (base_labels == labels[:, None]).any(axis=1)
    idx = delta_neighbours(profile, delta)["idx"]
    valid = idx >= 0
    mate = np.maximum(idx, 0)
    same: np.ndarray = valid & (labels[mate] == labels[:, None]) & base_supported[mate]
    return same.sum(axis=1).astype(np.int64)


def extreme_p_values(
    extreme_p: list[np.ndarray],
    needs_unsupported_label: list[bool],
    support: np.ndarray | None,
    is_rule: list[bool] | None = None,
    shares: list[float | None] | None = None,
) -> np.ndarray:
    """Each record's extreme p-value over the detectors that give one: the smallest, the
    calibrated ones divided by their share of the level (weighted Bonferroni, ``shares``;
    equal shares without them: times their number; range rules, ``is_rule``, are 0 or 1
    and not counted); a label-based one counts only where no batch-mate shares the
    record's label. Returns (n,) in [0, 1]; 1 without evidence."""
    if not extreme_p:
        return np.ones(0 if support is None else len(support))
    return np.min(extreme_p_by_detector(extreme_p, needs_unsupported_label, support, is_rule, shares), axis=0)


def extreme_p_by_detector(
    extreme_p: list[np.ndarray],
    needs_unsupported_label: list[bool],
    support: np.ndarray | None,
    is_rule: list[bool] | None = None,
    shares: list[float | None] | None = None,
) -> np.ndarray:
    """Each detector's extreme p-values as :func:`extreme_p_values` counts them (weighted Bonferroni, the
    label-based ones gated by ``support``), one row per detector: (k, n), k = ``len(extreme_p)`` >= 1. Its column
    minimum is the record's extreme p-value; the row that holds it names the detector whose evidence that is (a
    label doubt, a distance, copies, a source spike), which the words of ``detectors.extreme`` say.

    A calibrated row with a share ``s`` in ``shares`` (``DetectorResult.extreme_share``) is divided by ``s``; the
    others split what the shares leave equally (with no shares: each times their number). The shares of the
    calibrated rows sum to at most 1, so the rule's level holds over the detectors."""
    rules = is_rule if is_rule is not None else [False] * len(extreme_p)
    given = shares if shares is not None else [None] * len(extreme_p)
    calibrated = [s for s, rule in zip(given, rules) if not rule]
    reserved = sum(s for s in calibrated if s is not None)
    equal = sum(s is None for s in calibrated)
    if reserved >= 1.0 and equal:
        raise ValueError(f"extreme shares sum to {reserved:g}, leaving nothing for {equal} other detector(s)")
    stacked = []
    for p, label_based, rule, share in zip(extreme_p, needs_unsupported_label, rules, given):
        p = np.asarray(p, dtype=np.float64)
        if label_based and support is not None:
            p = np.where(support > 0, 1.0, p)
        factor = 1.0 / share if share is not None else max(equal, 1) / (1.0 - reserved)
        stacked.append(p if rule else np.minimum(1.0, factor * p))
    return np.vstack(stacked)


def other_class_copy_p(
    profile: ReferenceProfile,
    delta: Delta,
    collision_p: np.ndarray,
    other_dist: np.ndarray,
    fpr: float,
    density: float = 1.0,
) -> np.ndarray:
    """Each record's extreme p-value as a near-copy of a base record of another class (``collision``'s).

    Args:
        profile: the base's reference profile (its sample's distances to their nearest record of another
            class, ``other_class_nn_dist``).
        delta: the records judged; only ``added`` ones can be such copies (a relabel is the base record
            itself under its new label: the relabel rules judge it).
        collision_p: (n,) collision's calibrated p-values (closer to another class than to its own).
        other_dist: (n,) each record's distance to its nearest base record of another label (standardised
            units; inf where none): in the sample, or in the whole base where the copy index measured it.
        fpr: the calibration's rate (its threshold only; the p-values do not depend on it).
        density: how many times more records of a class the distances were measured among than the sample
            holds (:func:`copy_density`; 1 for the sample's own distances).

    Returns:
        (n,) in [0, 1]: ``max(collision_p, closeness p)`` for added records, the closeness p being how
        rarely a base sample record lies as close to its nearest record of another class as this record
        lies to that other-class record (:func:`closeness_p`, times ``density``: a union bound, for a base
        that many times larger than the sample); 1 elsewhere and when the base has no finite distance. Both
        must be small: a record merely nearer another class (a boundary digit) is not close enough, and a
        record close to a base record of its own label is a copy, not a relabel.
    """
    added = np.array([kind == "added" for kind in delta.kinds], dtype=bool)
    near = closeness_p(profile, other_dist, fpr)
    if near is None or not added.any():
        return np.ones(len(delta))
    p = np.maximum(np.asarray(collision_p, dtype=np.float64), np.minimum(1.0, density * near))
    return np.where(added & np.isfinite(other_dist), np.clip(p, 0.0, 1.0), 1.0)


def closeness_p(profile: ReferenceProfile, distances: np.ndarray, fpr: float) -> np.ndarray | None:
    """How rarely a base sample record lies as close to its nearest sample record of another class as each of
    ``distances`` (n,) (standardised units; inf gives 1), calibrated on ``other_class_nn_dist`` with the
    exponential tail past them; None when the base has no finite such distance (one class)."""
    # the event the evidence claims is "this close to a record of another class": calibrate on each base
    # record's distance to its nearest record of another class, so same-class repeats in the base (a
    # penguin weighed twice) do not set the bar (A32e-4; its nearest of any class did)
    across = np.asarray(profile.other_class_nn_dist, dtype=np.float64)
    across = across[np.isfinite(across)]
    if not across.size:
        return None
    eps = 1e-3 * typical_distance(across)  # as duplicates' closeness: a distance of 0 stays finite
    closeness = Calibration(-np.log(across + eps), fpr)
    distances = np.asarray(distances, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return closeness.p_values(-np.log(np.where(np.isfinite(distances), distances, np.inf) + eps))


def copy_density(profile: ReferenceProfile) -> float:
    """How many times more records the base's largest-to-sample class holds than its sample does: max over classes of
    (records of the class) / (sampled records of it), >= 1. A record's nearest record of another class among the
    whole base is closer than among the sample; multiplying the sample's closeness p-value by it bounds the
    whole base's (a union bound over that many sample-sized parts)."""
    sampled = np.bincount(profile.sample_labels.astype(np.int64), minlength=len(profile.classes))
    counts = np.asarray(profile.class_counts, dtype=np.float64)
    ratios = counts[sampled > 0] / sampled[sampled > 0]
    return float(max(1.0, ratios.max())) if ratios.size else 1.0


def copy_search_radius(
    profile: ReferenceProfile, records: int = 1, capped: bool = True, alpha: float = DEFAULT_EXTREME_ALPHA
) -> float | None:
    """The distance (standardised units) past which a record's copy evidence measured on the whole base cannot block
    a delta of ``records`` records at level ``alpha`` (the policy's ``extreme_alpha``, in (0, 1); default
    ``DEFAULT_EXTREME_ALPHA``): where ``copy_density x closeness p`` reaches ``OTHER_CLASS_COPY_SHARE x alpha /
    records`` (the rule's bar, ``alpha / n``). ``capped``: at most ``COPY_RADIUS_SHARE`` of the sample's median
    distance to another class (the copy index's grid at commit, ``profiles.copy_index``, is made for it at the
    default level, which bounds a look-up's cells); uncapped, the upper end of the bracket, so every distance whose
    evidence can block lies within it (what a check searches at its policy's level: attack reviews 33d, A33d-1, and
    34a, A34a-1). None when the base has one class."""
    target = OTHER_CLASS_COPY_SHARE * alpha / (max(records, 1) * copy_density(profile))
    across = np.asarray(profile.other_class_nn_dist, dtype=np.float64)
    across = across[np.isfinite(across)]
    if not across.size:
        return None
    lo, hi = 0.0, (COPY_RADIUS_SHARE * float(np.median(across)) if capped else float(across.max()))
    if hi <= 0:
        return None
    p_at = closeness_p(profile, np.array([hi]), 0.01)
    if p_at is None or p_at[0] <= target:
        return hi
    for _ in range(60):  # bisection on a p-value that falls as the distance does
        mid = (lo + hi) / 2
        p_mid = closeness_p(profile, np.array([mid]), 0.01)
        if p_mid is not None and p_mid[0] <= target:
            lo = mid
        else:
            hi = mid
    if not capped:
        return hi if lo > 0 else None
    return lo if lo > 0 else None
