"""``prov check``'s text report: decision, rules (deciding ones first), flagged and blocked records, sources.

The tables a diff and findings report share with it are in ``text_tables.py``.
"""

from __future__ import annotations

import shlex

from provenance.gate.base_release import standing_line
from provenance.lineage.standing import not_trusted_line
from provenance.report.audit_words import audit_line
from provenance.report.detector_summary import detection
from provenance.report.drift_words import DRIFT_GUIDE, drift_warned
from provenance.report.flagged import flagged_records, label_groups
from provenance.report.interface import PLAIN, Medium
from provenance.report.next_steps import release_steps
from provenance.report.rule_rows import rule_rows
from provenance.report.schema_words import schema_change_lines
from provenance.report.terminal import Col, Grid, Writer
from provenance.report.text_tables import (
    FLAGGED_LISTED,
    LISTED,
    RULE_STYLE,
    TONE,
    cut,
    detectors_grid,
    escaped_cell,
    flagged_blocks,
    flagged_grid,
    sources_grid,
)
from provenance.report.verdict import check_decision
from provenance.report.waiver_words import idle_waiver_text, ignored_waivers_text, waived_elsewhere_text, waivers_text
from provenance.report.wording import check_command, plural, record_text


def render_check(r: dict, medium: Medium = PLAIN) -> str:
    """The check report: decision, rules (deciding ones first), flagged records, other blocked records, sources."""
    out = Writer(medium)
    d = check_decision(r)
    out.line(
        ("prov check ", "bold"),
        f"{r['version']} --base {r['base']}: ",
        (d.word, TONE[d.tone]),
        d.sentence[len(d.word) :],
    )
    for sentence in d.detection_lines:
        out.line(sentence + ".")
    ignored = ignored_waivers_text(r["waivers"]["ignored"])
    if ignored:
        out.line((ignored, "yellow"))
    steps = release_steps(r)
    if steps:
        out.line(("To release:", "bold"))
        for step in steps:
            out.bullet(step.text)
    if r.get("attestation"):  # here, not under 50 lines of tables: it is what --attest was run for
        out.line(f"Attestation written: {r['attestation']}")
    out.line(f"Policy {r['policy']['path'] or 'default'} ({r['policy']['digest'][:12]})")
    if (base_line := standing_line(r["base"], r["version"], r.get("base_release"))) is not None:
        out.line((base_line, "" if r["base_release"]["standing"] in ("released", "first") else "yellow"))
    for line in schema_change_lines(r.get("summary") or {}):
        out.line(line)
    for item in r.get("lineage_not_trusted") or []:  # the lineage rules counted these records unattributed
        out.line(("under your pins, ", "yellow"), not_trusted_line(item))
    out.line()

    grid = Grid(
        "Rules",
        [
            Col("verdict", "fixed"),
            Col("rule", "fixed"),
            Col("measured", "fixed", "right", drop=2),
            Col("expected", "wrap", drop=1),
            Col("reason", "flex", min_width=30),
        ],
        # no Detectors table when no detector ran (a check blocked by integrity alone): point to none
        note="(deciding rules first; each detector's rule is in Detectors below)"
        if detectors_grid(r) is not None
        else "(deciding rules first)",
    )
    for rule in rule_rows(r):
        if rule.status == "pass" and rule.rule.startswith("detectors.") and rule.rule != "detectors.run":
            continue  # a detector that ran: the Detectors table says so, with what it alone would flag
        style = "dim" if rule.status == "pass" else ""
        grid.add(
            escaped_cell(rule.word, RULE_STYLE.get(rule.word, "")),
            rule.rule,
            rule.measured,
            rule.expected,
            escaped_cell(rule.reason, style),
            # a passed rule's reason ends in "…" on one line, unless it is all the row says (no
            # measurement, no bound): then it wraps, or the reader would learn nothing from the row
            wrap=rule.status != "pass" or (rule.measured == "-" and rule.expected == "-"),
        )
    out.grid(grid)

    see_all = f"{check_command(r)} --format json"
    # the records that block first: a lineage rule's 3 records came after 20 flagged records of expected new classes
    # that count for nothing (newcomer review 30, finding 5); a detector rule's records are the flagged ones
    detectors_block = any(x["rule"].startswith("detectors.") and x["status"] == "block" for x in r.get("rules") or [])
    if not detectors_block:
        _rule_records(out, r, see_all)
    _flagged_table(out, r, see_all, medium)
    if detectors_block:
        _rule_records(out, r, see_all)
    out.grid(sources_grid(r))
    out.grid(detectors_grid(r))

    if drift_warned(r):
        out.line(DRIFT_GUIDE)
    for w in r["waivers"]["ignored"]:
        out.line(("waiver ignored", "yellow"), f" ({w['origin']}): {w['why']}")
    if r["waivers"]["honoured"]:
        out.line(waivers_text(r["waivers"]["honoured"]))
    for w in r["waivers"]["honoured"]:
        if w.get("why"):
            out.bullet(idle_waiver_text(w))
    if r.get("audit"):
        out.line(audit_line(r["audit"]))
    return out.text()


def _flagged_table(out: Writer, r: dict, see_all: str, medium: Medium) -> None:
    """The Flagged records table (its label groups over it, ``--wide`` blocks under it); its note counts the records
    of expected new classes it lists, which no rule judged."""
    # the listing command, as prov diff's hint names it (newcomer review 9, finding 4); it marks the waived ones
    flagged = flagged_records(r)
    for line in label_groups(flagged):
        out.line(line)
    listed = flagged_grid(flagged, f"prov findings {shlex.quote(r['version'])}, or {see_all}", wide=medium.wide)
    new_classes = detection(r)
    if new_classes is not None and new_classes.new_classes and listed.note.endswith(")"):
        listed.note = f"{listed.note[:-1]}; {new_classes.new_classes} in expected new classes, not judged)"
    out.grid(listed)
    if medium.wide:  # the records the table lists, each whole (newcomer review 16, finding 7)
        flagged_blocks(out, flagged[:FLAGGED_LISTED])
    if (elsewhere := waived_elsewhere_text(r.get("findings") or [], r["version"])) is not None:
        out.line((elsewhere, "yellow"))


def _rule_records(out: Writer, r: dict, see_all: str) -> None:
    """Each blocking or warning rule's records (not a detector rule's: the Flagged records table lists those)."""
    for rule in rule_rows(r):
        if rule.status == "pass" or rule.rule.startswith("detectors.") or not rule.records:
            continue
        shown = rule.records[:LISTED]
        note = cut(len(shown), rule.count, see_all) if rule.count > len(shown) else ""
        if len(rule.records) < rule.count:  # the JSON names only the first 20 too (records_truncated): say so
            note = f"(first {len(shown)} of {rule.count}; {see_all} lists {len(rule.records)})"
        grid = Grid(f"{rule.rule}: {plural(rule.count, 'record')}", [Col("record", "flex")], note=note)
        for rec in shown:
            grid.add(escaped_cell(record_text(rec)), wrap=True)
        out.grid(grid)
