"""``prov keys revoke``: retire a committer's, reviewer's or attester's key in the store.

The store's ``keys`` table is a cache, so a revocation there is a promise this store keeps
(prov refuses to commit with the key, and checks made with nothing pinned stop trusting
it) and a signal verifiers honour (a revocation only removes trust). It cannot stop a
verifier who pins the key elsewhere: for that, take the key out of ``PROV_SIGNERS`` or
publish a new root without it. Everything the key signed stops verifying, because a
revoked key's old signatures cannot be told from a thief's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from provenance import clock
from provenance.errors import InputError

if TYPE_CHECKING:
    from provenance.kept_log import KeptLog
    from provenance.store.checkpoints import CheckpointKey
    from provenance.store.store import Store


def resolve_key(store: Store, prefix: str) -> dict:
    """The ``keys`` row whose key id starts with ``prefix`` (at least 8 hex characters).

    Raises ``InputError`` for a malformed prefix, no match, or several.
    """
    prefix = prefix.strip().lower()
    if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
        raise InputError(f"key id {prefix!r}: give at least 8 hex characters, as `prov log` or `prov show` print it")
    rows = list(store.db["keys"].rows_where("keyid like ?", [prefix + "%"]))
    if not rows:
        raise InputError(f"{store.root}: no key {prefix} in this store (keys register on their first commit)")
    exact = [r for r in rows if r["keyid"] == prefix]  # a whole id names its key, whatever else starts with it (A21c-3)
    if len(rows) > 1 and len(exact) != 1:
        raise InputError(f"key id {prefix}: matches {len(rows)} keys; give more characters")
    if exact:
        return exact[0]
    return rows[0]


def key_to_revoke(store: Store, prefix: str) -> dict:
    """The ``keys`` row a revocation of ``prefix`` revokes (:func:`resolve_key`): one the hash-chained audit log holds
    no signed ``key.revoke`` entry for (``logged_revocations.signed_revocation``: under a checkpoint or version head
    signed by a maintainer key the store handle's pins hold), whatever its ``revoked_at`` says. A row that says
    revoked with no entry is a log rolled back past the revocation (revoked again, writing the entry back: attack
    review 21a, A21a-3) or a row a ``.prov/`` writer edited; a row cleared while a signed entry revokes the key is no
    way back. A pending entry is revoked again too (a ``.prov/`` writer appends one and deletes it: attack review 22a,
    finding 3; with nothing pinned every entry is pending).
    The one judgement :func:`revoke_key` and ``prov keys revoke``'s refusal without ``--yes`` both make.

    Returns:
        The row, as :func:`resolve_key` returns it.

    Raises:
        InputError: a malformed prefix, no key or several, or a key a signed log entry already revokes (exit 2).
    """
    from provenance.trust.logged_revocations import logged_maintainer_revocations, signed_revocation, signed_through

    row = resolve_key(store, prefix)
    entry = logged_maintainer_revocations(store).get(row["keyid"])
    if entry is not None and signed_revocation(entry, signed_through(store)):  # never a pending one (A22a-3)
        at = entry["revoked_at"] or row["revoked_at"] or "?"  # the log's time first, as the lists show it (A21c-2)
        raise InputError(f"key {row['keyid'][:16]} ({row['name']}) was already revoked at {at}")
    return row


def revoke_key(
    store: Store,
    prefix: str,
    reason: str | None = None,
    checkpoint: CheckpointKey | None = None,
    keep: Callable[[Store], None] | None = None,
    kept_log: KeptLog | None = None,
) -> dict:
    """Mark the key ``prefix`` revoked (audit-logged); ``prov keys revoke ID``.

    With ``checkpoint`` (another maintainer's key), the write ends by signing an audit
    checkpoint, so the revocation is not left pending: a pending entry can be rewritten by
    whoever can write ``.prov/``. ``keep`` is then called as ``Store.write``'s, after the commit with the lock
    held (``prov keys revoke --out``: the state after the revocation, kept outside ``.prov/``), and what it
    raises propagates with the revocation made. ``reason`` (``--reason``, optional) is recorded in the
    ``key.revoke`` audit entry. ``kept_log`` (``--checkpoint PREV``: ``kept_log.KeptLog.held``) is checked
    again first thing inside the write.

    Returns ``{"keyid", "name", "revoked_at", "reason", "versions"}`` where ``versions``
    lists the versions it signed (they stop verifying). Raises ``InputError`` for an
    unknown key or one a signed audit entry already revokes (:func:`key_to_revoke`: a row that says revoked
    with no ``key.revoke`` entry, a log rolled back past it, is revoked again: attack review 21a, A21a-3),
    ``VerificationError`` (exit 1, nothing written) when the audit log no longer holds a state of ``kept_log``.
    """
    # judged from the log, as prov keys revoke's refusal is: a row alone that says revoked is revoked again
    row = key_to_revoke(store, prefix)
    stamp = clock.now_iso()
    with store.write(checkpoint, keep):
        if kept_log is not None:  # again under the lock: a log cut meanwhile is not signed over
            kept_log.require_held(store)
        store.db.execute("update keys set revoked_at = ? where keyid = ?", [stamp, row["keyid"]])
        head = store.audit("key.revoke", row["keyid"], {"name": row["name"], "revoked_at": stamp, "reason": reason})
        store.read_back(head, ("keys", {"keyid": row["keyid"]}, {"revoked_at": stamp}))  # before the checkpoint
    signed = [
        r[0] for r in store.db.execute("select tag from versions where keyid = ? order by audit_seq", [row["keyid"]])
    ]
    return {"keyid": row["keyid"], "name": row["name"], "revoked_at": stamp, "reason": reason, "versions": signed}
