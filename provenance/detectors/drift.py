"""Batch drift for detectors that look for a direction the delta's records share.

``spectral`` and ``gradient`` find the direction a delta's records have in common (a
trigger's shift, the gradient poisons are crafted to share) and score each record by how
far it goes along it. A clean batch from a new writer, camera or season also shares a
direction, its drift, so every one of its records goes some way along it (issue 14:
in-order digits batches flagged 5-8% of their clean records here). Poisons are few next to
the batch (a source that sends nothing but poison is a shifted batch, reported as such);
so the delta's own median along the direction is the drift, and records are scored by
how far they go *beyond their batch*, against the reference's spread (robust location
and scale, median and a quantile of absolute deviations: Huber and Ronchetti, *Robust Statistics*, 2009).

The correction only ever makes the delta look more ordinary (it never shrinks the
reference's spread), and its size is reported as the batch's drift effect.

``batch_drift`` reports the delta as a whole: how far it shifts (class mix, mean,
shared direction, gradient) against the base's own pseudo-batches (``profiles.shift``).

``remove_shift`` acts on it (newcomer review 11, finding 6: 300 clean digits from a
scanner that brightens every pixel by 1 had 219 records flagged and blocked). When the
batch's mean has shifted beyond the base's own batches, the shift every class of the
batch shares is measured (``shared_shift``) and taken off the added records before any
detector scores them, so a record is judged by how it stands out within its batch. It is
taken off only the records it explains (taking it off brings them nearer the base: ``NEARER``;
attack review 13, D13-1: near copies shipped without the move were pushed off their originals),
and only when the batch moved as a whole: every measured class moved at least
``EVERY_CLASS`` of it along it (attack review 12, D12-1: a trigger whose pixels each sit
on the target class and five others made a per-column median over classes the trigger),
and it carries no class mean ``TOWARD_CLASS`` of the way to another's (D12-2: the attacker
decides which records carry the move; flips shipped without a move from their class to
their new label's were taken into that class's region when it came off). What the
correction hides is the shift itself, which is reported as a warning with its size; a
shift of more than ``FAR_SHIFT`` of the base's within-class spread is not removed
(nothing a rescaled sensor does moves a whole batch that far), so its records are scored
as they came and block. One of less than ``MIN_SHIFT`` of it is not removed either: the
mean then moved with some of the batch's records, not the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from provenance.detectors.base import Delta
from provenance.detectors.shared import remove_batch_shift, standardized_delta
from provenance.features.neighbors import nearest
from provenance.profiles.reference import ReferenceProfile
from provenance.profiles.shift import SIGNALS, Shift, delta_shift, judge

SPREAD_QUANTILE = 0.8  # of absolute deviations: robust to 20% poisons, and unlike the MAD
# not zero when most records sit at one value (well-fitted records have no loss gradient)
QUANTILE_TO_SD = 1.0 / 1.2816  # the 0.8 quantile of |N(0, 1)|


def robust_location_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and a quantile-based standard deviation of the finite values (0, 0 when none)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return 0.0, 0.0
    median = float(np.median(v))
    return median, QUANTILE_TO_SD * float(np.quantile(np.abs(v - median), SPREAD_QUANTILE))


def recentre_on_batch(raw: np.ndarray, reference_raw: np.ndarray) -> tuple[np.ndarray, dict]:
    """Raw scores of one batch, moved so their median and spread are no larger than the
    reference's: ``ref_median + (raw - batch_median) * min(1, ref_sd / batch_sd)`` when
    the batch sits higher than the reference, ``raw`` otherwise.

    Returns (adjusted raw (n,), effect) where effect holds ``shift_sd`` (the batch
    median's distance above the reference median, in reference standard deviations) and
    ``spread_ratio`` (batch over reference spread).
    """
    raw = np.asarray(raw, dtype=np.float64)
    ref_median, ref_sd = robust_location_scale(np.asarray(reference_raw, dtype=np.float64))
    batch_median, batch_sd = robust_location_scale(raw)
    if raw.size < 10 or ref_sd <= 0:  # too few records to tell drift from poison
        return raw, {"shift_sd": 0.0, "spread_ratio": 1.0}
    shift = max(batch_median - ref_median, 0.0)
    ratio = batch_sd / ref_sd if ref_sd > 0 else 1.0
    squeeze = min(1.0, 1.0 / ratio) if ratio > 0 else 1.0
    adjusted = np.where(np.isfinite(raw), ref_median + (raw - ref_median - shift) * squeeze, raw)
    if shift == 0.0 and squeeze == 1.0:
        adjusted = raw
    return adjusted, {"shift_sd": shift / ref_sd, "spread_ratio": ratio}


def batch_drift(profile: ReferenceProfile, delta: Delta) -> list[Shift]:
    """The delta's added records as one batch, against the base's own pseudo-batches
    (``profiles.shift``): one ``Shift`` per signal, ``shifted`` when it passes the base's
    natural range. Drift is a warning about the batch, not a verdict on its records.
    Measured on the records as delivered (before ``remove_shift``), once per delta."""
    key = ("drift", id(profile))
    if key not in delta.cache:
        delta.cache[key] = _batch_drift(profile, delta)
    return delta.cache[key]


def _batch_drift(profile: ReferenceProfile, delta: Delta) -> list[Shift]:
    added = np.array([k == "added" for k in delta.kinds], dtype=bool)
    labels = profile.label_indexes([l for l, a in zip(delta.labels, added) if a])
    if added.any():
        values = delta_shift(
            standardized_delta(profile, delta)[added],
            labels,
            profile.sample_Z,
            profile.sample_labels.astype(np.int64),
            profile.sample_batches,
            len(profile.classes),
            profile.softmax_weights,
        )
    else:
        values = np.zeros(len(SIGNALS))
    return judge(values, profile.batch_shift)


# A class's median move is measured on at least this many of its added records (and base sample records).
MIN_CLASS_RECORDS = 5
# A shared shift shorter than this many times the base's typical distance from a record to its class
# mean is not removed: the batch's mean moved, but not as a whole (poison added to a batch moves its
# mean with a shared move near 0; the gate bench's clean and poisoned batches in file order share 0.3
# or less in 202 of 224, at most 1.0).
MIN_SHIFT = 0.5
# A shared shift longer than this many times the base's typical distance from a record to its class
# mean is not removed: every record would have left its class's cloud, which is no recalibration.
# (Digits brightened by 1 of 16 move 2.9 times it, mostly along the always-blank pixels.)
FAR_SHIFT = 8.0
# A shared shift is removed only when every class measured moved at least this share of it along
# it: a move most classes share but some do not is not a recalibration (attack review 12, D12-1: a
# trigger whose pixels each sit on the target class and five others read as the batch's drift).
EVERY_CLASS = 0.7
# A shared shift is not removed when it carries any class mean this share or more of the way to
# another's: removing it would move a record shipped without it toward that class (attack review 12,
# D12-2: clean records shipped moved by mean(3s) - mean(8s) and flipped 3s shipped unmoved put the
# flips among the 8s once the move was taken off). A recalibration moves every class alike, mostly
# where the classes do not differ.
TOWARD_CLASS = 0.25
# The move is taken off an added record only when that brings it under this share of its distance, as
# delivered, to the nearest base sample record: a record the move does not explain is scored as it came
# (attack review 13, D13-1: a move along the base's within-class variation passed both guards above and,
# taken off every record, pushed 200 near copies of base records shipped without it off their originals:
# 0 of 200 flagged, exit 0; the idea is detect12b's session-12 rule).
NEARER = 0.7


@dataclass(frozen=True)
class BatchShift:
    """The shift every class of a delta's added records shares (``shared_shift``), and whether the
    detectors scored the records without it (``remove_shift``)."""

    vector: np.ndarray  # (d,) in the profile's standardised space
    size: float  # its length over the base's median distance from a record to its class mean
    classes: int  # classes it was measured on
    # "removed" (the detectors scored the records without it), or why not: "small" (below
    # MIN_SHIFT), "far" (beyond FAR_SHIFT), "one_class" (fewer than two classes measured),
    # "not_every_class" (a class moved less than EVERY_CLASS of it), "toward_class" (it carries a
    # class mean TOWARD_CLASS or more of the way to another's), "none_moved" (taking it off brings no
    # added record NEARER the base)
    outcome: str
    moved: int = 0  # added records it was taken off (``moved_with_batch``)
    added: int = 0  # added records of the delta

    @property
    def removed(self) -> bool:
        """Whether the detectors scored the added records without the shift."""
        return self.outcome == "removed"

    @property
    def whole_batch(self) -> bool:
        """Whether the batch moved as a whole: the move was taken off (``removed``), or it was too far
        for a recalibration (``far``) or the way from one class to another (``toward_class``) to
        take off. Not when the mean moved with some records only (``small``), one class was
        measured (``one_class``) or some class did not share it (``not_every_class``)."""
        return self.outcome in ("removed", "far", "toward_class")

    @property
    def why(self) -> str:
        """The outcome in words."""
        return {
            "removed": f"the detectors scored the {self.moved} of {self.added} added records it brings nearer the "
            "base without it, against their batch, and the rest as delivered",
            "none_moved": f"not removed: taking it off brings none of the {self.added} added records under "
            f"{NEARER:g} of their distance to the base, so it explains no record; the records are scored as "
            "delivered",
            "small": f"less than {MIN_SHIFT:g} times that spread, so the mean moved with some of its records, "
            "not as a whole: nothing removed",
            "far": f"farther than {FAR_SHIFT:g} times that spread, more than a recalibration moves data: not "
            "removed, the records are scored as delivered",
            "one_class": "not removed: fewer than two classes have 5 records in the batch, so a drift cannot be "
            "told from one class's move",
            "not_every_class": f"not removed: some class moved less than {EVERY_CLASS:g} of it, so it is no move of "
            "the whole batch; the records are scored as delivered",
            "toward_class": f"not removed: it carries a class's mean {TOWARD_CLASS:g} or more of the way to another "
            "class's, so taking it off would move a record shipped without it toward that class; the records are "
            "scored as delivered",
        }[self.outcome]

    @property
    def sentence(self) -> str:
        """In words: ``"its classes moved together by 2.9 times the base's spread within a class (10
        classes); the detectors scored the 298 of 300 added records it brings nearer the base without it, ..."``."""
        if self.outcome == "one_class":
            return f"the batch's shared move was {self.why}"
        only = "only " if self.outcome == "small" else ""
        return (
            f"its classes moved together by {only}{self.size:.1f} times the base's spread within a class "
            f"({self.classes} classes); {self.why}"
        )

    def to_dict(self) -> dict:
        """The shift as reports carry it (the ``detectors.drift`` rule's statistic)."""
        return {
            "removed": self.removed,
            "whole_batch": self.whole_batch,
            "outcome": self.outcome,
            "size": round(self.size, 3),
            "length": round(float(np.linalg.norm(self.vector)), 6),
            "classes": self.classes,
            "moved": self.moved,
            "added": self.added,
            "why": self.why,
        }


