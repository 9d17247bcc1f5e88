"""Whether a listed new class's added records are copies or records of base classes: then it is judged in full.

A class the policy lists (``[class_mix] expected_new_classes``) is judged on class-free evidence only
(``gate.class_free``) because the base cannot say where its records should lie. That holds for a class that is
new, not for copies of base records: 14 malignant base records copied with every value 8% larger and labelled
"cat" passed as a new class (attack review 32a, A32a-7), the originals kept.

A record *sits inside* base class C when most of its ``knn_label.VOTERS`` nearest base records (records of the
listed class itself aside, for a class the base holds a few of) are C's, however far they lie (a distance cap is a
step the attacker takes: A32d-2, copies 30% larger). Most records of a genuinely new class sit inside some base
class too (a class the base lacks has base records for neighbours), so sitting inside is not the test (fix32i's
share test judged 10 of 21 genuine held-out classes in full), and a share of the class is one decoys dilute
(A32e-3: two records whose voters split 5/5 took 14 copies below it). The test is the copies' shape: of the
records that sit inside base classes, those that are copies of those classes' sample records under one scale and
shift per column (``gate.class_copies``) are counted, and the listed class is judged in full (its
class-conditional evidence kept, as for a class the base holds) when their number is at least ``MIN_COPIES`` and
more than a new class of that many records inside shows by chance (a binomial bound at ``CHANCE``, level
``ALPHA``). Records that sit inside no class neither count nor dilute. Copies split across two classes are one
group (A32d-1); a record whose raw direction is its match's is a copy too (one factor per record: A33b-1/2,
``class_copies.scaled_copies``), and every record is read, ``GROUP_CAP`` at a time (A33b-6).

Records of a base class that are no copies (midpoints of its pairs, fresh records: A33b-4) are the second trigger
(``gate.class_two_sample``): of the class's records that sit inside base classes, each scored against its own class,
those within that class's median nearest-record distance (a share of ``class_two_sample.WITHIN`` or more), within
its 90% quantile (more than a new class shows at 0.8: A34e-1) or within its 5% quantile (more than a new class's records within the 90%
show by chance: A34e-2), all of them together and each class's alone, from ``class_two_sample.MIN_RECORDS`` records
(F1: 4 per class over many classes; F2: far records diluting the share). The test fails closed: a run that does not
give the records' neighbours and features judges every listed class in full. Its bounds: fewer than ``MIN_COPIES``
copies beside fewer than ``MIN_RECORDS`` records inside base classes, or records pushed beyond the class's 90%
quantile, pass on class-free evidence; ``bench/class_inside_new_classes.py``
counts what is caught and what honest classes pay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from provenance.gate.class_copies import GROUP_CAP, copies_of, scaled_copies
from provenance.gate.class_two_sample import BAND, CLOSE, WITHIN, Spread, relabelled_spread
from provenance.profiles.reference import ReferenceProfile

MIN_COPIES = 3  # fewer copies than this never make a listed class judged in full
CHANCE = 0.05  # the share of a new class's records inside base classes that may be copies by chance
ALPHA = 0.001  # the level of the bound at CHANCE


@dataclass(frozen=True)
class Inside:
    """A listed class ``label`` judged in full: ``copies`` of its ``records`` added records are copies of records of
    ``base_classes`` (most copied first), of ``inside`` that sit inside base classes, at least ``bound`` (more than a
    new class of ``inside`` records shows by chance); or, with ``within`` set (copies 0), ``inside`` of them sit inside
    ``base_classes`` and that share of those lie within their class's spread, ``band`` of them within its 90% quantile
    where a new class shows at most ``band_bound``, ``close`` of them within its 5% quantile where a new class's
    ``band`` show at most ``bound`` (``gate.class_two_sample``). ``base_classes`` is empty when the run gave no
    neighbours or features (judged in full, unexamined)."""

    label: str
    base_classes: tuple[str, ...]
    copies: int
    inside: int
    records: int
    bound: int
    within: float | None = None  # judged in full by the spread test (``gate.class_two_sample``): its share within
    close: int = 0  # with ``within``: its records within their class's 5% quantile of nearest-record distances
    band: int = 0  # with ``within``: its records within their class's 90% quantile of nearest-record distances
    band_bound: int = 0  # with ``within``: the most of ``inside`` records a new class shows within it

    @property
    def base_class(self) -> str:
        """The base classes as one string (``"malignant"``, ``"malignant, benign"``); empty when unexamined."""
        return ", ".join(self.base_classes)

    @property
    def words(self) -> str:
        """``"'cat' (14 of its 16 added record(s) are copies of records of base class 'malignant' under one scale and
        shift per column or one factor per record, where a new class of 14 record(s) inside base classes shows fewer
        than 5)"``; with several classes ``"... copies of records of base classes 'malignant', 'benign' ..."``; judged
        by the spread test ``"'cat' (146 of its 150 added record(s) sit inside base class 'malignant' and 73% of those
        lie as close to its records as they lie to each other, ...)"``, ``"'cat' (160 of its 160 added record(s) sit
        inside base classes 'k0', 'k1', ... and 160 of those lie as close to their class's records as 90% of those
        records lie to each other, where a new class of 160 record(s) shows at most 143)"`` or ``"'cat' (373 of its 400 added record(s) sit inside
        base class 'malignant' and 18 of those lie closer to its records than 95% of those records lie to each other,
        where a new class shows at most 7 of the 176 that lie as close as 90% of them)"``."""
        if not self.base_classes:
            return f"{self.label!r} (the run gave no neighbours to tell it from a base class)"
        if self.within is not None:
            return self._spread_words
        where = ("base class " if len(self.base_classes) == 1 else "base classes ") + ", ".join(
            map(repr, self.base_classes)
        )
        return (
            f"{self.label!r} ({self.copies} of its {self.records} added record(s) are copies of records of {where} "
            f"under one scale and shift per column or one factor per record, where a new class of {self.inside} "
            f"record(s) inside base classes "
            f"shows fewer than {self.bound})"
        )

    @property
    def _spread_words(self) -> str:
        """The words of a class judged by the spread test (``words``)."""
        one = len(self.base_classes) == 1
        where = f"base class{'' if one else 'es'} {', '.join(map(repr, self.base_classes))}"
        theirs = "its" if one else "their class's"
        head = f"{self.label!r} ({self.inside} of its {self.records} added record(s) sit inside {where} and "
        if self.within is not None and self.within >= WITHIN:
            return (
                f"{head}{self.within:.0%} of those lie as close to {theirs} records as they lie to each other, where a "
                f"new class's lie farther and {WITHIN:.0%} is the bar)"
            )
        if self.band > self.band_bound:
            return (
                f"{head}{self.band} of those lie as close to {theirs} records as {BAND:.0%} of those records lie to "
                f"each other, where a new class of {self.inside} record(s) shows at most {self.band_bound})"
            )
        return (
            f"{head}{self.close} of those lie closer to {theirs} records than {1 - CLOSE:.0%} of those records lie to "
            f"each other, where a new class shows at most {self.bound} of the {self.band} that lie as close as "
            f"{BAND:.0%} of them)"
        )


