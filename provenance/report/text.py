"""Text for a terminal: the diff as rich tables (worst first, the suspicious source named first); the check as lines."""

from __future__ import annotations

import io
import shutil

from rich.console import Console
from rich.table import Table

from provenance.report.interface import Formatter
from provenance.report.wording import (
    RULE_STATUS,
    SUMMARY_ROWS,
    check_headline,
    drift_text,
    p_text,
    record_text,
    relabel_text,
    side_text,
    source_name,
    stat_text,
    subject_text,
    verdict,
)

LISTED = 10


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    for c in columns:
        table.add_column(c, overflow="fold")
    return table


def render_diff(report: dict) -> str:
    """The diff report as tables, at least 100 columns wide (wider on a wider terminal), no colour."""
    width = max(100, shutil.get_terminal_size((120, 24)).columns)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False, emoji=False)
    s = report["summary"]
    console.print(f"prov diff {side_text(report['base'])} → {side_text(report['new'])}")
    console.print(verdict(report))
    console.print()

    summary = _table("Changes", "change", "records")
    for key, label in SUMMARY_ROWS:
        summary.add_row(label, str(s[key]))
    console.print(summary)

    sources = _table(
        "Sources, worst first",
        "source",
        "flagged signals",
        "added",
        "removed",
        "relabeled",
        "relabel rate",
        "unattributed added",
        "base",
        "new",
    )
    for r in report["by_source"]:
        sources.add_row(
            source_name(r["source"]),
            ", ".join(r["flagged_signals"]) or "-",
            str(r["added"]),
            str(r["removed"]),
            str(r["relabeled"]),
            f"{100 * r['relabel_rate']:.2f}%",
            str(r["unattributed_added"]),
            str(r["base"]),
            str(r["new"]),
        )
    console.print(sources)

    signals = _table("Signals, worst first", "severity", "signal", "subject", "statistic", "p", "explanation")
    for sig in report["signals"]:
        signals.add_row(
            sig["severity"],
            sig["name"],
            subject_text(sig["subject"]),
            stat_text(sig["statistic"]),
            p_text(sig["statistic"]),
            sig["explanation"],
        )
    console.print(signals)

    classes = _table("Classes", "class", "base", "new", "added", "removed", "relabeled from", "relabeled to")
    for r in report["by_class"]:
        classes.add_row(
            r["label"], *(str(r[k]) for k in ("base", "new", "added", "removed", "relabeled_from", "relabeled_to"))
        )
    console.print(classes)

    if report["relabel_pairs"]:
        pairs = _table("Relabels by class pair", "old → new", "records", "rate")
        for r in report["relabel_pairs"][:20]:
            pairs.add_row(f"{r['old']} → {r['new']}", str(r["count"]), f"{100 * r['rate']:.2f}%")
        console.print(pairs)

    changes = report["changes"]
    for kind, title, describe in (
        ("relabeled", "Relabeled records", lambda c: relabel_text(c)),
        ("conflicting", "Records with conflicting labels", lambda c: " / ".join(c["labels"])),
        ("added", "Added records", lambda c: c["label"]),
        ("removed", "Removed records", lambda c: c["label"]),
        ("duplicates", "Duplicated records", lambda c: f"{c['copies']} copies (base {c['base_copies']})"),
        (
            "source_changed",
            "Records whose source changed",
            lambda c: (
                f"{', '.join(map(source_name, c['old_sources']))} → {', '.join(map(source_name, c['new_sources']))}"
            ),
        ),
    ):
        items = changes.get(kind) or []
        if not items:
            continue
        total = {
            "relabeled": s["relabeled"],
            "conflicting": s["conflicting_labels"],
            "added": s["added"],
            "removed": s["removed"],
            "source_changed": s["source_changed"],
        }.get(kind)
        shown = f" (first {min(LISTED, len(items))} of {total})" if total and total > LISTED else ""
        table = _table(title + shown, "digest", "change", "source", "locator")
        for c in items[:LISTED]:
            table.add_row(c["digest"][:16], describe(c), source_name(c["source"]), str(c["locator"]))
        console.print(table)

    if report["detect"]:
        det = _table("Detectors", "detector", "ran", "would flag alone", "scored", "error")
        for d in report["detectors"]:
            ran = "ran" if d["status"] == "ran" else "error"
            det.add_row(d["detector"], ran, str(d["flagged"]), str(d["scored"]), d["error"] or "")
        console.print(det)
        console.print(drift_text(report.get("drift")))
        flagged = sorted((f for f in report["findings"] if f["flagged"]), key=lambda f: -f["score"])
        if flagged:
            table = _table("Flagged records (combined verdict)", "digest", "score", "detectors", "explanation")
            for f in flagged[:20]:
                alone = ", ".join(d["detector"] for d in f["detectors"] if d["flagged"]) or "-"
                table.add_row(f["digest"][:16], f"{f['score']:.3f}", alone, f["explanation"])
            console.print(table)
    return buffer.getvalue()


def render_check(r: dict) -> str:
    """The check report: headline, then each rule (errors, blocks, passes) with up to 10 of its records."""
    lines = [check_headline(r)]
    order = {"error": 0, "block": 1, "warn": 2, "pass": 3}
    for rule in sorted(r["rules"], key=lambda x: order[x["status"]]):
        lines.append(f"  [{RULE_STATUS[rule['status']]:<5}] {rule['rule']}: {rule['reason']}")
        for rec in rule["records"][:10]:
            lines.append(f"           {record_text(rec)}")
        if rule["count"] > 10 and rule["status"] != "pass":
            lines.append(f"           ... {rule['count'] - min(10, len(rule['records']))} more")
    for w in r["waivers"]["ignored"]:
        lines.append(f"  waiver ignored ({w['origin']}): {w['why']}")
    if r["waivers"]["honoured"]:
        lines.append(f"  {len(r['waivers']['honoured'])} reviewed waiver(s) honoured")
    if r.get("attestation"):
        lines.append(f"  attestation written: {r['attestation']}")
    return "\n".join(lines) + "\n"


FORMATTER = Formatter(diff=render_diff, check=render_check)
