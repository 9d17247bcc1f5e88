"""``prov gc``: drop old detector runs and unflagged scores (never signed facts or the audit log)."""

from __future__ import annotations

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json


@command("gc")
def gc(
    keep_runs: int = typer.Option(1, "--keep-runs", help="Detector runs kept per version, newest first."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Say what would be dropped and how much space it would free; change nothing."
    ),
    json_out: bool = JsonFlag,
) -> None:
    """Drop old detector runs and the scores of unflagged records, and return their space to the disk; signed facts and the audit log stay.

    Each version keeps its newest run (--keep-runs N: N): every detector's summary, and the flagged records' scores.
    """
    from provenance.gc import collect_garbage
    from provenance.store import Store

    report = collect_garbage(Store.open(), keep_runs=keep_runs, dry_run=dry_run)
    if json_out:
        emit_json(report)
        return
    from provenance.report.wording import bytes_text, plural

    verb, freed = ("would drop", "would free") if dry_run else ("dropped", "freed")
    echo(
        f"gc {verb} {plural(len(report['runs_dropped']), 'old detector run')}, "
        f"{plural(report['findings_dropped'], 'finding row')} and {plural(report['objects_dropped'], 'findings object')}; "
        f"kept {plural(report['runs_kept'], 'run')} and {plural(report['findings_kept'], 'row')} (flagged records); "
        f"{freed} {bytes_text(report['bytes_freed'])}"
    )
