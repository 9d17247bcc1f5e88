"""``prov demo``: a real example end to end, through the embedded store."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json


def prov_command(workdir: Path) -> str:
    """How to run this very ``prov`` from ``workdir``, as a user can paste it.

    ``"prov"`` when the ``prov`` on ``PATH`` is the one running (an activated venv, a
    global install); otherwise the running console script's path relative to ``workdir``
    (``../.venv/bin/prov`` after the README's quickstart, which does not activate its venv),
    or ``python -m provenance`` with this interpreter's path when no script is found.
    """
    started = Path(sys.argv[0]) if Path(sys.argv[0]).name == "prov" else Path(sys.executable).parent / "prov"
    if not started.is_file():
        return f"{shlex.quote(_relative(Path(sys.executable), workdir))} -m provenance"
    on_path = shutil.which("prov")
    if on_path and os.path.samefile(on_path, started):
        return "prov"
    return shlex.quote(_relative(started, workdir))


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` when it lies below ``start``'s parent, else absolute
    (``../.venv/bin/prov``, not ``../../../usr/local/bin/prov``)."""
    path, start = Path(os.path.abspath(path)), Path(os.path.abspath(start))
    if path.is_relative_to(start.parent):
        return os.path.relpath(path, start)
    return str(path)


def _folder(workdir: Path) -> str:
    """``workdir`` as the user reaches it from the current folder: relative below it, else absolute."""
    here, target = Path.cwd(), Path(os.path.abspath(workdir))
    return shlex.quote(os.path.relpath(target, here) if target.is_relative_to(here) else str(target))


def activation_hint(prov: str) -> str | None:
    """When the ``prov`` that ran is not the one on ``PATH`` (``prov``, :func:`prov_command`'s answer, is a path) and
    it is a venv's console script: how to put it there from the current folder, as every README command types plain
    ``prov`` (newcomer review 22, item 8: after the quickstart the demo's last line said ``../.venv/bin/prov``, and
    the README's next commands were "command not found"); else None."""
    if prov == "prov" or prov.endswith(" -m provenance"):
        return None
    started = Path(sys.argv[0]) if Path(sys.argv[0]).name == "prov" else Path(sys.executable).parent / "prov"
    activate = Path(os.path.abspath(started)).parent / "activate"
    if not activate.is_file():
        return None
    return (
        f"prov is not on your PATH: `. {_folder(activate)}` (bash, zsh) puts this one there, "
        "as the README's commands type plain prov"
    )


@command("demo")
def demo(
    directory: Path = typer.Option(
        Path("prov-demo"),
        "--dir",
        help="Folder to build the demo in (an earlier demo's files there are deleted, unless any file there is not one it wrote, unchanged).",
    ),
    fresh: bool = typer.Option(
        False,
        "--fresh",
        help="Delete an earlier demo's store whatever you did in it since (a check, a version), and start afresh.",
    ),
    json_out: bool = JsonFlag,
) -> None:
    """Build a store, keys and versions from real data and show every check prov makes."""
    from provenance.demo.run import run_demo

    workdir = Path(os.path.abspath(directory))
    # worked out before the demo changes folder: argv[0] may be relative to where the user is
    prov, folder = prov_command(workdir), _folder(workdir)
    hint = activation_hint(prov)
    facts = run_demo(directory, echo=(lambda s: None) if json_out else echo, fresh=fresh)
    if not json_out:
        if hint:
            echo(hint)
        echo(f"Explore it: cd {folder} && export PROV_SIGNERS=$PWD/maintainer.pub && {prov} log")
    else:
        emit_json(facts)
