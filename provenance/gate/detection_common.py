"""Pieces the detector rules (``provenance.gate.detection``) share: the policy's ``[detectors]``
settings, the name of the combined verdict, the records of expected new classes and the rules'
base classes, and the records a rule names (``flagged_records``). Split from ``gate.detection``
to keep each module small; ``gate.detection`` re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from provenance import stats
from provenance.gate.base import Rule, Setting
from provenance.gate.class_names import (
    JUDGED_FROM,
    expected_classes_held,
    spelled_as_base,
    spelled_words,
)
from provenance.gate.rules import BOOLEAN, COUNT

if TYPE_CHECKING:
    from provenance.detectors.pipeline import Detection
    from provenance.gate.class_inside import Inside
    from provenance.gate.context import DetectionRun, GateContext

RUN = Setting(
    "detectors",
    "run",
    {"anyOf": [{"const": "all"}, {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}]},
    "all",
    'detectors that must run: "all" or a list of names',
    expects='"all" or a non-empty list of detector names',
)
PROBABILITY = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
FPR = Setting(
    "detectors", "fpr", PROBABILITY, 0.01, "false-positive rate the combined per-record verdict is calibrated to"
)
ALPHA = Setting(
    "detectors",
    "alpha",
    PROBABILITY,
    0.001,
    "block when the verdict flags more records than its FPR explains at this level",
)
EXTREME_ALPHA = Setting(
    "detectors",
    "extreme_alpha",
    PROBABILITY,
    0.01,
    "block on any record whose extreme evidence (a label nothing supports, an empty record, a copy flood, "
    "a source spike, a near copy of a base record of another class) has p <= extreme_alpha / n, whatever the budget",
)
MAX_FLAGGED = Setting(
    "detectors", "max_flagged", COUNT, None, "a hard cap on the records the combined verdict may flag"
)
ENABLED = Setting("detectors", "enabled", BOOLEAN, True, "run the detectors at all")
TIGHT_CLUSTER = Setting(
    "detectors",
    "duplicates_tight_cluster",
    BOOLEAN,
    True,
    "the duplicates detector's tight-cluster rule (a flood of copies blocks alone); false only for data that "
    "repeats its values, as the detectors.duplicates rule's reason suggests when the base does",
)
COMBINED = "combined"  # the name waivers and findings use for the combined verdict


def flag_budget(n: int, fpr: float, alpha: float, max_flagged: int | None = None) -> int:
    """The most flags a clean delta of ``n`` records gives at false-positive rate ``fpr``,
    except with probability ``alpha`` (``stats.binomial_upper_limit``), capped at ``max_flagged``."""
    budget = stats.binomial_upper_limit(n, fpr, alpha)
    return budget if max_flagged is None else min(budget, max_flagged)


# A listed class is excused from the detectors only while the base's profile sample holds fewer records of it
# than knn_label's voters (``detectors.knn_label.VOTERS``, the extreme rule's ``BASE_VOTERS``): with fewer,
# even a clean record of the class finds other classes among its nearest base records, so the base cannot
# judge it; with as many, its own class can fill its vote, and a record labelled into it that lies among
# another class is what the detectors exist to catch (newcomer review 29, finding 1: listing a class excused
# its records forever, and 15 class-0 wines labelled 2 passed against a base holding 48 of class 2).
def expected_class_rows(detection: Detection, expected: Sequence[str], held: Collection[str] = ()) -> list[int]:
    """Positions of the delta's *added* records whose label the policy expects to be new
    (``class_mix.expected_new_classes``) and the base does not hold (labels in ``held``, from
    ``expected_classes_held``, are judged in full): the base has (almost) nothing of their class to judge them
    by, so they are judged on class-free evidence only (``gate.class_free``). A relabeled base record never is
    (attack review 31a, A31a-4: 19 malignant records relabeled into a listed class passed every rule)."""
    from provenance.gate.class_free import added_rows_of

    return added_rows_of(detection, set(expected) - set(held))


def held_words(
    held: dict[str, int], then: str = "are judged against the base", counted_in: str = "its profile sample"
) -> str:
    """The words a rule's reason adds when the policy lists classes the base already holds (``held``, counted in
    ``counted_in``): "...; so its records ``then``"."""
    if not held:
        return ""
    named = ", ".join(f"{label!r} ({n} records)" for label, n in held.items())
    return (
        f"; [class_mix] expected_new_classes lists {'classes' if len(held) > 1 else 'class'} {named} the base "
        f"already holds (at least {JUDGED_FROM} in {counted_in}), so {'their' if len(held) > 1 else 'its'} "
        f"records {then}"
    )


def flagged_records(
    detection: Detection,
    waived: set[tuple[str, str, str | None]],
    extreme_p: float | None = None,
    left_out: set[str] | frozenset[str] = frozenset(),
) -> list[dict]:
    """The records the combined verdict flags (or, with ``extreme_p``, whose extreme p-value
    is at most it) and no waiver covers, highest score first.

    A record is waived by a waiver naming its row (digest and label, ``Waivers.waived``) and
    ``combined``, or one of the detectors that flag it on their own; records in ``left_out`` (digests a caller excludes)
    are never listed. Each is ``{"digest": hex, "detector":
    "combined", "score": 1 - p rounded to 6 places, "p_value", "extreme_p", "explanation",
    "detectors": [{"detector", "score", "flagged"}]}``.
    """
    records = []
    labels = detection.labels or []
    for i, v in enumerate(detection.verdicts.records):
        if not (v.flagged if extreme_p is None else v.extreme_p <= extreme_p):
            continue
        label = labels[i] if i < len(labels) else None  # one digest under two labels is two rows (T9b-1)
        names = {COMBINED} | {d["detector"] for d in v.detectors if d["flagged"]}
        if v.digest in left_out or any((v.digest, name, label) in waived for name in names):
            continue
        records.append(
            {
                "digest": v.digest,
                "label": label,  # the scored row's: one digest under two labels is two rows (S10b-1)
                "detector": COMBINED,
                "score": round(v.score, 6),
                "p_value": v.p_value,
                "extreme_p": v.extreme_p,
                "explanation": v.explanation,
                "detectors": v.detectors,
            }
        )
    return sorted(records, key=lambda x: -x["score"])


def class_free_count(detection: Detection) -> int:
    """How many of ``detection``'s records were judged on class-free evidence only (``gate.class_free``)."""
    from provenance.gate.class_free import ClassFreeJudged

    return len(detection.rows) if isinstance(detection, ClassFreeJudged) else 0


