"""The text format: ``FORMATTER`` maps diff and check reports to their text renderers, and
``render_findings`` writes ``prov findings``' report.

Text for a terminal: the verdict first, one line per flagged record, then the per-source
view. The diff report is laid out in ``text_diff.py``, the check report in
``text_check.py``, the tables they share in ``text_tables.py``.
"""

from __future__ import annotations

from provenance.report.flagged import flagged_record
from provenance.report.interface import PLAIN, Formatter, Medium
from provenance.report.terminal import Col, Grid, Writer
from provenance.report.text_check import render_check
from provenance.report.text_diff import render_diff
from provenance.report.text_tables import escaped_cell, flagged_grid


def render_findings(result: dict, medium: Medium = PLAIN) -> str:
    """``prov findings V``: the stored run's combined verdict, each detector (ran or error, what it alone
    flags), then the records one line each, worst first (``stored_findings``'s dict, see
    ``schemas/findings.schema.json``)."""
    out = Writer(medium)
    version = result.get("version") or ""
    combined = next((d for d in result["detectors"] if d["detector"] == "combined"), None)
    verdict = (
        f"{combined['flagged']} of {combined['scored']} records flagged by the combined verdict "
        f"at FPR {combined['fpr']:g} (its false-alarm rate on clean records)"
        if combined
        else "no combined verdict stored"
    )
    out.line(("Findings ", "bold"), f"for {version} against {result['base']} (run {result['run']}): {verdict}")
    grid = Grid("Detectors", [Col("detector", "fixed"), Col("state", "flex", min_width=30)])
    for d in result["detectors"]:
        if d["detector"] == "combined":
            continue
        if d["status"] == "ran":
            grid.add(d["detector"], f"ran: flags alone {d['flagged']} of {d['scored']}")
        else:
            state = escaped_cell(f"ERROR (did not run; the gate fails closed): {d['error']}", "bold magenta")
            grid.add(d["detector"], state, wrap=True)
    out.grid(grid)
    records = [flagged_record(f) for f in result["findings"]]
    records.sort(key=lambda r: (not r.flagged, -r.score, r.p_value if r.p_value is not None else 1.0, r.digest))
    every = any(not r.flagged for r in records)  # --all: every scored record, not only the flagged
    listed = flagged_grid(records, "", limit=None)  # the listing command: every record, for `| less`
    if every:
        listed.title = "Scored records (flagged first)"
    out.grid(listed)
    return out.text()


FORMATTER = Formatter(diff=render_diff, check=render_check)
