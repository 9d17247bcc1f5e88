"""The flags that pin trust, as one bundle: ``--signer``, ``--root``, ``--root-threshold``, ``--store-id``.

``@trust_flags`` adds them to a command's signature and hands the command one ``pins``
argument, a :class:`provenance.trust.pins.Pins` built from the flags and, for whatever a
flag does not give, the environment of the person running prov (``PROV_SIGNERS``,
``PROV_ROOT``, ``PROV_ROOT_THRESHOLD``, ``PROV_STORE_ID``): never from the checkout or the store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Optional

import typer

from provenance.cli._app import echo, note
from provenance.cli._flags import flag_group

if TYPE_CHECKING:  # imported when a command runs: `prov sign` and `prov init` never open a store
    from pathlib import Path

    from provenance.store import Store
    from provenance.store.checkpoints import CheckpointKey
    from provenance.trust.pins import Pins

_FLAGS = [
    (
        "signer",
        list[str],
        typer.Option(
            [],
            "--signer",
            help="A public key you trust (KEY.pub; repeatable). Default: PROV_SIGNERS (paths joined by ':').",
        ),
    ),
    (
        "root",
        list[str],
        typer.Option(
            [],
            "--root",
            help="A root-of-trust file signed by --signer keys (repeatable, oldest first). Default: PROV_ROOT.",
        ),
    ),
    (
        "root_threshold",
        Optional[int],
        typer.Option(
            None,
            "--root-threshold",
            min=1,
            help="How many --signer keys must sign the first root (default PROV_ROOT_THRESHOLD, else 1).",
        ),
    ),
    (
        "store_id",
        Optional[str],
        typer.Option(
            None,
            "--store-id",
            metavar="ID",
            help="The store's id as prov init printed it (default PROV_STORE_ID, else the root file's store).",
        ),
    ),
]


def trust_flags(fn: Callable) -> Callable:
    """Give a command the pinning flags; it receives the verifier's ``Pins`` as its ``pins`` argument."""

    def build(values: dict) -> Pins:
        from provenance.trust.pins import Pins

        return Pins.load(values["signer"], values["root"], values["root_threshold"], store_id=values["store_id"])

    return flag_group(fn, "pins", _FLAGS, build)


def note_unpinned(pins: Pins) -> None:
    """On stderr, when nothing is pinned: say that signatures were checked only against keys in the store."""
    if not pins.pinned:
        note(
            "signatures were checked only against keys found in the store (nothing pinned); "
            "pass --signer KEY.pub or set PROV_SIGNERS to check them against keys you trust"
        )


KeptCheckpointOpt = typer.Option(
    None,
    "--out",
    help="Write the revocation's checkpoint (signed by --checkpoint-key) here too, to keep outside .prov/ "
    "(default, with --checkpoint-key given on the command line: a new file in this folder whose name starts "
    "prov-revocation- and names the key revoked; never overwritten).",
)


def kept_path(
    store: Store, signer: CheckpointKey | None, out: str | None, subject: str, by_default: bool = True
) -> Path | None:
    """Where a revocation's checkpoint goes (``store.checkpoints.kept_checkpoint_path``), checked before any
    write; None without a checkpoint key, or without ``out`` when not ``by_default`` (the key came from
    ``PROV_KEY``, not the command line: a file is written only when asked for). Raises InputError for ``--out``
    without a key, ``-``, a path inside ``store``'s ``.prov/`` or one that exists."""
    from provenance.errors import InputError
    from provenance.store.checkpoints import kept_checkpoint_path

    if signer is None:
        if out is not None:
            raise InputError("--out writes the revocation's checkpoint: give --checkpoint-key too")
        return None
    if out is None and not by_default:
        return None
    return kept_checkpoint_path(store, out, subject)


def given_on_command_line(ctx: typer.Context, param: str) -> bool:
    """Whether the running command's option ``param`` (its Python name) was given on the command line, not read
    from its environment variable or left at its default (click's ``Context.get_parameter_source``)."""
    source = ctx.get_parameter_source(param)
    return getattr(source, "name", None) == "COMMANDLINE"


def revocation_keeper(
    signer: CheckpointKey | None, path: Path | None, what: str, shows: str
) -> Callable[[Store], None] | None:
    """The ``keep`` a revocation's ``Store.write`` calls once it has committed, the lock still held:
    :func:`keep_after_revocation` of ``signer``, ``path``, ``what`` and ``shows``; None without ``path`` (no
    checkpoint key)."""
    if path is None or signer is None:
        return None
    return functools.partial(keep_after_revocation, signer=signer, path=path, what=what, shows=shows)


