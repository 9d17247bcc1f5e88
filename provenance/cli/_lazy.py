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

import importlib
from typing import Any

import typer
import typer.core
import typer.main

# name -> (module under provenance.cli, first paragraph of the command's help); the order of
# `prov --help`. A new command goes here and in its module.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("core", "Create an empty store (.prov/) in this folder."),
    "commit": (
        "core",
        "Hash every record, classify lineage, build the reference profile, sign and record the version.",
    ),
    "log": ("core", "List versions, newest last."),
    "show": ("core", "Show a version's signed facts (counts per label and source, lineage)."),
    "verify": (
        "core",
        "Verify a version (signature, objects, every record digest, re-read from its signed location) or a signed batch.",
    ),
    "sign": ("lineage", "Sign a batch at source (no store, no network): writes DATA.prov.json."),
    "add": (
        "lineage",
        "Register a batch and its records; a signed batch is verified first against the keys trusted for its source.",
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
        "Accept one finding after review: a signed waiver that `prov check` honours if its key may waive.",
    ),
    "fsck": (
        "fsck",
        "Check the whole store: object bytes, versions, signatures (against the keys you pin), audit chain, lineage.",
    ),
    "demo": ("demo", "Build a store, keys and versions from real data and show every check prov makes."),
    "keys": ("core", "Generate signing keys (no store needed); register or revoke them."),
    "audit": ("audit", "Check the store's audit log and sign checkpoints over it."),
    "trust": ("lineage", "Which keys may sign batches for which source."),
    "root": ("roots", "Root-of-trust files: which keys hold which role, signed by root keys."),
}


def load_all() -> None:
    """Import every command module (each registers its commands on ``_app.app``)."""
    for module in dict.fromkeys(m for m, _ in COMMANDS.values()):
        importlib.import_module(f"provenance.cli.{module}")


class LazyGroup(typer.core.TyperGroup):
    """The ``prov`` group: commands listed from ``COMMANDS``, each module imported when its command runs."""

    listing = False  # while help is formatted, commands are stand-ins carrying their help line
    app: typer.Typer | None = None  # where the command modules register (``_app.app`` sets itself here)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS) + [n for n in self.commands if n not in COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self.listing and cmd_name in COMMANDS:  # `prov --help` lists the table's help lines, whole
            return typer.core.TyperCommand(cmd_name, help=COMMANDS[cmd_name][1], short_help=COMMANDS[cmd_name][1])
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        module, _ = COMMANDS[cmd_name]
        importlib.import_module(f"provenance.cli.{module}")
        assert self.app is not None
        self.commands.update(typer.main.get_group(self.app).commands)  # the module's commands, built by typer
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """``prov --help``: click's plain layout (rich's costs ~0.1 s of start-up: the 0.15 s aim);
        every command's own ``--help`` keeps typer's rich layout."""
        markup, self.listing, self.rich_markup_mode = self.rich_markup_mode, True, None
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing, self.rich_markup_mode = False, markup
