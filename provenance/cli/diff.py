"""``prov diff A B``: what changed between two versions, record by record, and what looks wrong."""

from __future__ import annotations

import json
import os
import shlex
from contextlib import nullcontext

import typer

from provenance.cli._app import command, note
from provenance.cli._dataset import DatasetFlags, dataset_flags, read_as_version
from provenance.cli._trust import note_unpinned, trust_flags
from provenance.delta.compare import diff_versions
from provenance.delta.merge import DEFAULT_LIMIT
from provenance.errors import InputError, ProvError
from provenance.escaping import visible
from provenance.report import (
    check_output,
    format_for,
    medium_for,
    refuse_page_on_terminal,
    render,
    verdict_for_log,
    write_output,
)
from provenance.report.added_sample import DEFAULT_SAMPLE
from provenance.store import Store
from provenance.trust.pins import Pins


@command("diff")
@dataset_flags
@trust_flags
def diff(
    base: str = typer.Argument(..., metavar="BASE", help="Base version (or git revision with --path)."),
    new: str = typer.Argument(..., metavar="NEW", help="New version (or git revision, or workspace, with --path)."),
    detect: bool = typer.Option(
        False, "--detect", help="Also run the poisoning detectors on the delta (findings are stored; see --no-save)."
    ),
    fpr: float = typer.Option(0.01, "--fpr", help="False-positive rate the detectors' thresholds are calibrated to."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, json, md or html."),
    json_out: bool = typer.Option(False, "--json", help="Same as --format json."),
    out: str | None = typer.Option(None, "--out", "-o", help="Write the report to FILE instead of stdout."),
    path: str | None = typer.Option(
        None, "--path", help="A DVC-tracked path: BASE and NEW are git revisions, or workspace (the working copy)."
    ),
    limit: int = typer.Option(
        DEFAULT_LIMIT, "--limit", help="Records listed per kind of change (0: all); counts are exact."
    ),
    flagged_only: bool = typer.Option(
        False,
        "--flagged-only",
        help="With --detect: list only the flagged records, not every scored one (counts are always exact).",
    ),
    every_finding: bool = typer.Option(False, "--all", hidden=True, help="Every scored record (the default)."),
    sample_class: str | None = typer.Option(
        None,
        "--class",
        metavar="C",
        help="List only a sample of the records added with label C (with --source S: those S added), not the report.",
    ),
    sample_source: str | None = typer.Option(
        None, "--source", metavar="S", help="List only a sample of the records source S added (with --class C: of C)."
    ),
    sample_size: int | None = typer.Option(
        None,
        "--sample",
        metavar="N",
        help=f"With --class or --source: how many records the sample lists (default {DEFAULT_SAMPLE}).",
    ),
    no_save: bool = typer.Option(
        False,
        "--no-save",
        help="Leave the store as it was: with --detect, do not store the findings (for a pull request).",
    ),
    flags: DatasetFlags = DatasetFlags(),  # filled by @dataset_flags
    pins: Pins = Pins(),  # filled by @trust_flags
) -> None:
    """Record-level diff of two versions: added, removed, relabeled, by source and class, with signals."""
    chosen = format_for("diff", "json" if json_out else fmt)  # a bad --format is exit 2 before any work
    refuse_page_on_terminal(chosen, out)
    if limit < 0:
        raise InputError(f"--limit {limit}: must be 0 (all) or more")
    if out is not None:
        check_output(out)
    if (flagged_only or every_finding) and not detect:
        option = "--flagged-only" if flagged_only else "--all"
        raise InputError(f"{option} chooses which scored records the findings list: give --detect with it")
    if flagged_only and every_finding:
        raise InputError("--flagged-only and --all contradict each other: give one")
    sampling = sample_class is not None or sample_source is not None
    if sample_size is not None and not sampling:  # silently ignored before (attack review 23a, noticed)
        raise InputError(f"--sample {sample_size} applies with --class C or --source S: give one, or drop --sample")
    if sample_size is not None and sample_size < 1:
        raise InputError(f"--sample {sample_size}: must be 1 or more")
    if sampling and (detect or chosen.value not in ("text", "json")):
        given = "--detect" if detect else f"--format {chosen.value}"
        raise InputError(f"--class and --source list a sample of added records, as text or JSON: drop {given}")
    if detect and path is not None:
        rev = next((side for side in (new, base) if side != "workspace"), "HEAD")
        raise InputError(
            "--detect works on prov versions (their reference profiles): commit each side first, e.g. "
            f"prov commit {shlex.quote(path)} --rev {shlex.quote(rev)} --tag V, then prov diff BASE V --detect"
        )
    spec = None
    reading = None
    if path is not None:
        from provenance.extras import require_dvc

        try:
            store = Store.open_snapshot(pins=pins)
        except InputError:
            store = None  # git revisions need no store; a store only lets us reuse manifests
        from provenance.cli._revisions import refuse_versions_as_revisions

        # before DVC is asked for: prov versions, or a path that is not there, are no matter of DVC (newcomer 27, #8)
        refuse_versions_as_revisions(store, base, new, path)
        require_dvc(path, None)
        spec = flags.spec(path)
        tag = _version_of_path(store, path) if store is not None else None
        if store is not None and tag is not None:  # read as that version read it (newcomer review 14, finding 11)
            reading = read_as_version(store, tag, spec)
            spec = reading.spec
    else:
        store = Store.open_snapshot(pins=pins)  # one state for the signature checks, lineage, detectors and the report
        from provenance.cli._revisions import hint_revisions_without_path

        hint_revisions_without_path(store, base, new)
    if detect and store is not None and not no_save:  # before the work, not at the findings' write
        store.refuse_links(", or pass --no-save")
    from provenance import progress
    from provenance.cli._progress import progress_shown
    from provenance.delta.arrow_pool import prefer_jemalloc

    prefer_jemalloc()  # a process of its own: where Arrow's buffers live is the command's choice

    with progress_shown():
        with progress.stage("diff", unit="steps"), reading.errors_explained() if reading else nullcontext():
            report = diff_versions(
                store, base, new, path=path, spec=spec, limit=0 if sampling else limit, detect=detect
            )
        if sampling:  # the records one source added to one class (newcomer review 22, item 7), not the report
            from provenance.report.added_sample import added_sample, render_added_sample, signed_sample_salt

            as_dict = report.to_dict()
            salt = signed_sample_salt(store, as_dict["new"])  # keyed by the signed salt, not content (A23a-3)
            sample = added_sample(as_dict, sample_class, sample_source, sample_size or DEFAULT_SAMPLE, salt)
            text = json.dumps(sample, indent=2, sort_keys=True) + "\n" if chosen.value == "json" else None
            write_output(text or render_added_sample(sample), out)
            if store is not None:
                note_unpinned(pins)
            return
        if detect:
            from provenance.unscorable import detect_naming_file

            assert store is not None  # --detect with --path (no store needed) was refused above
            with progress.stage("detectors", unit="steps"):
                detection = detect_naming_file(store, base, new, report.delta, fpr=fpr, save=not no_save)
                report.add_detector_results(detection, flagged_only=flagged_only)
    as_dict = report.to_dict()
    write_output(render("diff", chosen, as_dict, medium_for(out)), out)
    if store is not None:
        note_unpinned(pins)
    if reading is not None and reading.carried():
        note(str(reading.carried()))
    if detect and store is not None and not store.writable() and not no_save:
        note(f"{store.root} is read-only: the findings above were not saved (prov findings will not list them)")
    logged = verdict_for_log("diff", as_dict, out)
    if logged:  # the report went to a file: say what it found here too, as the log's last line
        typer.echo(visible(logged), err=True)
    failed = [d["detector"] for d in report.detectors if d["status"] != "ran"]
    if report.drift and report.drift[0].get("signal") == "error":
        failed.append("drift")
    if failed:
        raise ProvError(f"detector(s) {', '.join(failed)} failed; the findings above are incomplete")


def _version_of_path(store: Store, path: str) -> str | None:
    """The newest version whose *signed* dataset is ``path`` (at a git revision or on disk), or None.

    Each candidate's statement is verified under the store's pins before its location is believed (the
    ``versions`` row's copy is writable by whoever writes ``.prov/``); one that does not verify is passed over.
    """
    from provenance.errors import VerificationError
    from provenance.version_facts import dataset_from_predicate, verified_statement

    wanted = os.path.realpath(path)
    for row in reversed(store.versions()):
        try:
            signed = dataset_from_predicate(store, row, verified_statement(store, row)["predicate"])
        except (InputError, VerificationError):
            continue
        if "://" not in signed.path and os.path.realpath(os.path.join(signed.repo or "", signed.path)) == wanted:
            return str(row["tag"])
    return None
