"""What every human-readable report leads with, worked out once from the report dicts.

A reviewer's questions come in one order whatever the format: what is the verdict
(including the detectors), which records are flagged and why, where they came from (the
per-source view with lineage), and how each rule and detector did against what a clean
delta would show. The functions here answer them from the plain-data report dicts
(``schemas/diff.schema.json``, ``schemas/check.schema.json``) and return plain values;
``text``, ``markdown``, ``html``, ``sarif`` and ``junit`` only lay them out.

Nothing here reads record content: a record is named by its digest, label, source,
lineage and locator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from provenance.report.wording import (
    DECISION,
    DETECTOR_WORD,
    RULE_WORD,
    lineage_text,
    location_text,
    p_text,
    plural,
    source_name,
)


@dataclass(frozen=True)
class Evidence:
    """One detector's evidence on a flagged record: its name, p-value (text) and explanation."""

    detector: str
    p_value: str
    text: str

    @property
    def short(self) -> str:
        """The explanation's first clause (up to the first ``"; "``): what fits on one line."""
        return self.text.split("; ", 1)[0]


@dataclass(frozen=True)
class FlaggedRecord:
    """A record the combined verdict flagged, with everything a reviewer acts on.

    ``detectors`` names the detectors that would flag it on their own; ``evidence`` is
    the strongest evidence first. The label, source, lineage, change and locator are
    ``None`` when the report does not carry them (e.g. a finding stored by an older run).
    """

    digest: str
    score: float
    p_value: float | None
    detectors: tuple[str, ...]
    scored_by: int
    evidence: tuple[Evidence, ...]
    explanation: str
    label: str | None = None
    old_label: str | None = None
    source: str | None = None
    source_named_by: str | None = None  # "signed batch", "unsigned batch", "source column" (delta.attribution)
    lineage: str | None = None
    change: str | None = None
    locator: str | None = None
    location: dict | None = None
    extreme: bool = False
    flagged: bool = True  # False only where a report lists every scored record (``prov findings --all``)

    @property
    def flagged_by(self) -> str:
        """``"flagged by 3 detectors: knn_label, collision, gradient"``, or the combined evidence alone."""
        if not self.detectors:
            return f"flagged by the combined evidence of {plural(self.scored_by, 'detector')} (none alone)"
        return f"flagged by {plural(len(self.detectors), 'detector')}: {', '.join(self.detectors)}"

    @property
    def label_text(self) -> str:
        """The record's label, ``"old → new"`` for a relabel; ``"-"`` when unknown."""
        if self.old_label is not None and self.label is not None:
            return f"{self.old_label} → {self.label}"
        return self.label if self.label is not None else "-"

    @property
    def where(self) -> str:
        """Where the record is in the data: ``"row 12"``, ``"part-1.parquet row 3"``, ``"cat/7.png"``, or ``"-"``."""
        return location_text(self.location, self.locator)

    @property
    def source_text(self) -> str:
        """The record's source as reports name it (``"-"`` when the report does not say)."""
        return "-" if self.source is None and self.change is None else source_name(self.source, self.source_named_by)

    @property
    def lineage_words(self) -> str:
        """The record's lineage in words (``"attested"``, ``"relabeled after source"``, ``"unattributed"``)."""
        return lineage_text(self.lineage) if self.lineage else "-"

    @property
    def headline(self) -> str:
        """One line of evidence: the strongest detector and its first clause, else the explanation."""
        if self.evidence:
            first = self.evidence[0]
            return f"{first.detector}: {first.short}"
        return self.explanation


def _evidence(explanation: str, names: list[str]) -> tuple[Evidence, ...]:
    """Split a combined explanation (``detectors.combine``) into each named detector's evidence.

    The explanation reads ``"flagged: ...; strongest evidence: outlier (p = 0): TEXT;
    knn_label (p = 1e-9): TEXT"``; only the detector names the record lists start a part.
    """
    _, sep, rest = explanation.partition("strongest evidence: ")
    if not sep or not names:
        return ()
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    starts = list(re.finditer(rf"(?:^|; )({alternatives}) \(p = ([^)]*)\): ", rest))
    out = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(rest)
        out.append(Evidence(m.group(1), m.group(2), rest[m.end() : end]))
    return tuple(out)


def flagged_record(finding: dict, extreme: bool = False) -> FlaggedRecord:
    """A report's finding (diff ``findings[]`` or check ``findings[]``) as a ``FlaggedRecord``."""
    per_detector = finding.get("detectors") or []
    names = [d["detector"] for d in per_detector]
    return FlaggedRecord(
        digest=finding["digest"],
        score=float(finding.get("score", 0.0)),
        p_value=finding.get("p_value"),
        detectors=tuple(d["detector"] for d in per_detector if d.get("flagged")),
        scored_by=len(per_detector),
        evidence=_evidence(finding.get("explanation", ""), names),
        explanation=finding.get("explanation", ""),
        label=finding.get("label"),
        old_label=finding.get("old_label"),
        source=finding.get("source"),
        source_named_by=finding.get("source_named_by"),
        lineage=finding.get("lineage"),
        change=finding.get("change"),
        locator=finding.get("locator"),
        location=finding.get("location"),
        extreme=extreme,
        flagged=bool(finding.get("flagged", True)),
    )


