"""The revocations the hash-chained audit log holds (``key.revoke``, ``trust.revoke`` entries), whatever the rows say.

Read by the lists (``prov keys list``, ``prov trust list``: a row that says revoked with no entry is marked), by
``prov add``'s refusal of a batch such a key signs (``trust.source_signatures``), and by the revocations themselves
(``source_keys.keys_to_revoke``, ``maintainer_keys.key_to_revoke``: such a key is revoked again, writing the entry
back; attack review 21a, A21a-3). No import of the trust modules, so each can use it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.store.store import Store


def logged_maintainer_revocations(store: Store) -> dict[str, dict]:
    """Key id -> ``{"revoked_at", "reason"}`` of each maintainer key a ``key.revoke`` entry of the hash-chained audit
    log revokes (the first entry per key; values as written, None when missing): the revocation a log state kept now
    holds, whatever the ``keys`` rows say."""
    out: dict[str, dict] = {}
    for subject, detail in store.db.execute(
        "select subject, detail from audit where action = 'key.revoke' order by seq"
    ):
        try:
            facts = json.loads(detail) or {}
        except (TypeError, ValueError):
            facts = {}
        facts = facts if isinstance(facts, dict) else {}
        out.setdefault(str(subject), {"revoked_at": facts.get("revoked_at"), "reason": facts.get("reason")})
    return out


def logged_source_revocations(store: Store) -> dict[tuple[str, str], dict]:
    """``(source, keyid)`` -> ``{"revoked_at", "reason"}`` of each source key a ``trust.revoke`` entry of the audit
    log revokes (the first entry per key; values as written, None when missing), whatever the ``trust`` rows say:
    a list shows the reason the log holds, not the row's, which a ``.prov/`` writer can edit (A21a-4)."""
    out: dict[tuple[str, str], dict] = {}
    for subject, detail in store.db.execute(
        "select subject, detail from audit where action = 'trust.revoke' order by seq"
    ):
        try:
            facts = json.loads(detail)
            key = (str(subject), str(facts["keyid"]))
        except (TypeError, ValueError, KeyError):
            continue
        out.setdefault(key, {"revoked_at": facts.get("revoked_at"), "reason": facts.get("reason")})
    return out
