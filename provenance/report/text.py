"""Text for a terminal: the verdict first, one line per flagged record, then the per-source view.

Tables are rich tables at the medium's width (the terminal's, or 120 columns for a file or
pipe); long text wraps between words or, in the one-line-per-record tables, ends with
"…". Colour only on a terminal without ``NO_COLOR``. Every list says when it was cut and
how to see all of it.
"""

from __future__ import annotations

from rich.text import Text

from provenance.escaping import visible
from provenance.report.detector_summary import detection, detector_rows
from provenance.report.flagged import FlaggedRecord, flagged_record, flagged_records
from provenance.report.interface import PLAIN, Formatter, Medium
from provenance.report.rule_rows import rule_rows
from provenance.report.source_rows import source_origins, source_rows
from provenance.report.terminal import Cell, Col, Grid, Writer
from provenance.report.verdict import check_decision, diff_verdict
from provenance.report.wording import (
    DRIFT_GUIDE,
    SUMMARY_ROWS,
    drift_text,
    drift_warned,
    location_text,
    p_text,
    plural,
    record_text,
    relabel_text,
    side_text,
    source_name,
    stat_text,
    subject_text,
    waivers_text,
)
from provenance.store.coverage import audit_line

FLAGGED_LISTED = 20  # flagged records listed before "... N more"
LISTED = 10  # records listed per kind of change, rules' records, classes
TONE = {"ok": "green", "warn": "yellow", "bad": "bold red", "error": "bold magenta"}
RULE_STYLE = {"passed": "green", "warned": "yellow", "blocked": "bold red", "error": "bold magenta"}


def _cell(text: str, style: str = "") -> Text:
    """Untrusted text as a cell: escaped first (rich's Text drops a carriage return, which would
    hide it), never read as markup."""
    return Text(visible(text), style=style)


def _cut(shown: int, total: int, see_all: str) -> str:
    """The note after a list's title when it was cut: how many it shows, and how to see all."""
    return f"(first {shown} of {total}; all: {see_all})" if total > shown else ""


def flagged_grid(records: list[FlaggedRecord], see_all: str) -> Grid:
    """One line per flagged record: digest, score, label, source, lineage, locator, detectors, evidence."""
    shown = records[:FLAGGED_LISTED]
    grid = Grid(
        "Flagged records",
        [
            Col("digest", "fixed"),
            Col("score", "fixed", "right"),
            Col("label", "fixed", max_width=16),
            Col("source", "fixed", max_width=26),
            Col("lineage", "fixed", drop=3),
            Col("locator", "fixed", max_width=24, drop=4),
            Col("flagged by", "fixed", max_width=44),
            Col("strongest evidence", "flex", drop=2, min_width=20),
        ],
        note=_cut(len(shown), len(records), see_all) if len(records) > len(shown) else f"({len(records)}, worst first)",
    )
    for r in shown:
        by = f"{len(r.detectors)}: {', '.join(r.detectors)}" if r.detectors else "combined only"
        by = by if r.flagged else "not flagged"
        grid.add(
            r.digest[:12],
            f"{r.score:.3f}",
            _cell(r.label_text),
            _cell(r.source_text),
            r.lineage_words,
            _cell(r.where),
            _cell(by, "red" if r.extreme else ""),
            _cell(r.headline),
        )
    return grid


