"""``detectors.relabels``: the delta's relabels, taken together, contradict the base no more than
records of its own batches do (``provenance.detectors.relabel_scan``). Split from
``provenance.gate.detection`` (which builds it into the policy) to keep each module small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.gate.base import Setting
from provenance.gate.detection_common import COMBINED, RecordsAtLevelRule, held_words
from provenance.gate.results import RuleResult, Status
from provenance.gate.rules import BOOLEAN

if TYPE_CHECKING:
    from provenance.gate.context import GateContext

RELABEL_SCAN = Setting(
    "detectors",
    "relabel_scan",
    BOOLEAN,
    True,
    "block when the delta's relabels, taken together, have lower p-values (combined, knn_label) than the base's "
    "own held-out batches explain (a Berk-Jones scan at alpha); false turns the rule off",
)


class RelabelScanRule(RecordsAtLevelRule):
    """The delta's relabels as a group (``detectors.relabels``).

    A poisoning source that relabels records in overlapping classes gives each a p-value that is
    low but below no single bar, so the combined verdict flags few of them and its budget lets them
    through. This rule counts the relabels at or below each level of ``relabel_scan.LEVELS``, by the
    combined verdict's p-value and by ``knn_label``'s own, against the rate and the batch-to-batch
    spread of records of the same classes in the base's own pseudo-batches, each held out in turn
    (beta-binomial tails; ``relabel_scan.scan_relabels``), and blocks when the smallest tail p-value
    is below ``alpha`` over the number of tests. The block names the statistic, its bar and the
    relabels that contribute most. A relabel waived for ``combined`` or ``knn_label`` (its row: digest
    and label; ``prov waive DIGEST --version V --detector combined``) is left out of the count.
    """

    key = "detectors.relabels"
    settings = (RELABEL_SCAN,)

    def check(self, ctx: GateContext) -> RuleResult:
        """Pass, or block naming the scan's statistic, its bar and the relabels at its level."""
        from provenance.detectors.relabel_scan import LABEL_DETECTOR, scan_delta

        detection = self.detection(ctx)
        verdicts = detection.verdicts
        labels = detection.labels or []
        kinds = detection.kinds or []
        waived = ctx.waivers.waived
        left_out = []  # the waived relabels; a relabel into an expected new class is judged (attack review 31a, A31a-4)
        for i, v in enumerate(verdicts.records):
            label = labels[i] if i < len(labels) else None
            names = (COMBINED, LABEL_DETECTOR)
            if any((v.digest, name, label) in waived for name in names):
                left_out.append(i)
        scan = scan_delta(verdicts, detection.results, labels, kinds, detection.relabel_null, self.alpha, left_out)
        statistic = {
            "test": "berk-jones scan of relabels (beta-binomial tails against the base's held-out pseudo-batches)",
            "n": scan.n,
            "tests": scan.tests,
            "alpha": self.alpha,
            "p_value": scan.p_value,
            "bar": scan.bar,
            "source": scan.source,
            "level": scan.level,
            "count": scan.count,
            "expected": scan.expected,
            "rate": scan.rate,
            "rho": scan.rho,
            "contributors": [verdicts.records[i].digest for i in scan.contributors],
        }
        if not scan.tests:
            reason = "no relabel of a class the base holds to judge" + held_words(self.held(ctx))
            return RuleResult(self.key, "pass", reason, [], 0, statistic)
        status: Status = "block" if scan.blocked else "pass"
        words = (
            f"{scan.count} of {scan.n} relabels at {scan.source} p <= {scan.level:g} where records of their classes "
            f"in the base's held-out batches give {scan.expected:.2g} (rate {scan.rate:.2g}, rho {scan.rho:.2g}); "
            f"scan p = {scan.p_value:.2g}, bar {scan.bar:.2g} (alpha {self.alpha:g} over {scan.tests} tests)"
        )
        reason = (
            f"the relabels together contradict the base: {words}; after review, waive the listed relabels "
            f"(--detector {COMBINED}) or set [detectors] relabel_scan = false"
            if scan.blocked
            else f"relabels no further out than the base's batches: smallest of {scan.tests} tests: {words}"
        ) + held_words(self.held(ctx))
        records = []
        if scan.blocked:
            for i in scan.contributors:
                v = verdicts.records[i]
                records.append(
                    {
                        "digest": v.digest,
                        "label": labels[i] if i < len(labels) else None,
                        "detector": COMBINED,
                        "score": round(v.score, 6),
                        "p_value": v.p_value,
                        "explanation": v.explanation,
                    }
                )
        return RuleResult(
            self.key, status, reason, records, scan.count, statistic, None, f"scan p at least {scan.bar:.2g}"
        )


__all__ = ["RELABEL_SCAN", "RelabelScanRule"]
