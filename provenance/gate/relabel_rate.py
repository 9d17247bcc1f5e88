"""Rule ``relabels.max_relabel_rate_per_source``: no source may relabel more than a share of its kept records.

A declared relabelling source's relabels of others' records within its allowance (``[relabels] relabelling_sources``)
are left to ``relabels.max_relabels_of_others_records`` (``gate.relabel_owners``); this module sits beside both so
``gate.rules`` does not import ``gate.relabel_owners``, which imports it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.gate.base import Rule, Setting, Settings
from provenance.gate.relabel_owners import rates_within_allowances
from provenance.gate.results import LISTED, RuleResult
from provenance.gate.rules import FRACTION, RELABELLING_SOURCES, ParameterRule, setting_value
from provenance.report.wording import NO_SOURCE_RECORDS, source_name, source_subject

if TYPE_CHECKING:
    from provenance.gate.context import GateContext


def with_own_removed_twins(ctx: GateContext, by_source: list[dict]) -> list[dict]:
    """``by_source`` with each source's own removed records re-added under another label (``gate.removed_twins``:
    ``RelabelsAcrossRemovals.own``) counted as relabels of its kept records (attack review 34b, A34b-5): its
    ``relabeled`` grows by them and ``relabel_rate`` is recomputed over its kept records (``base - removed``). Raises
    ``VerificationError`` as ``removed_twins.relabels_across_removals`` does."""
    from provenance.gate.removed_twins import relabels_across_removals

    own = relabels_across_removals(ctx).own_by_source()
    out = []
    for r in by_source:
        extra = own.get(r["source"] or "", 0)
        if extra:
            relabeled = r["relabeled"] + extra
            r = r | {"relabeled": relabeled, "relabel_rate": relabeled / max(1, r["base"] - r["removed"] + extra)}
        out.append(r)
    return out


class MaxRelabelRatePerSource(ParameterRule):
    """No source may have more than this share of its kept records relabeled."""

    key = "relabels.max_relabel_rate_per_source"
    settings = (
        Setting(
            "relabels", "max_relabel_rate_per_source", FRACTION, 0.05, "share of a source's kept records relabeled"
        ),
        RELABELLING_SOURCES,
    )

    def __init__(self, rate: float, relabelling_sources: dict[str, int] | None = None):
        self.rate = rate
        self.relabelling_sources = dict(relabelling_sources or {})

    @classmethod
    def from_settings(cls, settings: Settings) -> Rule | None:
        """The rule with the policy's rate and relabelling sources; None when the rate is unset."""
        rate = setting_value(settings, cls.settings[0])
        return None if rate is None else cls(rate, setting_value(settings, cls.settings[1]))

    def check(self, ctx: GateContext) -> RuleResult:
        """Block naming each source above the rate and its relabeled records; a declared relabelling source's
        relabels of others' records within its allowance are left out (``relabel_owners.rates_within_allowances``)."""
        by_source = with_own_removed_twins(
            ctx, rates_within_allowances(ctx, ctx.report["by_source"], self.relabelling_sources)
        )
        allowed = f"allowed {100 * self.rate:.1f}%"
        expected = f"at most {100 * self.rate:g}% per source"
        offenders = [r for r in by_source if r["relabel_rate"] > self.rate and r["relabeled"] > 0]
        if not offenders:
            worst = max(by_source, key=lambda r: r["relabel_rate"], default=None)
            if worst is None:
                return RuleResult(self.key, "pass", f"no kept records to relabel, {allowed}", expected=expected)
            reason = (
                f"highest relabel rate {100 * worst['relabel_rate']:.2f}% "
                f"({source_subject(worst['source'], worst.get('named_by'))}), {allowed}"
            )
            return RuleResult(self.key, "pass", reason, expected=expected)
        names = {r["source"] for r in offenders}
        reason = ", ".join(
            f"{r['relabeled']} {NO_SOURCE_RECORDS} relabeled ({100 * r['relabel_rate']:.1f}% of those kept)"
            if r["source"] in (None, "")  # records of no source are not a source (newcomer review 29)
            else f"source {source_name(r['source'], r.get('named_by'))} relabeled {r['relabeled']} of its kept records "
            f"({100 * r['relabel_rate']:.1f}%)"
            for r in offenders
        )
        records = [c for c in ctx.report["changes"]["relabeled"] if c.get("source") in names][:LISTED]
        count = sum(r["relabeled"] for r in offenders)
        return RuleResult(self.key, "block", f"{reason}, {allowed}", records, count, expected=expected)
