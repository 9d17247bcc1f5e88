"""Markdown ready to paste into a pull-request comment (GitHub-flavoured Markdown tables), for diff and check."""

from __future__ import annotations

import re
from typing import Any

from provenance.escaping import html, markdown
from provenance.report.interface import PLAIN, Formatter, Medium
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

LISTED = 20
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


def _table(headers: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out + [""]


def render_diff(report: dict, medium: Medium = PLAIN) -> str:
    """The diff report: verdict, summary, flagged signals, sources, classes, up to 20 records per kind, detectors."""
    s = report["summary"]
    icon = "⚠️" if s["signals_flagged"] else "✅"
    lines = [
        f"### {icon} prov diff {_code(report['base']['name'])} → {_code(report['new']['name'])}",
        "",
        f"{markdown(side_text(report['base']))} → {markdown(side_text(report['new']))}. **{markdown(verdict(report))}**",
        "",
    ]
    lines += _table(["change", "records"], [[label, s[key]] for key, label in SUMMARY_ROWS])
    flagged = [g for g in report["signals"] if g["flagged"]]
    if flagged:
        lines += ["#### Flagged signals", ""]
        lines += _table(
            ["severity", "signal", "subject", "statistic", "p", "explanation"],
            [
                [
                    g["severity"],
                    g["name"],
                    subject_text(g["subject"]),
                    stat_text(g["statistic"]),
                    p_text(g["statistic"]),
                    g["explanation"],
                ]
                for g in flagged
            ],
        )
    lines += ["#### Sources (worst first)", ""]
    lines += _table(
        ["source", "flagged signals", "added", "removed", "relabeled", "relabel rate", "unattributed added"],
        [
            [
                Markup(f"**{markdown(source_name(r['source']))}**")
                if r["flagged_signals"]
                else source_name(r["source"]),
                ", ".join(r["flagged_signals"]) or "-",
                r["added"],
                r["removed"],
                r["relabeled"],
                f"{100 * r['relabel_rate']:.2f}%",
                r["unattributed_added"],
            ]
            for r in report["by_source"]
        ],
    )
    lines += ["#### Classes", ""]
    lines += _table(
        ["class", "base", "new", "added", "removed", "relabeled from", "relabeled to"],
        [
            [r["label"], r["base"], r["new"], r["added"], r["removed"], r["relabeled_from"], r["relabeled_to"]]
            for r in report["by_class"]
        ],
    )
    if report["relabel_pairs"]:
        lines += ["#### Relabels by class pair", ""]
        lines += _table(
            ["old → new", "records", "rate"],
            [
                [f"{r['old']} → {r['new']}", r["count"], f"{100 * r['rate']:.2f}%"]
                for r in report["relabel_pairs"][:LISTED]
            ],
        )
    changes = report["changes"]
    for kind, title in (
        ("relabeled", "Relabeled records"),
        ("conflicting", "Conflicting labels"),
        ("added", "Added records"),
        ("removed", "Removed records"),
    ):
        items = changes.get(kind) or []
        if not items:
            continue
        lines += [f"<details><summary>{title} (showing {min(len(items), LISTED)})</summary>", ""]
        rows = []
        for c in items[:LISTED]:
            change = (
                relabel_text(c)
                if kind == "relabeled"
                else " / ".join(c["labels"])
                if kind == "conflicting"
                else c["label"]
            )
            rows.append([_code(c["digest"][:16]), change, source_name(c["source"]), c["locator"]])
        lines += _table(["digest", "label", "source", "locator"], rows) + ["</details>", ""]
    if report["detect"]:
        lines += ["#### Detectors", ""]
        lines += _table(
            ["detector", "ran", "would flag alone", "error"],
            [
                [d["detector"], "ran" if d["status"] == "ran" else "error", d["flagged"], d["error"] or ""]
                for d in report["detectors"]
            ],
        )
        lines += ["", drift_text(report.get("drift"))]
    return "\n".join(lines).rstrip() + "\n"


def render_check(r: dict, medium: Medium = PLAIN) -> str:
    """The check report: headline, one table row per rule, blocking records folded in ``<details>``, ignored waivers."""
    icon = {"pass": "✅", "warned": "🟡", "blocked": "⛔", "error": "⚠️"}[r["decision"]]
    lines = [f"### {icon} {markdown(check_headline(r))}", "", "| rule | result | reason |", "|---|---|---|"]
    for rule in r["rules"]:
        lines.append(f"| {_code(rule['rule'])} | {RULE_STATUS[rule['status']]} | {markdown(rule['reason'])} |")
    blocking = [x for x in r["rules"] if x["status"] != "pass" and x["records"]]
    for rule in blocking:
        lines += ["", f"<details><summary>{html(rule['rule'])}: {rule['count']} record(s)</summary>", ""]
        lines += [f"- {markdown(record_text(rec))}" for rec in rule["records"]]
        lines += ["", "</details>"]
    if r["waivers"]["ignored"]:
        lines += ["", "**Ignored waivers**", ""]
        lines += [f"- {markdown(w['origin'])}: {markdown(w['why'])}" for w in r["waivers"]["ignored"]]
    return "\n".join(lines) + "\n"


FORMATTER = Formatter(diff=render_diff, check=render_check)
