"""``detectors.combined``: no more records flagged by the combined verdict than a clean batch
explains. Split from ``provenance.gate.detection`` (which re-exports it) to keep each module small.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from provenance.errors import VerificationError
from provenance.gate.detection_common import (
    ALPHA,
    MAX_FLAGGED,
    RecordsAtLevelRule,
    class_free_count,
    flagged_records,
)
from provenance.gate.results import LISTED, RuleResult, Status
from provenance.gate.rules import verification_block
from provenance.gate.steps import judge_steps

if TYPE_CHECKING:
    from provenance.gate.context import GateContext


class CombinedFlagBudget(RecordsAtLevelRule):
    """No more records flagged by the combined verdict than a clean batch explains (``detectors.combined``).

    With ``n`` records at false-positive rate ``fpr``, the budget (``detectors.budget``)
    is the beta-binomial upper limit at ``alpha``, its overdispersion estimated from how
    the base's own pseudo-batches spread (natural drift between batches; binomial when they
    do not spread). A second count blocks too: records beyond every reference record
    past their own budget (the reference trimmed of its most extreme pseudo-batch, so one
    odd batch in the base cannot disarm it: ``beyond.trimmed_reference``), at the rate a clean
    batch lands there, measured on the base's own pseudo-batches (``beyond.out_of_fold_rate``). A third
    count blocks records *far* beyond that reference (``beyond.FAR_FACTOR``) past the number the base's
    own held-out pseudo-batches explain, however many flags drift would allow (``budget.Budget.far``).
    ``max_flagged`` caps the first.
    """

    key = "detectors.combined"
    settings = (ALPHA, MAX_FLAGGED)

    def __init__(
        self,
        run: Sequence[str],
        fpr: float,
        alpha: float,
        max_flagged: int | None = None,
        expected_classes: Sequence[str] = (),
    ):
        super().__init__(run, fpr, alpha, expected_classes)
        self.max_flagged = max_flagged

    def check(self, ctx: GateContext) -> RuleResult:
        """Block when the unwaived flagged records, or those beyond the reference, exceed their budget, naming them."""
        from provenance.detectors.beyond import FAR_FACTOR

        detection = self.detection(ctx)
        verdicts = detection.verdicts
        records = flagged_records(detection, ctx.waivers.waived)
        n, k = len(verdicts.records), len(records)
        waived = len(verdicts.flagged) - k
        budget = verdicts.budget(n, self.alpha)
        allowed = budget.flags if self.max_flagged is None else min(budget.flags, self.max_flagged)
        beyond = [r for r in records if r["p_value"] < verdicts.beyond_p]
        far = [r for r in records if r["p_value"] < verdicts.far_p] if budget.far_rate > 0 else []
        # the clauses that blocked, recorded so a report names them from the rule itself, never by
        # re-comparing counts it shows (schemas/check.schema.json: detectors.combined's statistic)
        blocked_by: list[str] = []
        if k > allowed:
            blocked_by.append("flag_budget" if allowed == budget.flags else "max_flagged")
        if len(beyond) > budget.beyond:
            blocked_by.append("beyond_reference")
        if len(far) > budget.far:
            blocked_by.append("far_beyond_reference")
        try:  # None: one signed step and no version committed beside it since the base (attack reviews 13 G13-1, 14 A14-6)
            steps = judge_steps(ctx, detection, self.alpha, frozenset())
        except VerificationError as exc:  # a delivery it cannot judge: blocks, naming what does not verify
            return verification_block(self.key, exc)
        if steps is not None and steps.blocking:
            blocked_by.append("step_budget")
        status: Status = "block" if blocked_by else "pass"
        test = "beta-binomial" if budget.rho > 0 else "binomial"
        drift = (
            f", rho {budget.rho:.2g} for the drift between the base's batches and its finite sample"
            if budget.rho > 0
            else ""
        )
        reason = (
            f"{k} of {n} records flagged by the combined verdict at FPR {self.fpr:g}; a clean delta "
            f"flags at most {allowed} ({test}{drift}, alpha {self.alpha:g}); {len(beyond)} beyond every "
            f"reference record outside its most extreme pseudo-batch (at most {budget.beyond}"
            + (
                f"; pseudo-batch {verdicts.beyond_left_out + 1} of {len(verdicts.reference_batch_sizes)} in the "
                "base's file order left out"
                if verdicts.beyond_left_out is not None and verdicts.reference_batch_sizes
                else ""
            )
            + ")"
            + (
                f"; {len(far)} far beyond it (below {FAR_FACTOR:g} of its bar; at most {budget.far})"
                if budget.far_rate > 0
                else ""
            )
            + (f"; {waived} waived" if waived else "")
            + self.not_judged(ctx, detection)
        )
        p_flags, p_beyond = budget.p_values(k, len(beyond))
        statistic = {
            "test": test,
            "n": n,
            "flagged": k,
            "fpr": self.fpr,
            "alpha": self.alpha,
            "allowed": allowed,
            "p_value": p_flags,
            "rho": budget.rho,
            "beyond_reference": len(beyond),
            "beyond_allowed": budget.beyond,
            "beyond_p_value": p_beyond,
            "beyond_reference_size": verdicts.beyond_size,
            # the rate a clean record of a new batch lands beyond that reference, measured on the base's
            # own pseudo-batches, each held out in turn (detectors.beyond.out_of_fold_rate)
            "beyond_rate": budget.beyond_rate,
            # the base's pseudo-batch (a run of its file order) the trimmed reference left out
            "beyond_left_out_batch": verdicts.beyond_left_out,
            # records far beyond that reference (detectors.beyond.FAR_FACTOR of its bar), their bound, tail
            # p-value and the rate a clean record of a held-out pseudo-batch of the base lands there (0: off)
            "far_beyond_reference": len(far),
            "far_beyond_allowed": budget.far,
            "far_beyond_p_value": budget.far_p_value(len(far)),
            "far_beyond_rate": budget.far_rate,
            # the combined p-value records whose statistic a feature detector set are flagged at (label evidence:
            # at fpr), calibrated on the base's held-out pseudo-batches (detectors.feature_level); null: fpr
            "feature_level": verdicts.feature_level,
            "method": verdicts.method,
            "max_flagged": self.max_flagged,
            # listed in [class_mix] expected_new_classes but held by the base (its profile sample, at least
            # detection_common.JUDGED_FROM records): their records were judged, not left out
            "expected_classes_judged": self.held(ctx),
            # added records of the other listed classes, judged on class-free evidence only (gate.class_free)
            "class_free_judged": class_free_count(detection),
            # the listed classes' added records judged in full all the same, and why (detection_common.listed_in_full)
            "listed_in_full": self.listed_in_full(ctx, detection),
            # which clauses blocked: "flag_budget" (more flagged than a clean delta flags), "max_flagged"
            # (more than the policy's cap, below that budget), "beyond_reference", "far_beyond_reference";
            # empty when it passed
            "blocked_by": blocked_by,
        }
        if steps is not None:  # several signed deliveries: each against its own allowance
            statistic["steps"] = steps.rows
        counts = {
            "beyond_reference": (beyond, budget.beyond, "beyond the reference"),
            "far_beyond_reference": (far, budget.far, "far beyond the reference"),
        }
        if steps is not None and steps.blocking:  # a delivery that blocks on its own: named first
            per_step = f"{steps.words}: {steps.scope(ctx.base, ctx.new)}"
            if blocked_by == ["step_budget"]:
                first = steps.blocking[0]
                expected = f"at most {first['allowed']} added in {first['version']}"
                reason = f"{per_step}; {reason}"
                listed = steps.records[:LISTED]
                return RuleResult(
                    self.key, status, reason, listed, len(steps.records), statistic, first["allowed"], expected
                )
            reason += f"; {per_step}"
        if blocked_by and blocked_by[0] in counts:
            # only the "beyond" counts blocked: the row's count and bound are the first such clause's, so a
            # reader does not see "33, at most 33" beside "blocked" (newcomer review 5)
            over, most, where = counts[blocked_by[0]]
            reason = f"{len(over)} records {where} where at most {most} are allowed: {reason}"
            return RuleResult(
                self.key, status, reason, over[:LISTED], len(over), statistic, most, f"at most {most} {where}"
            )
        listed = records[:LISTED] if status == "block" else []
        return RuleResult(self.key, status, reason, listed, k, statistic, allowed, f"at most {allowed}")
