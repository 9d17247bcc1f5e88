"""One self-contained HTML file: inline CSS and SVG charts, nothing fetched at view time.

The charts are SVG drawn here, not by a charting library, so the file opens offline. A
few lines of inline script only mark each chart as laid out (``data-rendered``), which
the test reads back from headless Chromium.
"""

from __future__ import annotations

from provenance.escaping import html as escape
from provenance.report.interface import PLAIN, Formatter, Medium
from provenance.report.wording import (
    SUMMARY_ROWS,
    drift_text,
    p_text,
    relabel_text,
    side_text,
    source_name,
    stat_text,
    subject_text,
    verdict,
)

SERIES = [("added", "#2b8a3e"), ("removed", "#c92a2a"), ("relabeled", "#e67700")]
CLASS_SERIES = SERIES[:2] + [("relabeled from", "#e67700"), ("relabeled to", "#1971c2")]
LISTED = 200
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}.flag{color:#c92a2a;font-weight:600}.verdict{font-size:15px;padding:8px;background:#fff4e6}
.ok{background:#ebfbee}.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
code{font-size:12px}
"""
SCRIPT = """
document.querySelectorAll('svg.chart').forEach(function(svg){
  var bars = svg.querySelectorAll('rect.bar'), drawn = 0;
  bars.forEach(function(b){ var r = b.getBoundingClientRect(); if (r.width > 0 && r.height > 0) drawn++; });
  svg.setAttribute('data-rendered', drawn + '/' + bars.length);
});
"""


def bar_chart(chart_id: str, title: str, groups: list[tuple[str, dict]], series=SERIES) -> str:
    """Grouped horizontal bars: one row per group, one bar per non-zero value of a series."""
    bar_h, label_w, plot_w = 6, 180, 560
    row_h = bar_h * len(series) + 6
    peak = max([v for _, values in groups for v in values.values()] + [1])
    height = 30 + row_h * max(len(groups), 1)
    parts = [
        f'<svg class="chart" id="{chart_id}" xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 80}" '
        f'height="{height}" role="img" aria-label="{escape(title)}">'
    ]
    for i, (name, values) in enumerate(groups):
        y = 20 + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" font-size="12">{escape(name[:28])}</text>'
        )
        for j, (name_s, color) in enumerate(series):
            v = values.get(name_s, 0)
            if not v:
                continue
            w = max(1.0, plot_w * v / peak)
            parts.append(
                f'<rect class="bar" x="{label_w}" y="{y + j * bar_h}" width="{w:.1f}" height="{bar_h - 1}" '
                f'fill="{color}"><title>{escape(name)}: {v} {name_s}</title></rect>'
            )
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + j * bar_h + 5}" font-size="8">{v}</text>')
    parts.append("</svg>")
    legend = "".join(f'<span style="background:{c}"></span>{s}' for s, c in series)
    return f'<h2>{escape(title)}</h2><div class="legend">{legend}</div>' + "".join(parts)


def _table(headers: list[str], rows: list[list], raw: bool = False) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{v if raw else escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_diff(report: dict, medium: Medium = PLAIN) -> str:
    """The diff report as one HTML5 page: verdict, charts per class and source, signals, sources, records."""
    s = report["summary"]
    title = f"prov diff {report['base']['name']} → {report['new']['name']}"
    out = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1><p>{escape(side_text(report['base']))} → {escape(side_text(report['new']))}</p>",
        f'<p class="verdict{"" if s["signals_flagged"] else " ok"}">{escape(verdict(report))}</p>',
        "<h2>Changes</h2>",
        _table(["change", "records"], [[label, s[key]] for key, label in SUMMARY_ROWS]),
    ]
    classes = [
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
    sources = [
        (source_name(r["source"]), {"added": r["added"], "removed": r["removed"], "relabeled": r["relabeled"]})
        for r in report["by_source"][:40]
    ]
    out.append(bar_chart("chart-classes", "Changes per class", classes, CLASS_SERIES))
    out.append(bar_chart("chart-sources", "Changes per source (worst first)", sources))
    out.append("<h2>Signals, worst first</h2>")
    out.append(
        _table(
            ["severity", "signal", "subject", "statistic", "p", "explanation"],
            [
                [
                    f'<span class="flag">{g["severity"]}</span>' if g["flagged"] else g["severity"],
                    escape(g["name"]),
                    escape(subject_text(g["subject"])),
                    escape(stat_text(g["statistic"])),
                    escape(p_text(g["statistic"])),
                    escape(g["explanation"]),
                ]
                for g in report["signals"]
            ],
            raw=True,
        )
    )
    out.append("<h2>Sources</h2>")
    out.append(
        _table(
            [
                "source",
                "flagged signals",
                "base",
                "new",
                "added",
                "removed",
                "relabeled",
                "relabel rate",
                "unattributed added",
            ],
            [
                [
                    source_name(r["source"]),
                    ", ".join(r["flagged_signals"]) or "-",
                    r["base"],
                    r["new"],
                    r["added"],
                    r["removed"],
                    r["relabeled"],
                    f"{100 * r['relabel_rate']:.2f}%",
                    r["unattributed_added"],
                ]
                for r in report["by_source"]
            ],
        )
    )
    if report["relabel_pairs"]:
        out.append("<h2>Relabels by class pair</h2>")
        out.append(
            _table(
                ["old", "new", "records", "rate"],
                [[r["old"], r["new"], r["count"], f"{100 * r['rate']:.2f}%"] for r in report["relabel_pairs"]],
            )
        )
    relabeled = report["changes"].get("relabeled") or []
    out.append(f"<h2>Relabeled records ({s['relabeled']}; showing {min(len(relabeled), LISTED)})</h2>")
    out.append(
        _table(
            ["digest", "old → new", "source", "old source", "locator"],
            [
                [
                    f"<code>{c['digest']}</code>",
                    escape(relabel_text(c)),
                    escape(source_name(c["source"])),
                    escape(source_name(c.get("old_source"))),
                    escape(str(c["locator"])),
                ]
                for c in relabeled[:LISTED]
            ],
            raw=True,
        )
    )
    for kind, heading, total in (
        ("added", "Added records", s["added"]),
        ("removed", "Removed records", s["removed"]),
        ("conflicting", "Conflicting labels", s["conflicting_labels"]),
    ):
        items = report["changes"].get(kind) or []
        if items:
            out.append(f"<h2>{heading} ({total}; showing {min(len(items), LISTED)})</h2>")
            out.append(
                _table(
                    ["digest", "label(s)", "source", "locator"],
                    [
                        [
                            f"<code>{c['digest']}</code>",
                            escape(" / ".join(c.get("labels") or [c["label"]])),
                            escape(source_name(c["source"])),
                            escape(str(c["locator"])),
                        ]
                        for c in items[:LISTED]
                    ],
                    raw=True,
                )
            )
    if report["detect"]:
        out.append("<h2>Detectors</h2>")
        out.append(
            _table(
                ["detector", "ran", "would flag alone", "error"],
                [
                    [d["detector"], "ran" if d["status"] == "ran" else "error", d["flagged"], d["error"] or ""]
                    for d in report["detectors"]
                ],
            )
        )
        out.append(f"<p>{escape(drift_text(report.get('drift')))}</p>")
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"


FORMATTER = Formatter(diff=render_diff)
