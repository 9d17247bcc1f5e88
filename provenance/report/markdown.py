"""Markdown for a pull-request comment or a CI job summary (GitHub-flavoured tables), for diff and check.

The verdict comes first (with the detectors), then the flagged records (one row each,
grouped by record, worst first, their evidence folded below), the per-source view by
lineage, and each rule and detector against what it allows; the long lists are folded in
``<details>``. Every list says when it was cut and how to see all of it. Every value from
the data or the store goes through ``provenance.escaping`` (``markdown`` for text,
``html`` inside HTML tags): a label or source cannot inject markup or links.
"""

from __future__ import annotations

import re
from typing import Any

from provenance.escaping import html, markdown
from provenance.gate.base_release import standing_line
from provenance.lineage.standing import not_trusted_line
from provenance.names import short_digest
from provenance.report.audit_words import audit_line
from provenance.report.detector_summary import detection, detector_rows
from provenance.report.drift_words import DRIFT_GUIDE, drift_text, drift_warned, shift_and_columns
from provenance.report.flagged import FlaggedRecord, flagged_records, label_groups
from provenance.report.interface import PLAIN, Formatter, Medium
from provenance.report.next_steps import Step, release_steps
from provenance.report.rule_rows import rule_rows
from provenance.report.schema_words import rekeyed_text, summary_schema_changes
from provenance.report.source_rows import COPIES_NOTE, SOURCES_NOTE, copies_shown, source_origins, source_rows
from provenance.report.verdict import check_decision, diff_verdict
from provenance.report.waiver_words import idle_waiver_text, ignored_waivers_text, waived_elsewhere_text, waivers_text
from provenance.report.wording import (
    SUMMARY_ROWS,
    base_to_new,
    change_counts,
    change_location,
    change_text,
    check_command,
    diff_command,
    p_text,
    plural,
    record_text,
    side_text,
    source_name,
    stat_text,
    subject_text,
)

LISTED = 20  # rows per list before "first 20 of N"
ICON = {"ok": "✅", "warn": "🟡", "bad": "⛔", "error": "⚠️"}  # a check's decision
DIFF_ICON = {"ok": "✅", "warn": "🟡"}  # a diff decides nothing: anything flagged beyond a clean delta is ⚠️
_PLAIN = re.compile(r"[A-Za-z0-9._-]+")


class Markup(str):
    """A cell that is already Markdown (built from escaped values), placed as it is."""


def _cell(value: Any) -> str:
    return value if isinstance(value, Markup) else markdown(value)


def _code(value: Any) -> Markup:
    """A digest, rule or version name in a code span; anything but plain ``[A-Za-z0-9._-]`` text escaped instead
    (a code span shows backslashes literally, so an escaped value cannot go inside one)."""
    text = str(value)
    return Markup(f"`{text}`" if _PLAIN.fullmatch(text) else markdown(text))


def _command_span(command: str) -> str:
    """A shell command in a code span, which shows its quotes and ``$`` as they are, so the reader copies what
    sh must read; escaped words instead where it holds a backtick or a control character (from a source's or
    version's name), which a code span cannot hold."""
    plain = command.isprintable() and "`" not in command
    return f"`{command}`" if plain else markdown(command)


def _steps_cell(step: Step) -> str:
    """A "To release:" step: its words, its command (:func:`_command_span`), then the words after it."""
    if step.command is None:
        return markdown(step.text)
    return f"{markdown(step.what)}: {_command_span(step.command)}{markdown(step.after)}"


