"""``prov demo``: a real example end to end, through the embedded store."""

from __future__ import annotations

from pathlib import Path

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json


@command("demo")
def demo(
    directory: Path = typer.Option(Path("prov-demo"), "--dir", help="Folder to build the demo in (recreated)."),
    json_out: bool = JsonFlag,
) -> None:
    """Build a store, keys and versions from real data and show every check prov makes."""
    from provenance.demo.run import run_demo

    facts = run_demo(directory, echo=(lambda s: None) if json_out else echo)
    if json_out:
        emit_json(facts)
