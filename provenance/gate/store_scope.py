"""The trust scope of one ``prov check`` (``provenance.trust.scope``), read from signed versions only.

Attack review 16c, C16-2: a trust statement a maintainer signed for another store, copied into ``.prov/``
with one appended ``trust.add`` audit entry, must not count here. The store id a statement must name is the
one the base version signed, and entries count only up to the candidate's signed ``auditLogHead``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.errors import InputError, VerificationError
from provenance.store import identity
from provenance.trust.scope import TrustScope
from provenance.version_facts import signed_ancestry, verified_statement

if TYPE_CHECKING:
    from provenance.store.store import Store


def for_check(store: Store, base: str, new: str) -> TrustScope:
    """The scope ``prov check NEW --base BASE`` counts trust entries in, read from signed versions only.

    ``store_id`` is the id the base's signed statement names (verified under the store handle's pins), else
    the one the oldest version of ``new``'s signed chain names; every version of that chain that names an id
    must name the same one (else :attr:`TrustScope.problems`). ``grants_until`` is the audit entry whose hash
    is ``new``'s signed ``auditLogHead``; ``legacy_until`` the one of the oldest version (base or chain) that
    names an id. When a version does not verify nothing counts (``grants_until`` 0): the gate's signature
    rule blocks on it.
    """
    try:
        base_pred = verified_statement(store, store.version(base))["predicate"]
        chain = [(row["tag"], stmt["predicate"]) for row, stmt in signed_ancestry(store, new)]
    except (InputError, VerificationError):
        return TrustScope(None, "no verified version", grants_until=0, legacy_until=0, legacy_origin="-")
    named = [(tag, p["store"]) for tag, p in reversed(chain) if p.get("store") is not None]
    if base_pred.get("store") is not None:
        expected, origin = base_pred["store"], f"base {base}'s signed statement"
    elif named:
        expected, origin = named[0][1], f"version {named[0][0]}'s signed statement"
    else:
        expected, origin = None, f"base {base} and {new}'s chain"
    problems = tuple(
        f"version {tag} signs store id {str(sid)[:16]}, but {origin} names {str(expected)[:16]}: a version of "
        "another store in the chain"
        for tag, sid in named
        if sid != expected or not identity.is_store_id(sid)
    )
    first = [(tag, p) for tag, p in [(base, base_pred), *reversed(chain)] if p.get("store") is not None]
    legacy_until, legacy_origin = None, ""
    if first:
        heads = [(_head_seq(store, p), tag) for tag, p in first]
        legacy_until, tag = min(heads)
        legacy_origin = f"version {tag} first signed a store id"
    grants_until = _head_seq(store, chain[0][1]) if chain else 0
    return TrustScope(expected, origin, grants_until, legacy_until, legacy_origin, problems)


def _head_seq(store: Store, predicate: dict) -> int:
    """The seq of the audit entry whose hash is the predicate's signed ``auditLogHead`` (0: none, or not found)."""
    head = predicate.get("auditLogHead")
    if not isinstance(head, str) or not head:
        return 0
    row = store.db.execute("select seq from audit where hash = ?", [head]).fetchone()
    return int(row[0]) if row is not None else 0
