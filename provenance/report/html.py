"""One self-contained HTML page for ``prov diff --format html``, rendered by a Jinja2 template.

The page leads with what a reviewer decides on: the verdict (with the detectors), the
first flagged records, and the per-source table with lineage, all in the first screen
(1400 x 900, checked in headless Chromium by the tests). Detectors, signals, charts,
classes, every flagged record's evidence and the record lists follow.

The template (``templates/diff.html.j2``) is rendered with autoescaping on, so a label,
source name or explanation is always text, never markup, and every value first goes
through ``provenance.escaping.visible`` (control and bidi characters shown as escapes). The
page fetches nothing: inline CSS and SVG charts drawn from numbers computed here. Its one
script is prov's own (``SCRIPT``: it marks each chart as laid out, records where the
first-screen parts lie, whether each table's sideways-scrolling box overflows and how wide
the page is, which the tests read back from headless Chromium); the page's
Content-Security-Policy allows that script by its SHA-256 and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.escaping import visible
from provenance.report.audit_words import audit_line
from provenance.report.detector_summary import detection, detector_rows
from provenance.report.drift_words import drift_text, shift_and_columns
from provenance.report.flagged import flagged_records, label_groups
from provenance.report.interface import PLAIN, Formatter, Medium
from provenance.report.schema_words import schema_change_lines
from provenance.report.source_rows import COPIES_NOTE, copies_shown, source_origins, source_rows
from provenance.report.verdict import diff_verdict
from provenance.report.wording import (
    change_counts,
    change_location,
    diff_command,
    p_text,
    relabel_text,
    side_text,
    source_name,
    stat_text,
    subject_text,
)

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"
TOP = 10  # flagged records in the first screen
LISTED = 200  # flagged records with their evidence, and records per list, further down
SERIES = [("added", "#2b8a3e"), ("removed", "#c92a2a"), ("relabeled", "#e67700")]
CLASS_SERIES = SERIES[:2] + [("relabeled from", "#e67700"), ("relabeled to", "#1971c2")]
CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212529}
header.verdict{padding:14px 24px;border-left:8px solid #adb5bd;background:#f8f9fa}
header.verdict.ok{border-color:#2b8a3e;background:#ebfbee}
header.verdict.warn{border-color:#f08c00;background:#fff9db}
header.verdict.bad{border-color:#c92a2a;background:#fff5f5}
header.verdict.error{border-color:#862e9c;background:#f8f0fc}
h1{font-size:18px;margin:0 0 4px}
.decision{font-size:15px;margin:4px 0}
.decision .word{font-weight:700;text-transform:uppercase;margin-right:6px}
.bad .word,td.bad{color:#c92a2a}.ok .word{color:#2b8a3e}.warn .word,td.warn{color:#e67700}.error .word,td.error{color:#862e9c}
.meta{color:#495057;margin:4px 0 0;font-size:13px}
main{padding:4px 24px 24px}
h2{font-size:15px;margin:14px 0 4px}
h2 small{font-weight:400;color:#495057;font-size:12px;margin-left:6px}
table{border-collapse:collapse;margin:4px 0}
.scroll{overflow-x:auto;max-width:100%}
td,th{border-bottom:1px solid #dee2e6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5;font-weight:600;white-space:nowrap}
td:first-child{white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.records td{white-space:nowrap}
table.records{width:100%}
table.records td.evidence{width:100%;max-width:0;min-width:16em;overflow:hidden;text-overflow:ellipsis}
tr.extreme td:first-child{border-left:3px solid #c92a2a}
tr.suspect td:first-child{font-weight:600}
tr.combined td{font-weight:600;border-top:2px solid #adb5bd}
td.lineage.unattributed{color:#e67700}td.lineage.relabeled_after_source{color:#c92a2a}
td.wrap{max-width:640px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
details.record{margin:2px 0}details.record summary{cursor:pointer}
details.record ul{margin:2px 0 6px 18px;padding:0}
ul.groups{margin:2px 0 6px 18px;padding:0}
.legend .swatch{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
footer{color:#868e96;font-size:12px;padding:12px 24px}
"""
SCRIPT = """
document.querySelectorAll('svg.chart').forEach(function(svg){
  var bars = svg.querySelectorAll('rect.bar'), drawn = 0;
  bars.forEach(function(b){ var r = b.getBoundingClientRect(); if (r.width > 0 && r.height > 0) drawn++; });
  svg.setAttribute('data-rendered', drawn + '/' + bars.length);
});
document.querySelectorAll('.scroll').forEach(function(box){
  box.setAttribute('data-overflow', box.scrollWidth > box.clientWidth ? 'scrolls' : 'fits');
});
document.body.setAttribute('data-page-width', document.documentElement.scrollWidth + '/' + document.documentElement.clientWidth);
document.querySelectorAll('[data-first-screen]').forEach(function(el){
  var r = el.getBoundingClientRect();
  el.setAttribute('data-box', [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY].map(Math.ceil).join(','));
});
"""
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
"""The CSP source that lets ``SCRIPT`` run, and nothing else."""


