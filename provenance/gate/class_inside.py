"""Whether a listed new class's added records lie where one base class's records lie, as that class's own do.

A class the policy lists (``[class_mix] expected_new_classes``) is judged on class-free evidence only
(``gate.class_free``) because the base cannot say where its records should lie. That holds for a class that is
new, not for records that sit among one base class's records: 14 malignant base records copied with every value
8% larger and labelled "cat" passed as a new class (attack review 32a, A32a-7), the originals kept. A genuine
new class is not a scaled copy of one base class.

A record *sits inside* base class C when most of its ``knn_label.VOTERS`` nearest base records (records of the
listed class itself aside, for a class the base holds a few of) are C's, and the nearest of those lies no
farther than C's own records lie from their nearest record of C (``REACH_QUANTILE`` of the profile's
``own_class_nn_dist`` over C's sample records). C's *purity* is the share of C's own sample records that sit
inside C by the same test (their neighbours in the other pseudo-batches voting: the profile's ``nn_idx``).
A listed class sits inside C when at least that share of its added records sit inside C: its records are then
as much C's as C's own records are, and it is judged in full (its class-conditional evidence kept, as for a class
the base holds). The test fails closed: a run that does not give the records' neighbours judges every listed
class in full, and a class of one or two records that sit inside a base class is judged in full. A mix of
several base classes' records (review 31d's 30 real records, 26 benign and 4 malignant: 25 sit inside benign,
83% against benign's own 92%), or records apart from every base class (the 30 a thousandfold beyond the base of
A31a-3, none inside), is judged on class-free evidence, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from provenance.profiles.reference import ReferenceProfile

REACH_QUANTILE = 0.95  # of a class's own nearest-same-class distances: "within that class's own distances"


@dataclass(frozen=True)
class Inside:
    """A listed class ``label`` that sits inside base class ``base_class``: ``inside`` of its ``records`` added
    records sit inside it, at least the share ``purity`` of its own sample records that do. ``base_class`` is
    empty when the run gave no neighbours (judged in full, unexamined)."""

    label: str
    base_class: str
    inside: int
    records: int
    purity: float

    @property
    def words(self) -> str:
        """``"'cat' (14 of its 14 added records sit inside base class 'malignant'; 88% of that class's own
        records do)"``."""
        if not self.base_class:
            return f"{self.label!r} (the run gave no neighbours to tell it from a base class)"
        return (
            f"{self.label!r} ({self.inside} of its {self.records} added record(s) sit inside base class "
            f"{self.base_class!r}; {self.purity:.0%} of that class's own records do)"
        )


def inside_classes(
    profile: ReferenceProfile,
    neighbours: tuple[np.ndarray, np.ndarray] | None,
    labels: Sequence[str | None],
    rows: Sequence[int],
    k: int,
) -> dict[str, Inside | None]:
    """For each label of ``rows`` (positions of added records of listed classes in the delta), the base class it
    sits inside (``Inside``: judge its records in full), or None (judge them on class-free evidence).

    ``neighbours`` is each delta record's nearest base sample records, ``(idx, dist)`` (n x K, -1 / inf where
    none; ``detectors.shared.reference_neighbours``); None when the run did not say: every label is then
    ``Inside`` with no base class (fail closed). ``k`` voters per record (``knn_label.VOTERS``).
    """
    by_label: dict[str, list[int]] = {}
    for i in rows:
        by_label.setdefault(str(labels[i]), []).append(i)
    if neighbours is None:
        return {label: Inside(label, "", 0, len(at), 1.0) for label, at in by_label.items()}
    sample_labels = profile.sample_labels.astype(np.int64)
    classes = len(profile.classes)
    reach = _reach(profile, sample_labels)
    own_inside = inside_of(sample_labels, profile.nn_idx, profile.nn_dist, reach, k, np.full(len(sample_labels), -1))
    idx, dist = neighbours
    out: dict[str, Inside | None] = {}
    for label, at in sorted(by_label.items()):
        own = int(profile.label_indexes([label])[0])  # -1 when the base has none of it
        inside = inside_of(sample_labels, idx[at], dist[at], reach, k, np.full(len(at), own))
        counts = np.bincount(inside[inside >= 0], minlength=classes)
        out[label] = None
        for c in sorted(range(classes), key=lambda c: -counts[c]):
            of = sample_labels == c
            purity = float((own_inside[of] == c).mean()) if c != own and of.any() else 1.0
            if c != own and counts[c] and counts[c] >= purity * len(at):
                out[label] = Inside(label, str(profile.classes[c]), int(counts[c]), len(at), purity)
                break
    return out


def inside_of(
    sample_labels: np.ndarray, idx: np.ndarray, dist: np.ndarray, reach: np.ndarray, k: int, own: np.ndarray
) -> np.ndarray:
    """The base class each record sits inside (see the module), -1 where none (r,).

    ``idx``/``dist`` (r x K): its nearest sample records, nearest first (-1 / inf where none); ``own`` (r,): a
    label whose voters are left out (-1: none); the first ``k`` other voters vote; ``reach`` (classes,)."""
    r = len(idx)
    if r == 0 or idx.shape[1] == 0:
        return np.full(r, -1, dtype=np.int64)
    idx = np.asarray(idx, dtype=np.int64)
    voter = np.where(idx >= 0, sample_labels[np.maximum(idx, 0)], -1)
    voting = (voter >= 0) & (voter != own[:, None])
    voting &= np.cumsum(voting, axis=1) <= k
    classes = len(reach)
    onehot = (voter[:, :, None] == np.arange(classes)[None, None, :]) & voting[:, :, None]
    counts = onehot.sum(axis=1)
    top = counts.argmax(axis=1)
    majority = 2 * counts[np.arange(r), top] > voting.sum(axis=1)
    near = np.where(onehot[np.arange(r), :, top], np.asarray(dist, dtype=np.float64), np.inf).min(axis=1)
    return np.where(majority & (near <= reach[top]), top, -1)


def _reach(profile: ReferenceProfile, sample_labels: np.ndarray) -> np.ndarray:
    """Per base class, ``REACH_QUANTILE`` of its sample records' distances to their nearest record of the class in
    another pseudo-batch (``own_class_nn_dist``); -inf (no record reaches) for a class with none."""
    own = np.asarray(profile.own_class_nn_dist, dtype=np.float64)
    reach = np.full(len(profile.classes), -np.inf)
    for c in range(len(profile.classes)):
        finite = own[(sample_labels == c) & np.isfinite(own)]
        if len(finite):
            reach[c] = float(np.quantile(finite, REACH_QUANTILE))
    return reach