def sources_grid(report: dict) -> Grid | None:
    """The per-source view: records, what each source added by lineage, relabels, removals, flags, signals."""
    rows = source_rows(report)
    if not rows:
        return None
    detected = any(r.flagged is not None for r in rows)
    columns = [
        Col("source", "fixed", max_width=26),
        Col("base → new", "fixed", "right", drop=3),
        Col("added", "fixed", "right"),
        Col("attested", "wrap", "right"),
        Col("relabeled after source", "wrap", "right"),
        Col("unattributed", "wrap", "right"),
        Col("relabeled", "wrap", "right", drop=2),
        Col("removed", "wrap", "right", drop=4),
    ]
    columns += [Col("flagged", "fixed", "right")] if detected else []
    columns += [Col("flagged signals", "wrap", drop=1)]
    grid = Grid("Sources", columns, note="(worst first; added records by lineage)")
    for r in rows:
        cells: list[Cell] = [
            _cell(r.name, "bold" if r.signals or r.flagged else ""),
            f"{r.base} → {r.new}",
            str(r.added),
            str(r.attested),
            _cell(str(r.relabeled_after_source), "red" if r.relabeled_after_source else ""),
            _cell(str(r.unattributed), "yellow" if r.unattributed else ""),
            str(r.relabeled),
            str(r.removed),
        ]
        if detected:
            cells.append(_cell(str(r.flagged or 0), "red" if r.flagged else ""))
        cells.append(_cell(", ".join(r.signals) or "-", "red" if r.signals else ""))
        grid.add(*cells)
    return grid


def detectors_grid(report: dict) -> Grid | None:
    """Each detector: ran or error, how many it alone would flag against a clean delta's most; then combined."""
    det = detection(report)
    if det is None:
        return None
    fpr = f" at FPR {det.fpr:g}" if det.fpr is not None else ""
    grid = Grid(
        "Detectors",
        [
            Col("detector", "fixed"),
            Col("verdict", "wrap"),
            Col("would flag alone", "wrap", "right"),
            Col("expected at most", "wrap", "right"),
            Col("scored", "fixed", "right", drop=1),
        ],
        note=f"({plural(det.ran, 'detector')} ran{fpr}; the combined verdict decides)",
    )
    for d in detector_rows(report):
        style = "bold magenta" if d.word != "ran" else ("yellow" if d.above_expected else "")
        expected = "-" if d.expected_at_most is None else str(d.expected_at_most)
        grid.add(d.detector, _cell(d.verdict, style), str(d.flagged), expected, str(d.scored))
    if det.expected_at_most is None:
        verdict, style = "flagged", ""
    else:
        verdict = "flagged beyond chance" if det.beyond_chance else "flagged within chance"
        style = "bold red" if det.beyond_chance else "green"
    expected = "-" if det.expected_at_most is None else str(det.expected_at_most)
    grid.add(_cell("combined", "bold"), _cell(verdict, style), str(det.flagged), expected, str(det.scored))
    return grid


def _verdict_line(out: Writer, tone: str, word: str, sentence: str) -> None:
    out.line((word.upper(), TONE[tone]), ": ", sentence)


def _changes_line(s: dict) -> str:
    parts = [f"{s[key]} {label.removeprefix('records ')}" for key, label in SUMMARY_ROWS if s.get(key)]
    return "Changes: " + ("; ".join(parts) if parts else "none")


def render_diff(report: dict, medium: Medium = PLAIN) -> str:
    """The diff report: verdict, flagged records, sources, detectors, flagged signals, then the changes."""
    out = Writer(medium)
    base, new = report["base"]["name"], report["new"]["name"]
    out.line(("prov diff ", "bold"), side_text(report["base"]), " → ", side_text(report["new"]))
    v = diff_verdict(report)
    _verdict_line(out, v.tone, v.word, v.sentence)
    if report.get("audit"):
        out.line(audit_line(report["audit"]))
    out.line(_changes_line(report["summary"]))
    for change in report["summary"].get("schema_changes") or []:  # one line each, not every record added and removed
        out.line(f"schema change: {change}")
    if report["summary"].get("rekeyed"):
        out.line(
            f"{plural(report['summary']['rekeyed'], 'record')} re-keyed by the schema change (same locator, new digest)"
        )
    out.line()
    if report["detect"]:
        see_all = f"prov diff {base} {new} --detect --format json, or prov findings {new}"
        out.grid(flagged_grid(flagged_records(report), see_all))
    out.grid(sources_grid(report))
    out.grid(detectors_grid(report))
    if report["detect"]:
        out.line(drift_text(report.get("drift")))
        out.line()
    _signals(out, report["signals"])
    out.grid(_classes_grid(report))
    out.grid(_pairs_grid(report))
    _change_lists(out, report, f"prov diff {base} {new} --format json")
    return out.text()


