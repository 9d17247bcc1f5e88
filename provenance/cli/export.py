"""``prov export V --out PATH``: a version's exact records, checked against its signed manifest."""

from __future__ import annotations

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json, note
from provenance.cli._trust import trust_flags
from provenance.escaping import visible
from provenance.trust.pins import Pins


@command("export")
@trust_flags
def export(
    version: str = typer.Argument(..., metavar="VERSION", help="The version to export."),
    out: str = typer.Option(..., "--out", "-o", help="A new path: a Parquet file (tables) or a folder (trees)."),
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Write a version's exact records to a new path, checked record for record against its signed manifest.

    The version's signature is checked against the keys you pin (--signer, PROV_SIGNERS, --root); with nothing
    pinned it exits 2 and writes nothing.
    """
    from provenance.cli._progress import progress_shown
    from provenance.export import export_version
    from provenance.store import Store

    with progress_shown():
        result = export_version(Store.open(pins=pins), version, out)
    if json_out:
        emit_json(result)
    else:
        echo(
            f"Exported {version}: {result['records']} records to {visible(result['output'])}, "
            f"Merkle root {result['merkle_root'][:16]}… as signed"
        )
    if result["release"]["note"]:  # on stderr, as load warns: the records are out, the job that trains should know
        note(f"{version} exported without a release attestation: {result['release']['note']}")
