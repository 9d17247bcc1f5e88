"""The Rules table of a check report: one row per policy rule, the deciding rules first."""

from __future__ import annotations

from dataclasses import dataclass

from provenance.report.wording import RULE_WORD, p_text


@dataclass(frozen=True)
class RuleRow:
    """One policy rule's line: its verdict word, what it measured and what it allows."""

    rule: str
    status: str
    word: str
    measured: str
    expected: str
    reason: str
    count: int
    records: list[dict]


def _expected(rule: dict) -> str:
    if rule.get("expected"):
        return str(rule["expected"])
    if rule.get("allowed") is not None:
        return f"at most {rule['allowed']:g}"
    return "-"


def _measured(rule: dict) -> str:
    """What a rule measured: a p-value for a test, else its count when the count is what it bounds."""
    statistic = rule.get("statistic") or {}
    if statistic.get("p_value") is not None and str(statistic.get("test", "")).startswith("chi-square"):
        return f"p {p_text(statistic)}"
    signals = statistic.get("signals")
    if isinstance(signals, list) and signals and all(isinstance(s, dict) for s in signals):
        # detectors.drift warned with "measured 0", as if it had measured nothing (newcomer review 25)
        return f"{sum(1 for s in signals if s.get('shifted'))} of {len(signals)} shifted"
    if rule.get("allowed") is not None or rule.get("count") or rule["status"] != "pass":
        return str(rule.get("count", 0))
    return "-"


def rule_rows(report: dict) -> list[RuleRow]:
    """Every rule of a check, the ones that decide first (error, blocked, warned, then passed)."""
    order = {"error": 0, "block": 1, "warn": 2, "pass": 3}
    rows = [
        RuleRow(
            r["rule"],
            r["status"],
            RULE_WORD.get(r["status"], r["status"]),
            _measured(r),
            _expected(r),
            r["reason"],
            int(r.get("count", 0)),
            r.get("records", []),
        )
        for r in report.get("rules", [])
    ]
    return sorted(rows, key=lambda r: order.get(r.status, 9))