def _table(headers: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out + [""]


def _cut(shown: int, total: int, see_all: str) -> str:
    return f"first {shown} of {total}; all: {_command_span(see_all)}" if total > shown else ""


def flagged_section(records: list[FlaggedRecord], see_all: str) -> list[str]:
    """The flagged records, one row each (digest, score, label, source, lineage, locator, the detectors
    that flag it, the strongest evidence), then each listed record's evidence folded below."""
    if not records:
        return []
    shown = records[:LISTED]
    cut = _cut(len(shown), len(records), see_all)
    lines = [f"#### Flagged records ({cut + ', worst first' if cut else f'{len(records)}, worst first'})", ""]
    groups = label_groups(records)
    lines += [f"- {markdown(line)}" for line in groups] + ([""] if groups else [])
    rows = []
    for r in shown:
        by = r.flagged_by_cell("combined evidence only")
        digest = Markup(f"{_code(r.digest[:12])} extreme") if r.extreme else _code(r.digest[:12])
        rows.append([digest, f"{r.score:.3f}", r.label_text, r.source_text, r.lineage_words])
        rows[-1] += [r.where, by, r.headline]
    headers = ["digest", "score", "label", "source", "lineage", "locator", "flagged by", "strongest evidence"]
    lines += _table(headers, rows)
    lines += ["<details><summary>Evidence, record by record</summary>", ""]
    for r in shown:
        lines.append(f"- {_code(r.digest)}: {markdown(r.flagged_by)}")
        lines += [f"  - {markdown(e.detector)} (p = {markdown(e.p_value)}): {markdown(e.text)}" for e in r.evidence]
        if not r.evidence:
            lines.append(f"  - {markdown(r.explanation)}")
    return lines + ["", "</details>", ""]


def sources_section(report: dict) -> list[str]:
    """The per-source view: records, what each source added by lineage, relabels, removals, flags, signals."""
    rows = source_rows(report)
    if not rows:
        return []
    detected = any(r.flagged is not None for r in rows)
    copies = copies_shown(rows)
    headers = ["source", "base → new", "added"] + (["copies"] if copies else [])
    headers += ["attested", "relabeled after source", "unattributed", "relabeled"]
    headers += ["removed"] + (["flagged"] if detected else []) + ["flagged signals"]
    table = []
    for r in rows:
        name = Markup(f"**{markdown(r.name)}**") if r.signals or r.flagged else r.name
        row = [name, base_to_new(r.base, r.new), r.added] + ([r.copies] if copies else [])
        row += [r.attested, r.relabeled_after_source, r.unattributed]
        row += [r.relabeled, r.removed] + ([r.flagged or 0] if detected else []) + [", ".join(r.signals) or "-"]
        table.append(row)
    note = SOURCES_NOTE + (f"; {COPIES_NOTE}" if copies else "")
    return [f"#### Sources ({note})", ""] + _table(headers, table)


def detectors_section(report: dict) -> list[str]:
    """Each detector (ran or error; what it alone flags against a clean delta's most), then the combined verdict."""
    det = detection(report)
    if det is None:
        return []
    fpr = f" at FPR {det.fpr:g}" if det.fpr is not None else ""
    rows: list[list] = []
    for d in detector_rows(report):
        expected = "-" if d.expected_at_most is None else d.expected_at_most
        rows.append([d.detector, d.verdict, d.flagged, expected, d.scored])
    verdict = f"**{markdown(det.verdict)}**" if det.bad else markdown(det.verdict)
    expected = "-" if det.expected_at_most is None else det.expected_at_most
    rows.append([Markup("**combined**"), Markup(verdict), det.flagged, expected, det.scored])
    title = f"#### Detectors ({plural(det.ran, 'detector')} ran{fpr}; the combined verdict decides)"
    return [title, ""] + _table(["detector", "verdict", "flags alone", "expected at most", "scored"], rows)


def render_diff(report: dict, medium: Medium = PLAIN) -> str:
    """The diff report: verdict, flagged records, sources, detectors, flagged signals; the rest folded."""
    s = report["summary"]
    base, new = report["base"]["name"], report["new"]["name"]
    v = diff_verdict(report)
    changes = "; ".join(change_counts(s))
    lines = [
        f"### {DIFF_ICON.get(v.tone, '⚠️')} prov diff {_code(base)} → {_code(new)}: {markdown(v.word)}",
        "",
        f"**{markdown(v.sentence)}**",
        "",
        f"{markdown(side_text(report['base']))} → {markdown(side_text(report['new']))}. "
        f"Changes: {markdown(changes or 'none')}.",
        "",
    ]
    if report.get("audit"):
        lines += [markdown(audit_line(report["audit"])), ""]
    for change in summary_schema_changes(s):  # columns retyped alike: one line
        lines += [f"Schema change: {markdown(change)}", ""]
    if rekeyed := rekeyed_text(s):
        lines += [f"{markdown(rekeyed)}.", ""]
    if report["detect"]:
        lines += flagged_section(flagged_records(report), f"{diff_command(report)} --detect --format json")
    lines += sources_section(report)
    lines += detectors_section(report)
    if report["detect"]:
        lines += [markdown(drift_text(report.get("drift"), *shift_and_columns(report))), ""]
    lines += ["#### Changes", ""] + _table(["change", "records"], [[label, s[key]] for key, label in SUMMARY_ROWS])
    flagged = [g for g in report["signals"] if g["flagged"]]
    if flagged:
        lines += ["#### Flagged signals", ""]
        lines += _table(
            ["severity", "signal", "subject", "statistic", "p", "explanation"],
            [
                [g["severity"], g["name"], subject_text(g["subject"]), stat_text(g["statistic"])]
                + [p_text(g["statistic"]), g["explanation"]]
                for g in flagged
            ],
        )
    changed = [r for r in report["by_class"] if r["added"] or r["removed"] or r["relabeled_from"] or r["relabeled_to"]]
    if changed:
        keys = ("base", "new", "added", "removed", "relabeled_from", "relabeled_to")
        lines += [f"<details><summary>Classes that changed ({len(changed)})</summary>", ""]
        lines += _table(
            ["class", *(k.replace("_", " ") for k in keys)], [[r["label"], *(r[k] for k in keys)] for r in changed]
        )
        lines += ["</details>", ""]
    if report["relabel_pairs"]:
        pairs = report["relabel_pairs"]
        lines += [f"<details><summary>Relabels by class pair ({len(pairs)})</summary>", ""]
        lines += _table(
            ["old → new", "records", "rate"],
            [[f"{r['old']} → {r['new']}", r["count"], f"{100 * r['rate']:.2f}%"] for r in pairs[:LISTED]],
        )
        lines += ["</details>", ""]
    lines += _change_lists(report, f"{diff_command(report)} --format json")
    return "\n".join(lines).rstrip() + "\n"


def _change_lists(report: dict, see_all: str) -> list[str]:
    s, lines = report["summary"], []
    origins = source_origins(report)
    for kind, title, total in (
        ("relabeled", "Relabeled records", s["relabeled"]),
        ("conflicting", "Records with conflicting labels", s.get("conflicting_labels", 0)),
        ("added", "Added records", s["added"]),
        ("removed", "Removed records", s["removed"]),
    ):
        items = report["changes"].get(kind) or []
        if not items:
            continue
        shown = items[:LISTED]
        summary = f"{title} ({_cut(len(shown), max(total, len(items)), see_all) or len(items)})"
        lines += [f"<details><summary>{html(summary)}</summary>", ""]
        rows = []
        for c in shown:
            rows.append(
                [
                    _code(short_digest(c["digest"])),
                    change_text(kind, c),
                    source_name(c["source"], origins.get(c["source"])),
                    change_location(report, kind, c),
                ]
            )
        lines += _table(["digest", "label", "source", "locator"], rows) + ["</details>", ""]
    return lines


def render_check(r: dict, medium: Medium = PLAIN) -> str:
    """The check report: decision, deciding rules, flagged records, other blocked records, sources, detectors."""
    d = check_decision(r)
    see_all = f"{check_command(r)} --format json"
    head = f"prov check {markdown(r['version'])} --base {markdown(r['base'])}: {markdown(d.sentence)}"
    lines = [f"### {ICON[d.tone]} {head}", ""]
    for sentence in d.detection_lines:
        lines += [f"**{markdown(sentence)}.**", ""]
    ignored = ignored_waivers_text(r["waivers"]["ignored"])
    if ignored:
        lines += [f"**{markdown(ignored)}.**", ""]
    steps = release_steps(r)
    if steps:
        lines += ["**To release:**", ""] + [f"- {_steps_cell(step)}" for step in steps] + [""]
    lines += [f"Policy {markdown(r['policy']['path'] or 'default')} ({_code(r['policy']['digest'][:12])}).", ""]
    if (base_line := standing_line(r["base"], r["version"], r.get("base_release"))) is not None:
        lines += [f"{markdown(base_line)}.", ""]
    for item in r.get("lineage_not_trusted") or []:  # the lineage rules counted these records unattributed
        lines += [f"**Under your pins, {markdown(not_trusted_line(item))}.**", ""]
    if r.get("audit"):
        lines += [markdown(audit_line(r["audit"])), ""]
    rules = rule_rows(r)
    deciding = [x for x in rules if x.status != "pass"]
    passed = [x for x in rules if x.status == "pass"]
    headers = ["verdict", "rule", "measured", "expected", "reason"]

    def row(x) -> list:
        word = Markup(f"**{markdown(x.word)}**") if x.status != "pass" else x.word
        return [word, _code(x.rule), x.measured, x.expected, x.reason]

    if deciding:
        lines += _table(headers, [row(x) for x in deciding])
    if passed:
        lines += [f"<details><summary>{plural(len(passed), 'rule')} passed</summary>", ""]
        lines += _table(headers, [row(x) for x in passed]) + ["</details>", ""]
    # the records that block first, as in text (newcomer review 30, finding 5)
    detectors_block = any(x.rule.startswith("detectors.") and x.status == "block" for x in rules)
    flagged = flagged_section(flagged_records(r), see_all)
    if (elsewhere := waived_elsewhere_text(r.get("findings") or [], r["version"])) is not None:
        flagged += [f"**{markdown(elsewhere)}.**", ""]
    lines += [] if detectors_block else _rule_records(deciding, see_all)
    lines += flagged + (_rule_records(deciding, see_all) if detectors_block else [])
    lines += sources_section(r)
    lines += detectors_section(r)
    if drift_warned(r):
        lines += [markdown(DRIFT_GUIDE) + ".", ""]
    if r["waivers"]["ignored"]:
        lines += ["**Ignored waivers**", ""]
        lines += [f"- {markdown(w['origin'])}: {markdown(w['why'])}" for w in r["waivers"]["ignored"]] + [""]
    if r["waivers"]["honoured"]:
        lines += [f"{waivers_text(r['waivers']['honoured'])}.", ""]
        idle = [w for w in r["waivers"]["honoured"] if w.get("why")]
        lines += [f"- {markdown(idle_waiver_text(w))}" for w in idle] + ([""] if idle else [])
    if r.get("attestation"):
        lines += [f"Attestation written: {_code(r['attestation'])}.", ""]
    return "\n".join(lines).rstrip() + "\n"


FORMATTER = Formatter(diff=render_diff, check=render_check)


def _rule_records(deciding: list, see_all: str) -> list[str]:
    """Each deciding rule's records (not a detector rule's: the Flagged records section lists those)."""
    lines: list[str] = []
    for rule in deciding:
        if rule.rule.startswith("detectors.") or not rule.records:
            continue
        shown = rule.records[:LISTED]
        cut = _cut(len(shown), rule.count, see_all)
        if len(rule.records) < rule.count:  # the JSON names only the first 20 too (records_truncated): say so
            cut = f"first {len(shown)} of {rule.count}; {_command_span(see_all)} lists {len(rule.records)}"
        lines += [f"#### {markdown(rule.rule)}: {plural(rule.count, 'record')}{f' ({cut})' if cut else ''}", ""]
        lines += [f"- {markdown(record_text(rec))}" for rec in shown] + [""]
    return lines
