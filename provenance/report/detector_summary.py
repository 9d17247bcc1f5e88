"""The detectors of a report: each detector's row, and the combined verdict they add up to.

``detector_rows`` gives each detector's line (did it run, how many it alone would flag,
against what a clean delta shows); ``detection`` the combined verdict's counts and
sentence, from a diff run with ``--detect`` or a check (its ``combined`` row carries the
budget).
"""

from __future__ import annotations

from dataclasses import dataclass

from provenance.report.wording import DETECTOR_WORD, plural


@dataclass(frozen=True)
class DetectorRow:
    """One detector's line in a report: did it run, how many it alone would flag, against what a clean delta shows."""

    detector: str
    word: str  # "ran" or "error"
    scored: int
    flagged: int
    expected_at_most: int | None
    error: str | None

    @property
    def above_expected(self) -> bool:
        """Whether it alone flags more than a clean delta would (it does not block alone)."""
        return self.expected_at_most is not None and self.flagged > self.expected_at_most

    @property
    def verdict(self) -> str:
        """``"error: ..."``, ``"ran: more than a clean delta"`` or ``"ran: within a clean delta"``."""
        if self.word != "ran":
            return f"error: {self.error}" if self.error else "error"
        if self.expected_at_most is None:
            return "ran"
        return "ran: more than a clean delta" if self.above_expected else "ran: within a clean delta"


def detector_rows(report: dict) -> list[DetectorRow]:
    """Each detector of the report (not the combined row), in report order."""
    return [
        DetectorRow(
            d["detector"],
            DETECTOR_WORD.get(d["status"], d["status"]),
            int(d.get("scored", 0)),
            int(d.get("flagged", 0)),
            d.get("expected_at_most"),
            d.get("error"),
        )
        for d in report.get("detectors", [])
        if d["detector"] != "combined"
    ]


@dataclass(frozen=True)
class Detection:
    """The combined verdict of a detector run: records scored and flagged, against a clean delta's most."""

    ran: int
    failed: list[str]
    scored: int
    flagged: int
    expected_at_most: int | None
    fpr: float | None

    @property
    def beyond_chance(self) -> bool:
        """More records flagged than a clean delta flags except with probability alpha."""
        return self.expected_at_most is not None and self.flagged > self.expected_at_most

    @property
    def sentence(self) -> str:
        """``"29 of 390 records flagged by the combined verdict of 7 detectors (a clean delta: at most 11)"``."""
        out = f"{self.flagged} of {plural(self.scored, 'record')} flagged by the combined verdict of "
        out += plural(self.ran, "detector")
        if self.expected_at_most is not None:
            out += f" (a clean delta flags at most {self.expected_at_most}"
            out += f" at FPR {self.fpr:g})" if self.fpr is not None else ")"
        if self.failed:
            out += f"; {plural(len(self.failed), 'detector')} failed: {', '.join(self.failed)}"
        return out


def detection(report: dict) -> Detection | None:
    """The combined verdict of a diff (``detect``) or check report; None when no detector ran."""
    rows = report.get("detectors") or []
    if not rows:
        return None
    singles = [d for d in rows if d["detector"] != "combined"]
    failed = [d["detector"] for d in singles if DETECTOR_WORD.get(d["status"]) != "ran"]
    combined = next((d for d in rows if d["detector"] == "combined"), None)
    summary = report.get("detection") or {}
    if combined is not None:  # a check: the combined row carries the budget
        scored, flagged = int(combined["scored"]), int(combined["flagged"]) - int(combined.get("waived", 0))
        expected, fpr = combined.get("allowed"), summary.get("fpr")
        rule = next((r for r in report.get("rules", []) if r["rule"] == "detectors.combined"), None)
        if rule and rule.get("statistic"):
            fpr = rule["statistic"].get("fpr", fpr)
    else:
        findings = report.get("findings") or []
        scored = int(summary.get("scored", len(findings)))
        flagged = int(summary.get("flagged", sum(1 for f in findings if f.get("flagged"))))
        expected, fpr = summary.get("expected_at_most"), summary.get("fpr")
    return Detection(len(singles) - len(failed), failed, scored, flagged, expected, fpr)
