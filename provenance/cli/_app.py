"""The Typer app, its global ``--verbose`` flag, error handling and output helpers for every command."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import sys
import traceback
from collections.abc import Callable
from typing import Any

import typer
import typer.core

from provenance.cli._lazy import LazyGroup
from provenance.errors import ProvError
from provenance.escaping import visible

app = typer.Typer(
    name="prov",
    cls=LazyGroup,  # each command's module is imported when that command runs
    help="Signed, record-level dataset versions, lineage and poisoning checks for training data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

LazyGroup.app = app

_typer_metavar = typer.core.TyperArgument.make_metavar


def _plain_metavar(self: typer.core.TyperArgument, ctx: Any, *, usage: bool = False) -> str:
    """An argument in usage lines as most command lines show it, ``prov diff BASE NEW``: typer 0.28 writes a
    required one in braces (``{BASE}``), which read as a set of choices (newcomer review 10, finding 24)."""
    var = _typer_metavar(self, ctx, usage=usage)
    return var[1:-1] if usage and var.startswith("{") and var.endswith("}") else var


typer.core.TyperArgument.make_metavar = _plain_metavar  # type: ignore[method-assign]

JsonFlag = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
"""The ``--json`` flag, the same on every command that has one."""

_options = {"verbose": False, "quiet": False}  # this invocation's global options, set by the app callback


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"prov {version('prov-data')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("prov (not installed: run from a source tree)")
        raise typer.Exit(0)


@app.callback()
def global_options(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="On an error, also print its full diagnostics (e.g. every record involved)."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bars and no notes on stderr; errors and results still print."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print prov's version and exit."
    ),
) -> None:
    """Signed, record-level dataset versions, lineage and poisoning checks for training data."""
    _options["verbose"] = verbose
    _options["quiet"] = quiet


def _late_global(name: str) -> Callable[[Any, Any, bool], None]:
    def set_option(ctx: Any, param: Any, value: bool) -> None:
        if value:
            _options[name] = True

    return set_option


def late_global_options() -> list[Any]:
    """``-q``/``--quiet`` and ``-v``/``--verbose`` given after the command (``prov init -q``): hidden options of each
    command that set what ``prov -q init`` sets (``_lazy.accept_global_options``)."""
    return [
        typer.core.TyperOption(
            param_decls=[long, short], is_flag=True, hidden=True, expose_value=False, callback=_late_global(name)
        )
        for name, long, short in (("quiet", "--quiet", "-q"), ("verbose", "--verbose", "-v"))
    ]


LazyGroup.late_options = staticmethod(late_global_options)


def verbose() -> bool:
    """True when this invocation was given ``-v``/``--verbose``: full diagnostics, and the asides a log need not repeat."""
    return _options["verbose"]


def quiet() -> bool:
    """True when this invocation was given ``-q``/``--quiet``: no progress and no notes on stderr."""
    return _options["quiet"]


def fail(message: str, code: int = 2, details: list[str] | None = None) -> None:
    """Print ``Error: message`` and the ``details`` lines (indented) on stderr, then exit with ``code``.

    Each is one line whatever it quotes: labels, sources and paths in it are shown escaped
    (``escaping.visible``), so data cannot add lines, move the cursor or reorder text.
    """
    typer.echo(f"Error: {visible(message)}", err=True)
    for line in details or []:
        typer.echo(f"  {visible(line)}", err=True)
    raise typer.Exit(code)


def _details(exc: ProvError) -> list[str]:
    """The lines printed under an error's one-line message.

    Always the lines the error carries for people (``details``: e.g. the records a failed
    verification names); with ``--verbose``, its whole ``diagnostics()`` instead.
    """
    if _options["verbose"]:
        lines = exc.diagnostics().splitlines()
        return lines[1:] if lines and lines[0] == str(exc) else lines
    # a line the message already says is not printed again under it (newcomer review 10, finding 27: a
    # batch with one relabeled row said it twice); the library keeps every detail for its callers
    return [line for line in getattr(exc, "details", None) or [] if line not in str(exc)]


def handle_errors(fn: Callable) -> Callable:
    """Turn library errors into one clean line and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ProvError as exc:
            fail(str(exc), exc.exit_code, _details(exc))
        except KeyboardInterrupt:  # Ctrl-C: every write is atomic, so the store is as it was
            fail("interrupted; the store is left as it was", 130)
        except BrokenPipeError:  # `prov ... | head`: the reader left; stop quietly, as Unix tools do
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                fail(f"store busy ({exc}); another prov command is writing, try again", 3)
            fail(f"store database cannot be read ({exc}); run `prov fsck`", 3)
        except sqlite3.DatabaseError as exc:  # a damaged prov.db: could not evaluate, never a traceback
            fail(f"store database is damaged ({exc}); run `prov fsck`", 3)
        except Exception as exc:  # a bug or an environment failure: could not evaluate
            if os.environ.get("PROV_DEBUG"):
                traceback.print_exc()
            fail(f"internal error ({type(exc).__name__}: {exc}); set PROV_DEBUG=1 for a traceback", 3)

    return wrapper


def command(name: str | None = None, group: typer.Typer | None = None, **kwargs: Any) -> Callable[[Callable], Callable]:
    """Register a command with error handling: ``@command("init")``."""

    def decorate(fn: Callable) -> Callable:
        target = group or app
        if "help" not in kwargs and fn.__doc__:
            kwargs["help"] = unwrapped(fn.__doc__)
        return target.command(name, **kwargs)(handle_errors(fn))

    return decorate


def unwrapped(doc: str) -> str:
    """A command's docstring as ``--help`` shows it: each paragraph one line, for the terminal to wrap (typer's
    rich layout keeps a docstring's line breaks, which fell mid-sentence: newcomer review 10, finding 24).
    A line that starts a list item (``-``) or is indented keeps its own line."""
    import inspect

    paragraphs = []
    for paragraph in inspect.cleandoc(doc).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not line.startswith((" ", "- ")):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line)
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def as_typed(path: object) -> str:
    """A path as a user in this folder would type it: relative when it is below the current folder, else as given
    (newcomer review 9, finding 11: status printed the absolute path of a file beside the user)."""
    text = str(path)
    if not os.path.isabs(text):
        return text
    rel = os.path.relpath(text)
    return text if rel == ".." or rel.startswith(".." + os.sep) else rel


def note(text: str) -> None:
    """Write ``Note: text`` on stderr (one escaped line): something the user should know that is not an error."""
    if not _options["quiet"]:
        typer.echo(f"Note: {visible(text)}", err=True)


def emit_json(obj: Any) -> None:
    """Write ``obj`` as indented JSON (keys sorted, anything else as ``str``) on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def echo(text: str = "") -> None:
    """Write ``text`` on stdout, each of its lines with hidden characters escaped (``escaping.visible``).

    Values that could hold a newline themselves (labels, sources, paths) are passed
    through ``visible`` by the caller, so they cannot start a line of their own.
    """
    typer.echo("\n".join(visible(line) for line in text.split("\n")))
