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

import json
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from provenance.store.store import Store

K = TypeVar("K")


def logged_maintainer_revocations(store: Store) -> dict[str, dict]:
    """Key id -> ``{"revoked_at", "reason", "seq"}`` of the ``key.revoke`` entry of the hash-chained audit log that
    revokes each maintainer key (values as written, None when missing; ``"seq"``: the entry's): the revocation a log
    state kept now holds, whatever the ``keys`` rows say. Of several entries of one key, the one
    :func:`_shown_entry` picks: the one a pinned key's head signed over as it was written, not one a ``.prov/``
    writer planted before or after it."""
    found: dict[str, list[dict]] = {}
    for seq, subject, detail in store.db.execute(
        "select seq, subject, detail from audit where action = 'key.revoke' order by seq"
    ):
        try:
            facts = json.loads(detail) or {}
        except (TypeError, ValueError):
            facts = {}
        facts = facts if isinstance(facts, dict) else {}
        entry = {"revoked_at": facts.get("revoked_at"), "reason": facts.get("reason"), "seq": seq}
        found.setdefault(str(subject), []).append(entry)
    return _one_per_key(store, found)


def logged_source_revocations(store: Store) -> dict[tuple[str, str], dict]:
    """``(source, keyid)`` -> ``{"revoked_at", "reason", "seq"}`` of the ``trust.revoke`` entry of the audit log that
    revokes each source key (values as written, None when missing; ``"seq"``: the entry's), whatever the ``trust``
    rows say: a list shows the reason the log holds, not the row's, which a ``.prov/`` writer can edit (A21a-4).
    Of several entries of one key, the one :func:`_shown_entry` picks (review 23: the first one's text was the
    planter's, after a revocation made again over his pending entry)."""
    found: dict[tuple[str, str], list[dict]] = {}
    for seq, subject, detail in store.db.execute(
        "select seq, subject, detail from audit where action = 'trust.revoke' order by seq"
    ):
        try:
            facts = json.loads(detail)
            key = (str(subject), str(facts["keyid"]))
        except (TypeError, ValueError, KeyError):
            continue
        found.setdefault(key, []).append(
            {"revoked_at": facts.get("revoked_at"), "reason": facts.get("reason"), "seq": seq}
        )
    return _one_per_key(store, found)


def _one_per_key(store: Store, found: dict[K, list[dict]]) -> dict[K, dict]:
    """:func:`_shown_entry` of each key's entries (in ``seq`` order); the log's coverage is read only when a key has
    several."""
    if all(len(entries) == 1 for entries in found.values()):
        return {key: entries[0] for key, entries in found.items()}
    through = signed_through(store)
    heads = _signed_heads(store) if through is not None else []
    return {key: _shown_entry(entries, through, heads) for key, entries in found.items()}


def _shown_entry(entries: list[dict], through: int | None, heads: list[int]) -> dict:
    """Of one key's revocation entries (``seq`` order), the one whose time and reason a list shows.

    prov writes a key's revocation entry only while no signed head covers one (:func:`signed_revocation`; else
    "already revoked") and signs a head over it in the same write. So of the entries under the *first* signed head
    (``heads``: the ``seq`` of each head's last entry, :func:`_signed_heads`) that covers any of them, the last is
    the one written just before that head was signed: a revocation made again over a pending entry a ``.prov/``
    writer planted comes after his; an entry planted after it falls under a later head, or under none. No entry
    under a signed head (``through``, :func:`signed_through`): the first, which the lists mark pending."""
    covered = [e for e in entries if signed_revocation(e, through)]
    if not covered:
        return entries[0]
    first_head = next((h for h in heads if h >= covered[0]["seq"]), None)
    if first_head is None:  # coverage and the heads disagree (a head that no longer fits): the first covered
        return covered[0]
    return [e for e in covered if e["seq"] <= first_head][-1]


def _signed_heads(store: Store) -> list[int]:
    """The ``seq`` of the last entry under each head a maintainer key the verifier pins signed (a checkpoint whose root
    is the log's own, or a version's signed ``auditLogHead``: ``store.coverage.signed_before``), smallest first."""
    from provenance.store.coverage import signed_before

    pins = getattr(store, "pins", None)
    pinned = pins.maintainer_keys(store) if pins is not None and pins.pinned else None
    if pinned is None:
        return []
    seqs = (_seq_at(store, entries) for entries in sorted({n for n, _ in signed_before(store, pinned)}))
    return [seq for seq in seqs if seq is not None]


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
