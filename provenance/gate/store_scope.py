"""The trust scope of one ``prov check`` (``provenance.trust.scope``), read from signed versions only.

Attack review 16c, C16-2: a trust statement a maintainer signed for another store, copied into ``.prov/``
with one appended ``trust.add`` audit entry, must not count here. The store id a statement must name is the
pinned one, else the store's id of record (attack review 17b), else the one the base version signed, and
entries count only up to the candidate's signed ``auditLogHead``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.errors import InputError, VerificationError
from provenance.store import identity
from provenance.trust.pins import pins_of
from provenance.trust.scope import TrustScope
from provenance.version_facts import signed_ancestry, verified_statement

if TYPE_CHECKING:
    from provenance.store.store import Store


def for_check(store: Store, base: str, new: str) -> TrustScope:
    """The scope ``prov check NEW --base BASE`` counts trust entries in, read from signed versions only.

    ``store_id`` is, in this order: the id the verifier pinned (``Pins.store_id``: ``--store-id``,
    ``PROV_STORE_ID``, the root file's ``store``); the store's id of record (``identity.of_record``: the earliest
    id-naming version of the audit log, verified under the pins) in the log up to ``new``'s signed
    ``auditLogHead``, so a candidate committed with ``--parent`` on a version from before ids cannot bring its
    own (attack review 17b); the id the base's signed statement names; the one the oldest version of ``new``'s
    signed chain names. The base and every version of that chain that names an id must name that one, and the
    id of record must be the pinned one (else :attr:`TrustScope.problems`, which the gate blocks on).
    ``grants_until`` is the audit entry whose hash is ``new``'s signed ``auditLogHead``; ``legacy_until`` the
    earliest signed head of the id of record's version and of the base or chain versions that name an id. When
    a version does not verify, or the log breaks before its id of record, nothing counts (``grants_until`` 0):
    the gate's signature rule blocks on it.
    """
    none = TrustScope(None, "no verified version", grants_until=0, legacy_until=0, legacy_origin="-")
    try:
        base_pred = verified_statement(store, store.version(base))["predicate"]
        chain = [(row["tag"], stmt["predicate"]) for row, stmt in signed_ancestry(store, new)]
    except (InputError, VerificationError):
        return none
    grants_until = _head_seq(store, chain[0][1]) if chain else 0
    try:
        record = identity.of_record(store, until=grants_until)
    except VerificationError as exc:
        return TrustScope(None, "a broken audit log", 0, 0, "-", (str(exc),))
    pins = pins_of(store)
    named = [(tag, p["store"]) for tag, p in reversed(chain) if p.get("store") is not None]
    problems: list[str] = []
    if pins.store_id is not None:
        expected, origin = pins.store_id, f"the store id you pinned ({pins.store_id_origin})"
        if record is not None and record.store_id != expected:
            problems.append(
                f"{record.describe()} names store id {record.store_id[:16]}, but {origin} is {expected[:16]}"
            )
    elif record is not None:
        expected, origin = record.store_id, record.describe()
    elif base_pred.get("store") is not None:
        expected, origin = base_pred["store"], f"base {base}'s signed statement"
    elif named:
        expected, origin = named[0][1], f"version {named[0][0]}'s signed statement"
    else:
        expected, origin = None, f"base {base} and {new}'s chain"
    problems += [
        f"version {tag} signs store id {str(sid)[:16]}, but {origin} names {str(expected)[:16]}: a version of "
        "another store in the chain"
        for tag, sid in [(base, base_pred.get("store")), *named]
        if sid is not None and (sid != expected or not identity.is_store_id(sid))
    ]
    first = [(tag, p) for tag, p in [(base, base_pred), *reversed(chain)] if p.get("store") is not None]
    heads = [(_head_seq(store, p), f"version {tag} first signed a store id") for tag, p in first]
    if record is not None:
        heads.append((record.head_seq, f"version {record.tag} first signed a store id"))
    legacy_until, legacy_origin = min(heads) if heads else (None, "")
    return TrustScope(expected, origin, grants_until, legacy_until, legacy_origin, tuple(dict.fromkeys(problems)))


def _head_seq(store: Store, predicate: dict) -> int:
    """The seq of the audit entry whose hash is the predicate's signed ``auditLogHead`` (0: none, or not found)."""
    head = predicate.get("auditLogHead")
    if not isinstance(head, str) or not head:
        return 0
    row = store.db.execute("select seq from audit where hash = ?", [head]).fetchone()
    return int(row[0]) if row is not None else 0
