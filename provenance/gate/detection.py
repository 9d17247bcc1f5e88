"""The policy's detector rules, on one calibrated verdict per record (``detectors.combine``).

``DetectorsRun`` runs the detectors the policy names once on the delta and combines
their evidence into one verdict per record at the policy's ``fpr``. Then:
``DetectorRan`` (``detectors.<name>``) is an error for a detector that crashed or is
required but not installed (the gate fails closed); ``CombinedFlagBudget``
(``detectors.combined``) blocks when more records are flagged than a clean batch of that
size flags except with probability ``alpha`` (beta-binomial tail, the overdispersion
measured on the base's own pseudo-batches, ``detectors.budget``), or too many lie beyond
every reference record; ``ExtremeRecords``
(``detectors.extreme``) blocks on any record with evidence strong enough to act on alone
(its extreme p-value, ``provenance.detectors.extreme``, at most ``extreme_alpha / n``:
Bonferroni over the delta), whatever the budget. A waiver of a record for ``combined``,
or for a detector that flags it on its own, takes it out of both. ``BatchDrift``
(``detectors.drift``) warns, never blocks, when the delta as a batch shifts beyond the
range of the base's own pseudo-batches.

``rules()`` builds this part of the policy and ``summarise()`` the report's
``detectors`` rows and ``findings``. The other rules never read detector results, so
this module can change alone. A replacement provides the same three things: rule
classes declaring the ``[detectors]`` keys (listed in
``provenance.gate.policy.RULE_TYPES``), ``rules(settings)`` and ``summarise(ctx, results)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from provenance import stats
from provenance.errors import VerificationError
from provenance.gate.base import AllOf, Requires, Rule, RuleSet, Setting, Settings
from provenance.gate.results import LISTED, RuleResult, Status
from provenance.gate.rules import BOOLEAN, COUNT, EXPECTED_NEW_CLASSES, setting_value

if TYPE_CHECKING:
    from provenance.detectors.pipeline import Detection
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
    "a source spike) has p <= extreme_alpha / n, whatever the budget",
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


def expected_class_records(detection: Detection, expected: Sequence[str]) -> set[str]:
    """Digests of the delta's records whose label the policy expects to be new
    (``class_mix.expected_new_classes``): the base has (almost) nothing to judge them by."""
    wanted = set(expected)
    return {v.digest for v, label in zip(detection.verdicts.records, detection.labels) if label in wanted}


def flagged_records(
    detection: Detection,
    waived: set[tuple[str, str, str | None]],
    extreme_p: float | None = None,
    left_out: set[str] | frozenset[str] = frozenset(),
) -> list[dict]:
    """The records the combined verdict flags (or, with ``extreme_p``, whose extreme p-value
    is at most it) and no waiver covers, highest score first.

    A record is waived by a waiver naming its row (digest and label, ``Waivers.waived``) and
    ``combined``, or one of the detectors that flag it on their own; records in ``left_out`` (of expected new classes)
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


def not_judged(left_out: set[str]) -> str:
    """The words a rule's reason adds for records of expected new classes it left out."""
    return f"; {len(left_out)} record(s) of expected new classes not judged against the base" if left_out else ""


class DetectorRule(Rule):
    """A rule on the detection run the policy asks for: ``run`` (names) at ``fpr``, the duplicates
    detector's tight-cluster rule on unless ``tight_cluster`` is false."""

    tight_cluster = True  # the policy's detectors.duplicates_tight_cluster (rules() sets it on every rule)

    def __init__(self, run: Sequence[str], fpr: float):
        self.run, self.fpr = list(run), fpr

    def ran(self, ctx: GateContext) -> DetectionRun:
        """The detection run (``GateContext.detection``) with this policy's options."""
        return ctx.detection(self.run, self.fpr, self.tight_cluster)

    def detection(self, ctx: GateContext) -> Detection:
        """The run's detection (only evaluated after ``DetectorsRun`` passed, so it exists)."""
        detection = self.ran(ctx).detection
        if detection is None:
            raise ValueError(f"{self.name} evaluated although the detectors did not run")
        return detection