def inside_classes(
    profile: ReferenceProfile,
    neighbours: tuple[np.ndarray, np.ndarray] | None,
    features: np.ndarray | None,
    labels: Sequence[str | None],
    rows: Sequence[int],
    k: int,
) -> dict[str, Inside | None]:
    """For each label of ``rows`` (positions of added records of listed classes in the delta), the base classes its
    records are copies of (``Inside``: judge its records in full), or None (judge them on class-free evidence).

    ``neighbours`` is each delta record's nearest base sample records, ``(idx, dist)`` (n x K, -1 / inf where
    none; ``detectors.shared.reference_neighbours``) and ``features`` the delta's standardised features (n x d,
    ``detectors.shared.delta_Z``); when either is None every label is ``Inside`` with no base class (fail closed).
    ``k`` voters per record (``knn_label.VOTERS``).
    """
    by_label: dict[str, list[int]] = {}
    for i in rows:
        by_label.setdefault(str(labels[i]), []).append(i)
    if neighbours is None or features is None:
        return {label: Inside(label, (), 0, 0, len(at), 0) for label, at in by_label.items()}
    sample_labels = profile.sample_labels.astype(np.int64)
    classes = len(profile.classes)
    idx, _ = neighbours
    out: dict[str, Inside | None] = {}
    for label, at in sorted(by_label.items()):
        own = int(profile.label_indexes([label])[0])  # -1 when the base has none of it
        inside = inside_of(sample_labels, idx[at], classes, k, np.full(len(at), own))
        sits = inside >= 0
        Z = np.asarray(features)[np.asarray(at)]
        out[label] = _copied(profile, Z[sits], inside[sits], label, len(at)) or _relabelled(profile, Z, inside, label)
    return out