def removes_base_records(ctx: GateContext) -> bool:
    """Whether the delta lacks any base record (``gate.removals.removed_from_base``) or the candidate lacks records
    a signed ancestor of the base held (``gate.ancestry_removed``). Then no added record of an expected new class
    is judged on class-free evidence: base records removed and delivered again in a listed class, their values
    nudged, are a relabel by content that no digest pairs (attack review 31d, A31d-5: 14 malignant records re-added
    as "cat", 8% larger, passed), whether the removal is in this delta or was committed apart before the base
    (attack review 32a, A32a-1). Fail closed: a genuine new class arrives on a version whose history removed
    nothing, or its records are reviewed and waived."""
    from provenance.gate.ancestry_removed import ancestry_removal
    from provenance.gate.removals import removed_from_base

    return removed_from_base(ctx, ctx.report["summary"]) > 0 or ancestry_removal(ctx) is not None


def removal_facts(ctx: GateContext) -> dict:
    """What :func:`removes_base_records` found, for a rule's statistic (``listed_in_full.removal``):
    ``{"removed_from_base": n, "ancestor": tag or None, "ancestor_records": n, "problem": str or None}``."""
    from provenance.gate.ancestry_removed import ancestry_removal
    from provenance.gate.removals import removed_from_base

    found = ancestry_removal(ctx)
    return {
        "removed_from_base": removed_from_base(ctx, ctx.report["summary"]),
        "ancestor": found.version if found is not None else None,
        "ancestor_records": found.records if found is not None else 0,
        "problem": (found.problem or None) if found is not None else None,
    }


