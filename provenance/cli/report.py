"""``prov report FILE``: render a saved JSON report of ``prov check`` or ``prov diff`` in another format."""

from __future__ import annotations

import typer

from provenance.cli._app import command


@command("report")
def report(
    saved: str = typer.Argument(..., metavar="SAVED.json", help="A report saved by prov check/diff --format json."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, md, html, sarif, junit or json."),
    out: str | None = typer.Option(None, "--out", "-o", help="Write the report to FILE instead of stdout."),
) -> None:
    """Render a saved check or diff report (--format json) as text, md, html, sarif or junit, without running it again.

    CI runs the gate once and derives SARIF and the job summary from that run. Exit 0: the decision is the exit code of the run that saved the report.
    """
    from provenance.report import check_output, medium_for, refuse_page_on_terminal, write_output
    from provenance.saved_report import render_saved_report

    refuse_page_on_terminal(fmt, out)
    if out is not None:
        check_output(out)
    write_output(render_saved_report(saved, fmt, medium_for(out)), out)