def _relabelled(profile: ReferenceProfile, Z: np.ndarray, inside: np.ndarray, label: str) -> Inside | None:
    """``Inside`` when the records ``Z`` (the standardised added records of ``label``; ``inside`` the class each sits
    inside, -1 none) that sit inside base classes cannot be told from those classes' sample records
    (``gate.class_two_sample``), else None."""
    spread: Spread | None = relabelled_spread(Z, inside, profile.sample_Z, profile.sample_labels.astype(np.int64))
    if spread is None:
        return None
    named = tuple(str(profile.classes[c]) for c in spread.classes)
    return Inside(
        label,
        named,
        0,
        spread.records,
        len(Z),
        spread.bound,
        spread.share,
        spread.close,
        spread.band,
        spread.band_bound,
    )


def _copied(profile: ReferenceProfile, Z: np.ndarray, inside: np.ndarray, label: str, records: int) -> Inside | None:
    """``Inside`` when more of the records ``Z`` (standardised: those of ``label``'s ``records`` added records that
    sit inside base classes, ``inside`` the class each sits inside) are copies of base sample records than chance
    allows (see the module), else None."""
    if len(Z) < MIN_COPIES:
        return None
    sample_labels = profile.sample_labels.astype(np.int64)
    held = np.bincount(inside, minlength=len(profile.classes))
    most = sorted((int(c) for c in np.flatnonzero(held)), key=lambda c: (-held[c], c))
    copies, matched = np.zeros(len(Z), dtype=bool), np.full(len(Z), -1, dtype=np.int64)
    for start in range(0, len(Z), GROUP_CAP):  # every record, a chunk at a time: digest order hides none (A33b-6)
        at = slice(start, start + GROUP_CAP)
        copies[at], matched[at] = copies_of(Z[at], profile.sample_Z, sample_labels, profile.mean, profile.scale, most)
    scaled, by_direction = scaled_copies(Z, profile.sample_Z, profile.mean, profile.scale)  # own factors: A33b-1/2
    matched = np.where(copies, matched, by_direction)
    copies |= scaled
    bound = max(MIN_COPIES, chance_bound(len(Z)))
    if int(copies.sum()) < bound:
        return None
    counts = np.bincount(sample_labels[matched[copies]], minlength=len(profile.classes))
    named = tuple(str(profile.classes[c]) for c in sorted(np.flatnonzero(counts), key=lambda c: (-counts[c], c)))
    return Inside(label, named, int(copies.sum()), len(Z), records, bound)


def chance_bound(n: int) -> int:
    """The fewest copies among ``n`` records that a new class shows with probability at most ``ALPHA`` when each
    record is a copy by chance at rate ``CHANCE`` (binomial upper tail); ``n + 1`` when none is that rare."""
    tail = 1.0
    for c in range(n + 1):
        if tail <= ALPHA:
            return c
        log_term = math.lgamma(n + 1) - math.lgamma(c + 1) - math.lgamma(n - c + 1)
        tail -= math.exp(log_term + c * math.log(CHANCE) + (n - c) * math.log(1 - CHANCE))  # no overflow at large n
    return n + 1


def inside_of(sample_labels: np.ndarray, idx: np.ndarray, classes: int, k: int, own: np.ndarray) -> np.ndarray:
    """The base class each record sits inside (see the module), -1 where none (r,).

    ``idx`` (r x K): its nearest sample records, nearest first (-1 where none); ``classes``: how many base classes;
    ``own`` (r,): a label whose voters are left out (-1: none); the first ``k`` other voters vote."""
    r = len(idx)
    if r == 0 or idx.shape[1] == 0:
        return np.full(r, -1, dtype=np.int64)
    idx = np.asarray(idx, dtype=np.int64)
    voter = np.where(idx >= 0, sample_labels[np.maximum(idx, 0)], -1)
    voting = (voter >= 0) & (voter != own[:, None])
    voting &= np.cumsum(voting, axis=1) <= k
    counts = ((voter[:, :, None] == np.arange(classes)[None, None, :]) & voting[:, :, None]).sum(axis=1)
    top = counts.argmax(axis=1)
    majority = 2 * counts[np.arange(r), top] > voting.sum(axis=1)
    return np.where(majority, top, -1)
