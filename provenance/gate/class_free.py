"""Records added in an expected new class, judged on the evidence that does not read their class.

A class the policy lists (``[class_mix] expected_new_classes``) and the base holds (almost) none of cannot be
judged by the detectors that compare a record with its own class's base records: ``knn_label`` finds its label
nowhere near it, ``collision``, ``spectral`` and ``gradient`` have no class to measure it against. Those records
once left every detector rule, and 30 records a thousandfold beyond every base value passed once their class was
listed, as the class-mix block's own next step advised (attack review 31a, A31a-3). Now only that class-conditional
evidence is set aside: the records stay in the combined verdict and in ``detectors.extreme`` on the evidence of the
class-free detectors (``outlier``, ``duplicates``, ``volume``) and of every plug-in (whose use of labels prov cannot
know: kept, so the gate fails closed). Only *added* records are excused: a base record relabeled into a listed class
is judged like any relabel (A31a-4), as its content is the base's and its neighbours' labels are known.

The verdicts are combined again with the class-conditional detectors' p-values of those records set to 1
(``detectors.combine.combine``, the reference unchanged): a record's statistic is then the least of the class-free
detectors' evidence, calibrated against the same reference as every other record's, which can only raise its
combined p-value (a valid, conservative test).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from provenance.detectors.pipeline import Detection

if TYPE_CHECKING:
    from provenance.detectors.base import DetectorResult
    from provenance.profiles.reference import ReferenceProfile

# The built-in detectors that judge a record against the base records of its own label; every other built-in
# (``CLASS_FREE``) reads its content, its copies or its source alone. A new built-in detector must be named in
# one of the two (tests/unit/gate/test_class_free.py).
CLASS_CONDITIONAL = ("knn_label", "collision", "spectral", "gradient")
CLASS_FREE = ("outlier", "duplicates", "volume")
EVIDENCE_ARRAYS = ("p_values", "extreme_p", "extreme_p_rule_off")


@dataclass
class ClassFreeJudged(Detection):
    """A check's detection whose verdicts on ``rows`` (added records of expected new classes) were combined
    without the class-conditional detectors' evidence (see the module)."""

    rows: tuple[int, ...] = ()

    @cached_property
    def columns(self) -> list[tuple[list[float], list[bool]]]:
        """Each result's (scores, flags), the class-conditional detectors' flags on ``rows`` cleared as the verdicts'
        own detector entries are (``judge_class_free``): the stored run (``prov findings``) lists what the check
        judged by, not a knn_label flag the check set aside (attack review 31d, A31d-2)."""
        out = []
        for result in self.results:
            scores, flags = result.columns()
            if is_class_conditional(result) and self.rows:
                flags = list(flags)
                for i in self.rows:
                    if i < len(flags):
                        flags[i] = False
            out.append((scores, flags))
        return out

    @property
    def classes(self) -> list[str]:
        """The labels of ``rows``, sorted: what the stored run names (``class_free``) so that ``prov findings
        --recompute`` judges the same records the same way (:func:`rejudged`)."""
        return sorted({str(self.labels[i]) for i in self.rows})


def added_rows_of(detection: Detection, classes: Collection[str]) -> list[int]:
    """Positions (in delta order) of ``detection``'s *added* records labelled one of ``classes``; relabeled and
    copied base records never (A31a-4), nor any record when the run does not say each record's kind."""
    kinds = detection.kinds or []
    wanted = set(classes)
    return [
        i
        for i, (label, kind) in enumerate(zip(detection.labels, kinds, strict=False))
        if kind == "added" and label in wanted
    ]


def is_class_conditional(result: DetectorResult) -> bool:
    """Whether ``result`` is one of provenance's own class-conditional detectors (a plug-in never is: kept)."""
    return not result.plug_in and result.detector in CLASS_CONDITIONAL


def without_class_evidence(results: Sequence[DetectorResult], rows: Sequence[int]) -> list[DetectorResult]:
    """``results`` with the class-conditional detectors' p-values and extreme p-values at ``rows`` set to 1 (no
    evidence); the other results as they are. Returns new results: the run's own are not changed."""
    out = []
    for result in results:
        if result.status != "ran" or not is_class_conditional(result):
            out.append(result)
            continue
        cleared: dict[str, Any] = {}
        for name in EVIDENCE_ARRAYS:
            values = getattr(result, name)
            if values is not None:
                values = np.array(values, dtype=np.float64, copy=True)
                values[list(rows)] = 1.0
                cleared[name] = values
        out.append(replace(result, **cleared))
    return out