def _visible(value: Any) -> Any:
    """Every value the template prints, before autoescaping: text with hidden characters shown as escapes."""
    import markupsafe

    return visible(value) if isinstance(value, str) and not isinstance(value, markupsafe.Markup) else value


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment: templates from ``templates/``, autoescaping on, every printed value made
    visible first (``_visible``), undefined names an error."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        finalize=_visible,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def bar_chart(chart_id: str, title: str, groups: list[tuple[str, dict]], series=SERIES) -> dict:
    """Grouped horizontal bars as numbers for the template: one row per group, one bar per non-zero value."""
    bar_h, label_w, plot_w = 6, 180, 560
    row_h = bar_h * len(series) + 6
    peak = max([v for _, values in groups for v in values.values()] + [1])
    rows = []
    for i, (name, values) in enumerate(groups):
        y = 20 + i * row_h
        bars = [
            {
                "series": s,
                "colour": colour,
                "value": values[s],
                "y": y + j * bar_h,
                "height": bar_h - 1,
                "width": max(1.0, plot_w * values[s] / peak),
            }
            for j, (s, colour) in enumerate(series)
            if values.get(s)
        ]
        rows.append({"name": name[:28], "full_name": name, "y": y, "bars": bars})
    return {
        "id": chart_id,
        "title": title,
        "series": series,
        "rows": rows,
        "label_width": label_w,
        "width": label_w + plot_w + 80,
        "height": 30 + row_h * max(len(groups), 1),
    }


def _markup(text: str) -> Any:
    """prov's own CSS or script, placed as it is (never from the data)."""
    import markupsafe

    return markupsafe.Markup(text)


def _notes(report: dict) -> list[str]:
    """Lines under the verdict: the audit log's coverage, each schema change, re-keyed records."""
    s = report["summary"]
    notes = [audit_line(report["audit"])] if report.get("audit") else []
    notes += schema_change_lines(s)
    return notes


def _change_lists(report: dict) -> list[dict]:
    s = report["summary"]
    origins = source_origins(report)
    out = []
    for kind, title, total, column in (
        ("relabeled", "Relabeled records", s["relabeled"], "old → new"),
        ("added", "Added records", s["added"], "label"),
        ("removed", "Removed records", s["removed"], "label"),
        ("conflicting", "Conflicting labels", s["conflicting_labels"], "labels"),
    ):
        items = (report["changes"].get(kind) or [])[:LISTED]
        if not items:
            continue
        rows = [
            {
                "digest": c["digest"],
                "change": relabel_text(c) if kind == "relabeled" else " / ".join(c.get("labels") or [c["label"]]),
                "source": source_name(c["source"], origins.get(c["source"])),
                "where": change_location(report, kind, c),
            }
            for c in items
        ]
        see_all = f"{diff_command(report)} --format json"
        out.append({"id": kind, "title": title, "total": total, "rows": rows, "column": column, "see_all": see_all})
    return out


def render_diff(report: dict, medium: Medium = PLAIN) -> str:
    """The diff report as one HTML5 page (see the module docstring for what comes first)."""
    from provenance import __version__

    s = report["summary"]
    base, new = report["base"], report["new"]
    flagged = flagged_records(report) if report["detect"] else []
    changes = "; ".join(change_counts(s))
    classes_changed = [
        r for r in report["by_class"] if r["added"] or r["removed"] or r["relabeled_from"] or r["relabeled_to"]
    ]
    class_groups = [
        (
            r["label"],
            {
                "added": r["added"],
                "removed": r["removed"],
                "relabeled from": r["relabeled_from"],
                "relabeled to": r["relabeled_to"],
            },
        )
        for r in report["by_class"][:40]
    ]
    source_groups = [
        (
            source_name(r["source"], r.get("named_by")),
            {"added": r["added"], "removed": r["removed"], "relabeled": r["relabeled"]},
        )
        for r in report["by_source"][:40]
    ]
    context = {
        "title": f"prov diff {base['name']} → {new['name']}",
        "css": _markup(CSS),
        "verdict": diff_verdict(report),
        "sides": f"{side_text(base)} → {side_text(new)}",
        "changes": f"Changes: {changes or 'none'}",
        "notes": _notes(report),
        "drift": drift_text(report.get("drift"), *shift_and_columns(report)) if report["detect"] else None,
        "script": _markup(SCRIPT),
        "script_hash": SCRIPT_HASH,
        "detect": report["detect"],
        "flagged": flagged,
        # what the text and Markdown reports say first of the flagged records (newcomer review 30)
        "groups": label_groups(flagged),
        "top": flagged[:TOP],
        "all_flagged": flagged[:LISTED],
        "see_all": f"{diff_command(report)} --detect --format json",
        "sources": source_rows(report),
        "copies": copies_shown(source_rows(report)),
        "copies_note": COPIES_NOTE,
        "detection": detection(report),
        "detectors": detector_rows(report),
        "signals": [
            {
                "flagged": g["flagged"],
                "severity": g["severity"],
                "name": g["name"],
                "subject": subject_text(g["subject"]),
                "statistic": stat_text(g["statistic"]),
                "p": p_text(g["statistic"]),
                "explanation": g["explanation"],
            }
            for g in report["signals"]
        ],
        "flagged_signals": s["signals_flagged"],
        "charts": [
            bar_chart("chart-classes", "Changes per class", class_groups, CLASS_SERIES),
            bar_chart("chart-sources", "Changes per source (worst first)", source_groups),
        ],
        "classes": classes_changed,
        "pairs": [
            {
                "text": relabel_text({"old_labels": [r["old"]], "new_labels": [r["new"]], **r}),
                "count": r["count"],
                "rate": f"{100 * r['rate']:.2f}%",
            }
            for r in report["relabel_pairs"][:LISTED]
        ],
        "change_lists": _change_lists(report),
        "version": __version__,
        "base_name": base["name"],
        "new_name": new["name"],
        "base_root": (base.get("merkle_root") or "")[:16],
        "new_root": (new.get("merkle_root") or "")[:16],
    }
    return environment().get_template("diff.html.j2").render(context) + "\n"


FORMATTER = Formatter(diff=render_diff)
