"""What a new signature over the audit log may cover: no version's entry that no trusted head signed yet.

A checkpoint, or a version's ``auditLogHead``, vouches for every entry before it. ``prov`` writes a ``commit``
entry (and the ``quarantine`` entry of a quarantining commit) only in a write that ends by signing a
checkpoint over it with the committer's key (``Store.write(checkpoint=...)``), in one transaction: a crash
leaves neither. So a pending one, under no head signed by a key the signer pins (``coverage``), was not
written by this flow: a ``.prov/`` writer planted it, for instance a rolled-back version's row and entry put
back, or deleted the checkpoint that signed it. The next signing write would sign it all the same and it would
count from then on as signed history (attack review 26e, A26e-5: ``prov status`` named the rolled-back
version again once the maintainer's next commit covered its entry). :func:`refusal` is that write's refusal.
Other entries honestly wait for the next signature (``prov add``, ``prov diff --detect``, ``prov keys
register`` sign nothing) and are left to their readers, which re-check what they name.

Signing them knowingly stays possible: ``prov audit checkpoint --key K`` signs the log as it is, after
``prov audit verify`` showed what is pending. A revocation's checkpoint signs them too, since revoking a stolen key
leaves the entries only its checkpoints covered pending and a revocation is never held up, but names them as left
pending and vouches for none of them (``Store.write``, ``vouching.LEFT_PENDING``; :func:`left_pending_note`).

Which heads vouch for which version entry is ``vouching.unvouched_entries``, the one rule ``coverage`` applies for
every reader too. A write refuses before its work and again under its lock (:func:`refuse_at_write`), where only
the heads there when it began count and the first answer is reused when the log's state is the same.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from provenance.errors import VerificationError
from provenance.store.checkpoints import checkpoint_rows
from provenance.store.coverage import coverage, kept_words
from provenance.store.vouching import commit_keys


def unvouched(store: Any, upto: int, unpinned: dict | None = None) -> list[dict]:
    """The ``commit`` and ``quarantine`` entries among the first ``upto`` that no signed head by a key the store's
    pins trust for the commit role vouches for (``vouching.unvouched_entries``, the rule every reader of
    ``coverage`` applies; nothing pinned: the store's own keys), oldest first, as ``{"seq", "action", "subject"}``.
    Only heads over at most ``upto`` entries count (``coverage``'s ``heads_before``). Checkpoints first: every
    honest commit signs one over its own entry, so the versions' envelopes (one signature each) are read only when
    a checkpoint leaves such an entry unvouched. ``unpinned``: with nothing pinned, only heads by these keys
    (``{key id: public key}``) vouch, never the store's own keys table, which a ``.prov/`` writer fills with
    ``prov audit checkpoint --key`` (a revocation's own checkpoint key: attack review 28a, A28a-1). The log states
    kept outside ``.prov/`` that the command was given (:func:`remember_kept`) count as heads too."""
    keys = commit_keys(store)
    if keys is None and unpinned is not None:
        keys = unpinned
    # the log states the user passed (--checkpoint F) count as prov audit verify --checkpoint F counts them: one
    # by a commit key that fits the log vouches (coverage checks its root and key; attack review 28a, A28a-2)
    kept = getattr(store, "kept_log_heads", ())
    # only heads that were there with those entries: under the lock, the version the write signs now (its commit
    # entry after them) vouched for a version entry a .prov/ writer put back while the commit hashed
    found = [e for e in coverage(store, keys, False, kept, heads_before=upto).unvouched if e["seq"] <= upto]
    if found:
        found = [e for e in coverage(store, keys, kept=kept, heads_before=upto).unvouched if e["seq"] <= upto]
    return found


def remember_kept(store: Any, states: Sequence[Any]) -> None:
    """Let the log states ``states`` (``gate.kept_states.KeptState``: the ``--checkpoint F`` files a command was
    given, each signature already checked under the verifier's pins) vouch in this store handle's refusals
    (:func:`unvouched`), as ``prov audit verify --checkpoint F`` lets them vouch in its coverage: one rule for both.
    Only a head by a key holding the commit role that fits the log vouches for a version entry (``coverage``,
    ``vouching.unvouched_entries``); a waive key's, an attestation's or another log's vouches for none. Kept on the
    handle (``Store.kept_log_heads``) and on the live store a snapshot writes to, never in ``.prov/``."""
    heads = tuple((k.head, kept_words(k.head, {k.head.object: k.path})) for k in states if k.head is not None)
    for handle in (store, getattr(store, "_live", None)):
        if handle is not None:
            handle.kept_log_heads = (*handle.kept_log_heads, *heads)


def refusal(store: Any, upto: int) -> VerificationError | None:
    """The error (exit 1) a write that would sign a head over the first ``upto`` audit entries raises when one of
    them is :func:`unvouched`, naming it, or None. Its message says
    what to do: inspect, restore ``.prov/``, or sign the log knowingly with ``prov audit checkpoint``."""
    found = unvouched(store, upto)
    if not found:
        return None
    first = found[0]
    more = f" (and {len(found) - 1} more such entries)" if len(found) > 1 else ""
    return VerificationError(
        f"{store.root / 'prov.db'}: version {first['subject']}'s {first['action']} entry (audit entry {first['seq']}) "
        f"is pending{more}: no checkpoint or version signed by a commit key you pin covers it, though prov signs one "
        "over every commit as it writes it, so a .prov/ writer put it there or deleted its checkpoint (or the key that "
        "signed it is not one you pin for the commit role, or was revoked); nothing was signed or written. "
        "See `prov audit verify`; restore .prov/ from a copy you trust, or, if the entry is yours, sign the log as it is "
        "with `prov audit checkpoint --key KEY` and run this again",
        [f"audit entry {e['seq']}: {e['action']} {e['subject']}" for e in found],
    )


def refuse(store: Any, upto: int | None = None) -> None:
    """Raise :func:`refusal`'s error for the first ``upto`` entries (default: the whole log), if there is one.

    Read in one read transaction (outside a write), so the log, its checkpoints and versions are one state; when
    nothing is refused that state is remembered (:func:`log_state`), for the same process's write that begins on
    it (:func:`refuse_at_write`)."""
    with _one_reading(store):
        upto = upto if upto is not None else store.audit_head()[0]
        state = log_state(store, upto)
        found = refusal(store, upto)
        if found is not None:
            raise found
        _CLEARED[state] = None
        while len(_CLEARED) > _KEEP:
            del _CLEARED[next(iter(_CLEARED))]


def refuse_at_write(store: Any, before: int, state: tuple | None) -> None:
    """Inside a write, its entries appended: :func:`refuse` for the ``before`` entries there when it began, unless
    ``state`` (:func:`log_state` read when it began, inside its transaction) is one this process already found
    nothing to refuse in (the commit's or ``check --attest``'s first refusal, before its work): the same entries,
    heads and keys give the same answer, and the transaction holds them so since (``Store.write``). A log that grew,
    lost or changed a checkpoint or version row, or keys that changed, in between reads the log again."""
    if state is not None and state in _CLEARED:
        return
    refuse(store, before)


def log_state(store: Any, upto: int) -> tuple:
    """Everything :func:`unvouched` reads about the first ``upto`` entries and their heads, but the content-addressed
    objects the rows name: the store, ``upto`` and the chain hash of entry ``upto`` (which the signing checks the
    whole chain up to: ``checkpoints.signable_entries``), the log's length, every checkpoint and version row as
    coverage reads them, the kept log states given (``Store.kept_log_heads``), and the keys that vouch (the pins'
    commit keys less the store's revocations of them; nothing pinned, the store's unrevoked keys)."""
    tip = store.db.execute("select hash from audit where seq = ?", [upto]).fetchone()
    rows = checkpoint_rows(store.db)
    heads = hashlib.sha256(repr([[r[k] for k in ("object", "size", "root", "head", "keyid")] for r in rows]).encode())
    versions = [[v["tag"], v["envelope_object"]] for v in store.versions()]
    kept = sorted(cp.object for cp, _ in getattr(store, "kept_log_heads", ()))
    keys = commit_keys(store)
    return (
        str(store.root),
        upto,
        tip[0] if tip else None,
        store.audit_head(),
        heads.hexdigest(),
        hashlib.sha256(repr(sorted(versions)).encode()).hexdigest(),
        tuple(kept),  # the log states given on the command line vouch too (A28a-2)
        tuple(sorted(store.trusted_keys() if keys is None else keys)),  # nothing pinned: the store's keys
    )


# log states (``log_state``) in which this process found no unvouched version entry, newest last; a few suffice
_CLEARED: dict[tuple, None] = {}
_KEEP = 8


@contextlib.contextmanager
def _one_reading(store: Any) -> Iterator[None]:
    """A read transaction around the block, unless one is open (a write's): every query reads one state of the
    database (SQLite holds its shared lock, or its WAL snapshot, until the end), so a .prov/ writer who changes
    rows in between is not half seen."""
    conn = store.db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def left_pending_note(store: Any) -> str | None:
    """What a revocation's checkpoint (``store.written_checkpoint``, just signed) left pending, for a note on stderr:
    the version entries no commit key's head vouched for, which it signs without vouching for them (``Store.write``),
    or None when it named none. They stay pending, and every other signing write refuses them, until a maintainer
    signs them knowingly."""
    cp = getattr(store, "written_checkpoint", None)
    left = getattr(cp, "left_pending", ())
    if not left:
        return None
    shown = list(left[:5])  # the note names five: one bound variable each (all of them passed SQLite's limit, A28a-3)
    rows = {
        r[0]: f"{r[1]} {r[2]}"
        for r in store.db.execute(
            f"select seq, action, subject from audit where seq in ({', '.join('?' * len(shown))})", shown
        )
    }
    named = "; ".join(f"audit entry {s} ({rows.get(s, 'gone')})" for s in left[:5])
    more = f" and {len(left) - 5} more" if len(left) > 5 else ""
    return (
        f"the revocation's checkpoint does not vouch for {len(left)} version entr{'y' if len(left) == 1 else 'ies'} "
        f"no checkpoint or version by a commit key you pin covered: {named}{more}; they stay pending and the next "
        "commit refuses them: see prov audit verify, then restore .prov/ from a copy you trust, or, if they are "
        "yours, sign the log with prov audit checkpoint --key KEY"
    )
