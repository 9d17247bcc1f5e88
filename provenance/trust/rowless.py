"""Source keys the hash-chained audit log trusts whose ``trust`` rows are gone (attack review 16, F2).

The gate reads which source keys are trusted from the ``trust.add``/``trust.sign``/``trust.retire`` audit
entries and the signed statements they name (``statements.signed_entries``); the ``trust`` and
``trust_statements`` rows are a cache a ``.prov/`` writer can delete. Taking trust away must not depend on
that cache: ``prov trust revoke`` and ``prov trust retire`` act on such a key all the same and write its
rows back in the same store write, and ``prov fsck --repair`` writes them back from the verified statement
(:func:`restore_rows`) whatever other damage it finds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from provenance.trust import revocations, source_keys, statements
from provenance.trust.roles import RoleKeys
from provenance.trust.source_keys import TrustedKey

if TYPE_CHECKING:
    from provenance.kept_log import KeptLog
    from provenance.store.checkpoints import CheckpointKey
    from provenance.store.store import Store


def restore_rows(store: Store, entry: statements.SignedEntry, role: RoleKeys) -> None:
    """Write back the rows of ``entry`` (a logged trust entry that verified under ``role``) inside the caller's
    ``store.write()``: ``statements.write_rows`` with the key's retirement and revocation read from the log
    (``revocations.retired_source_keys``, ``revoked_source_keys``). Raises ``VerificationError`` as it does."""
    key = (entry.source, entry.keyid)
    retired, revoked = revocations.retired_source_keys(store), revocations.revoked_source_keys(store)
    statements.write_rows(store, entry, role, retired.get(key), revoked.get(key, (None, None)))


def verified_without_rows(store: Store, source: str) -> dict[str, tuple[statements.SignedEntry, RoleKeys]]:
    """``keyid -> (signed entry, role)`` of the keys of ``source`` whose logged signed entry verifies under the
    store handle's pins (their ``commit`` role) and whose ``trust`` or ``trust_statements`` row is gone
    (``statements.rows_missing``); empty with nothing pinned (keys found in ``.prov/`` prove nothing)."""
    from provenance.trust.pins import pins_of

    pins = pins_of(store)
    if not pins.pinned:
        return {}
    role = pins.role_keys("commit", store)
    return {e.keyid: (e, role) for e in statements.rows_missing(store, role) if e.source == source}


def revocable(store: Store, source: str) -> list[TrustedKey]:
    """The keys of ``source`` that ``prov trust revoke`` can revoke: its ``trust`` rows, and every key a
    ``trust.add``/``trust.sign`` audit entry of ``source`` names whose rows are gone. Such a key is taken as
    its signed entry says when the store handle's pins verify it (:func:`verified_without_rows`), else as
    the audit entry's detail says (unverified, with no public key: revoking only takes trust away, so a
    planted entry can only make more keys revocable). Revocations and retirements logged anywhere apply.
    Ordered as ``source_keys.entries``, then by audit entry; ``prov trust retire`` with nothing pinned
    uses it too."""
    from provenance.store.audit import detail_json

    known = source_keys.entries(store, source)
    have = {k.keyid for k in known}
    found = {kid: _key_of_entry(e) for kid, (e, _) in verified_without_rows(store, source).items()}
    for detail, logged_at in store.db.execute(
        "select detail, ts from audit where action in ('trust.add', 'trust.sign') and subject = ? order by seq",
        [source],
    ).fetchall():
        try:
            fields = detail_json(detail)
        except (TypeError, ValueError):
            continue
        kid = fields.get("keyid") if isinstance(fields, dict) else None
        if isinstance(kid, str) and kid not in have and kid not in found:
            name, added = fields.get("name"), fields.get("added_at") or logged_at
            found[kid] = TrustedKey(source, kid, str(name or kid[:16]), "", str(added or ""), None, None, None, None)
    # a revocation or retirement entry counts wherever it sits: that key is revoked, or its window shorter, already
    revoked, retired = revocations.revoked_source_keys(store), revocations.retired_source_keys(store)
    return [
        revocations.with_revocation(revocations.with_retirement(k, retired), revoked)
        for k in known + list(found.values())
    ]


def to_revoke(store: Store, source: str, keyid: str | None = None) -> list[TrustedKey]:
    """The keys :func:`revoke` would revoke (``source_keys.keys_to_revoke`` over :func:`revocable`), for ``prov
    trust revoke``'s refusal without ``--yes``. Raises as ``source_keys.keys_to_revoke``."""
    return source_keys.keys_to_revoke(store, source, keyid, revocable(store, source))


def revoke(
    store: Store,
    source: str,
    keyid: str | None = None,
    reason: str | None = None,
    checkpoint: CheckpointKey | None = None,
    keep: Callable[[Store], None] | None = None,
    kept_log: KeptLog | None = None,
) -> list[TrustedKey]:
    """``prov trust revoke``: ``source_keys.revoke`` over :func:`revocable`, writing back, revoked and in the
    same write, the rows of each target whose logged signed entry verifies under the store handle's pins;
    ``keep`` and ``kept_log`` as ``source_keys.revoke``'s. Returns and raises as ``source_keys.revoke``."""
    missing = verified_without_rows(store, source)
    restore = {kid: _restorer(store, e, role) for kid, (e, role) in missing.items()}
    known = revocable(store, source)
    return source_keys.revoke(store, source, keyid, reason, checkpoint, known, restore, keep, kept_log)


def retire(
    store: Store,
    key: TrustedKey,
    signer: str | Path | None,
    at: str | None = None,
    checkpoint: CheckpointKey | None = None,
    kept_log: KeptLog | None = None,
) -> TrustedKey:
    """``prov trust retire``: ``source_keys.retire``, first writing back, in the same write, the rows of ``key``
    when they are gone and its logged signed entry verifies under the store handle's pins. Returns and raises
    as ``source_keys.retire``."""
    missing = verified_without_rows(store, key.source).get(key.keyid)
    restore = _restorer(store, *missing) if missing is not None else None
    return source_keys.retire(store, key, signer, at, checkpoint, restore, kept_log)


def _restorer(store: Store, entry: statements.SignedEntry, role: RoleKeys) -> Callable[[], None]:
    return lambda: restore_rows(store, entry, role)


def _key_of_entry(e: statements.SignedEntry) -> TrustedKey:
    pred = e.predicate
    return TrustedKey(
        e.source,
        e.keyid,
        str(pred.get("name") or e.keyid[:16]),
        str(pred.get("publicKey") or ""),
        str(pred.get("addedAt") or ""),
        pred.get("validFrom"),
        pred.get("validUntil"),
        None,
        None,
    )
