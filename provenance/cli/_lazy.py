"""Lazy command loading: ``prov X`` imports the module of command X only.

Click's lazy-group pattern (click docs, "Lazily Loading Subcommands"): the top-level group
knows each command's name, module and one-line help from ``COMMANDS`` below, lists them
for ``prov --help`` without importing anything, and imports a command's module only when
that command runs. So ``prov init`` never pays for pandas, scipy or pyarrow, which
``prov diff`` and ``prov check`` need.

``tests/cli/test_app.py`` keeps ``COMMANDS`` true: every command a module registers is
listed here, in ``prov --help`` order, with the same first paragraph of help, and the
lazy ``prov --help`` prints exactly what the eagerly built one does.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
import typer.core
import typer.main

# typer (pinned below 0.29 in pyproject.toml) vendors click as typer._click: its exceptions and
# completion classes are the ones the commands raise and the protocol the group speaks
from typer import _click as click

from provenance.escaping import visible

# name -> (module under provenance.cli, first paragraph of the command's help); the order of
# `prov --help`. A new command goes here and in its module.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "core",
        "Create an empty store (.prov/) in this folder, and print its id to pin (--store-id / PROV_STORE_ID).",
    ),
    "commit": (
        "core",
        "Hash every record, classify lineage, build the reference profile, sign and record the version.",
    ),
    "status": (
        "status",
        "Compare the working data with the last version: records changed, added, removed, relabeled since.",
    ),
    "export": (
        "export",
        "Write a version's exact records to a new path, checked record for record against its signed manifest.",
    ),
    "log": ("log", "List versions, newest last, each with its releases and what a quarantine was cut from."),
    "show": (
        "log",
        "Show a version's signed facts (counts per label and source, lineage, what a quarantine cut out).",
    ),
    "verify": (
        "core",
        "Verify a version (signature, objects, every record digest, re-read from its signed location) or a signed batch.",
    ),
    "sign": ("lineage", "Sign a batch at source (no store, no network): writes DATA.prov.json."),
    "add": (
        "lineage",
        "Register a batch and its records; a signed batch is verified first against the keys trusted for its source.",
    ),
    "withdraw": (
        "lineage",
        "Sign that a registered batch is not shipped, so its missing records do not block unsigned additions.",
    ),
    "lineage": ("lineage", "Where a record came from: source, batch, signing key, and its label in every version."),
    "sources": ("lineage", "Each source with its batches, records, signed fraction and relabels."),
    "quarantine": ("lineage", "A new signed version without one source's (or the flagged) records."),
    "diff": (
        "diff",
        "Record-level diff of two versions: added, removed, relabeled, by source and class, with signals.",
    ),
    "findings": (
        "findings",
        "List the stored detection of a version: which detectors ran, and the records the combined verdict flagged (worst first).",
    ),
    "check": (
        "check",
        "Exit 0 if VERSION may be released against BASE, 1 if blocked, 2 for bad input, 3 if it could not be evaluated.",
    ),
    "waive": (
        "check",
        "Accept one finding after review (or each flagged finding of a reviewed file, --findings): "
        "a signed waiver that `prov check` honours if its key may waive.",
    ),
    "fsck": (
        "fsck",
        "Check the whole store: object bytes, versions, signatures (against the keys you pin), audit chain, lineage.",
    ),
    "demo": ("demo", "Build a store, keys and versions from real data and show every check prov makes."),
    "keys": ("keys", "Generate signing keys (no store needed); register, revoke or list them."),
    "audit": ("audit", "Check the store's audit log and sign checkpoints over it."),
    "trust": ("trust", "Which keys may sign batches for which source."),
    "root": ("roots", "Root-of-trust files: which keys hold which role, signed by root keys."),
    "report": (
        "report",
        "Render a saved check or diff report (--format json) as text, md, html, sarif or junit, without running it again.",
    ),
    "gc": (
        "gc",
        "Drop old detector runs and the scores of unflagged records, and return their space to the disk; signed facts and the audit log stay.",
    ),
    "completion": (
        "completion",
        "Print a shell completion script (bash, zsh, fish or powershell) on stdout; nothing is installed.",
    ),
}

# The panels of `prov --help`, in the order of the work: a command's panel is where a user
# looks for it (tests/cli/test_app.py keeps every command in one panel).
PANELS: dict[str, tuple[str, ...]] = {
    "Start": ("init", "keys", "demo"),
    "Versions": ("commit", "status", "log", "show", "verify", "export"),
    "Sources and lineage": ("sign", "add", "withdraw", "trust", "sources", "lineage", "quarantine"),
    "Review and release": ("diff", "findings", "check", "waive", "report"),
    "Trust and audit": ("root", "audit", "fsck"),
    "Store and shell": ("gc", "completion"),
}


def panel_of(name: str) -> str:
    """The ``prov --help`` panel that lists command ``name`` (``"Commands"`` if none names it)."""
    return next((panel for panel, names in PANELS.items() if name in names), "Commands")


def load_all() -> None:
    """Import every command module (each registers its commands on ``_app.app``)."""
    for module in dict.fromkeys(m for m, _ in COMMANDS.values()):
        importlib.import_module(f"provenance.cli.{module}")


class LazyGroup(typer.core.TyperGroup):
    """The ``prov`` group: commands listed from ``COMMANDS``, each module imported when its command runs."""

    listing = False  # while help is formatted, commands are stand-ins carrying their help line
    app: typer.Typer | None = None  # where the command modules register (``_app.app`` sets itself here)
    # The ``prov`` process (``cli.main``) sets this: the objects alive once the command's module is imported
    # (modules, classes, functions: ~54,000 of a ``prov diff``) are moved out of the cyclic collector's reach
    # (``gc.freeze``), so the full pass ``cli.exit_with`` makes at exit walks only what the command made:
    # 61-68 ms -> 7-13 ms at exit of a ``prov diff --detect`` of 10,000 records (load 5). What the command
    # makes is collected as before; only objects of its start-up that became garbage since stay (until exit).
    freeze_imports = False
    # ``-q``/``-v`` as options of each command too (``_app.late_global_options`` sets this): ``prov init -q`` as ``prov
    # -q init``, as ``git init -q`` is (newcomer reviews 25 and 31)
    late_options: Any = None

    def list_commands(self, ctx: Any) -> list[str]:
        listed = [n for names in PANELS.values() for n in names if n in COMMANDS]  # in the order of the work
        return listed + [n for n in COMMANDS if n not in listed] + [n for n in self.commands if n not in COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self.listing and cmd_name in COMMANDS:  # `prov --help` lists the table's help lines, whole
            return typer.core.TyperCommand(cmd_name, help=COMMANDS[cmd_name][1], short_help=COMMANDS[cmd_name][1])
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, _ = COMMANDS[cmd_name]
            importlib.import_module(f"provenance.cli.{module}")
            assert self.app is not None
            self.commands.update(typer.main.get_group(self.app).commands)  # the module's commands, built by typer
            if self.freeze_imports:
                gc.freeze()
        found = self.commands.get(cmd_name)
        if found is not None:  # however it was built (here, or a test's eager group): -q/-v after it too
            accept_global_options(found, self.late_options)
        return found

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The commands of ``prov --help``, one section per workflow panel (``PANELS``), in click's plain layout."""
        names = self.list_commands(ctx)
        for panel in [*PANELS, "Commands"]:
            rows = []
            for name in names:
                if panel_of(name) == panel:
                    cmd = self.get_command(ctx, name)
                    if cmd is not None and not cmd.hidden:
                        rows.append((name, cmd.get_short_help_str(formatter.width - 6 - max(map(len, names)))))
            if rows:
                with formatter.section(panel):
                    formatter.write_dl(rows)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """``prov --help``: click's plain layout (rich's costs ~0.1 s of start-up: the 0.15 s aim);
        every command's own ``--help`` keeps typer's rich layout."""
        markup, self.listing, self.rich_markup_mode = self.rich_markup_mode, True, None
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing, self.rich_markup_mode = False, markup

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run ``prov`` and exit: a usage error is one line on stderr and exit 2 (no boxes); Ctrl-C is exit 130.

        Always exits (``SystemExit``), whatever ``standalone_mode`` says: the process's exit
        status is the contract (README, "Exit codes").
        """
        try:
            rv = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            # `prov` or `prov keys` alone: the help, on stdout as `prov --help` prints it (a group
            # formatted by typer's rich layout printed it already and left the message empty); exit 2
            # as click's own convention for a missing command, so a script's `prov "$CMD"` with an
            # empty CMD does not pass for a command that ran (`prov --help` is the exit-0 way)
            if exc.format_message():
                typer.echo(exc.format_message())
            sys.exit(exc.exit_code)
        except click.exceptions.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "prov"
            hint = f" (see {where} --help)" if isinstance(exc, click.exceptions.UsageError) else ""
            hint = _global_option_hint(exc, where) or hint
            if isinstance(exc, click.exceptions.NoSuchOption) and exc.possibilities:
                # -q/-v are hidden on each command (accept_global_options): never offered for a mistyped option
                exc.possibilities = [p for p in exc.possibilities if p not in GLOBAL_OPTIONS]
            typer.echo(f"Error: {visible(where)}: {visible(exc.format_message())}{hint}", err=True)
            sys.exit(exc.exit_code)
        except (typer.Abort, KeyboardInterrupt):
            typer.echo("Error: interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)

    def _main_shell_completion(self, ctx_args: Any, prog_name: str, complete_var: str | None = None) -> None:
        # a completion request from the script `prov completion SHELL` printed (``_PROV_COMPLETE=complete_bash``):
        # typer answers it once its shells are registered
        if os.environ.get(complete_var or "_PROV_COMPLETE"):
            from typer._completion_classes import completion_init

            completion_init()
        super()._main_shell_completion(ctx_args, prog_name, complete_var)


GLOBAL_OPTIONS = ("-q", "--quiet", "-v", "--verbose")
"""The options of ``prov`` itself that modify a command from before it (``prov -q init``). Not ``--version``: on a
command that takes no ``--version V`` (``prov diff --version v1 v2``) the user meant a version, and ``prov --version
diff`` prints prov's own version and compares nothing (attack review 25b, A25b-3)."""


