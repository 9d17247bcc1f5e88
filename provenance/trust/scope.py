"""Which logged trust entries count for this store, and up to where (attack review 16c, C16-2).

A trust entry's signed statement names the store it was signed for (``predicate.store``, the id
``provenance.store.identity`` makes at ``prov init``); one signed for another store, which a ``.prov/``
writer copied here with one appended ``trust.add`` audit entry, is not a trust entry of this store.

A :class:`TrustScope` says which store id counts and where in the hash-chained log a granting entry must
sit. The store handle carries one (``store.trust_scope``) while ``prov check`` decides (``provenance.gate.store_scope.for_check``):
the id is the one the base version's signed statement names, verified under the pins, and entries count
only up to the candidate's signed ``auditLogHead``. Everywhere else (``prov add``, ``trust list``, ``audit
verify``, ``fsck``, ``trust retire``) the scope is :func:`hint_scope`: the pinned id, else the store's id of
record (attack review 17b), else the id in ``prov.db``, which a ``.prov/`` writer can change.

Statements made before store ids name none (legacy). The gate counts one only when its audit entry sits at
or before the signed ``auditLogHead`` of the first version of the candidate's chain that names an id: a
``.prov/`` writer cannot insert an entry there without breaking that signed head. A chain with no id at all
counts them wherever they sit, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.store.store import Store


@dataclass(frozen=True)
class TrustScope:
    """What a logged trust entry must satisfy to count.

    Attributes:
        store_id: the id a counted statement must name (32 hex digits); ``None``: statements that name an id
            do not count (the store, or the checked chain, has none).
        origin: where ``store_id`` came from, for messages (``"base v1's signed statement"``).
        grants_until: the last audit seq whose entries may grant trust (the candidate's signed head); a later
            entry may only narrow the window of a key granted before. ``None``: the whole log.
        legacy_until: the last audit seq at which a statement naming no store counts; ``None``: anywhere.
        legacy_origin: why ``legacy_until`` (``"version v2 first signed a store id"``), for messages.
        problems: facts the scope was read from that do not hold (versions of the chain naming another id),
            for the gate to block on.
        unknown: why the store's id cannot be read from signed history (``hint_scope``: fails closed), or "":
            while set, only a statement naming the pinned :attr:`store_id` counts.
    """

    store_id: str | None
    origin: str = "this store's prov.db"
    grants_until: int | None = None
    legacy_until: int | None = None
    legacy_origin: str = ""
    problems: tuple[str, ...] = ()
    unknown: str = ""

    def refusal(self, predicate: dict, seq: int) -> str | None:
        """Why a verified trust statement (its ``predicate``) logged at audit ``seq`` does not count here, or
        ``None`` when it does: it names another store than :attr:`store_id`, or it names none and was logged
        after :attr:`legacy_until`."""
        named = predicate.get("store")
        if self.unknown and named != self.store_id:
            return f"{'names no store' if named is None else f'was signed for store {str(named)[:16]}'}, and {self.unknown}"
        if named is None:
            if self.legacy_until is not None and seq > self.legacy_until:
                return f"names no store and was logged after {self.legacy_origin} (audit entry {self.legacy_until})"
            return None
        if self.store_id is None:
            return f"was signed for store {str(named)[:16]}, and {self.origin} names no store id"
        if named != self.store_id:
            return (
                f"was signed for another store ({str(named)[:16]}), not this one ({self.store_id[:16]}, {self.origin})"
            )
        return None

    def grants(self, seq: int) -> bool:
        """Whether an entry at audit ``seq`` may grant trust (not after :attr:`grants_until`)."""
        return self.grants_until is None or seq <= self.grants_until


def hint_scope(store: Store) -> TrustScope:
    """The scope of commands that do not decide a release, over the whole log: the id the verifier pinned
    (``Pins.store_id``), else the store's id of record (``identity.expected``: the id of record, checked against
    every version the store holds), else the id ``prov.db`` holds (a hint, while no version signs one).
    Statements naming no store count up to the signed head of the id of record's version, or anywhere while no
    version signs an id. When signed history cannot be read for the id (the log breaks before its id of record,
    or the log and the versions disagree: ``identity.expected`` raises), the scope fails closed rather than
    fall back to the row (attack review 19, F19-4): a statement naming a store counts only for the pinned id,
    one naming none nowhere, and each refusal says why (``prov audit verify`` and ``prov fsck`` name the break)."""
    from provenance.errors import VerificationError
    from provenance.store import identity  # the store package (sqlite-utils) only where a store is open

    pinned = getattr(getattr(store, "pins", None), "store_id", None)  # Pins.store_id (trust.pins imports this)
    try:
        want = identity.expected(store)
    except VerificationError as exc:
        why = f"this store's id cannot be read from its signed history ({exc})"
        if pinned:
            return TrustScope(pinned, "the store id you pinned", None, 0, why, unknown=why)
        return TrustScope(None, "no store id", None, 0, why, unknown=why)
    record = want.record
    if want.store_id is None:  # nothing signed names an id yet: the row (a hint; README Known gaps)
        return TrustScope(identity.store_id(store))
    origin = "the store id you pinned" if want.pinned else want.origin
    if record is None:
        return TrustScope(want.store_id, origin)
    return TrustScope(want.store_id, origin, None, record.head_seq, f"version {record.tag} first signed a store id")


def scope_of(store: Store) -> TrustScope:
    """The scope the store handle carries (``store.trust_scope``, set by :func:`scoped`), else :func:`hint_scope`."""
    scope = getattr(store, "trust_scope", None)
    return scope if isinstance(scope, TrustScope) else hint_scope(store)


@contextlib.contextmanager
def scoped(store: Store, scope: TrustScope) -> Iterator[None]:
    """Let ``store``'s handle carry ``scope`` for the block (``prov check``), then what it carried before."""
    before = getattr(store, "trust_scope", None)
    store.trust_scope = scope  # type: ignore[attr-defined]
    try:
        yield
    finally:
        store.trust_scope = before  # type: ignore[attr-defined]
