"""The Typer app, shared flags, error handling and output helpers for every command."""

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

from provenance.errors import ProvError

app = typer.Typer(
    name="prov",
    help="Signed, record-level dataset versions, lineage and poisoning checks for training data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

JsonFlag = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def fail(message: str, code: int = 2, details: list[str] | None = None) -> None:
    typer.echo(f"Error: {message}", err=True)
    for line in details or []:
        typer.echo(f"  {line}", err=True)
    raise typer.Exit(code)


def handle_errors(fn: Callable) -> Callable:
    """Turn library errors into one clean line and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ProvError as exc:
            details = getattr(exc, "details", None)
            fail(str(exc), exc.exit_code, details)
        except KeyboardInterrupt:
            fail("interrupted", 3)
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


def command(name: str | None = None, group: typer.Typer | None = None, **kwargs):
    """Register a command with error handling: ``@command("init")``."""

    def decorate(fn: Callable) -> Callable:
        target = group or app
        return target.command(name, **kwargs)(handle_errors(fn))

    return decorate


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def echo(text: str = "") -> None:
    typer.echo(text)
