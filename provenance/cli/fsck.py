"""``prov fsck``: check every object and row of the store against what vouches for it."""

from __future__ import annotations

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json
from provenance.cli._trust import note_unpinned, trust_flags
from provenance.errors import VerificationError
from provenance.escaping import visible
from provenance.fsck.check import fsck as run_fsck
from provenance.store import find_store
from provenance.trust.pins import Pins


@command("fsck")
@trust_flags
def fsck(
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Remove unreferenced objects and temp files left by interrupted writes, and keep a copy of the "
        "removed rows of quarantines made before quarantines kept them (only when no integrity error is found).",
    ),
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Check the whole store: object bytes, versions, signatures (against the keys you pin), audit chain, lineage."""
    report = run_fsck(find_store(), repair=repair, pins=pins)
    note_unpinned(pins)
    if json_out:
        emit_json(report.to_dict())
    else:
        for f in report.problems:
            echo(f"{f.level}: [{f.check}] {visible(f.message)}")
        for path in report.repaired:
            echo(f"removed {path}")
        for path in report.kept:
            echo(f"kept {path} (the records an old quarantine removed, for later checks)")
        counts = ", ".join(f"{n} {what}" for what, n in sorted(report.checked.items())) or "nothing"
        echo(f"fsck {report.store}: checked {counts}; {len(report.errors)} errors, {len(report.warnings)} warnings")
    if not report.ok:
        first = report.errors[0]
        raise VerificationError(
            f"{report.store}: integrity check failed ({len(report.errors)} errors; "
            f"first: [{first.check}] {first.message})"
        )
