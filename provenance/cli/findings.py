"""``prov findings V``: the stored findings of the latest detector run on a version."""

from __future__ import annotations

import shlex

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json
from provenance.cli._trust import note_unpinned, trust_flags
from provenance.report.record_facts import findings_report
from provenance.store import Store
from provenance.trust.pins import Pins


@command("findings")
@trust_flags
def findings(
    version: str = typer.Argument(
        ..., metavar="VERSION", help="A version that `prov diff --detect` or `prov check` scored."
    ),
    all_records: bool = typer.Option(False, "--all", help="List every scored record, not only flagged ones."),
    recompute: bool = typer.Option(
        False,
        "--recompute",
        help="Re-run the detectors on the signed versions and fail (exit 1) unless the stored run says the same.",
    ),
    base: str | None = typer.Option(
        None,
        "--base",
        help="The run against this base (default: the newest run stored for VERSION, whatever its base).",
    ),
    policy: str | None = typer.Option(
        None,
        "--policy",
        help="With --recompute: the policy your checks run (default: the built-in policy); a run judging a class "
        "on class-free evidence that its [class_mix] expected_new_classes does not list fails (exit 1).",
    ),
    wide: bool = typer.Option(
        False,
        "--wide",
        help="Also print each record whole under the table: every detector that flags it, its whole evidence.",
    ),
    detector: str | None = typer.Option(
        None,
        "--detector",
        metavar="NAME",
        help="Only the records this detector flags on its own (--all: every one it scored), by its score, with its evidence.",
    ),
    json_out: bool = JsonFlag,
    pins: Pins = Pins(),  # filled by @trust_flags
) -> None:
    """List the stored detection of a version: which detectors ran, and the records the combined verdict flagged (worst first)."""
    from provenance.detectors.findings_trust import recompute as recompute_run
    from provenance.detectors.findings_trust import with_signature
    from provenance.errors import InputError
    from provenance.gate import policy as policy_lib

    if policy is not None and not recompute:
        raise InputError("--policy applies only with --recompute (the policy a recomputed run is judged under)")
    verifier_policy = policy_lib.load(policy) if recompute else None  # a bad policy is exit 2 before anything is read
    store = Store.open_snapshot(pins=pins)  # the run listed and the run recomputed are one state of prov.db
    recomputed, rerun = None, None
    if recompute:
        from provenance import progress
        from provenance.cli._progress import progress_shown

        with progress_shown(), progress.stage("detectors", unit="steps"):
            recomputed = recompute_run(store, version, base, verifier_policy)
        rerun = recomputed.pop("findings")  # listed below: the re-run's records, not the stored run's
    result = with_signature(
        store, findings_report(store, version, flagged_only=not all_records, rerun=rerun, base=base, detector=detector)
    )
    if recomputed is not None:
        result["recomputed"] = recomputed
    if json_out:
        emit_json(result)
        return
    if result["run"] is None:
        echo(
            f"No detector run stored for {version}; prov diff BASE {shlex.quote(version)} --detect and "
            f"prov check {shlex.quote(version)} --base BASE each store one."
        )
        return
    from provenance.report import medium_for, write_output
    from provenance.report.text import render_findings

    chosen = {"version": version, "base_given": base is not None, "all_records": all_records}
    write_output(render_findings(result | chosen, medium_for(None, wide=wide)), None)
    note_unpinned(pins)