def shared_shift(profile: ReferenceProfile, Z: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, int]:
    """The move the classes of a batch share: ``(vector (d,), classes measured)``.

    Each class with ``MIN_CLASS_RECORDS`` records in the batch ``Z`` (standardised; class indexes
    ``labels``, -1 for a class the base lacks) and in the profile's sample moves by its batch
    median less its sample median, column by column (``class_moves``); ``shared_move`` takes
    the move they share.
    """
    moves = class_moves(profile, Z, labels)
    return shared_move(moves, profile.dim), len(moves)


def shared_move(moves: list[np.ndarray], dim: int) -> np.ndarray:
    """The move classes moving by ``moves`` (``class_moves``) share, (dim,): per column the median
    over classes, taken at its end nearest 0 when the count is even (two classes: the smaller
    move when both go the same way, else none). Zeros when fewer than two classes can be
    measured: a one-class batch cannot tell a drift from a move of that class.
    """
    if len(moves) < 2:
        return np.zeros(dim)
    ordered = np.sort(np.stack(moves), axis=0)
    low, high = ordered[(len(moves) - 1) // 2], ordered[len(moves) // 2]
    nearest = np.where(np.abs(low) <= np.abs(high), low, high)
    return np.where(low * high > 0, nearest, np.where(low == high, low, 0.0))


def class_moves(profile: ReferenceProfile, Z: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """Each measured class's median move, batch against profile sample (``shared_shift``'s classes)."""
    moves = []
    for c in range(len(profile.classes)):
        mine = Z[labels == c]
        base = profile.sample_Z[profile.sample_labels == c]
        if len(mine) >= MIN_CLASS_RECORDS and len(base) >= MIN_CLASS_RECORDS:
            moves.append(np.median(mine, axis=0).astype(np.float64) - np.median(base, axis=0))
    return moves


def least_class_share(moves: list[np.ndarray], vector: np.ndarray) -> float:
    """The smallest share of ``vector`` any class moving by ``moves`` (``class_moves``) moved along
    it (its move projected on it, over its length squared): 1 when every class moved by all of
    it, 0 when one did not move."""
    length2 = float(vector @ vector)
    if length2 <= 0 or not moves:
        return 0.0
    return min(float(m @ vector) / length2 for m in moves)


ROWS = 256  # class means per block in toward_class


def toward_class(profile: ReferenceProfile, vector: np.ndarray) -> float:
    """How far ``vector`` carries one class mean toward another, at most: over every pair of the
    profile's class means, its projection on their difference over that difference's length (1: it
    is the whole way from one mean to the other)."""
    means = profile.class_means.astype(np.float64)
    if len(means) < 2:
        return 0.0
    at = means @ vector.astype(np.float64)  # (k,): each mean's position along the vector
    square = np.einsum("kd,kd->k", means, means)
    most = 0.0
    for start in range(0, len(means), ROWS):  # (rows, k) blocks: 2,000 classes never hold a (k, k, d) array
        block = means[start : start + ROWS]
        length2 = square[start : start + ROWS, None] + square[None, :] - 2.0 * (block @ means.T)
        along = np.abs(at[None, :] - at[start : start + ROWS, None])
        ok = length2 > 1e-12 * max(float(square.max()), 1e-300)
        if ok.any():
            most = max(most, float(np.max(along[ok] / length2[ok])))
    return most


def moved_with_batch(profile: ReferenceProfile, Z: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Which records ``Z`` (standardised, as delivered) the shared move ``vector`` explains: taking it
    off brings them under ``NEARER`` times their distance to the nearest base sample record."""
    if len(Z) == 0 or len(profile.sample_Z) == 0:
        return np.zeros(len(Z), dtype=bool)
    _, before = nearest(Z, profile.sample_Z, 1)
    _, after = nearest((Z - vector).astype(Z.dtype), profile.sample_Z, 1)
    return after[:, 0] < NEARER * before[:, 0]


def class_spread(profile: ReferenceProfile) -> float:
    """The base's median distance from a sample record to its class mean (standardised space)."""
    Z = profile.sample_Z.astype(np.float64)
    if len(Z) == 0:
        return 1.0
    distance = np.linalg.norm(Z - profile.class_means[profile.sample_labels].astype(np.float64), axis=1)
    return max(float(np.median(distance)), 1e-12)


def remove_shift(profile: ReferenceProfile, delta: Delta) -> BatchShift | None:
    """When the batch's mean shifted beyond the base's own batches (``batch_drift``'s
    ``mean_shift``), measure the shift its classes share and have the detectors score the added
    records it explains (``moved_with_batch``) without it (``shared.remove_batch_shift``), unless
    it is shorter than ``MIN_SHIFT`` or farther than ``FAR_SHIFT``, some class did not share it
    (``EVERY_CLASS``) or it carries a class toward another (``TOWARD_CLASS``).
    None when the mean did not shift (nothing removed). Once per delta, before any detector."""
    key = ("shift-removed", id(profile))
    if key in delta.cache:
        return delta.cache[key]
    mean = next((s for s in batch_drift(profile, delta) if s.signal == "mean_shift"), None)
    found = None
    moved = 0
    if mean is not None and mean.shifted:
        added = np.flatnonzero(np.array([k == "added" for k in delta.kinds], dtype=bool))
        Z = standardized_delta(profile, delta)[added]
        labels = profile.label_indexes([delta.labels[i] for i in added])
        moves = class_moves(profile, Z, labels)  # once: the shared move and the every-class test read them
        vector, classes = shared_move(moves, profile.dim), len(moves)
        size = float(np.linalg.norm(vector)) / class_spread(profile)
        if classes < 2:
            outcome = "one_class"
        elif size < MIN_SHIFT:
            outcome = "small"
        elif size > FAR_SHIFT:
            outcome = "far"
        elif least_class_share(moves, vector) < EVERY_CLASS:
            outcome = "not_every_class"
        elif toward_class(profile, vector) >= TOWARD_CLASS:
            outcome = "toward_class"
        else:
            moved_with = moved_with_batch(profile, Z, vector)
            moved = int(moved_with.sum())
            outcome = "removed" if moved else "none_moved"
            if moved:
                remove_batch_shift(profile, delta, added[moved_with], vector)
        found = BatchShift(vector, size, classes, outcome, moved, len(added))
    delta.cache[key] = found
    return found