class DetectorsRun(DetectorRule):
    """The detectors the policy names ran on the delta (``detectors.run``).

    Blocks when the delta's records are not the signed ones (the detectors refuse them);
    an error when they could not run at all (no reference profile, features that
    cannot be computed): the gate then fails closed.
    """

    key = "detectors.run"
    settings = (RUN, FPR, ENABLED, TIGHT_CLUSTER)

    def check(self, ctx: GateContext) -> RuleResult:
        """Run the detectors (once per check, through the context) and say how it went."""
        run = self.ran(ctx)
        if isinstance(run.failure, VerificationError):
            return RuleResult(self.key, "block", f"detectors refused the delta: {run.failure}")
        if run.failure is not None or run.detection is None:
            return RuleResult(self.key, "error", f"detectors could not run: {run.failure}")
        n = len(run.detection.verdicts.records)
        ran = len(run.results)
        reason = (
            f"{ran} {'detector' if ran == 1 else 'detectors'} scored {n} {'record' if n == 1 else 'records'} "
            f"of the delta, one verdict per record at FPR {self.fpr:g}"
        )
        return RuleResult(self.key, "pass", reason, expected="every required detector runs")


class DetectorRan(DetectorRule):
    """One required detector (``detectors.<name>``) is installed and ran without crashing.

    Its flags alone do not block (``detectors.combined`` does); a crash or a missing
    detector is an error, since a verdict without it is not the one the policy asked for.
    """

    key = "detectors.<name>"

    def __init__(
        self, detector: str, run: Sequence[str], fpr: float, installed: bool = True, alpha: float | None = None
    ):
        super().__init__(run, fpr)
        self.detector, self.installed, self.alpha = detector, installed, alpha

    @property
    def name(self) -> str:
        """``detectors.<detector>``."""
        return f"detectors.{self.detector}"

    def check(self, ctx: GateContext) -> RuleResult:
        """Error if missing, crashed or silent; else pass, saying how many records it alone would flag."""
        if not self.installed:
            return RuleResult(
                self.name, "error", f"detector {self.detector} is required by the policy but not installed"
            )
        result = self.ran(ctx).result(self.detector)
        if result is None:
            return RuleResult(self.name, "error", f"detector {self.detector} did not report")
        if result.status != "ran":
            return RuleResult(self.name, "error", f"detector {self.detector} failed: {result.error}")
        n, k = len(result.findings), len(result.flagged)
        reason = f"scored {n} records; flags alone {k} (the combined verdict decides)"
        if result.summary.get("note"):  # a rule of the detector's that stood down (duplicates' tight cluster)
            reason += f"; {result.summary['note']}"
        expected = None
        if self.alpha is not None:  # what a clean delta flags with this detector alone; it does not block
            expected = f"flags alone at most {flag_budget(n, self.fpr, self.alpha)}"
        return RuleResult(self.name, "pass", reason, count=k, expected=expected)


