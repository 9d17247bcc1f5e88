"""``prov findings V``: the stored findings of the latest detector run on a version."""

from __future__ import annotations

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json
from provenance.detectors.findings import stored_findings
from provenance.escaping import visible
from provenance.store import Store


@command("findings")
def findings(
    version: str = typer.Argument(..., help="A version that `prov diff --detect` or `prov check` scored."),
    all_records: bool = typer.Option(False, "--all", help="List every scored record, not only flagged ones."),
    json_out: bool = JsonFlag,
) -> None:
    """List detector findings stored for a version (flagged records, worst first)."""
    result = stored_findings(Store.open(), version, flagged_only=not all_records)
    if json_out:
        emit_json(result)
        return
    if result["run"] is None:
        echo(f"No detector run stored for {version}; run 'prov diff BASE {version} --detect'.")
        return
    echo(f"Findings for {version} against {result['base']} (run {result['run']}):")
    for d in result["detectors"]:
        state = "ok" if d["status"] == "ok" else f"ERROR {d['error']}"
        echo(
            f"  {d['detector']:<12} {state}: {d['flagged']} of {d['scored']} flagged (threshold {d['threshold'] or 0:.3f})"
        )
    for f in result["findings"][:50]:
        echo(f"  {f['score']:.3f} {f['detector']:<12} {f['digest'][:16]} {visible(f['explanation'])}")
    if len(result["findings"]) > 50:
        echo(f"  ... {len(result['findings']) - 50} more (use --json for all)")
