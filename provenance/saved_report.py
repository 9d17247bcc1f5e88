"""Render a report saved as JSON (``prov check|diff --format json``) in another format, without running it again.

CI runs the gate once and derives the SARIF for code scanning and the Markdown for the
job summary from that one run (``prov report check.json --format sarif``): the
decision, the SARIF and the summary cannot disagree, and the detectors run once. The JSON
names its kind in ``format`` (``prov.check/v1``, ``prov.diff/v1``).
"""

from __future__ import annotations

import json
import os

from provenance.errors import InputError
from provenance.input_file import REPORT_BYTES, read_bounded_text

KINDS = {"prov.check/v1": "check", "prov.diff/v1": "diff"}


def load_saved_report(path: str | os.PathLike[str]) -> tuple[str, dict]:
    """``(kind, report)`` of the JSON report in ``path``: kind ``"check"`` or ``"diff"``.

    Reads at most ``REPORT_BYTES`` (a regular file only). Raises ``InputError`` (exit 2)
    naming the file when it is not JSON or not a prov check or diff report.
    """
    text = read_bounded_text(path, REPORT_BYTES, "report")
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{os.fspath(path)}: report is not JSON ({exc.msg}, line {exc.lineno})") from None
    kind = KINDS.get(str(report.get("format"))) if isinstance(report, dict) else None
    if kind is None:
        raise InputError(
            f"{os.fspath(path)}: not a prov report (expected the output of prov check or prov diff --format json)"
        )
    if kind == "check":
        _check_consistent(report, os.fspath(path))
    return kind, report


DECISION_EXIT = {"pass": 0, "warned": 0, "blocked": 1, "error": 3}


def _check_consistent(report: dict, name: str) -> None:
    """Refuse a check report whose decision or exit code is not what its own rules give.

    A saved report is a file anyone with write access to the checkout can edit (a pull
    request can commit one): rendering it must not turn a blocked release into a green
    summary. The decision is recomputed from the rules' statuses as the gate makes it
    (``provenance.gate.results.decision_of``). Raises ``InputError`` (exit 2) naming the file.
    """
    rules = report.get("rules")
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise InputError(f"{name}: incomplete check report (no rules)")
    statuses = {r.get("status") for r in rules}
    if not rules or "error" in statuses or not statuses <= {"pass", "warn", "block", "error"}:
        decision = "error"
    elif "block" in statuses:
        decision = "blocked"
    else:
        decision = "warned" if "warn" in statuses else "pass"
    if report.get("decision") != decision or report.get("exit_code") != DECISION_EXIT[decision]:
        raise InputError(
            f"{name}: says decision {report.get('decision')!r} (exit {report.get('exit_code')!r}) but its rules "
            f"give {decision!r} (exit {DECISION_EXIT[decision]}); not rendering an inconsistent report"
        )


def render_saved_report(path: str | os.PathLike[str], fmt: str, medium=None) -> str:
    """The saved report in ``path`` rendered as ``fmt`` (text, md, html, sarif, junit, json) for ``medium``.

    ``medium`` is ``provenance.report.output.medium_for(out)`` (default: plain text, 120
    columns). Raises ``InputError`` (exit 2) naming the file for a bad or incomplete
    report, or a format the report's kind has no renderer for.
    """
    from provenance.report import Format, render
    from provenance.report.interface import PLAIN

    kind, report = load_saved_report(path)
    try:
        return render(kind, Format(fmt) if fmt in set(Format) else fmt, report, medium or PLAIN)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise InputError(f"{os.fspath(path)}: incomplete {kind} report ({type(exc).__name__}: {exc})") from None
