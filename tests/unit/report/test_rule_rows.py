"""The Rules table's `measured` cell (newcomer review 25).

The tour's `prov check v4 --base v3` printed `warned  detectors.drift  0  -`: a warning that measured
nothing, beside a reason naming four shifted signals. The rule's statistic is from that check's JSON.
"""

from __future__ import annotations

from provenance.report.rule_rows import rule_rows


def _signal(name: str, shifted: bool) -> dict:
    return {"signal": name, "shifted": shifted, "value": 1.0, "base_max": 0.2, "base_median": 0.0, "bound": 0.6}


def test_the_drift_rule_measures_how_many_signals_shifted():
    drift = {
        "rule": "detectors.drift",
        "status": "warn",
        "count": 0,
        "allowed": None,
        "expected": None,
        "reason": "the batch is shifted beyond the base's own batches",
        "records": [],
        "statistic": {
            "signals": [_signal("class_mix", True), *(_signal(n, False) for n in ("mean_shift", "spectral"))],
            "shared_shift": None,
            "test": "range of the base's pseudo-batches",
        },
    }
    other = {"rule": "lineage.max_relabeled_after_source", "status": "pass", "count": 0, "allowed": 0, "reason": "r"}
    rows = {row.rule: row for row in rule_rows({"rules": [drift, other]})}
    assert rows["detectors.drift"].measured == "1 of 3 shifted"
    assert rows["lineage.max_relabeled_after_source"].measured == "0"  # a count it bounds, as before