def _signals(out: Writer, signals: list[dict]) -> None:
    """The flagged signals, one paragraph each (they carry a sentence of explanation)."""
    flagged = [g for g in signals if g["flagged"]]
    if not flagged:
        return
    rest = len(signals) - len(flagged)
    note = f" ({len(flagged)} flagged" + (f"; {rest} not flagged: --format json)" if rest else ")")
    out.line(("Signals", "bold"), note)
    for g in flagged:
        p = p_text(g["statistic"])
        numbers = stat_text(g["statistic"]) + (f", p {p}" if p != "-" else "")
        style = "red" if g["severity"] == "high" else "yellow"
        head = f" {g['name']} ({subject_text(g['subject'])}; {numbers}): "
        out.line((g["severity"], style), head, g["explanation"], indent=2)
    out.line()


def _classes_grid(report: dict) -> Grid | None:
    keys = ("base", "new", "added", "removed", "relabeled_from", "relabeled_to")
    classes = [r for r in report["by_class"] if any(r[k] for k in keys[2:])]
    if not classes:
        return None
    shown = classes[:LISTED]
    grid = Grid(
        "Classes that changed",
        [Col("class", "fixed", max_width=24)] + [Col(k.replace("_", " "), "wrap", "right") for k in keys],
        note=_cut(len(shown), len(classes), "--format json"),
    )
    for r in shown:
        grid.add(_cell(r["label"]), *(str(r[k]) for k in keys))
    return grid


def _pairs_grid(report: dict) -> Grid | None:
    pairs = report["relabel_pairs"]
    if not pairs:
        return None
    shown = pairs[:LISTED]
    grid = Grid(
        "Relabels by class pair",
        [Col("old → new", "wrap"), Col("records", "fixed", "right"), Col("rate", "fixed", "right")],
        note=_cut(len(shown), len(pairs), "--format json"),
    )
    for r in shown:
        pair = relabel_text({"old_labels": [r["old"]], "new_labels": [r["new"]], **r})
        grid.add(_cell(pair), str(r["count"]), f"{100 * r['rate']:.2f}%")
    return grid


CHANGE_LISTS = (
    ("relabeled", "Relabeled records", "relabeled"),
    ("conflicting", "Records with conflicting labels", "conflicting_labels"),
    ("added", "Added records", "added"),
    ("removed", "Removed records", "removed"),
    ("duplicates", "Duplicated records", "duplicates_added"),
    ("source_changed", "Records whose source changed", "source_changed"),
)
"""The record lists of a diff: (``changes`` key, title, ``summary`` count)."""


def _change_text(kind: str, c: dict) -> str:
    if kind == "relabeled":
        return relabel_text(c)
    if kind == "conflicting":
        return " / ".join(c["labels"])
    if kind == "duplicates":
        return f"{c['copies']} copies (base {c['base_copies']})"
    if kind == "source_changed":
        return f"{', '.join(map(source_name, c['old_sources']))} → {', '.join(map(source_name, c['new_sources']))}"
    return c["label"]


