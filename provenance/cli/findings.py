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
    """List the stored detection of a version: which detectors ran, and the records the combined verdict flagged (worst first)."""
    result = stored_findings(Store.open(), version, flagged_only=not all_records)
    if json_out:
        emit_json(result)
        return
    if result["run"] is None:
        echo(f"No detector run stored for {version}; run 'prov diff BASE {version} --detect'.")
        return
    combined = next((d for d in result["detectors"] if d["detector"] == "combined"), None)
    echo(
        f"Findings for {version} against {result['base']} (run {result['run']}): "
        + (
            f"{combined['flagged']} of {combined['scored']} records flagged by the combined verdict "
            f"(false-alarm rate {combined['fpr']:g})"
            if combined
            else "no combined verdict stored"
        )
    )
    for d in result["detectors"]:
        if d["detector"] == "combined":
            continue
        state = (
            f"ran: {d['flagged']} of {d['scored']} would be flagged by it alone"
            if d["status"] == "ran"
            else f"ERROR (did not run; the gate fails closed): {d['error']}"
        )
        echo(f"  {d['detector']:<12} {state}")
    for f in result["findings"][:50]:
        verdict = "flagged" if f["flagged"] else "not flagged"
        alone = ", ".join(d["detector"] for d in f["detectors"] if d["flagged"]) or "-"
        echo(f"  {verdict:<11} {f['score']:.3f} {f['digest'][:16]} (alone: {alone}) {visible(f['explanation'])}")
    if len(result["findings"]) > 50:
        echo(f"  ... {len(result['findings']) - 50} more (use --json for all)")
