"""The release policy's class-mix rule: do the additions, all together and each source's, keep the base's class mix?

Classes the policy expects (``[class_mix] expected_new_classes``: new, or growing from a record or two) leave every
test while the base holds too few of them to say what their share should be (fewer than ``JUDGED_FROM`` records in
its signed manifest: ``listed_classes_held``); a listed class the base already holds in number stays in, so listing
it cannot carry a flood of it past the gate (attack review 30a), and so does one that is a base class spelled
otherwise (``detection_common.spelled_as_base``: "malignant " or "Malignant" beside "malignant", attack review 32a,
A32a-5), which the rule's statistic names (``spelled_as_base``) so that the next steps do not offer to list it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.delta.signals import HIGH_P, class_mix_signals
from provenance.gate.base import Rule, Setting, Settings
from provenance.gate.class_names import JUDGED_FROM, spelled_as_base, spelled_words
from provenance.gate.detection_common import held_words
from provenance.gate.results import RuleResult, Status
from provenance.gate.rules import EXPECTED_NEW_CLASSES, FRACTION, ParameterRule, setting_value

if TYPE_CHECKING:
    from provenance.gate.context import GateContext

IN_THE_TEST = "stay in the class-mix test"  # what held_words says of a listed class the base holds


class MinClassMixPValue(ParameterRule):
    """Block when the additions' class mix differs from the base's with p below ``min_p``.

    The tests are the diff's ``class_mix_shift`` signals (chi-square test of homogeneity, ``provenance.stats``): all
    additions, and each source's own (``delta.signals.class_mix_signals``). The rule blocks on the worst one, and only
    when the signal itself is flagged (significant *and* a large enough effect), so a huge delta's harmless shift does
    not block. Labels the policy expects (``expected_new_classes``) that the base holds fewer than ``JUDGED_FROM``
    of (``listed_classes_held``) leave every test, which is then made again, all additions' and each source's,
    without them.
    """

    key = "class_mix.min_p_value"
    settings = (
        Setting(
            "class_mix",
            "min_p_value",
            FRACTION,
            HIGH_P,
            "block when the additions' class mix differs from the base with p below this",
        ),
        EXPECTED_NEW_CLASSES,
    )

    def __init__(self, min_p: float, expected: list[str] | None = None):
        self.min_p, self.expected = min_p, list(expected or [])

    @classmethod
    def from_settings(cls, settings: Settings) -> Rule | None:
        """The rule with the policy's ``min_p_value`` and ``expected_new_classes``; None when unset."""
        min_p = setting_value(settings, cls.settings[0])
        return None if min_p is None else cls(min_p, setting_value(settings, EXPECTED_NEW_CLASSES))

    def check(self, ctx: GateContext) -> RuleResult:
        """Pass with nothing to test; else pass or block on the worst class-mix shift. With expected classes, the
        statistic carries ``expected_classes_judged`` (``{label: base records}``, the listed classes kept in); it
        always carries ``spelled_as_base`` (``{added label: base class}``, added classes that are base classes
        spelled otherwise) and ``new_classes`` (:func:`unlisted_new_classes`)."""
        held, counted_in = listed_classes_held(ctx, self.expected) if self.expected else ({}, "")
        in_base = [r["label"] for r in ctx.report["by_class"] if r["base"]]
        # added classes that are base classes spelled otherwise: listed, they stay in; the step offers no listing
        spelled = spelled_as_base(in_base, [r["label"] for r in ctx.report["by_class"] if r["added"]])
        spelled_listed = spelled_as_base(in_base, self.expected)
        left_out = [label for label in dict.fromkeys(self.expected) if label not in {**held, **spelled_listed}]
        if left_out:
            base = {r["label"]: r["base"] for r in ctx.report["by_class"]}
            shifts = [s.to_dict() for s in class_mix_signals(ctx.diff.added_by_source_class, base, left_out)]
        else:
            shifts = [s for s in ctx.report["signals"] if s["name"] == "class_mix_shift"]
        worst = min(
            (s for s in shifts if s["statistic"].get("p_value") is not None),
            key=lambda s: s["statistic"]["p_value"],
            default=None,
        )
        expected = f"p at least {self.min_p:g}"
        judged = held_words(held, IN_THE_TEST, counted_in) + spelled_words(spelled_listed, IN_THE_TEST)
        if worst is None:
            outside = f" outside the expected new classes ({', '.join(sorted(left_out))})" if left_out else ""
            return RuleResult(self.key, "pass", f"no additions{outside} to test{judged}", expected=expected)
        p = worst["statistic"]["p_value"]
        status: Status = "block" if p < self.min_p and worst["flagged"] else "pass"
        reason = f"{worst['explanation']} (p={p:.3g}, block below {self.min_p:g}){judged}{respelled_words(spelled)}"
        statistic = worst["statistic"] | ({"expected_classes_judged": held} if self.expected else {})
        statistic["spelled_as_base"] = spelled
        statistic["new_classes"] = unlisted_new_classes(ctx, self.expected, spelled)
        return RuleResult(self.key, status, reason, statistic=statistic, expected=expected)


def respelled_words(spelled: dict[str, str]) -> str:
    """What the reason adds for added labels that are base classes spelled otherwise (``{added label: base
    class}``): ``"; 'very good' is the base's 'Very Good' spelled otherwise"`` (newcomer review 34, finding 3: the
    reason said only that the class is new)."""
    said = ", ".join(f"{label!r} is the base's {base!r}" for label, base in spelled.items())
    return f"; {said} spelled otherwise (labels compared after NFKC, case folding and stripping)" if said else ""


def unlisted_new_classes(ctx: GateContext, expected: list[str], spelled: dict[str, str]) -> dict[str, int]:
    """``{label: added records}``: the added classes the base's signed manifest holds fewer than ``JUDGED_FROM``
    records of (the classes ``expected_new_classes`` would take out of the tests), neither listed in ``expected``
    nor a base class spelled otherwise (``spelled``). The next steps name only these for listing: they named the
    most over-represented class, one the base held and listing could not excuse (newcomer review 33, finding 3)."""
    listed = set(expected)
    return {
        r["label"]: r["added"]
        for r in ctx.report["by_class"]
        if r["added"]
        and r["base"] < JUDGED_FROM
        and r["label"] is not None
        and r["label"] not in listed
        and r["label"] not in spelled
    }


def listed_classes_held(ctx: GateContext, expected: list[str]) -> tuple[dict[str, int], str]:
    """The listed classes the base holds at least ``JUDGED_FROM`` records of, ``{label: records}``, and where they
    were counted: the base's manifest, verified against its signed Merkle root (the diff's base counts,
    ``ctx.report["by_class"]``), never the profile's sample. The sample is signed too, but it is cut (per class and
    in all, ``profiles.sample``), so a class the base holds in number could count fewer there and leave the test;
    the manifest holds at least as many as any sample of it, so a listed class is left out only when the base
    truly holds almost none (sec32)."""
    base = {r["label"]: r["base"] for r in ctx.report["by_class"]}
    held = {label: base[label] for label in dict.fromkeys(expected) if base.get(label, 0) >= JUDGED_FROM}
    return held, "its signed manifest"