def judge_class_free(detection: Detection, profile: ReferenceProfile, rows: Sequence[int]) -> ClassFreeJudged:
    """``detection`` with its verdicts on ``rows`` made again from class-free evidence (see the module).

    The other records keep their verdicts, and the verdicts' calibration (budget, "beyond the reference" bars)
    is the run's: the reference is the same. A record judged so names no class-conditional detector among
    those that flag it, and its explanation says why.
    """
    from provenance.detectors.combine import combine

    verdicts = detection.verdicts
    digests = [v.digest for v in verdicts.records]
    again = combine(
        without_class_evidence(detection.results, rows), verdicts.fpr, profile.sample_batches, None, digests
    )
    records = list(verdicts.records)
    conditional = {r.detector for r in detection.results if is_class_conditional(r)}
    for i in rows:
        v = again.records[i]
        v.detectors = [dict(d, flagged=False) if d["detector"] in conditional else d for d in v.detectors]
        v.explanation = (
            f"label {detection.labels[i]!r} is an expected new class: judged on class-free evidence only; "
            + v.explanation
        )
        records[i] = v
    kept = {f.name: getattr(detection, f.name) for f in fields(Detection)}
    return ClassFreeJudged(**(kept | {"verdicts": replace(verdicts, records=records)}), rows=tuple(rows))


def rejudged(detection: Detection, profile: ReferenceProfile, classes: Collection[str]) -> Detection:
    """``detection`` (a re-run of the detectors, ``prov findings --recompute``) judged as the check that stored the
    run judged it: its added records of ``classes`` (the stored run's ``class_free``) on class-free evidence;
    ``detection`` itself when ``classes`` is empty.

    Raises:
        VerificationError: a class no check excuses: one the base's signed profile holds enough of to judge
            (``JUDGED_FROM`` records in its sample), a base class spelled otherwise (``spelled_as_base``), or one
            whose added records sit inside a base class (``gate.class_inside``), so a run that names it was not
            stored by a check.
    """
    from provenance.detectors.knn_label import VOTERS
    from provenance.errors import VerificationError
    from provenance.gate.class_inside import inside_classes
    from provenance.gate.class_names import expected_classes_held, spelled_as_base

    if not classes:
        return detection
    rows = added_rows_of(detection, classes)
    inside = inside_classes(profile, detection.base_neighbours, detection.features, detection.labels, rows, VOTERS)
    refused = [
        *expected_classes_held(profile, list(classes)),
        *spelled_as_base(profile.classes, classes),
        *(label for label, sits in inside.items() if sits is not None),
    ]
    if refused:
        raise VerificationError(
            f"the stored run judges class(es) {', '.join(map(repr, dict.fromkeys(refused)))} on class-free "
            "evidence, but their added records sit inside a base class, or the base's signed profile holds them "
            "spelled otherwise or holds enough of them to judge in full: no prov check stored that run"
        )
    return judge_class_free(detection, profile, rows)


def class_free_extreme_labels(detection: Detection, records: Sequence[dict], threshold: float) -> dict[str, int]:
    """``{label: records}`` of ``records`` (``detectors.extreme``'s, each with ``digest`` and ``label``) whose
    extreme p-value stays at most ``threshold`` without the class-conditional detectors' evidence: what listing
    their class in ``expected_new_classes`` would not excuse (A31a-3: the class-mix block offered it for 30
    records a thousandfold beyond the base)."""
    from provenance.detectors.extreme import extreme_p_values

    at = {(v.digest, label): i for i, (v, label) in enumerate(zip(detection.verdicts.records, detection.labels))}
    rows = {at[key]: str(key[1]) for r in records if (key := (r["digest"], r.get("label"))) in at and key[1]}
    if not rows:
        return {}
    with_extreme = [
        r
        for r in without_class_evidence(detection.results, list(rows))
        if r.status == "ran" and r.extreme_p is not None
    ]
    if not with_extreme:
        return {}
    extreme = extreme_p_values(
        [np.asarray(r.extreme_p) for r in with_extreme],
        [r.extreme_is_label_based for r in with_extreme],
        None,
        [r.extreme_is_rule for r in with_extreme],
        [r.extreme_share for r in with_extreme],
    )
    out: dict[str, int] = {}
    for i, label in rows.items():
        if extreme[i] <= threshold:
            out[label] = out.get(label, 0) + 1
    return dict(sorted(out.items()))
