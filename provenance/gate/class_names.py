"""How the gate names classes: the base's classes and how many records of each its profile sample holds, the
policy's expected new classes it already holds, and labels compared as a training pipeline compares them (NFKC,
case folding, stripping; attack review 32a, A32a-5). Split from ``gate.detection_common`` so ``gate.class_free``
can use them without an import cycle.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from provenance.profiles.reference import ReferenceProfile

JUDGED_FROM = 10


def base_class_records(profile: ReferenceProfile) -> dict[str, int]:
    """``{label: records of it in the base's profile sample}`` (distinct records the detectors judge a delta by;
    the profile is checked against the base's signed statement, ``profiles.loading.load_profile``)."""
    counts = np.bincount(profile.sample_labels.astype(np.int64), minlength=len(profile.classes))
    return {label: int(counts[i]) for i, label in enumerate(profile.classes)}


def expected_classes_held(profile: ReferenceProfile, expected: Sequence[str]) -> dict[str, int]:
    """``{label: base sample records}`` of the policy's expected new classes the base already holds at least
    ``JUDGED_FROM`` records of: their records are judged against the base like any other's."""
    held = base_class_records(profile)
    return {label: held[label] for label in dict.fromkeys(expected) if held.get(label, 0) >= JUDGED_FROM}


def class_key(label: str) -> str:
    """``label`` as labels are compared when deciding whether a class is new: NFKC-normalised, case folded and
    stripped of surrounding white space. A training pipeline that strips or lower-cases its labels reads
    "malignant " and "Malignant" as "malignant" (attack review 32a, A32a-5)."""
    return unicodedata.normalize("NFKC", label).casefold().strip()


def spelled_as_base(base_classes: Iterable[str], labels: Iterable[str]) -> dict[str, str]:
    """``{label: base class}`` for each of ``labels`` that equals another of ``base_classes`` under
    :func:`class_key` (the first such, in sorted order): not a new class, whatever the policy lists."""
    by_key: dict[str, list[str]] = {}
    for base in sorted(map(str, base_classes)):
        by_key.setdefault(class_key(base), []).append(base)
    out = {}
    for label in dict.fromkeys(map(str, labels)):
        other = [b for b in by_key.get(class_key(label), []) if b != label]
        if other:
            out[label] = other[0]
    return out


def spelled_words(spelled: dict[str, str], then: str = "are judged against the base") -> str:
    """The words a rule's reason adds when the policy lists a base class spelled otherwise (``spelled``)."""
    if not spelled:
        return ""
    named = ", ".join(f"{label!r} (base class {base!r} spelled otherwise)" for label, base in spelled.items())
    return (
        f"; [class_mix] expected_new_classes lists {named}: labels are compared after NFKC, case folding and "
        f"stripping, so it is not a new class and its records {then}"
    )