def keep_after_revocation(store: Store, signer: CheckpointKey, path: Path, what: str, shows: str) -> None:
    """Write the signed log state after the revocation ``what`` (``store.checkpoints.keep_checkpoint``) to
    ``path``, inside the revocation's write once it has committed and before its lock is released
    (:func:`revocation_keeper`), so no prov writer cuts the log in between (attack review 19b, F19b-1). The log
    must still hold the state the revocation's write left, and the file is read back: a writer that ignores
    the lock (sqlite3 on ``prov.db``) is caught. Raises VerificationError (exit 1) saying the revocation was
    made and whether the file was written (the log cut before it was: none; after, before it was read back:
    the file, which holds the revocation, is left for the user to keep), or InputError (exit 2) saying the
    revocation stands and no file was kept (a file appeared at ``path`` meanwhile, or it cannot be written). Its
    advice names ``shows``, the command that shows the revocation, to run before keeping a state by hand: ``prov
    audit checkpoint --out`` keeps whatever log is there, one a ``.prov/`` writer rolled back too (attack review
    20, A20-4). ``prov trust list`` and ``prov keys list`` read the revocation from the audit log and mark a row
    that says revoked while the log does not (``trust.revocations.ROW_ONLY``): a rollback that kept the row is
    seen there."""
    import shlex

    from provenance.errors import InputError, VerificationError
    from provenance.store.checkpoints import ChangedAfterKept, keep_checkpoint
    from provenance.trust.revocations import ROW_ONLY

    try:
        keep_checkpoint(store, signer, path)
    except InputError as exc:
        raise InputError(
            f"revoked {what}, but the log state after it was not kept ({exc}); the revocation stands: check that {shows} "
            f"still shows it revoked, read from the audit log (if not, or marked '{ROW_ONLY}', a .prov/ writer erased "
            "it: restore .prov/ from a copy you trust and revoke again), and only then keep the state with prov audit "
            "checkpoint --key KEY.key --out FILE and pass FILE to prov audit verify --checkpoint"
        ) from exc
    except VerificationError as exc:
        if isinstance(exc, ChangedAfterKept):  # written, then the log changed before it was read back
            raise VerificationError(
                f"revoked {what} and kept the log state after it in {path}, but the store's audit log no longer "
                f"holds it ({exc}). A .prov/ writer may have erased the revocation: keep {path} (prov audit verify "
                f"--checkpoint {shlex.quote(str(path))} fails on this log), restore .prov/ from a copy you trust, "
                "see prov trust list, and revoke again"
            ) from exc
        raise VerificationError(
            f"revoked {what}, but the log state after it cannot be kept ({exc}); nothing was written to {path}. "
            "A .prov/ writer may have erased the revocation: restore .prov/ from a copy you trust, see prov trust "
            "list and prov audit verify, and revoke again"
        ) from exc


def echo_not_kept() -> None:
    """Say that a revocation's checkpoint, signed with ``PROV_KEY``, is in the store only, and how to keep one."""
    echo("  signed a checkpoint over the revocation with PROV_KEY, in .prov/ only: no log state was kept outside")
    echo("  it (give --out F, or --checkpoint-key K on the command line, to keep one where CI reads it)")


def echo_kept(path: Path) -> None:
    """Say where a revocation's checkpoint was kept and the one command that keeps it for CI."""
    from provenance.store.checkpoints import keep_command

    echo(f"  wrote the signed log state after the revocation to {path}: keep it outside .prov/, or a .prov/")
    echo("  writer can roll the revocation back unseen; pass it with --checkpoint to the next prov commit (and")
    echo("  add, trust, keys, waive, withdraw, audit checkpoint), which then refuse a log that lost it. For the")
    echo("  example CI workflow:")
    echo(f"    {keep_command(path)}")


def open_store(pins: Pins | None = None) -> Store:
    """The store here or above, checking signatures with ``pins``."""
    from provenance.store import Store

    return Store.open(pins=pins)


CheckpointKeyOpt = typer.Option(
    None,
    "--checkpoint-key",
    envvar="PROV_KEY",
    help="Private key (KEY.key) that signs an audit checkpoint over the log after this change (else it is pending).",
)

RevocationCheckpointKeyOpt = typer.Option(
    None,
    "--checkpoint-key",
    envvar="PROV_KEY",
    help="Private key (KEY.key) that signs an audit checkpoint over the log after the revocation (else it is "
    "pending). Given here, the checkpoint is also written to a file to keep outside .prov/ (--out); read from "
    "PROV_KEY, only with --out.",
)


def load_checkpoint_key(path: str | None, revocation: bool = False) -> CheckpointKey | None:
    """The key that signs an audit checkpoint after a change (``--checkpoint-key``), None without one;
    ``revocation``: a revocation's (``CheckpointKey.load``)."""
    from provenance.store.checkpoints import CheckpointKey

    return CheckpointKey.load(path, revocation) if path else None


def refuse_unpinned_checkpoint(store: Store, pins: Pins, signer: CheckpointKey | None, path: str | None) -> None:
    """``trust.pins.refuse_unpinned_checkpoint``, imported when a command runs (``prov sign`` loads no pins)."""
    from provenance.trust.pins import refuse_unpinned_checkpoint as refuse

    refuse(store, pins, signer, path)
