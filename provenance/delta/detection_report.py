"""The diff report's detector part (``prov diff --detect``): each detector's row, a finding per scored
record naming it as reports do, and the combined verdict against the gate's budget.

``report.DiffReport.add_detector_results`` calls :func:`add_detection`; the budget is the gate's
(``detectors.budget.flag_budget``), so ``prov diff`` and ``prov check`` agree.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from provenance import stats
from provenance.delta.records import location, row_locators

if TYPE_CHECKING:
    from provenance.delta.report import DiffReport

# The default policy's detectors.alpha (gate.detection.ALPHA; a test keeps them equal): a diff has no
# policy, so its "expected at most" is the default gate's budget.
DEFAULT_ALPHA = 0.001
LOCATED = 1000  # flagged records whose locator a diff reads from the manifest


def add_detection(report: DiffReport, detection, alpha: float = DEFAULT_ALPHA, flagged_only: bool = False) -> None:
    """Attach a ``provenance.detectors.pipeline.Detection`` to ``report`` (changed in place): one status
    per detector ("ok" = it ran, "error" = it crashed) and one finding per scored record (DESIGN's
    contract; only the flagged ones with ``flagged_only``: ``prov diff --flagged-only``),
    carrying the combined verdict and every detector's own score and flag. ``detection``
    counts every scored record either way and says which were listed (``listed``: "all"
    or "flagged"); the stored run (``prov findings --all``) keeps every scored record.

    Each finding also names the record as reports do (``label``, ``old_label`` for a
    relabel, ``source``, ``lineage``, ``change``; for the first ``LOCATED`` flagged records
    the ``locator`` and ``location`` in the data). Each detector gets ``expected_at_most``: the
    most records a clean delta of that size flags at the verdict's FPR except with probability
    ``alpha`` (binomial tail, ``stats.binomial_upper_limit``, as the gate's per-detector rows);
    the combined verdict (``detection``) the gate's budget (``detectors.budget.flag_budget``:
    beta-binomial with the drift ``rho`` between the base's own batches), so ``prov diff`` and
    ``prov check`` agree. ``alpha`` is the default policy's ``detectors.alpha``.
    Its ``by_source`` rows get ``flagged``: their records the combined verdict flags.
    """
    report.detect = True
    fpr = detection.verdicts.fpr
    for r, flagged_count in zip(detection.results, detection.flagged_counts):
        report.detectors.append(
            {
                "detector": r.detector,
                "status": r.status,
                "error": r.error,
                "threshold": r.threshold,
                "flagged": flagged_count,
                "scored": len(r.findings),
                "expected_at_most": stats.binomial_upper_limit(len(r.findings), fpr, alpha) if r.findings else None,
            }
        )
    from provenance.detectors.budget import flag_budget  # the gate's budget, so diff and check agree

    verdicts = detection.verdicts
    budget = flag_budget(
        len(verdicts.records),
        fpr,
        alpha,
        verdicts.reference_size,
        verdicts.reference_batch_sizes,
        verdicts.reference_batch_flags,
    )
    # A 1% delta of 1 M scores 10,000 records; --flagged-only keeps the report (and the work
    # of describing each record) to what a reviewer acts on.
    scored = verdicts.records
    # each finding is a row (digest, label), as prov check names it: a digest held under two labels is
    # two findings, each with its own label and row (attack review 10b, S10b-1)
    findings = [
        v.to_dict() | {"label": label} for v, label in zip(scored, detection.labels) if v.flagged or not flagged_only
    ]
    flagged = [f["digest"] for f in findings if f["flagged"]]
    if report.records is not None:
        facts = report.records.describe([f["digest"] for f in findings], flagged[:LOCATED])
        rows = report.delta.get("rows")
        located = [f["digest"] for f in findings if "locator" in facts.get(f["digest"], {})]  # the rows looked up
        own = row_locators(rows() if callable(rows) else rows, located)
        for f in findings:
            known = facts.get(f["digest"], {})
            f.update({k: v for k, v in known.items() if k != "label"})
            locator = own.get((f["digest"], f["label"]))
            if "locator" in known and locator is not None and locator != known["locator"]:
                f["locator"], f["location"] = locator, location(report.records.dataset, locator)
    report.findings.extend(findings)
    report.summary["findings_flagged"] = len(flagged)
    report.detection = {
        "fpr": fpr,
        "alpha": alpha,
        "scored": len(scored),
        "flagged": len(flagged),
        "listed": "flagged" if flagged_only else "all",
        "expected_at_most": budget.flags if scored else None,
        "rho": budget.rho,
        "method": detection.verdicts.method,
        # the level feature evidence is flagged at (detectors.feature_level; label evidence at fpr); null: fpr
        "feature_level": detection.verdicts.feature_level,
        # the batch's shared move when its mean shifted (detectors.drift.remove_shift)
        "shared_shift": detection.shift.to_dict() if detection.shift is not None else None,
        # the feature columns a shifted batch moved in most (detectors.drift_columns); null when it did not shift
        # or the profile's dimensions name no columns
        "drift_columns": [m.to_dict() for m in detection.drift_columns]
        if detection.drift_columns is not None
        else None,
        # feature columns of the base's profile the new version dropped: scored on the others (profiles.shared_columns)
        "columns_left_out": list(detection.columns_left_out),
    }
    per_source = Counter(f.get("source") for f in findings if f["flagged"])
    for row in report.by_source:
        row["flagged"] = per_source.get(row["source"], 0)
    if detection.drift is not None:
        report.drift = [s.to_dict() for s in detection.drift]
    else:
        report.drift = [{"signal": "error", "error": detection.drift_error}]
