"""``detectors.counts``: no detector finds more of the delta's records unusual than the base's own
later batches explain (``provenance.detectors.count_scan``). Split from ``provenance.gate.detection``
(which builds it into the policy) to keep each module small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.gate.base import Setting
from provenance.gate.detection_common import COMBINED, RecordsAtLevelRule, not_judged
from provenance.gate.results import RuleResult, Status
from provenance.gate.rules import BOOLEAN

if TYPE_CHECKING:
    from provenance.detectors.pipeline import Detection
    from provenance.gate.context import GateContext

COUNT_SCAN = Setting(
    "detectors",
    "count_scan",
    BOOLEAN,
    True,
    "block when one detector finds more of the delta's records unusual (its own p <= 0.005) than the base's "
    "later pseudo-batches, each scored against the batches before it, explain (at alpha over the detectors); "
    "false turns the rule off",
)


class DetectorCountsRule(RecordsAtLevelRule):
    """The delta's records one detector finds unusual, counted per detector (``detectors.counts``).

    The combined verdict ranks a record by its smallest weighted per-detector p-value, so records
    that only one detector finds odd rank lower than that detector alone would put them, and a
    handful of them fit the combined flag budget. This rule counts, per detector that ran, the
    delta's records at that detector's own p-value <= ``count_scan.LEVEL``, against the rate and the
    batch-to-batch spread of the base's later pseudo-batches, each scored against the batches before
    it only (beta-binomial tails; ``count_scan.scan_counts``), and blocks when the smallest tail
    p-value is below ``alpha`` over the number of detectors. The block names the detector, the count,
    its bar and the records that contribute most. A record waived for ``combined`` or for that
    detector (``prov waive DIGEST --version V --detector combined``) is left out of the count, as are
    records of expected new classes.
    """

    key = "detectors.counts"
    settings = (COUNT_SCAN,)

    def check(self, ctx: GateContext) -> RuleResult:
        """Pass, or block naming the detector, its count against the base's later batches and the records."""
        from provenance.detectors.count_scan import scan_counts

        detection = self.detection(ctx)
        verdicts = detection.verdicts
        labels = detection.labels or []
        left_out_digests = self.left_out(detection)
        waived = ctx.waivers.waived
        left_out: dict[str, list[int]] = {}
        for r in detection.results:
            left_out[r.detector] = [
                i
                for i, v in enumerate(verdicts.records)
                if v.digest in left_out_digests
                or any(
                    (v.digest, name, labels[i] if i < len(labels) else None) in waived
                    for name in (COMBINED, r.detector)
                )
            ]
        batches = detection.sample_batches
        if batches is None:
            return RuleResult(self.key, "pass", "no pseudo-batches of the base to measure a null on", [], 0, None)
        scan = scan_counts(detection.results, batches, self.fpr, self.alpha, left_out)
        statistic = {
            "test": "per-detector count at p <= level (beta-binomial tails against the base's later pseudo-batches, "
            "each scored against the batches before it)",
            "tests": scan.tests,
            "alpha": self.alpha,
            "p_value": scan.p_value,
            "bar": scan.bar,
            "level": scan.level,
            "detector": scan.detector,
            "n": scan.n,
            "count": scan.count,
            "expected": scan.expected,
            "rate": scan.rate,
            "rho": scan.rho,
            "contributors": [verdicts.records[i].digest for i in scan.contributors],
        }
        if not scan.tests:
            reason = "no detector has a null on the base's later batches (a base of too few pseudo-batches)"
            return RuleResult(self.key, "pass", reason + not_judged(left_out_digests), [], 0, statistic)
        status: Status = "block" if scan.blocked else "pass"
        words = (
            f"{scan.count} of {scan.n} records at {scan.detector} p <= {scan.level:g} where the base's later batches "
            f"give {scan.expected:.2g} (rate {scan.rate:.2g}, rho {scan.rho:.2g}); count p = {scan.p_value:.2g}, "
            f"bar {scan.bar:.2g} (alpha {self.alpha:g} over {scan.tests} detectors)"
        )
        reason = (
            f"one detector finds too many of the delta's records unusual: {words}; after review, waive the listed "
            f"records (--detector {COMBINED}) or set [detectors] count_scan = false"
            if scan.blocked
            else f"no detector finds more records unusual than the base's later batches: largest excess: {words}"
        ) + not_judged(left_out_digests)
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
            self.key, status, reason, records, scan.count, statistic, None, f"count p at least {scan.bar:.2g}"
        )


def counted_rows(detection: Detection) -> dict[tuple[str, str | None], set[str]]:
    """The rows (digest hex, label) ``detectors.counts`` counts, each with the detectors at whose own
    p-value <= ``count_scan.LEVEL`` it lies (a waiver of the row naming ``combined`` or one of them takes
    it out of the count: ``waiver_judging.with_effects``)."""
    import numpy as np

    from provenance.detectors.count_scan import LEVEL

    records = detection.verdicts.records
    labels = detection.labels or []
    rows: dict[tuple[str, str | None], set[str]] = {}
    for r in detection.results:
        if r.status != "ran" or r.p_values is None or len(r.p_values) != len(records):
            continue
        for i in np.flatnonzero(np.asarray(r.p_values, dtype=np.float64) <= LEVEL):
            rows.setdefault((records[i].digest, labels[i] if i < len(labels) else None), set()).add(r.detector)
    return rows


__all__ = ["COUNT_SCAN", "DetectorCountsRule", "counted_rows"]
