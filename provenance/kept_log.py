"""The log states kept outside ``.prov/`` around a command that signs a new version (``prov commit``, ``prov
quarantine``): ``--checkpoint PREV`` before it, ``--checkpoint-out FILE [--checkpoint-key K]`` after it.

A commit onto a log a ``.prov/`` writer cut back (a blocked delivery erased) would sign the cut, and a
checkpoint written then would keep a state that hides it (attack review 16, F1). So every command that
makes a signed version checks the states it is given before any work (which saves the hashing) and again
inside the write that signs the version, under the store's lock (:meth:`KeptLog.require_held`): the lock
is free while the data is hashed and profiled, so a cut then would otherwise be signed (attack review 18,
F18-2). When asked, it writes the new state outside the store where that writer cannot reach it, in the same
write once it has committed and before the lock is released (:meth:`KeptLog.keeper`): a writer waiting on the
lock cannot cut the log between the commit and the keeping (attack review 19b, F19b-1). One place, so ``prov
quarantine`` (a signed version too) cannot lag behind ``prov commit`` (newcomer review 17, F1).

The signing writes that make no version (``prov trust add``, ``trust retire``, ``trust revoke``, ``keys register``,
``keys revoke``, ``waive``, ``withdraw``, ``audit checkpoint``) take ``--checkpoint PREV`` too (:meth:`KeptLog.held`):
each writes onto the log it extends (a trust entry, a revocation, a checkpoint), and one written onto a log cut back
would vouch for the cut.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from provenance.errors import InputError, VerificationError
from provenance.store import checkpoints

if TYPE_CHECKING:
    from provenance.gate.kept_states import KeptState
    from provenance.store.store import Store
    from provenance.versions import CommitResult


@dataclass(frozen=True)
class KeptLog:
    """What :meth:`check` found before a signed version is made, and what :meth:`finish` writes after it.

    ``out``/``signer``: where to write the checkpoint and the key that signs it (None without
    ``--checkpoint-out``); ``extends``: ``[{"path", "treeSize"}]``, each kept state given (``--checkpoint``)
    that the audit log was found to hold, in the order given (``treeSize`` 0: a release attestation of an
    empty log, which every log extends); ``states``: those states as read and verified then, which
    :meth:`require_held` checks the log against again inside the write; ``what`` and ``done`` name, in messages,
    what the write makes and what was therefore not done (``version``, ``committed``). What :meth:`keeper` did
    inside that write is held until :meth:`finish` (one commit per ``KeptLog``).
    """

    out: str | None = None
    signer: checkpoints.CheckpointKey | None = None
    extends: tuple[dict, ...] = ()
    states: tuple[KeptState, ...] = ()
    what: str = "version"
    done: str = "committed"
    _kept: dict = field(default_factory=dict, compare=False, repr=False)  # "state" or "failure", set by keeper()

    @classmethod
    def check(
        cls,
        store: Store,
        committer_key: str,
        *,
        checkpoint_out: str | None = None,
        checkpoint_key: str | None = None,
        kept_log_state: Collection[str] = (),
    ) -> KeptLog:
        """Check, before any data is read, the checkpoint to write and the kept states given.

        ``checkpoint_out`` (``--checkpoint-out FILE``) must be a new file outside ``.prov/``, signed later by
        ``checkpoint_key`` (a maintainer's key the pins hold; default ``committer_key``, the key that signs the
        version). ``kept_log_state`` (``--checkpoint FILE``, repeatable) are log states kept outside the store, as
        ``prov check --checkpoint`` reads them (``gate.kept_states``): the audit log must hold each one.

        Raises:
            InputError: (exit 2) a path inside ``.prov/``, a symbolic link, a folder or a missing folder for
                ``checkpoint_out``; ``checkpoint_key`` without ``checkpoint_out``, or a key the pins do not hold
                for a maintainer role; a kept file that is unreadable, no log state, or inside ``.prov/`` (itself or
                through a link).
            VerificationError: (exit 1, nothing written) the audit log no longer holds a kept state, or its
                signature is by a key the verifier did not pin.
            KeyFileError: the key file.
        """
        signer = _checkpoint_signer(store, checkpoint_out, checkpoint_key, committer_key)
        states = _read_states(store, kept_log_state)
        _refuse_lost(store, states, ", so nothing was committed")
        return cls(checkpoint_out, signer, tuple(_extends(k) for k in states), states)

    @classmethod
    def held(cls, store: Store, kept_log_state: Collection[str], what: str) -> KeptLog:
        """``--checkpoint FILE`` (repeatable) of a signing write that makes no version (``prov trust add``, ``trust
        retire``, ``waive``, ``withdraw``): the kept states, checked now, before the write, as :meth:`check` checks
        them; the write calls :meth:`require_held` again inside. ``what`` names what it signs (``trust entry``).

        Raises:
            InputError: (exit 2) a kept file that is unreadable, no log state, or inside ``.prov/``.
            VerificationError: (exit 1, nothing written) the audit log no longer holds a kept state, or its
                signature is by a key the verifier did not pin.
        """
        states = _read_states(store, kept_log_state)
        _refuse_lost(store, states, ", so nothing was written")
        return cls(extends=tuple(_extends(k) for k in states), states=states, what=what, done="written")

    def require_held(self, store: Store) -> None:
        """Inside the write that signs the version (after ``BEGIN IMMEDIATE``, before anything is written): the
        audit log must still hold every kept state :meth:`check` (or :meth:`held`) found it holding. A ``.prov/``
        writer may cut the log while the data is hashed and profiled, when the lock is free (attack review 18,
        F18-2), or between the check and the write of a trust entry, waiver or withdrawal.

        Raises VerificationError (exit 1) naming the first state the log lost; the write then rolls back, so
        no version, row or object is left.
        """
        _refuse_lost(store, self.states, f" while this {self.what} was being prepared, so nothing was {self.done}")

    def keeper(self, tag: str) -> Callable[[Store], None] | None:
        """The ``keep`` of the write that commits ``tag`` (``Store.write``): with ``--checkpoint-out``, called
        once that write has committed and before its lock is released, it writes the checkpoint over the whole
        log, this commit's entries included, to ``out``; None without ``--checkpoint-out``.

        It raises nothing: a failure (the version is committed then) is held, and :meth:`finish` raises it, so
        a caller that cleans up after a failed commit (``prov quarantine``'s copy) leaves a committed one alone.
        """
        if self.signer is None or self.out is None:
            return None
        signer, out = self.signer, self.out

        def keep(store: Store) -> None:
            try:
                self._kept["state"] = _keep_checkpoint(store, signer, out, tag, self._holds(store, tag))
            except BaseException as exc:  # noqa: BLE001 - raised by finish(), once the commit is reported as made
                self._kept["failure"] = exc

        return keep

    def finish(self, store: Store, result: CommitResult) -> CommitResult:
        """``result`` (the version just committed) with ``extends`` and, with ``--checkpoint-out``, the checkpoint
        :meth:`keeper` wrote inside the commit's write: ``checkpoint_out`` is then ``{"path", "treeSize",
        "rootHash", "keyid"}``.

        Raises what the keeping raised: InputError or VerificationError saying the version was committed and the
        checkpoint not written (with the command that writes it, or, for a log that changed meanwhile, ``prov
        audit verify``), or that it was written and the log no longer holds it.
        """
        failure = self._kept.get("failure")
        if failure is not None:
            raise failure
        return dataclasses.replace(result, checkpoint_out=self._kept.get("state"), extends=list(self.extends))

    def _holds(self, store: Store, tag: str) -> list[tuple[str, checkpoints.Checkpoint]]:
        """What the checkpoint kept after the commit of ``tag`` must extend: every kept state given, and the log as
        that commit's write signed it (``Store.written_checkpoint``). Kept under the same lock, so only a writer
        that ignores the lock (sqlite3 on ``prov.db``) could have cut it; that cut is caught, never kept."""
        holds = [(k.path, k.head) for k in self.states if k.head is not None]
        if store.written_checkpoint is not None:
            holds.append((f"the write that committed {tag}", store.written_checkpoint))
        return holds


def extends_line(extends: list[dict] | None) -> str | None:
    """``the audit log extends ../cp3.json (5 entries): nothing was deleted since it was kept`` for a result's
    ``extends`` (:class:`KeptLog`), so a user sees ``--checkpoint PREV`` was checked; None when none was given."""
    if not extends:
        return None
    from provenance.escaping import visible

    held = ", ".join(f"{visible(k['path'])} ({k['treeSize']} entries)" for k in extends)
    return f"the audit log extends {held}: no entry was deleted or rewritten since it was kept"


def _read_states(store: Store, paths: Collection[str]) -> tuple[KeptState, ...]:
    """The kept log states in ``paths``, each signature checked under the pins (``gate.kept_states
    .read_kept_states``: InputError for a file that is no log state, VerificationError for an unpinned key)."""
    if not paths:
        return ()
    from provenance.gate.kept_states import read_kept_states

    return tuple(read_kept_states(store, list(paths)))


def _refuse_lost(store: Store, states: tuple[KeptState, ...], when: str) -> None:
    """Raise VerificationError naming the first of ``states`` the store's audit log no longer holds, and ``when``
    (``, so nothing was committed``) it was found so."""
    if not states:
        return
    from provenance.gate.kept_states import ROLLED_BACK, departure

    for kept in states:
        why = departure(store, kept)
        if why is not None:
            raise VerificationError(
                f"{why}: {ROLLED_BACK}{when}; see prov audit verify --checkpoint "
                f"{shlex.quote(kept.path)} and restore .prov/ from a copy you trust"
            )


def _extends(kept: KeptState) -> dict:
    """``{"path", "treeSize"}`` of a kept state the log holds (``treeSize`` 0: an attestation of an empty log)."""
    return {"path": kept.path, "treeSize": kept.head.size if kept.head is not None else 0}


def _checkpoint_signer(
    store: Store, out: str | None, key: str | None, committer_key: str
) -> checkpoints.CheckpointKey | None:
    """The key that signs ``--checkpoint-out``'s checkpoint (``key``, else the committer's), after checking the
    path and the key before any work (:meth:`KeptLog.check`); None without ``out``."""
    if out is None:
        if key is not None:
            raise InputError("--checkpoint-key signs the checkpoint --checkpoint-out writes: give --checkpoint-out too")
        return None
    checkpoints.checkpoint_out_path(store, out)
    signer = checkpoints.CheckpointKey.load(key if key is not None else committer_key)
    if key is not None:
        from provenance.trust.pins import pins_of, refuse_unpinned_checkpoint

        refuse_unpinned_checkpoint(store, pins_of(store), signer, key)
    return signer


def _keep_checkpoint(
    store: Store, signer: checkpoints.CheckpointKey, out: str, tag: str, holds: list[tuple[str, checkpoints.Checkpoint]]
) -> dict:
    """Write ``--checkpoint-out``'s checkpoint after the commit of ``tag``, over a log that still holds ``holds``:
    ``{"path", "treeSize", "rootHash", "keyid"}``. A failure now is said with the commit made and the command
    that writes the file."""
    try:
        cp = checkpoints.write_checkpoint_out(store, signer, out, holds=holds)
    except InputError as exc:
        raise InputError(
            f"committed {tag}, but the checkpoint was not written ({exc}); write it with "
            f"prov audit checkpoint --key KEY.key --out {shlex.quote(out)}"
        ) from exc
    except checkpoints.ChangedAfterKept as exc:  # written, then the log changed before it was read back (F19b-1)
        raise VerificationError(
            f"committed {tag} and kept the log state after it in {out}, but the store's audit log no longer holds "
            f"it ({exc}); keep {out} and run prov audit verify --checkpoint {shlex.quote(out)}"
        ) from exc
    except VerificationError as exc:  # the file does not cover the log now (F17-1), or the log lost entries (F18-2)
        raise VerificationError(
            f"committed {tag}, but the log state after it cannot be kept ({exc}); run prov audit verify"
        ) from exc
    return {"path": out, "treeSize": cp.size, "rootHash": cp.root, "keyid": cp.keyid}
