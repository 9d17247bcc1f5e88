"""What every human-readable report leads with: a diff's verdict, a check's decision.

A reviewer's questions come in one order whatever the format: what is the verdict
(including the detectors), which records are flagged and why (``flagged.py``), where
they came from (``source_rows.py``), and how each rule (``rule_rows.py``) and detector
(``detector_summary.py``) did against what a clean delta would show. These modules
answer them from the plain-data report dicts and return plain values; ``text``,
``markdown``, ``html``, ``sarif`` and ``junit`` only lay them out.
"""

from __future__ import annotations

from dataclasses import dataclass

from provenance.delta.signals import HIGH_P
from provenance.report.detector_summary import detection
from provenance.report.drift_words import batch_shift_line
from provenance.report.wording import DECISION, NO_SOURCE_RECORDS, plural, side_text, source_name


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
    flagged_names = [g["name"] for g in report.get("signals") or [] if g["flagged"]]
    # a store where no source signs anything: every addition is unattributed, which flags nothing by itself
    unsigned_store = (report.get("lineage") or {}).get("signed_sources") is False
    note_only = unsigned_store and bool(flagged_names) and set(flagged_names) == {"unattributed_additions"}
    warned_only = _class_mix_warnings(report, flagged_names)
    if note_only:
        parts.append("no signal flagged (no signed sources: every addition is unattributed)")
    elif warned_only:
        parts.append(warned_only)
    elif s["signals_flagged"]:
        parts.append(f"{plural(s['signals_flagged'], 'signal')} flagged{_where_flagged(report, flagged_names)}")
    else:
        parts.append("no signal flagged")
    if det is not None and det.failed:
        tone, word = "error", "incomplete"
    elif (s["signals_flagged"] and not note_only and not warned_only) or (
        det is not None and det.flagged and not det.within_budget
    ):
        tone, word = "bad", "flagged"
    elif warned_only:  # what the gate would do: a class mix it passes is a warning, not a red verdict (newcomer 30)
        tone, word = "warn", "warning"
    elif det is not None and det.flagged:  # no more than a clean delta flags: not a red verdict (newcomer 11, #10)
        tone, word = "warn", "within budget"  # the Detectors table's combined word (newcomer review 16, #6)
    else:
        tone, word = "ok", "nothing flagged"
    return Verdict(tone, word, "; ".join(parts) + ".")


def _class_mix_warnings(report: dict, flagged_names: list[str]) -> str | None:
    """``"1 class-mix signal flagged (p=6.5e-06): a warning, as prov check blocks ..."`` when the
    only flagged signals are class-mix shifts the default gate passes (``class_mix.min_p_value`` blocks below p 1e-06,
    which is a signal's ``high`` severity); None otherwise, the verdict then flags them."""
    flagged = [g for g in report.get("signals") or [] if g["flagged"]]
    if not flagged or set(flagged_names) != {"class_mix_shift"} or any(g["severity"] == "high" for g in flagged):
        return None
    p = min(g["statistic"]["p_value"] for g in flagged)
    shifts = plural(len(flagged), "class-mix signal")
    return (
        f"{shifts} flagged (p={p:.2g}): a warning, as prov check blocks a class mix only below p {HIGH_P:g} "
        f"by default{_where_flagged(report, flagged_names)}"
    )


def _where_flagged(report: dict, flagged_names: list[str]) -> str:
    """What follows ``N signals flagged`` in a diff's verdict: ``; suspicious source: scraper (unsigned batch)
    (volume_jump)`` for each source a flagged signal names, then ``; records with no source (40):
    unattributed_additions`` for those of no source, which are not a source (newcomer review 29: "suspicious source:
    (no source)"); in data with no source at all, where no signal is a source's, ``: `` and the flagged signals."""
    rows = report["by_source"]
    if all(r["source"] in (None, "") for r in rows):
        return f": {', '.join(sorted(set(flagged_names)))}" if flagged_names else ""
    suspicious = [r for r in rows if r["flagged_signals"]]
    named = [r for r in suspicious if r["source"] not in (None, "")]
    out = ""
    if named:
        names = "; ".join(
            f"{source_name(r['source'], r.get('named_by'))} ({', '.join(r['flagged_signals'])})" for r in named
        )
        out += f"; suspicious {'source' if len(named) == 1 else 'sources'}: {names}"
    for r in suspicious:
        if r["source"] in (None, ""):
            out += f"; {NO_SOURCE_RECORDS} ({r['new']}): {', '.join(r['flagged_signals'])}"
    return out


UNREAD = "cannot read its data again: "  # version_verify's words when the version's data cannot be read


