"""The revocations the hash-chained audit log holds (``key.revoke``, ``trust.revoke`` entries), whatever the rows say.

Each is honoured wherever it sits (a revocation only takes trust away), but only one under a head a key the verifier
pins signed (:func:`signed_through`) makes a key "already revoked": a pending entry is one whoever can write ``.prov/``
appends (the chain hash needs no key) and deletes again (attack review 22a, finding 3).

Read by the lists (``prov keys list``, ``prov trust list``: a row that says revoked with no entry is marked), by
``prov add``'s refusal of a batch such a key signs (``trust.source_signatures``), and by the revocations themselves
(``source_keys.keys_to_revoke``, ``maintainer_keys.key_to_revoke``: such a key is revoked again, writing the entry
back; attack review 21a, A21a-3). No import of the trust modules, so each can use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from provenance.store.store import Store

K = TypeVar("K")


def logged_maintainer_revocations(store: Store) -> dict[str, dict]:
    """Key id -> ``{"revoked_at", "reason", "seq", "entries"}`` of the first ``key.revoke`` entry of the hash-chained
    audit log that revokes each maintainer key (values as written, None when missing; ``"seq"``: the entry's;
    ``"entries"``: every entry of the key, the same keys each, ``seq`` order: :func:`_one_per_key`): the revocation a
    log state kept now holds, whatever the ``keys`` rows say."""
    from provenance.store.audit import detail_json

    found: dict[str, list[dict]] = {}
    for seq, subject, detail in store.db.execute(
        "select seq, subject, detail from audit where action = 'key.revoke' order by seq"
    ):
        try:
            facts = detail_json(detail) or {}
        except (TypeError, ValueError):
            facts = {}
        facts = facts if isinstance(facts, dict) else {}
        entry = {"revoked_at": facts.get("revoked_at"), "reason": facts.get("reason"), "seq": seq}
        found.setdefault(str(subject), []).append(entry)
    return _one_per_key(found)


def logged_source_revocations(store: Store) -> dict[tuple[str, str], dict]:
    """``(source, keyid)`` -> ``{"revoked_at", "reason", "seq", "entries"}`` of the first ``trust.revoke`` entry of the
    audit log that revokes each source key (values as written, None when missing; ``"seq"``: the entry's;
    ``"entries"``: every entry of the key, ``seq`` order: :func:`_one_per_key`), whatever the ``trust`` rows say: a
    list shows the reason the log holds, not the row's, which a ``.prov/`` writer can edit (A21a-4)."""
    from provenance.store.audit import detail_json

    found: dict[tuple[str, str], list[dict]] = {}
    for seq, subject, detail in store.db.execute(
        "select seq, subject, detail from audit where action = 'trust.revoke' order by seq"
    ):
        try:
            facts = detail_json(detail)
            key = (str(subject), str(facts["keyid"]))
        except (TypeError, ValueError, KeyError):
            continue
        found.setdefault(key, []).append(
            {"revoked_at": facts.get("revoked_at"), "reason": facts.get("reason"), "seq": seq}
        )
    return _one_per_key(found)


def _one_per_key(found: dict[K, list[dict]]) -> dict[K, dict]:
    """Each key's first entry (in ``seq`` order) with ``"entries"``: all of them, ``seq`` order.

    Revocation entries carry no signature of their own, and any signing write signs a head over the pending entries
    before it, whoever wrote them: which of several is the maintainer's cannot be told from the log (attack review
    23a, A23a-2, A23a-6), so none is picked as true. The first is the earliest the key stopped counting; a list shows
    every entry beside it (``revocations.revocation_entries``)."""
    return {key: {**entries[0], "entries": entries} for key, entries in found.items()}


def _seq_at(store: Store, entries: int) -> int | None:
    """The ``seq`` of the ``entries``-th audit entry in ``seq`` order (None past the end)."""
    row = store.db.execute("select seq from audit order by seq limit 1 offset ?", [entries - 1]).fetchone()
    return int(row[0]) if row is not None else None


def signed_through(store: Store) -> int | None:
    """The ``seq`` of the last audit entry under a signed head (a checkpoint, or a version's signed
    ``auditLogHead``) by a maintainer key the verifier pins: ``store.coverage.coverage`` under
    ``Pins.maintainer_keys`` of ``store.pins``, which recomputes each covered entry (an RFC 6962 Merkle root over the
    entries' bytes, or the intact hash chain up to a version's head). None with nothing pinned (a key found in
    ``.prov/`` proves nothing) or nothing covered: then no entry is signed, whatever its ``seq`` (a row planted at
    seq 0 or below is not "under" an empty coverage; attack review 22c, finding 1). An entry with a larger ``seq``
    is pending: whoever can write ``.prov/`` may have appended it and may delete it again."""
    from provenance.store.coverage import coverage

    pins = getattr(store, "pins", None)  # ``trust.pins.pins_of``, without importing it (the trust modules use this)
    pinned = pins.maintainer_keys(store) if pins is not None and pins.pinned else None
    if pinned is None:
        return None
    signed = coverage(store, pinned).signed
    return _seq_at(store, signed) if signed else None


def signed_revocation(entry: dict | None, through: int | None) -> bool:
    """Whether ``entry`` (a value of :func:`logged_source_revocations` or :func:`logged_maintainer_revocations`, or
    None) is under a signed head by a pinned key, ``through`` being :func:`signed_through`: the one kind of entry
    that makes a key "already revoked"."""
    return through is not None and entry is not None and isinstance(entry.get("seq"), int) and entry["seq"] <= through