class CombinedFlagBudget(DetectorRule):
    """No more records flagged by the combined verdict than a clean batch explains (``detectors.combined``).

    With ``n`` records at false-positive rate ``fpr``, the budget (``detectors.budget``)
    is the beta-binomial upper limit at ``alpha``, its overdispersion estimated from how
    the base's own pseudo-batches spread (natural drift between batches; binomial when they
    do not spread). A second count blocks too: records beyond every reference record
    past their own budget (the reference trimmed of its most extreme pseudo-batch, so one
    odd batch in the base cannot disarm it: ``beyond.trimmed_reference``), at the rate a clean
    batch lands there, measured on the base's own pseudo-batches (``beyond.out_of_fold_rate``). ``max_flagged`` caps the first.
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
        super().__init__(run, fpr)
        self.alpha, self.max_flagged, self.expected_classes = alpha, max_flagged, list(expected_classes)

    def check(self, ctx: GateContext) -> RuleResult:
        """Block when the unwaived flagged records, or those beyond the reference, exceed their budget, naming them."""
        from provenance.detectors.budget import flag_budget as batch_budget

        detection = self.detection(ctx)
        verdicts = detection.verdicts
        left_out = expected_class_records(detection, self.expected_classes)
        records = flagged_records(detection, ctx.waivers.waived, left_out=left_out)
        n, k = len(verdicts.records) - len(left_out), len(records)
        waived = len([v for v in verdicts.flagged if v.digest not in left_out]) - k
        budget = batch_budget(
            n,
            self.fpr,
            self.alpha,
            verdicts.beyond_size,
            verdicts.reference_batch_sizes,
            verdicts.reference_batch_flags,
            verdicts.beyond_rate,
            verdicts.reference_size,
        )
        allowed = budget.flags if self.max_flagged is None else min(budget.flags, self.max_flagged)
        beyond = [r for r in records if r["p_value"] < verdicts.beyond_p]
        # the clauses that blocked, recorded so a report names them from the rule itself, never by
        # re-comparing counts it shows (schemas/check.schema.json: detectors.combined's statistic)
        blocked_by: list[str] = []
        if k > allowed:
            blocked_by.append("flag_budget" if allowed == budget.flags else "max_flagged")
        if len(beyond) > budget.beyond:
            blocked_by.append("beyond_reference")
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
            + (f"; {waived} waived" if waived else "")
            + not_judged(left_out)
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
            "method": verdicts.method,
            "max_flagged": self.max_flagged,
            # which clauses blocked: "flag_budget" (more flagged than a clean delta flags), "max_flagged"
            # (more than the policy's cap, below that budget), "beyond_reference"; empty when it passed
            "blocked_by": blocked_by,
        }
        if blocked_by == ["beyond_reference"]:
            # only the "beyond every reference record" count blocked: the row's count and bound are that
            # clause's, so a reader does not see "33, at most 33" beside "blocked" (newcomer review 5)
            listed = beyond[:LISTED]
            reason = f"{len(beyond)} records beyond the reference where at most {budget.beyond} are allowed: {reason}"
            return RuleResult(
                self.key,
                status,
                reason,
                listed,
                len(beyond),
                statistic,
                budget.beyond,
                f"at most {budget.beyond} beyond the reference",
            )
        listed = records[:LISTED] if status == "block" else []
        return RuleResult(self.key, status, reason, listed, k, statistic, allowed, f"at most {allowed}")


class ExtremeRecords(DetectorRule):
    """No record far outside anything the base or its batch explains (``detectors.extreme``).

    A record whose extreme p-value (``provenance.detectors.extreme``: a label none of its
    nearest base records or base-supported batch-mates share, an empty record the base
    never has, a flood of exact copies, a source spike) is at most ``alpha / n`` blocks
    whatever the budget (Bonferroni over the delta); a waiver is the way through.
    ``alpha`` is the policy's ``extreme_alpha``.
    """

    key = "detectors.extreme"
    settings = (EXTREME_ALPHA,)

    def __init__(self, run: Sequence[str], fpr: float, alpha: float, expected_classes: Sequence[str] = ()):
        super().__init__(run, fpr)
        self.alpha, self.expected_classes = alpha, list(expected_classes)

    def check(self, ctx: GateContext) -> RuleResult:
        """Block naming every unwaived record at or below ``alpha / n`` (all of them: the report's
        ``records`` is not cut at ``LISTED`` for this rule)."""
        detection = self.detection(ctx)
        left_out = expected_class_records(detection, self.expected_classes)
        n = len(detection.verdicts.records) - len(left_out)
        threshold = self.alpha / max(n, 1)
        extreme = sorted(
            flagged_records(detection, ctx.waivers.waived, threshold, left_out), key=lambda x: x["extreme_p"]
        )
        reason = (
            f"{len(extreme)} {'record lies' if len(extreme) == 1 else 'records lie'} far outside anything the base "
            f"or their batch explains (extreme p <= "
            f"{threshold:.2g} = extreme_alpha / n); they block whatever the budget unless waived"
            if extreme
            else f"no record beyond extreme p {threshold:.2g} (extreme_alpha / n)"
        ) + not_judged(left_out)
        statistic = {"test": "bonferroni", "n": n, "alpha": self.alpha, "p_threshold": threshold}
        status: Status = "block" if extreme else "pass"
        expected = f"none at p <= {threshold:.2g}"
        # every one, not the first LISTED: each is a finding of its own (SARIF's detectors.extreme results)
        return RuleResult(self.key, status, reason, extreme, len(extreme), statistic, 0, expected)


class BatchDrift(DetectorRule):
    """The delta as one batch against the base's own pseudo-batches (``detectors.drift``).

    A batch that shifts further than any of the base's batches did (class mix, mean,
    shared direction, gradient; ``provenance.profiles.shift``) is a *warning* with its
    effect size: natural drift is not poisoning, and records that look poisoned are
    judged by the combined verdict. A warning never blocks (decision ``warned``, exit 0)
    and is stated in the release attestation. A drift computation that failed is an
    error (the gate fails closed).
    """

    key = "detectors.drift"

    def check(self, ctx: GateContext) -> RuleResult:
        """Pass, warn (shifted, with each signal's effect), or error."""
        detection = self.detection(ctx)
        if detection.drift is None:
            return RuleResult(self.key, "error", f"batch drift could not be measured: {detection.drift_error}")
        statistic = {"test": "range of the base's pseudo-batches", "signals": [s.to_dict() for s in detection.drift]}
        shifted = [s for s in detection.drift if s.shifted]
        if not shifted:
            return RuleResult(
                self.key, "pass", "the batch shifts no further than the base's own batches", [], 0, statistic
            )
        # each signal once, its effect size first; what "Nx" means is said once here, and what to do
        # about it once under the report (report.wording.DRIFT_GUIDE), not again for every signal
        words = ", ".join(f"{s.signal} {s.effect:.1f}x ({s.value:.3g} against {s.base_max:.3g})" for s in shifted)
        reason = (
            f"the batch is shifted beyond the base's own batches, Nx the largest shift between them: {words}; "
            "a warning about the batch, not a verdict on its records"
        )
        return RuleResult(self.key, "warn", reason, [], 0, statistic)


def rules(settings: Settings) -> RuleSet | None:
    """The detector part of a policy, or None when ``detectors.enabled`` is false.

    ``run = "all"`` means every installed detector. ``gate.check`` refuses a policy naming a
    detector not installed here before anything runs (``policy.require_known_detectors``,
    exit 2); evaluated without that check, such a detector is an error result (fails
    closed). The other rules are evaluated only when the run succeeded.
    """
    if not setting_value(settings, ENABLED):
        return None
    from provenance.detectors.registry import available_detectors

    installed = set(available_detectors())
    wanted = setting_value(settings, RUN)
    names = sorted(installed) if wanted == "all" else list(dict.fromkeys(wanted))
    fpr, alpha = setting_value(settings, FPR), setting_value(settings, ALPHA)
    run = [n for n in names if n in installed]
    missing: list[RuleSet] = [DetectorRan(n, run, fpr, installed=False) for n in names if n not in installed]
    if not run:
        return AllOf(missing)
    verdict_rules: list[RuleSet] = [DetectorRan(n, run, fpr, alpha=alpha) for n in run]
    expected = setting_value(settings, EXPECTED_NEW_CLASSES)
    verdict_rules += [
        CombinedFlagBudget(run, fpr, alpha, setting_value(settings, MAX_FLAGGED), expected),
        ExtremeRecords(run, fpr, setting_value(settings, EXTREME_ALPHA), expected),
        BatchDrift(run, fpr),
    ]
    first = DetectorsRun(run, fpr)
    if not setting_value(settings, TIGHT_CLUSTER):
        for rule in [first, *verdict_rules]:
            if isinstance(rule, DetectorRule):
                rule.tight_cluster = False
    return AllOf([*missing, Requires(first, AllOf(verdict_rules))])


def summarise(ctx: GateContext, results: Sequence[RuleResult]) -> tuple[list[dict], list[dict]]:
    """The check report's ``detectors`` rows and ``findings``, from the run and the rule results.

    One row per detector (``allowed`` null: a detector alone does not block) and one for
    ``combined`` (its budget, from the ``detectors.combined`` result); the findings are
    the combined verdict's unwaived flagged records. ``([], [])`` when the detectors did not run.
    """
    run = ctx.detection_run
    if run is None or run.detection is None:
        return [], []
    detection = run.detection
    combined = next((r for r in results if r.rule == CombinedFlagBudget.key and r.statistic), None)
    alpha = combined.statistic["alpha"] if combined and combined.statistic else None
    rows = [
        {
            "detector": r.detector,
            "status": r.status,
            "error": r.error,
            "threshold": r.threshold,
            "scored": len(r.findings),
            "flagged": len(r.flagged),
            "waived": 0,
            "allowed": None,
            # what a clean delta flags with this detector alone (it does not block alone)
            "expected_at_most": flag_budget(len(r.findings), run.fpr, alpha) if alpha and r.findings else None,
        }
        for r in detection.results
    ]
    findings = flagged_records(detection, ctx.waivers.waived)
    rows.append(
        {
            "detector": COMBINED,
            "status": "ran",
            "error": None,
            "threshold": 1.0 - run.fpr,
            "scored": len(detection.verdicts.records),
            "flagged": len(detection.verdicts.flagged),
            "waived": len(detection.verdicts.flagged) - len(findings),
            "allowed": int(combined.statistic["allowed"]) if combined and combined.statistic else None,
            "expected_at_most": int(combined.statistic["allowed"]) if combined and combined.statistic else None,
        }
    )
    return rows, findings
