"""Whether a listed new class's added records lie where base classes' records lie, as those classes' own do.

A class the policy lists (``[class_mix] expected_new_classes``) is judged on class-free evidence only
(``gate.class_free``) because the base cannot say where its records should lie. That holds for a class that is
new, not for records that sit among base classes' records: 14 malignant base records copied with every value
8% larger and labelled "cat" passed as a new class (attack review 32a, A32a-7), the originals kept.

A record *sits inside* base class C when most of its ``knn_label.VOTERS`` nearest base records (records of the
listed class itself aside, for a class the base holds a few of) are C's, however far they lie: a distance cap is a
step the attacker takes (A32d-2: copies 30% larger lay beyond malignant's own distances, their voters all
malignant). A listed class sits inside the base classes its records sit inside when the share of its added
records that sit inside any of them reaches those classes' pooled *purity* (or the share inside one of them
reaches that class's own), the share of their own sample records
that sit inside their own class by the same test (their neighbours in the other pseudo-batches voting: the
profile's ``nn_idx``): one class counted alone let copies split across two classes pass (A32d-1). It is then judged
in full (its class-conditional evidence kept, as for a class the base holds). The test fails closed: a run that
does not give the records' neighbours judges every listed class in full. Its price: a genuine new class whose
records have one base class's records for most of their neighbours, or a mix of the base's classes (review 31d's 30
real breast-cancer records labelled "cat"), is judged in full too; ``bench/class_inside_new_classes.py`` counts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from provenance.profiles.reference import ReferenceProfile


@dataclass(frozen=True)
class Inside:
    """A listed class ``label`` whose added records sit inside base classes ``base_classes`` (most-held first):
    ``inside`` of its ``records`` added records sit inside one of them, at least the share ``purity`` of those
    classes' own sample records that do (pooled). ``base_classes`` is empty when the run gave no neighbours (judged
    in full, unexamined)."""

    label: str
    base_classes: tuple[str, ...]
    inside: int
    records: int
    purity: float

    @property
    def base_class(self) -> str:
        """The base classes as one string (``"malignant"``, ``"malignant, benign"``); empty when unexamined."""
        return ", ".join(self.base_classes)

    @property
    def words(self) -> str:
        """``"'cat' (14 of its 14 added record(s) sit inside base class 'malignant'; 88% of that class's own
        records do)"``; with several classes ``"... sit inside base classes 'benign', 'malignant'; 93% of those
        classes' own records do)"``."""
        if not self.base_classes:
            return f"{self.label!r} (the run gave no neighbours to tell it from a base class)"
        if len(self.base_classes) == 1:
            where, whose = f"base class {self.base_classes[0]!r}", "that class's"
        else:
            where, whose = "base classes " + ", ".join(map(repr, self.base_classes)), "those classes'"
        return (
            f"{self.label!r} ({self.inside} of its {self.records} added record(s) sit inside {where}; "
            f"{self.purity:.0%} of {whose} own records do)"
        )


def inside_classes(
    profile: ReferenceProfile,
    neighbours: tuple[np.ndarray, np.ndarray] | None,
    labels: Sequence[str | None],
    rows: Sequence[int],
    k: int,
) -> dict[str, Inside | None]:
    """For each label of ``rows`` (positions of added records of listed classes in the delta), the base classes it
    sits inside (``Inside``: judge its records in full), or None (judge them on class-free evidence).

    ``neighbours`` is each delta record's nearest base sample records, ``(idx, dist)`` (n x K, -1 / inf where
    none; ``detectors.shared.reference_neighbours``); None when the run did not say: every label is then
    ``Inside`` with no base class (fail closed). ``k`` voters per record (``knn_label.VOTERS``).
    """
    by_label: dict[str, list[int]] = {}
    for i in rows:
        by_label.setdefault(str(labels[i]), []).append(i)
    if neighbours is None:
        return {label: Inside(label, (), 0, len(at), 1.0) for label, at in by_label.items()}
    sample_labels = profile.sample_labels.astype(np.int64)
    classes = len(profile.classes)
    own_inside = inside_of(sample_labels, profile.nn_idx, classes, k, np.full(len(sample_labels), -1))
    idx, _ = neighbours
    out: dict[str, Inside | None] = {}
    for label, at in sorted(by_label.items()):
        own = int(profile.label_indexes([label])[0])  # -1 when the base has none of it
        inside = inside_of(sample_labels, idx[at], classes, k, np.full(len(at), own))
        counts = np.bincount(inside[inside >= 0], minlength=classes)
        held = [c for c in sorted(range(classes), key=lambda c: (-counts[c], c)) if counts[c] and c != own]
        # all the classes its records sit inside, pooled, then each alone (a pure class beside an impure one)
        out[label] = next(
            (
                i
                for i in (
                    _judged(profile, own_inside, counts, group, len(at), label)
                    for group in [held, *([c] for c in held)]
                )
                if i
            ),
            None,
        )
    return out


def _judged(
    profile: ReferenceProfile, own_inside: np.ndarray, counts: np.ndarray, group: list[int], n: int, label: str
) -> Inside | None:
    """``Inside`` when ``label``'s records inside the base classes ``group`` (``counts`` per class, of ``n``) are at
    least the share of those classes' own sample records inside their own class (``own_inside``), else None."""
    sample_labels = profile.sample_labels.astype(np.int64)
    of = np.isin(sample_labels, group)
    if not group or not of.any():
        return None
    purity = float((own_inside[of] == sample_labels[of]).mean())
    total = int(counts[group].sum())
    names = tuple(str(profile.classes[c]) for c in group)
    return Inside(label, names, total, n, purity) if total >= purity * n else None


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
