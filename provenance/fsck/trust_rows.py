"""fsck of the trust rows against the signed trust entries the audit log names (attack review 15, A15-3).

A ``trust.add`` entry names the signed statement it wrote (``detail.statement``). When a
``.prov/`` writer deletes the ``trust`` and ``trust_statements`` rows and leaves the entry,
the statement is still referenced by the log (never "unreferenced", never removed by
``--repair``), and fsck says the rows are missing. When the statement verifies under the
verifier's pins, ``prov fsck --repair`` writes the rows back from it: everything a row holds
is in the signed statement, the retirement and revocation entries of the same log, or the
time of the repair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance.trust import rowless, statements

if TYPE_CHECKING:
    from provenance.fsck.problems import Inspection
    from provenance.store.store import Store


def restorable(store: Store, pins: Any) -> dict[tuple[str, str], statements.SignedEntry]:
    """``(source, keyid) -> SignedEntry`` for the logged trust entries that verify under ``pins`` (the verifier's
    ``Pins``; a key's commit role) and whose rows are missing; empty with nothing pinned (a statement checked only
    against keys found in ``.prov/`` proves nothing, so nothing is written back from it)."""
    if pins is None or not getattr(pins, "pinned", False):
        return {}
    role = pins.role_keys("commit", store)
    return {(e.source, e.keyid): e for e in statements.rows_missing(store, role)}


def missing_words(entry: statements.SignedEntry) -> str:
    """fsck's line for one: ``"trust entry of key ab12… for 'vendor' logged at audit entry 1, its trust rows
    missing (deleted from the store; its signed statement verifies under your pins): prov fsck --repair
    restores them"``."""
    return (
        f"trust entry of key {entry.keyid[:16]} for {entry.source!r} logged at audit entry {entry.seq}, its trust "
        "rows missing (deleted from the store; its signed statement verifies under your pins): prov fsck --repair "
        "restores them"
    )


def restorable_of(insp: Inspection) -> dict[tuple[str, str], statements.SignedEntry]:
    """:func:`restorable` for the store ``insp`` checks, computed once per fsck run."""
    cached = getattr(insp, "_restorable_trust", None)
    if cached is None:
        cached = restorable(insp.opened, insp.pins)
        insp._restorable_trust = cached  # type: ignore[attr-defined]
    return cached


def check_statement_rows(insp: Inspection) -> None:
    """Each verifying logged trust entry (:func:`restorable`) has its ``trust_statements`` row when its ``trust``
    row is there (the ``trust`` row missing is named by the audit replay); a repairable error. A logged trust entry
    whose statement verifies under the pins but was signed for another store (``statements.foreign_entries``,
    judged by the id in ``prov.db``; attack review 16c, C16-2) is an error ``--repair`` does not touch: its rows
    are never written back."""
    for (source, kid), e in restorable_of(insp).items():
        row = insp.db.execute("select 1 from trust where source = ? and keyid = ?", [source, kid]).fetchone()
        if row is not None:
            insp.error("trust", missing_words(e), repairable=True)
    pins = insp.pins
    if pins is not None and getattr(pins, "pinned", False) and getattr(pins, "root", None) is None:
        for f in statements.foreign_entries(insp.opened, pins.role_keys("commit", insp.opened)):
            insp.error("trust", f.line())


def restore(store: Store, pins: Any) -> list[str]:
    """Write back the missing ``trust`` and ``trust_statements`` rows of every :func:`restorable` entry, in one
    write (an error leaves the store as it was). Returns one line per key restored, for ``report.repaired``.

    The ``trust`` row takes the name, public key, time added and window of the signed statement (its window
    cut by the key's ``trust.retire`` entries), and the revocation of its ``trust.revoke`` entry if any; the
    ``trust_statements`` row names the key's latest logged statement that verifies.
    """
    found = restorable(store, pins)
    if not found:
        return []
    role = pins.role_keys("commit", store)
    done = []
    with store.write():
        for e in found.values():
            rowless.restore_rows(store, e, role)
            done.append(f"trust rows of key {e.keyid[:16]} for {e.source!r}, from audit entry {e.seq}")
    return done