def _change_lists(out: Writer, report: dict, see_all: str) -> None:
    origins = source_origins(report)
    for kind, title, count in CHANGE_LISTS:
        items = report["changes"].get(kind) or []
        if not items:
            continue
        shown = items[:LISTED]
        grid = Grid(
            title,
            [
                Col("digest", "fixed"),
                Col("sources" if kind == "source_changed" else "label", "flex"),
                Col("source", "fixed", max_width=26),
                Col("locator", "fixed", max_width=30, drop=1),
            ],
            note=_cut(len(shown), max(report["summary"].get(count) or 0, len(items)), see_all),
        )
        for c in shown:
            where = location_text(c.get("location"), c.get("locator"))
            grid.add(
                c["digest"][:12],
                _cell(_change_text(kind, c)),
                _cell(source_name(c["source"], origins.get(c["source"]))),
                _cell(where),
            )
        out.grid(grid)


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
    if d.detection:
        out.line(d.detection[0].upper() + d.detection[1:] + ".")
    out.line(f"Policy {r['policy']['path'] or 'default'} ({r['policy']['digest'][:12]})")
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
        note="(deciding rules first; each detector's rule is in Detectors below)",
    )
    for rule in rule_rows(r):
        if rule.status == "pass" and rule.rule.startswith("detectors.") and rule.rule != "detectors.run":
            continue  # a detector that ran: the Detectors table says so, with what it alone would flag
        style = "dim" if rule.status == "pass" else ""
        grid.add(
            _cell(rule.word, RULE_STYLE.get(rule.word, "")),
            rule.rule,
            rule.measured,
            rule.expected,
            _cell(rule.reason, style),
            wrap=rule.status != "pass",
        )
    out.grid(grid)

    see_all = f"prov check {r['version']} --base {r['base']} --format json"
    out.grid(flagged_grid(flagged_records(r), see_all))
    for rule in rule_rows(r):
        if rule.status == "pass" or rule.rule.startswith("detectors.") or not rule.records:
            continue
        shown = rule.records[:LISTED]
        grid = Grid(
            f"{rule.rule}: {plural(rule.count, 'record')}",
            [Col("record", "flex")],
            note=_cut(len(shown), rule.count, see_all) if rule.count > len(shown) else "",
        )
        for rec in shown:
            grid.add(_cell(record_text(rec)), wrap=True)
        out.grid(grid)
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
            out.line(("waiver had nothing to waive", "yellow"), f" ({w['origin']}): {w['why']}")
    if r.get("attestation"):
        out.line(f"attestation written: {r['attestation']}")
    if r.get("audit"):
        out.line(audit_line(r["audit"]))
    return out.text()


def render_findings(result: dict, medium: Medium = PLAIN) -> str:
    """``prov findings V``: the stored run's combined verdict, each detector (ran or error, what it alone
    flags), then the records one line each, worst first (``stored_findings``'s dict, see
    ``schemas/findings.schema.json``)."""
    out = Writer(medium)
    version = result.get("version") or ""
    combined = next((d for d in result["detectors"] if d["detector"] == "combined"), None)
    verdict = (
        f"{combined['flagged']} of {combined['scored']} records flagged by the combined verdict "
        f"(false-alarm rate {combined['fpr']:g})"
        if combined
        else "no combined verdict stored"
    )
    out.line(("Findings ", "bold"), f"for {version} against {result['base']} (run {result['run']}): {verdict}")
    grid = Grid("Detectors", [Col("detector", "fixed"), Col("state", "flex", min_width=30)])
    for d in result["detectors"]:
        if d["detector"] == "combined":
            continue
        if d["status"] == "ran":
            grid.add(d["detector"], f"ran: {d['flagged']} of {d['scored']} would be flagged by it alone")
        else:
            state = _cell(f"ERROR (did not run; the gate fails closed): {d['error']}", "bold magenta")
            grid.add(d["detector"], state, wrap=True)
    out.grid(grid)
    records = [flagged_record(f) for f in result["findings"]]
    records.sort(key=lambda r: (not r.flagged, -r.score, r.p_value if r.p_value is not None else 1.0, r.digest))
    every = any(not r.flagged for r in records)  # --all: every scored record, not only the flagged
    listed = flagged_grid(records, f"prov findings {version}{' --all' if every else ''} --json")
    if every:
        listed.title = "Scored records (flagged first)"
    out.grid(listed)
    return out.text()


FORMATTER = Formatter(diff=render_diff, check=render_check)
