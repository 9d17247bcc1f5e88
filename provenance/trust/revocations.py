"""Revocations recorded in the store (``prov keys revoke``, ``prov trust revoke``), read for ``trust.pins``.

A revocation only removes trust, so it is honoured wherever it is found: in its table row or
in its audit entry, whichever a ``.prov/`` writer left. (Split out of ``trust/pins.py``.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.store.store import Store
    from provenance.trust.source_keys import TrustedKey


def revoked_maintainer_keys(store: Store) -> set[str]:
    """Key ids revoked in the store with ``prov keys revoke``: from the ``keys`` row or the
    ``key.revoke`` audit entry, whichever is left (a revocation only removes trust, so it is
    honoured wherever it is found; clearing the row alone does not bring a key back)."""
    out = {r[0] for r in store.db.execute("select keyid from keys where revoked_at is not null")}
    out |= {r[0] for r in store.db.execute("select subject from audit where action = 'key.revoke'")}
    return out


def maintainer_revocations(store: Store) -> dict[str, str]:
    """Each maintainer key revoked in the store (:func:`revoked_maintainer_keys`) -> how, for a message:
    ``revoked in this store at 2026-12-01T17:27:16+00:00 ("stolen")``, from its ``key.revoke`` audit
    entry (or its ``keys`` row, when only that is left)."""
    from provenance.store.audit import detail_json

    out: dict[str, str] = {}
    for subject, detail in store.db.execute("select subject, detail from audit where action = 'key.revoke'"):
        try:
            facts = detail_json(detail) or {}
            at, reason = facts.get("revoked_at"), facts.get("reason")
        except (TypeError, ValueError, AttributeError):
            at, reason = None, None
        out.setdefault(str(subject), _revoked_words(at, reason))
    for kid, at in store.db.execute("select keyid, revoked_at from keys where revoked_at is not null"):
        out.setdefault(str(kid), _revoked_words(at, None))
    return out


def _revoked_words(at: object, reason: object) -> str:
    """How a revocation read from ``.prov/`` is shown. Its row and entry are the store's, which whoever
    writes ``.prov/`` can edit (attack review 11): the time is shown only when it is an ISO time, and the
    reason, cut to ``REASON_SHOWN`` characters, as what the store says, never as prov's own words."""
    from provenance import clock
    from provenance.errors import InputError

    when = ""
    if at:
        try:
            when = f" at {clock.iso(clock.parse(str(at), 'revoked_at'))}"
        except InputError:
            when = ""
    shown = shown_reason(reason)
    why = f" (the store gives the reason {shown})" if shown else ""
    return f"revoked in this store{when}{why}"


REASON_SHOWN = 80

ROW_ONLY = "row says revoked, log does not"
"""How a list marks a key whose store row says revoked while the audit log holds no revocation entry for it: the log
a ``.prov/`` writer rolled back past the revocation, which a log state kept now would keep without it (fix20a,
A20-4: the advice to check the list before ``prov audit checkpoint --out`` read the row alone)."""

PENDING = "log entry pending, no checkpoint you pin covers it"
"""How ``prov trust list`` and ``prov keys list`` under pins mark a key whose ``trust.revoke`` (``key.revoke``) audit
entry no head a pinned key signed covers (``logged_revocations.signed_revocation``): whoever can write ``.prov/`` may
have appended it and may delete it, so ``prov trust revoke`` (``prov keys revoke``) revokes the key again rather than
say "already revoked" (attack review 22a, finding 3; ``keys list`` since review 24a). Shown with
:func:`pending_advice`."""


def pending_advice(command: str) -> str:
    """What a list (``prov trust list``, ``prov keys list``) says after a key it marks :data:`PENDING`: ``command``
    (the ``prov trust revoke`` or ``prov keys revoke`` that revokes the key again, escaped by the caller) only if you
    revoked it; if you did not, restore ``.prov/``. As :data:`ROW_ONLY`'s advice asks first: the entry may be one a
    ``.prov/`` writer appended, and revoking a good key because of it cannot be undone (for a maintainer key, it
    voids every version the key signed: attack review 24a, A24a-3)."""
    return (
        f"{PENDING}: if you revoked it, no checkpoint covers it yet: revoke it again ({command}); if you did not, the "
        "entry was appended by whoever can write .prov/: restore .prov/ from a copy you trust"
    )


