"""fsck of the key tables: each stored public key hashes to its key id, and a key marked
revoked is revoked by an audit entry (and the other way round)."""

from __future__ import annotations

from provenance import keys
from provenance.errors import ProvError
from provenance.fsck.problems import Inspection


def check_keys(insp: Inspection) -> None:
    """The ``keys`` table (committers' and reviewers' keys): id matches key; revocation matches the audit log."""
    for row in insp.rows("keys", "keyid"):
        insp.report.checked["keys"] += 1
        kid = row["keyid"]
        actual = _key_id_of(insp, "keys", row, "store key")
        if actual is None:
            continue
        if actual != kid:
            insp.error("keys", f"key {str(kid)[:16]}: its public key hashes to {actual[:16]}")
        revocations = [e for e in insp.by_action.get("key.revoke", []) if e["subject"] == kid]
        if row["revoked_at"] is not None and not revocations:
            insp.error("keys", f"key {str(kid)[:16]} is marked revoked, but no audit entry revokes it")
        if row["revoked_at"] is None and revocations:
            insp.error(
                "keys", f"key {str(kid)[:16]} was revoked (audit entry {revocations[0]['seq']}) but shows unrevoked"
            )


def check_trust(insp: Inspection) -> None:
    """The ``trust`` table (sources' batch-signing keys): each public key hashes to its key id."""
    for row in insp.rows("trust", "source, keyid"):
        insp.report.checked["trusted keys"] += 1
        kid = row["keyid"]
        actual = _key_id_of(insp, "trust", row, "trusted key")
        if actual is not None and actual != kid:
            insp.error(
                "trust", f"trusted key {str(kid)[:16]} of {row['source']!r}: its public key hashes to {actual[:16]}"
            )


def _key_id_of(insp: Inspection, check: str, row: dict, what: str) -> str | None:
    """The key id the row's public key hashes to; ``None`` (and an error) when it is not a public key."""
    try:
        public = keys.parse_public((row["public_pem"] or "").encode(), f"{what} {str(row['keyid'])[:16]}")
    except ProvError as exc:
        insp.error(check, str(exc))
        return None
    return keys.key_id(public)