def removal_words(ctx: GateContext, listed: bool) -> str:
    """The words a rule's reason adds when the delta adds records of expected new classes (``listed``) that are
    judged in full because the delta or the base's signed ancestry removes base records
    (:func:`removes_base_records`)."""
    if not listed or not removes_base_records(ctx):
        return ""
    facts = removal_facts(ctx)
    where = []
    if facts["removed_from_base"]:
        where.append(f"the delta removes {facts['removed_from_base']} base record(s)")
    if facts["problem"]:
        where.append(f"the base's signed ancestry does not verify ({facts['problem']})")
    elif facts["ancestor"]:
        where.append(
            f"{facts['ancestor']}, a signed ancestor of the base, held {facts['ancestor_records']} record(s) "
            "the candidate lacks"
        )
    return (
        f"; {' and '.join(where)}, so added records of [class_mix] expected_new_classes are judged in full "
        "(removed records re-added in a listed class are a relabel no digest pairs, whether removed in this delta "
        "or in a version before)"
    )


def class_free_words(detection: Detection) -> str:
    """The words a rule's reason adds for the records of expected new classes judged on class-free evidence."""
    n = class_free_count(detection)
    return (
        f"; {n} added record(s) of expected new classes judged on class-free evidence only (not against their "
        "class's base records)"
        if n
        else ""
    )


def listed_inside(ctx: GateContext, detection: Detection, rows: Sequence[int]) -> dict[str, Inside | None]:
    """For each label of ``rows`` (added records of listed classes the base does not hold), the base class its
    records sit inside (``gate.class_inside``: judged in full), or None (judged on class-free evidence)."""
    from provenance.detectors.knn_label import VOTERS
    from provenance.gate.class_inside import inside_classes

    return inside_classes(
        ctx.base_profile, detection.base_neighbours, detection.features, detection.labels, rows, VOTERS
    )


def inside_words(inside: dict[str, Inside | None]) -> str:
    """The words a rule's reason adds for listed classes whose added records sit inside one base class."""
    named = [i for i in inside.values() if i is not None]
    if not named:
        return ""
    return (
        f"; [class_mix] expected_new_classes lists {', '.join(i.words for i in named)}: a new class is not a copy "
        f"of one base class, so {'their' if len(named) > 1 else 'its'} added records are judged in full"
    )


class DetectorRule(Rule):
    """A rule on the detection run the policy asks for: ``run`` (names) at ``fpr``, the duplicates
    detector's tight-cluster rule on unless ``tight_cluster`` is false."""

    tight_cluster = True  # the policy's detectors.duplicates_tight_cluster (rules() sets it on every rule)
    extreme_alpha: float = EXTREME_ALPHA.default  # the policy's: the run searches copies to its bar (rules() sets it)

    def __init__(self, run: Sequence[str], fpr: float):
        self.run, self.fpr = list(run), fpr

    def ran(self, ctx: GateContext) -> DetectionRun:
        """The detection run (``GateContext.detection``) with this policy's options."""
        return ctx.detection(self.run, self.fpr, self.tight_cluster, self.extreme_alpha)

    def detection(self, ctx: GateContext) -> Detection:
        """The run's detection (only evaluated after ``DetectorsRun`` passed, so it exists)."""
        detection = self.ran(ctx).detection
        if detection is None:
            raise ValueError(f"{self.name} evaluated although the detectors did not run")
        return detection