def shown_reason(reason: object) -> str:
    """A revocation's reason as a list shows it: what the store says (a ``.prov/`` writer can edit it), quoted, cut to
    ``REASON_SHOWN`` characters, control characters escaped; empty without one."""
    if not reason:
        return ""
    text = str(reason)[:REASON_SHOWN] + ("..." if len(str(reason)) > REASON_SHOWN else "")
    return json.dumps(text, ensure_ascii=True)


def revocation_entries(entry: dict, through: int | None, pinned: bool) -> list[dict]:
    """Every revocation entry the audit log holds for one key, ``seq`` order, as the lists show them (``--json``):
    ``[{"seq", "revoked_at", "reason", "pending"}]``. ``entry`` is a value of
    ``logged_revocations.logged_source_revocations`` or ``logged_maintainer_revocations`` (its ``"entries"``);
    ``through`` is ``logged_revocations.signed_through``; ``pending`` is True for an entry no head a key you pin signed
    covers (``signed_revocation``), None with nothing ``pinned`` (then every entry is pending)."""
    from provenance.trust.logged_revocations import signed_revocation

    return [
        {
            "seq": e["seq"],
            "revoked_at": e["revoked_at"] if isinstance(e["revoked_at"], str) else None,
            "reason": e["reason"] if isinstance(e["reason"], str) else None,
            "pending": (not signed_revocation(e, through)) if pinned else None,
        }
        for e in entry.get("entries") or [entry]
    ]


def entries_text(entries: list[dict]) -> str:
    """The words a list (``prov trust list``, ``prov keys list``) and a refusal or warning (``prov sources``, ``show``,
    ``log``, ``add``) put after a revoked key's shown time and reason when the log holds several revocation entries
    of it (``entries``: :func:`revocation_entries`): ``; the log holds 2 revocation entries of this key, which carry
    no signature of their own: 2026-01-01T00:00:00+00:00 "rotated" (pending), 2026-12-03T... "stolen"``. Each
    entry's time and reason as the log holds them, escaped, cut to ``REASON_SHOWN`` characters
    (:func:`shown_time`, :func:`shown_reason`); empty for one entry (attack review 23a, A23a-2: which of several is
    the maintainer's cannot be told, so they are shown, in log order). Many are capped as ``names.capped`` caps a
    list (the first five, ``...``, the last, and the count: attack review 23c, A23c-2, a ``.prov/`` writer's
    flood); ``--json`` ``revocation_entries`` keeps every one."""
    from provenance.names import capped

    if len(entries) < 2:
        return ""
    shown = capped(
        [
            shown_time(e["revoked_at"])
            + (f" {shown_reason(e['reason'])}" if e["reason"] else "")
            + (" (pending)" if e["pending"] else "")
            for e in entries
        ],
        "entries",
    )
    return (
        f"; the log holds {len(entries)} revocation entries of this key, which carry no signature of their own: {shown}"
    )


def shown_time(at: object) -> str:
    """A revocation's time as the store holds it (a ``.prov/`` writer can put any text there): :func:`shown_text`,
    ``?`` without one."""
    return shown_text(at) if at else "?"


def shown_text(value: object) -> str:
    """A store's free text (a revocation's time or reason) in a message: control characters escaped
    (``escaping.visible``), cut to ``REASON_SHOWN`` characters and ``...`` (attack review 23c, A23c-2)."""
    from provenance.escaping import visible

    text = visible(str(value))
    return text[:REASON_SHOWN] + ("..." if len(text) > REASON_SHOWN else "")


