"""``prov status``: the working data against the last version (like ``git status``)."""

from __future__ import annotations

from typing import Optional

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json
from provenance.cli._dataset import DatasetFlags, dataset_flags
from provenance.cli._trust import note_unpinned, trust_flags
from provenance.escaping import visible
from provenance.trust.pins import UNPINNED_VERSION, Pins


@command("status")
@dataset_flags
@trust_flags
def status(
    data: Optional[str] = typer.Argument(
        None, help="Data to compare (default: where the version was read from, with its read options)."
    ),
    version: Optional[str] = typer.Option(None, "--version", help="Compare with this version (default: the latest)."),
    flags: DatasetFlags = DatasetFlags(),  # filled by @dataset_flags
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Compare the working data with the last version: records changed, added, removed, relabeled since.

    Nothing is written; exit 0 whether or not the data changed (the JSON's `clean` says which).
    """
    from provenance.cli._progress import progress_shown
    from provenance.status import working_status
    from provenance.store import Store

    with progress_shown():
        report = working_status(Store.open(pins=pins), flags.spec(data) if data else None, version)
    note_unpinned(pins)
    if json_out:
        emit_json(report)
        return
    where = visible(report["path"])
    if report["clean"]:
        unpinned = "" if pins.pinned else f"; {UNPINNED_VERSION}"
        echo(f"{where}: unchanged since {report['version']} ({report['records']} records{unpinned})")
        return
    parts = ", ".join(f"{n} {kind}" for kind, n in report["counts"].items() if n) or "same records, other sources"
    echo(f"{where}: {parts} since {report['version']} ({report['records']} records now)")
    for change in report["changes"]:
        echo(f"  {visible(change['detail'])}")
    shown = {kind: [c["kind"] for c in report["changes"]].count(kind) for kind in report["counts"]}
    cut = [f"{shown[kind]} of {n} {kind}" for kind, n in report["counts"].items() if n > shown[kind]]
    if cut:
        all_of = f"prov diff {report['version']} NEW --format json once committed as NEW"
        echo(f"  (listed: the first {', '.join(cut)}; all: {all_of})")
    echo("  `prov commit` records them as a new version; `prov diff` compares two versions")
