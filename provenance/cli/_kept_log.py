"""The kept-log-state flags of a command that signs a new version, as one bundle: ``--checkpoint PREV`` (repeatable),
``--checkpoint-out FILE``, ``--checkpoint-key K``.

``prov commit`` and ``prov quarantine`` both take them (newcomer review 17, F1), from this one definition, so they
read alike on both; the command receives a :class:`KeptLogFlags` as its ``kept`` argument and passes its fields to
the library (``kept_log.KeptLog``). :func:`kept_log_lines` are the lines both print after the version is made.

The signing writes that make no version (``prov trust add``, ``trust retire``, ``trust revoke``, ``keys
register``, ``keys revoke``, ``waive``, ``withdraw``, ``audit checkpoint``) take ``--checkpoint FILE`` alone
(:data:`KeptStateOpt`, :func:`held_states`, :func:`extends_lines`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import typer

from provenance.cli._flags import flag_group
from provenance.escaping import visible

if TYPE_CHECKING:
    from provenance.kept_log import KeptLog
    from provenance.store.store import Store


@dataclass(frozen=True)
class KeptLogFlags:
    """The flags' values: ``checkpoint_out`` (``--checkpoint-out``), ``checkpoint_key`` (``--checkpoint-key``),
    ``kept_log_state`` (``--checkpoint``, in the order given)."""

    checkpoint_out: str | None = None
    checkpoint_key: str | None = None
    kept_log_state: list[str] = field(default_factory=list)


_FLAGS = [
    (
        "checkpoint_out",
        Optional[str],
        typer.Option(
            None,
            "--checkpoint-out",
            metavar="FILE",
            help="Also write a signed log state (checkpoint) over the log, this version included, to FILE outside "
            ".prov/: keep it (a CI artifact) and pass it to the next prov check, commit or quarantine --checkpoint "
            "FILE.",
        ),
    ),
    (
        "checkpoint_key",
        Optional[str],
        typer.Option(
            None,
            "--checkpoint-key",
            metavar="KEY.key",
            help="With --checkpoint-out: the maintainer's key that signs it (default: --key).",
        ),
    ),
    (
        "checkpoint",
        list[str],
        typer.Option(
            [],
            "--checkpoint",
            metavar="FILE",
            help="A log state kept outside the store (the previous --checkpoint-out; repeatable): refuse to sign "
            "the new version (exit 1, nothing written) when the audit log no longer holds it.",
        ),
    ),
]


KeptStateOpt = typer.Option(
    [],
    "--checkpoint",
    metavar="FILE",
    help="A log state kept outside the store (by commit --checkpoint-out, trust revoke --out or audit checkpoint "
    "--out; repeatable): refuse to write (exit 1, nothing written) when the audit log no longer holds it.",
)
"""``--checkpoint FILE`` of a signing write that makes no version (``prov trust add``, ``retire``, ``revoke``, ``keys
register``, ``keys revoke``, ``waive``, ``withdraw``, ``audit checkpoint``): the same kept states ``prov commit
--checkpoint`` takes."""


def held_states(store: Store, paths: list[str], what: str) -> KeptLog | None:
    """The kept states given to a signing write that makes no version (:data:`KeptStateOpt`), checked now
    (``kept_log.KeptLog.held``: exit 1 on a log that no longer holds one); None when none is given."""
    if not paths:
        return None
    from provenance.kept_log import KeptLog

    return KeptLog.held(store, paths, what)


def extends_lines(kept: KeptLog | None) -> list[str]:
    """``  the audit log extends FILE (N entries): ...`` when :func:`held_states` checked kept states, else none."""
    from provenance.kept_log import extends_line

    line = extends_line(list(kept.extends)) if kept is not None else None
    return [] if line is None else [f"  {line}"]


def kept_log_flags(fn: Callable) -> Callable:
    """Give a command that signs a version the kept-log-state flags; it receives a :class:`KeptLogFlags` as ``kept``."""

    def build(values: dict) -> KeptLogFlags:
        return KeptLogFlags(values["checkpoint_out"], values["checkpoint_key"], list(values["checkpoint"]))

    return flag_group(fn, "kept", _FLAGS, build)


def kept_log_lines(commit: dict) -> list[str]:
    """The lines for a person about the kept log states of a version just made (``CommitResult.to_dict()``): that
    the log extends each ``--checkpoint`` given, and where ``--checkpoint-out`` wrote the new state."""
    from provenance.kept_log import extends_line

    lines = []
    if (extends := extends_line(commit.get("extends"))) is not None:
        lines.append(f"  {extends}")
    if commit.get("checkpoint_out"):
        kept = commit["checkpoint_out"]
        lines.append(
            f"  wrote the signed log state ({kept['treeSize']} entries, key {kept['keyid'][:16]}) to "
            f"{visible(kept['path'])}: keep it outside .prov/ and pass it with --checkpoint to the next prov "
            "commit and to prov check"
        )
    return lines
