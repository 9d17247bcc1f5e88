"""``prov findings V``: the stored findings of the latest detector run on a version."""

from __future__ import annotations

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json
from provenance.report.record_facts import findings_report
from provenance.store import Store


@command("findings")
def findings(
    version: str = typer.Argument(..., help="A version that `prov diff --detect` or `prov check` scored."),
    all_records: bool = typer.Option(False, "--all", help="List every scored record, not only flagged ones."),
    json_out: bool = JsonFlag,
) -> None:
    """List the stored detection of a version: which detectors ran, and the records the combined verdict flagged (worst first)."""
    result = findings_report(Store.open(), version, flagged_only=not all_records)
    if json_out:
        emit_json(result)
        return
    if result["run"] is None:
        echo(f"No detector run stored for {version}; run 'prov diff BASE {version} --detect'.")
        return
    from provenance.report import medium_for, write_output
    from provenance.report.text import render_findings

    write_output(render_findings(result | {"version": version}, medium_for(None)), None)