def revoked_source_keys(store: Store) -> dict[tuple[str, str], tuple[str, str | None]]:
    """``(source, keyid) -> (revoked_at, reason)`` from the trust table and from ``trust.revoke`` audit entries.

    Both are read because either may be all that is left after someone edited the other:
    a revocation is honoured wherever it is found.
    """
    from provenance.trust.logged_revocations import logged_source_revocations

    # the log's entry first: its time and reason are what a list or refusal shows, not the row's, which a
    # .prov/ writer edits (attack review 21c, A21c-2); of several, the first (the lists show them all: A23a-2); a row
    # alone still revokes
    out: dict[tuple[str, str], tuple[str, str | None]] = {
        key: (str(e["revoked_at"] or "?"), e["reason"] if isinstance(e["reason"], str) else None)
        for key, e in logged_source_revocations(store).items()
    }
    for source, kid, at, reason in store.db.execute(
        "select source, keyid, revoked_at, revoked_reason from trust where revoked_at is not null"
    ):
        out.setdefault((source, kid), (at, reason))
    return out


def revoked_sources(store: Store) -> frozenset[str]:
    """Sources with at least one revoked batch-signing key (:func:`revoked_source_keys`).

    Such a source signed its batches once; a batch that verifies only under its revoked
    key is the stolen-key shape (attack review 6, finding 5), so the gate counts the source
    as one that signs its batches even when it has no trusted key left.
    """
    return frozenset(source for source, _ in revoked_source_keys(store))


def with_revocation(key: TrustedKey, revoked: Mapping[tuple[str, str], tuple[str, str | None]]) -> TrustedKey:
    """``key`` with the revocation ``revoked`` (:func:`revoked_source_keys`) records for it, if any."""
    hit = revoked.get((key.source, key.keyid))
    if hit is None:
        return key
    from provenance.trust.source_keys import TrustedKey

    fields = {f: getattr(key, f) for f in TrustedKey.__dataclass_fields__}
    return TrustedKey(**{**fields, "revoked_at": hit[0], "revoked_reason": hit[1]})


def retired_source_keys(store: Store) -> dict[tuple[str, str], str]:
    """``(source, keyid) -> the end of validity`` that ``prov trust retire`` set, from ``trust.retire`` audit entries.

    A retirement only shortens a key's window (it takes trust away, as a revocation does), so, like a
    revocation, its audit entry is honoured in every mode, whatever the ``trust`` row or the signed trust
    entry in ``trust_statements`` says now: a ``.prov/`` writer who puts the key's earlier, longer entry back
    does not bring back what the retirement ended. The earliest end wins; an entry whose time does not
    parse is left out (its hash-chained detail was edited, which ``prov audit verify`` names).
    """
    from provenance import clock
    from provenance.errors import InputError
    from provenance.store.audit import detail_json
    from provenance.trust.source_keys import precise_iso

    out: dict[tuple[str, str], str] = {}
    for subject, detail in store.db.execute("select subject, detail from audit where action = 'trust.retire'"):
        try:
            facts = detail_json(detail)
            end = precise_iso(clock.parse(str(facts["valid_until"]), "valid_until"))
            key = (str(subject), str(facts["keyid"]))
        except (TypeError, ValueError, KeyError, InputError):
            continue
        if key not in out or clock.parse(end, "valid_until") < clock.parse(out[key], "valid_until"):
            out[key] = end
    return out


def with_retirement(key: TrustedKey, retired: Mapping[tuple[str, str], str]) -> TrustedKey:
    """``key`` with its window ending no later than the retirement ``retired`` (:func:`retired_source_keys`) records."""
    end = retired.get((key.source, key.keyid))
    if end is None:
        return key
    from provenance import clock
    from provenance.trust.source_keys import TrustedKey

    if key.valid_until and clock.parse(key.valid_until, "valid_until") <= clock.parse(end, "valid_until"):
        return key
    fields = {f: getattr(key, f) for f in TrustedKey.__dataclass_fields__}
    return TrustedKey(**{**fields, "valid_until": end})