class RecordsAtLevelRule(DetectorRule):
    """A detector rule that judges the delta's records at a level ``alpha`` (its own setting: the
    policy's ``detectors.alpha`` or ``extreme_alpha``). Records added in the classes the policy expects to be
    new (``expected_classes``, ``class_mix.expected_new_classes``) while the base has (almost) nothing to judge
    them by (fewer than ``JUDGED_FROM`` in its profile sample) are judged on class-free evidence only
    (``gate.class_free``), never left out."""

    def __init__(self, run: Sequence[str], fpr: float, alpha: float, expected_classes: Sequence[str] = ()):
        super().__init__(run, fpr)
        self.alpha, self.expected_classes = alpha, list(expected_classes)
        self._inside: tuple[tuple, dict[str, Inside | None]] | None = None

    def held(self, ctx: GateContext) -> dict[str, int]:
        """The expected new classes the base already holds enough of to judge (``expected_classes_held``)."""
        return expected_classes_held(ctx.base_profile, self.expected_classes) if self.expected_classes else {}

    def spelled(self, ctx: GateContext) -> dict[str, str]:
        """The expected new classes that are base classes spelled otherwise (:func:`spelled_as_base`)."""
        return spelled_as_base(ctx.base_profile.classes, self.expected_classes) if self.expected_classes else {}

    def detection(self, ctx: GateContext) -> Detection:
        """The run's detection, its added records of expected new classes the base does not hold judged on
        class-free evidence (``class_free.judge_class_free``), but for a class whose added records sit inside one
        base class (``gate.class_inside``) and all of them when the delta or the base's signed ancestry removes
        base records (:func:`removes_base_records`). Made once and kept in the run, so every rule after this one,
        the report's findings and the waivers' effects read the verdicts the rules judged by."""
        from provenance.gate.class_free import ClassFreeJudged, judge_class_free

        detection = super().detection(ctx)
        if isinstance(detection, ClassFreeJudged) or not self.expected_classes:
            return detection
        rows, inside = self.listed(ctx, detection)
        rows = [i for i in rows if inside.get(str(detection.labels[i])) is None]
        if not rows or removes_base_records(ctx):
            return detection
        judged = judge_class_free(detection, ctx.base_profile, rows)
        self.ran(ctx).detection = judged
        return judged

    def listed(self, ctx: GateContext, detection: Detection) -> tuple[list[int], dict[str, Inside | None]]:
        """The added records of expected new classes the base does not hold (``expected_class_rows``) and, per
        label, the base class they sit inside (:func:`listed_inside`; read once per run)."""
        rows = expected_class_rows(detection, self.expected_classes, {**self.held(ctx), **self.spelled(ctx)})
        if not rows:
            return rows, {}
        key = (id(self.ran(ctx)), tuple(rows))
        if self._inside is None or self._inside[0] != key:
            self._inside = (key, listed_inside(ctx, detection, rows))
        return rows, self._inside[1]

    def listed_in_full(self, ctx: GateContext, detection: Detection) -> dict:
        """Why added records of listed classes the base does not hold were judged in full all the same, for the
        rule's statistic (the next steps read it): ``{"records": n, "removal": removal_facts or None, "inside":
        {label: base class its records sit inside}, "spelled_as_base": {label: base class}}``; ``records`` counts
        the listed classes' added records judged in full (0: none)."""
        rows, inside = self.listed(ctx, detection) if self.expected_classes else ([], {})
        removal = removal_facts(ctx) if rows and removes_base_records(ctx) else None
        sits = {label: i.base_class for label, i in inside.items() if i is not None}
        judged = len(rows) if removal else sum(1 for i in rows if str(detection.labels[i]) in sits)
        return {
            "records": judged,
            "removal": removal,
            "inside": sits,
            "spelled_as_base": self.spelled(ctx),
            "unlisted_inside": self.unlisted_inside(ctx, detection),
        }

    def unlisted_inside(self, ctx: GateContext, detection: Detection) -> dict[str, str]:
        """``{label: base classes}`` for the added classes the base's profile sample holds fewer than
        ``JUDGED_FROM`` of, neither listed nor base classes spelled otherwise, whose added records sit inside base
        classes (:func:`listed_inside`): listed, they would be judged in full all the same, so the next steps say
        so instead of offering the listing (newcomer review 33, finding 3: 'tropical wave' listed left 152 flagged).
        Empty when none."""
        added = {str(detection.labels[i]) for i in range(len(detection.labels)) if detection.labels[i] is not None}
        known = {*self.expected_classes, *spelled_as_base(ctx.base_profile.classes, sorted(added))}
        candidates = sorted(added - known)
        held = expected_classes_held(ctx.base_profile, candidates)
        new = [c for c in candidates if c not in held]
        rows = expected_class_rows(detection, new)
        inside = listed_inside(ctx, detection, rows) if rows else {}
        return {label: i.base_class for label, i in inside.items() if i is not None}

    def not_judged(self, ctx: GateContext, detection: Detection) -> str:
        """The words the rule's reason adds for the records judged on class-free evidence, the listed classes the
        base holds and those whose records sit inside a base class (judged in full), and a removal."""
        rows, inside = self.listed(ctx, detection) if self.expected_classes else ([], {})
        removal = removal_words(ctx, bool(rows))
        said = class_free_words(detection) + held_words(self.held(ctx)) + spelled_words(self.spelled(ctx))
        return said + (removal or inside_words(inside))
