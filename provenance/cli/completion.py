"""``prov completion SHELL``: print the shell's completion script; nothing edits a shell's rc files."""

from __future__ import annotations

import typer

from provenance.cli._app import command
from provenance.errors import InputError

SHELLS = ("bash", "zsh", "fish", "powershell")
COMPLETE_VAR = "_PROV_COMPLETE"  # what the script sets when it asks prov for completions (``=complete_bash``)


def completion_script(shell: str) -> str:
    """The completion script of ``shell`` (``bash``, ``zsh``, ``fish`` or ``powershell``) for ``prov``.

    Typer's shell-completion protocol (click's, as typer vendors it): the script calls
    ``prov`` back with ``_PROV_COMPLETE=complete_SHELL`` set, and ``prov`` answers with the
    commands, options and choices that fit. Raises ``InputError`` (exit 2) for any other shell.
    """
    # typer (pinned below 0.29) vendors click; its completion classes are registered on request
    from typer._click.shell_completion import get_completion_class
    from typer._completion_classes import completion_init

    completion_init()
    cls = get_completion_class(shell) if shell in SHELLS else None
    if cls is None:
        raise InputError(f"shell {shell!r}: prov prints completion for {', '.join(SHELLS)}")
    from provenance.cli._app import app

    return cls(typer.main.get_command(app), {}, "prov", COMPLETE_VAR).source()


@command("completion")
def completion(shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh, fish or powershell.")) -> None:
    """Print a shell completion script (bash, zsh, fish or powershell) on stdout; nothing is installed.

    Load it in this shell: `eval "$(prov completion bash)"`; or save it where your shell reads completions.
    """
    typer.echo(completion_script(shell))