def flagged_records(report: dict) -> list[FlaggedRecord]:
    """The flagged records of a diff or check report, worst first (score, then extreme p, then digest).

    A diff lists every scored record (``flagged`` says which the combined verdict flags);
    a check lists only its unwaived flagged records, and records that ``detectors.extreme``
    blocks are marked ``extreme``.
    """
    extreme = {
        rec.get("digest")
        for rule in report.get("rules", [])
        if rule["rule"] == "detectors.extreme" and rule["status"] != "pass"
        for rec in rule["records"]
    }
    chosen = [f for f in report.get("findings", []) if f.get("flagged", True)]
    records = [flagged_record(f, f["digest"] in extreme) for f in chosen]
    return sorted(records, key=lambda r: (-r.score, r.p_value if r.p_value is not None else 1.0, r.digest))


# --- detectors ------------------------------------------------------------------------


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


# --- rules (check) ----------------------------------------------------------------------


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


# --- sources ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRow:
    """One source in the per-source view: its records, what it added by lineage, relabels and flags."""

    source: str | None
    base: int
    new: int
    added: int
    attested: int
    relabeled_after_source: int
    unattributed: int
    relabeled: int
    removed: int
    flagged: int | None
    signals: list[str]
    named_by: tuple[str, ...] = ()  # how the name was learned (delta.attribution)

    @property
    def name(self) -> str:
        """The source as reports name it, with the kind of batch that named it (``"scraper (unsigned batch)"``)."""
        return source_name(self.source, list(self.named_by))


def source_rows(report: dict) -> list[SourceRow]:
    """The per-source view (diff ``by_source`` or check ``sources``), worst first as the report orders it.

    ``attested`` / ``relabeled_after_source`` / ``unattributed`` count the source's added
    records by lineage; ``flagged`` its records the combined verdict flagged (None when
    no detector ran).
    """
    rows = report.get("by_source")
    if rows is None:
        rows = report.get("sources") or []
    detected = bool(report.get("detectors"))
    return [
        SourceRow(
            r["source"],
            int(r.get("base", 0)),
            int(r.get("new", 0)),
            int(r.get("added", 0)),
            int(r.get("attested_added", 0)),
            int(r.get("relabeled_after_source_added", 0)),
            int(r.get("unattributed_added", 0)),
            int(r.get("relabeled", 0)),
            int(r.get("removed", 0)),
            int(r["flagged"]) if detected and r.get("flagged") is not None else (0 if detected else None),
            list(r.get("flagged_signals", [])),
            tuple(r.get("named_by") or ()),
        )
        for r in rows
    ]


def source_origins(report: dict) -> dict:
    """Each source of a diff (``by_source``) or check (``sources``) report → how its name was learned
    (``named_by``: ``"signed batch"``, ``"unsigned batch"``, ``"source column"``), for naming listed records."""
    rows = report.get("by_source")
    if rows is None:
        rows = report.get("sources") or []
    return {r["source"]: r.get("named_by") for r in rows}


# --- the verdict ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The first thing a report says: one word for the decision (its tone) and one sentence behind it."""

    tone: str  # "ok", "warn", "bad", "error": colours and icons follow it
    word: str
    sentence: str


def diff_verdict(report: dict) -> Verdict:
    """A diff's verdict: what the detectors flagged (with ``--detect``), the flagged signals and suspicious sources."""
    s = report["summary"]
    parts = []
    det = detection(report)
    if det is not None:
        parts.append(det.sentence)
    suspicious = [r for r in report["by_source"] if r["flagged_signals"]]
    if s["signals_flagged"]:
        signals = f"{plural(s['signals_flagged'], 'signal')} flagged"
        if suspicious:
            names = "; ".join(
                f"{source_name(r['source'], r.get('named_by'))} ({', '.join(r['flagged_signals'])})" for r in suspicious
            )
            signals += f"; suspicious {'source' if len(suspicious) == 1 else 'sources'}: {names}"
        parts.append(signals)
    else:
        parts.append("no signal flagged")
    if det is not None and det.failed:
        tone, word = "error", "incomplete"
    elif (det is not None and det.flagged) or s["signals_flagged"]:
        tone, word = "bad", "flagged"
    else:
        tone, word = "ok", "nothing flagged"
    return Verdict(tone, word, "; ".join(parts) + ".")


DECISION_TONE = {"pass": "ok", "warned": "warn", "blocked": "bad", "error": "error"}


@dataclass(frozen=True)
class Decision:
    """A check's decision as reports lead with it: ``"BLOCKED"`` + ``"by 3 of 19 rules: ..."``, then detection."""

    tone: str
    word: str  # DECISION's word: "passed", "passed with warnings", "BLOCKED", "could not be evaluated ..."
    because: str
    detection: str | None  # the combined verdict's sentence, when detectors ran

    @property
    def sentence(self) -> str:
        """``word`` and ``because`` in one sentence."""
        return f"{self.word}{'' if self.because.startswith(':') else ' '}{self.because}"


def check_decision(report: dict) -> Decision:
    """A check's decision and the rules behind it (``"BLOCKED by 3 of 19 rules: ..."``)."""
    rules = report["rules"]
    decision = report["decision"]
    deciding = {"blocked": "block", "error": "error", "warned": "warn"}.get(decision)
    named = [r["rule"] for r in rules if r["status"] == deciding] if deciding else []
    if decision == "pass":
        because = f"all {plural(len(rules), 'rule')}" if rules else "(no rule ran)"
    elif decision == "error":
        because = f": {len(named)} of {plural(len(rules), 'rule')} could not run: {', '.join(named)}"
    elif decision == "warned":
        because = f"from {len(named)} of {plural(len(rules), 'rule')}: {', '.join(named)}"
    else:
        because = f"by {len(named)} of {plural(len(rules), 'rule')}: {', '.join(named)}"
    det = detection(report)
    return Decision(
        DECISION_TONE.get(decision, "error"),
        DECISION.get(decision, decision),
        because,
        det.sentence if det is not None else None,
    )