def unread_data(report: dict) -> str | None:
    """Why a check could not read the candidate's data (``integrity.verify_data`` could not read it: a file
    not fetched, or gone), e.g. ``"/ci/data/train.parquet: no such file or folder"``; None otherwise."""
    rule = next((r for r in report.get("rules") or [] if r["rule"] == "integrity.verify_data"), None)
    if rule is None or rule["status"] == "pass" or UNREAD not in rule["reason"]:
        return None
    return rule["reason"].split(UNREAD, 1)[1]


DECISION_TONE = {"pass": "ok", "warned": "warn", "blocked": "bad", "error": "error"}


@dataclass(frozen=True)
class Decision:
    """A check's decision as reports lead with it: ``"BLOCKED"`` + ``"by 3 of 19 rules: ..."``, then detection."""

    tone: str
    word: str  # DECISION's word: "passed", "passed with warnings", "BLOCKED", "could not be evaluated ..."
    because: str
    # the copies rule's headline (when it did not pass), then the combined verdict's sentence and
    # what of it blocked (when detectors ran); None when there is neither
    detection: str | None
    detection_lines: tuple[str, ...] = ()  # the same, one sentence a line (no final stops)

    @property
    def sentence(self) -> str:
        """``word`` and ``because`` in one sentence."""
        return f"{self.word}{'' if self.because.startswith(':') else ' '}{self.because}"


def copies_lines(rules: list[dict]) -> tuple[str, ...]:
    """``"300 exact copies of base records added, 291 more than a delivery of 300 rows ... (copies.max_copies_rate)"``
    when the copies rule did not pass: a re-delivered batch is said under the decision, not only
    in the rules table (newcomer review 11, finding 13)."""
    for r in rules:
        s = r.get("statistic") or {}
        if r["rule"] == "copies.max_copies_rate" and r["status"] != "pass" and s.get("headline"):
            anchor = s.get("anchor") or {}
            if s["excess"] <= 0 and anchor.get("problem"):  # the anchor test alone blocks (A26d-4): its problem
                return (f"{s['headline']}, but the anchor test cannot run: {anchor['problem']} ({r['rule']})",)
            if s["excess"] <= 0 and (anchor.get("excess") or 0) > 0:  # ... or its excess
                return (
                    f"{s['headline']}, {anchor['excess']} more than the anchor {anchor['version']}'s repetition "
                    f"explains: {anchor['copies']} copies of its records on the {anchor['rows_added']} rows since "
                    f"it ({r['rule']})",
                )
            return (
                f"{s['headline']}, {s['excess']} more than a delivery of {s['rows_added']} rows repeats the base's "
                f"records ({r['rule']})",
            )
    return ()


def check_decision(report: dict) -> Decision:
    """A check's decision and the rules behind it (``"BLOCKED by 3 of 19 rules: ..."``)."""
    rules = report["rules"]
    decision = report["decision"]
    deciding = {"blocked": "block", "error": "error", "warned": "warn"}.get(decision)
    named = [r["rule"] for r in rules if r["status"] == deciding] if deciding else []
    if decision == "pass":
        because = f"all {plural(len(rules), 'rule')}" if rules else "(no rule ran)"
    elif decision == "error":
        failed = f"{len(named)} of {plural(len(rules), 'rule')} could not run: {', '.join(named)}"
        unread = unread_data(report)
        # the cause first: the data was not fetched, not a detector failure (newcomer review 11, finding 15)
        fetch = f"{report['version']}'s data cannot be read ({unread}); fetch it first (e.g. dvc pull or dvc checkout)"
        because = f": {fetch}, so {failed}" if unread else f": {failed}"
    elif decision == "warned":
        because = f"from {len(named)} of {plural(len(rules), 'rule')}: {', '.join(named)}"
    else:
        because = f"by {len(named)} of {plural(len(rules), 'rule')}: {', '.join(named)}"
    copies = copies_lines(rules)  # a re-delivered batch first: no detector's sentence says it

    det = detection(report)
    shifted = batch_shift_line(report)
    lines = (
        (det.sentence[0].upper() + det.sentence[1:], *det.blocked_lines, *([shifted] if shifted else []))
        if det is not None
        else ()
    )
    return Decision(
        DECISION_TONE.get(decision, "error"),
        DECISION.get(decision, decision),
        because,
        ". ".join((*copies, *lines)) if copies or det is not None else None,
        (*copies, *lines),
    )


def verdict_line(kind: str, report: dict) -> str:
    """A report's verdict in one line, for stderr when the report itself went to a file (``--out``): a CI log
    then shows why a step failed without opening the artifact (newcomer review 10, finding 25).

    ``"prov check v4 --base v3: BLOCKED by 3 of 28 rules: ..."``, ``"prov diff v3 → v4: FLAGGED: 59 of 60 ..."``.
    """
    if kind == "check":
        return f"prov check {report['version']} --base {report['base']}: {check_decision(report).sentence}"
    v = diff_verdict(report)
    return f"prov diff {side_text(report['base'])} → {side_text(report['new'])}: {v.word.upper()}: {v.sentence}"
