"""``prov gc``: drop old detector runs and unflagged scores (never signed facts or the audit log)."""

from __future__ import annotations

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json


@command("gc")
def gc(
    keep_runs: int = typer.Option(1, "--keep-runs", help="Detector runs kept per version, newest first."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be dropped; change nothing."),
    json_out: bool = JsonFlag,
) -> None:
    """Drop old detector runs and the scores of unflagged records; signed facts and the audit log stay.

    Each version keeps its newest run (--keep-runs N: N): every detector's summary, and the flagged records' scores.
    """
    from provenance.gc import collect_garbage
    from provenance.store import Store

    report = collect_garbage(Store.open(), keep_runs=keep_runs, dry_run=dry_run)
    if json_out:
        emit_json(report)
        return
    verb = "would drop" if dry_run else "dropped"
    echo(
        f"gc {verb} {len(report['runs_dropped'])} old detector run(s), {report['findings_dropped']} finding row(s) "
        f"and {report['objects_dropped']} findings object(s); "
        f"kept {report['runs_kept']} run(s) and {report['findings_kept']} row(s) (flagged records)"
    )