def accept_global_options(command: Any, make: Any) -> None:
    """Give ``command`` (and each command of a group, such as ``prov keys generate``) hidden ``-q``/``--quiet`` and
    ``-v``/``--verbose`` options that act as ``prov``'s own (``make()`` builds them), unless it has them already.
    Click parses them as options, so a value that only looks like one (``--message -q``) stays a value."""
    if make is None:
        return
    for sub in getattr(command, "commands", {}).values():
        accept_global_options(sub, make)
    names = {opt for param in command.params for opt in getattr(param, "opts", ())}
    if not names & set(GLOBAL_OPTIONS) and not hasattr(command, "commands"):
        command.params.extend(make())


def _global_option_hint(exc: click.exceptions.ClickException, where: str) -> str:
    """For ``prov init -q``: where the option goes, ``" (-q is prov's own option: put it before the command, prov -q
    init)"``; "" for any other error. The README writes ``prov -q COMMAND``, and a newcomer who typed ``prov init -q``
    read only "No such option: -q" (newcomer review 25)."""
    option = getattr(exc, "option_name", None)
    if not isinstance(exc, click.exceptions.NoSuchOption) or option not in GLOBAL_OPTIONS or where == "prov":
        return ""
    command = where.removeprefix("prov ")
    return f" ({option} is prov's own option: put it before the command, prov {option} {command})"
