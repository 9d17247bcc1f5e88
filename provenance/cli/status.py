"""``prov status``: the working data against the last version (like ``git status``)."""

from __future__ import annotations

import shlex
from typing import Optional

import typer

from provenance.cli._app import JsonFlag, as_typed, command, echo, emit_json, note
from provenance.cli._dataset import DatasetFlags, dataset_flags, read_as_version
from provenance.cli._trust import note_unpinned, trust_flags
from provenance.escaping import visible
from provenance.report.schema_words import rekeyed_text
from provenance.trust.pins import UNPINNED_VERSION, Pins

TEXT_LISTED = 5  # changes listed in text, as git status shows a summary (--json lists changes.MAX_LISTED of each kind)
TEXT_ORDER = ("relabeled", "changed", "removed", "added")  # kinds in text, the ones a reviewer must see first


@command("status")
@dataset_flags
@trust_flags
def status(
    data: Optional[str] = typer.Argument(
        None,
        metavar="DATA",
        help=(
            "Data to compare (default: where the version was read from; for a version read at a git revision, "
            "the working copy of its path). Read with the version's read options, flags given winning."
        ),
    ),
    version: Optional[str] = typer.Option(None, "--version", help="Compare with this version (default: the latest)."),
    flags: DatasetFlags = DatasetFlags(),  # filled by @dataset_flags
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Compare the working data with the last version: records changed, added, removed, relabeled since.

    Nothing is written; exit 0 whether or not the data changed (the JSON's `clean` says which).
    """
    from provenance.changes import MAX_LISTED
    from provenance.cli._progress import progress_shown
    from provenance.status import working_status
    from provenance.store import Store

    store = Store.open(pins=pins)
    # DATA named is still compared with the version: read it as the version read its data, flags given winning
    reading = read_as_version(store, version, flags.spec(data)) if data else None
    with progress_shown():
        if reading is None:
            report = working_status(store, None, version)
        else:
            with reading.errors_explained():
                report = working_status(store, reading.spec, version)
    read_at = report.get("version_read_at")
    copy = f" (working copy; {report['version']} was read at git revision {read_at[:12]})" if read_at else ""
    note_unpinned(pins)
    if reading is not None and reading.carried():
        note(str(reading.carried()))
    if json_out:
        emit_json(report)
        return
    where = visible(as_typed(report["path"]) if data is None else report["path"])
    if report["clean"]:
        unpinned = "" if pins.pinned else f"; {UNPINNED_VERSION}"
        echo(f"{where}{copy}: unchanged since {report['version']} ({report['records']} records{unpinned})")
        return
    # records a retyped column re-keyed first, in prov diff's words: "178 added, 178 removed" read as a whole new
    # dataset (newcomer review 29)
    rekeyed = [f"{report['rekeyed']} re-keyed by the schema change"] if report.get("rekeyed") else []
    parts = ", ".join(rekeyed + [f"{n} {kind}" for kind, n in report["counts"].items() if n])
    facts = report.get("facts") or []
    if facts and not parts and not report.get("same_records"):  # the records are the version's; a signed fact is not
        echo(f"{where}{copy}: records unchanged since {report['version']} ({report['records']} records), but the data "
             "no longer matches its signed facts (prov verify fails on it):")  # fmt: skip
        for line in facts:
            echo(f"  {visible(line)}")
        return
    if parts:
        copies = report.get("copies_added") or 0  # prov diff counts these as duplicate copies, not as added
        some = ""
        if copies:
            some = "; 1 of the added is a copy" if copies == 1 else f"; {copies} of the added are copies"
            some += " of records already there"
        echo(f"{where}{copy}: {parts} since {report['version']} ({report['records']} records now{some})")
    else:  # no record changed, yet the data is not the version's: say what is (newcomer review 17, F8)
        echo(f"{where}{copy}: not {report['version']}'s data ({report['records']} records): {report['same_records']}")
    for line in report.get("schema_changes") or []:  # the cause first: a retyped column re-keys every record
        why = " (a record's digest includes its column types)" if "changed type" in line else ""
        echo(f"  {visible(line)}{why}")
    if rekeyed_text(report):
        echo(f"  {rekeyed_text(report)}")
    if report.get("none_shared"):  # unrelated records: listing them row by row says nothing more
        echo(f"  {report['none_shared']}")
        if report.get("commit_refusal"):
            echo(f"  {report['commit_refusal']}")
        _data_of_lines(report, data)
        return
    # the first TEXT_LISTED of each kind, the suspicious first: 5 relabels after 600 additions were never shown
    shown = [c for kind in TEXT_ORDER for c in [x for x in report["changes"] if x["kind"] == kind][:TEXT_LISTED]]
    for change in shown:
        echo(f"  {visible(change['detail'])}")
    more = sum(report["counts"].values()) - len(shown)
    if more:
        echo(
            f"  ... and {more} more (--json lists {MAX_LISTED} of each kind; prov diff {shlex.quote(report['version'])} NEW "
            "lists every one once committed as NEW)"
        )
    if report.get("commit_refusal"):
        echo(f"  {report['commit_refusal']}")
    else:
        echo(f"  prov commit records them as a new version; prov diff then compares it with {report['version']}")
    _data_of_lines(report, data)


def _data_of_lines(report: dict, data: str | None) -> None:
    """Under a status of DATA that is an older version's file: which version signed it, and the command that
    compares with it (newcomer review 25)."""
    for tag in report.get("data_of") or []:
        echo(
            f"  {visible(report['path'])} is the data {visible(tag)} signed: prov status "
            f"{shlex.quote(data or report['path'])} --version {shlex.quote(tag)} compares it with {visible(tag)}"
        )
