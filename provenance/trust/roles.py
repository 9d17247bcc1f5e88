"""Roles and thresholds: who may sign what, and the one check that an envelope meets a role.

After TUF's roles and in-toto layouts: each kind of signed fact has a role, and a role is
a set of public keys with a threshold (how many distinct keys of the set must sign).

- ``commit``: signs dataset versions (``prov commit``, ``prov quarantine``), and trust
  entries added to the store (``prov trust add --key``).
- ``attest``: signs release attestations (``prov check --attest``).
- ``waive``: signs waivers of reviewed findings (``prov waive``).
- ``root``: signs root-of-trust files (``provenance.trust.root``).
- per source: signs batches at source (``prov sign``); see ``provenance.trust.source_keys``.

``verify_role`` is the one place a DSSE envelope is checked against a role: a signature
counts when it verifies under a key of the role (a lying ``keyid`` is a failure), and
distinct keys are counted against the threshold. Nothing in the envelope is trusted
before that.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from provenance import signing
from provenance.errors import VerificationError

ROOT, COMMIT, ATTEST, WAIVE = "root", "commit", "attest", "waive"
# The origin of keys pinned one by one (no root file): each holds every maintainer role, so a
# key outside them is named as "not among the keys you pinned", not by a role a newcomer has
# not met (newcomer review 8, finding 9); roles are named when a root file gives them.
PINNED = "the keys you pinned"
MAINTAINER_ROLES = (COMMIT, ATTEST, WAIVE)
ROLES = (ROOT, *MAINTAINER_ROLES)


@dataclass(frozen=True)
class RoleKeys:
    """The keys that may sign for one role, and how many must.

    Attributes:
        role: ``commit``, ``attest``, ``waive``, ``root`` or ``source:NAME``.
        keys: key id (SHA-256 hex of the raw public key) -> Ed25519 public key.
        threshold: how many distinct keys of ``keys`` must sign (at least 1).
        origin: where the keys come from, for messages (``PINNED``,
            "root v3 (root.json)", "keys found in the store; nothing pinned").
        names: key id -> a name for people (the .pub file, the root's key name).
        revoked: the keys left out because the store revokes them, with how (``revocations.maintainer_revocations``),
            so a signature by one of them is named as revoked, not as unknown.
    """

    role: str
    keys: Mapping[str, Ed25519PublicKey]
    threshold: int = 1
    origin: str = ""
    names: Mapping[str, str] = field(default_factory=dict)
    # keys the role would hold but that are revoked in the store: key id -> (key, how it was revoked)
    revoked: Mapping[str, tuple[Ed25519PublicKey, str]] = field(default_factory=dict)
    # said after "is not among the keys you pinned" (``Pins.replaced_note``: a --signer replaced PROV_SIGNERS)
    note: str = ""

    def name(self, keyid: str) -> str:
        """``keyid`` shortened, with its name when known: ``3f2a9c1d00aa11bb (maintainer.pub)``."""
        label = self.names.get(keyid)
        return f"{keyid[:16]} ({label})" if label else keyid[:16]


@dataclass(frozen=True)
class RoleSignature:
    """An envelope that met its role: the signed in-toto Statement and the keys that signed it."""

    statement: dict
    keyids: tuple[str, ...]

    @property
    def keyid(self) -> str:
        """The first signing key (the only one for envelopes prov writes itself)."""
        return self.keyids[0]


def signers_among(env: Mapping, candidates: Mapping[str, Ed25519PublicKey]) -> dict[str, str | None]:
    """Which of ``candidates`` made a signature of ``env``: key id -> the keyid that signature claimed.

    ``env`` must have passed ``signing.parse_envelope`` (so its base64 is valid).
    """
    message = signing.pae(str(env["payloadType"]), base64.b64decode(env["payload"]))
    out: dict[str, str | None] = {}
    for s in env["signatures"]:
        sig = base64.b64decode(s["sig"])
        for kid, key in candidates.items():
            if not signing.signature_verifies(key, sig, message):
                continue
            out.setdefault(kid, s.get("keyid") or None)
    return out


def verify_role(env: Mapping, role: RoleKeys, name: str, others: Mapping[str, str] | None = None) -> RoleSignature:
    """Check that at least ``role.threshold`` distinct keys of ``role`` signed ``env``; return the Statement.

    ``env`` is a shape-checked DSSE envelope (``signing.parse_envelope``); ``name``
    names it in messages; ``others`` maps key ids the verifier knows in *other* roles to
    a description of them, so a wrong-role signature is named as such.

    Raises ``VerificationError`` (exit 1) naming the envelope and the reason: another
    payloadType, no key for the role, a signature whose ``keyid`` names another key,
    signatures below the threshold (saying whose keys did sign), or a payload that is
    not an in-toto Statement v1.
    """
    if env.get("payloadType") != signing.PAYLOAD_TYPE:
        raise VerificationError(f"{name}: payloadType is {env.get('payloadType')!r}, expected {signing.PAYLOAD_TYPE}")
    revoked = signers_among(env, {k: key for k, (key, _) in role.revoked.items()}) if role.revoked else {}
    if not role.keys and not revoked:
        raise VerificationError(f"{name}: no key may sign for role {role.role} ({role.origin}); fails closed")
    found = signers_among(env, role.keys)
    if revoked and len(found) < role.threshold:  # newcomer review 10, finding 15: say whose key, when and why
        kid = min(revoked)
        raise VerificationError(
            f"{name}: signed by key {role.name(kid)}, {role.revoked[kid][1]}; a revoked key fails closed "
            "(to recover, commit the data you still trust again with a key you pin: docs/security-model.md, A stolen key)"
        )
    for kid, claimed in found.items():
        if claimed is not None and claimed != kid:
            raise VerificationError(
                f"{name}: a signature verifies under key {kid[:16]} but its keyid claims {claimed[:16]}"
            )
    if len(found) < role.threshold:
        raise VerificationError(_below_threshold(env, role, name, found, others or {}))
    try:
        stmt = json.loads(base64.b64decode(env["payload"]))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise VerificationError(f"{name}: signed payload is not JSON") from exc
    if not isinstance(stmt, dict) or stmt.get("_type") != signing.STATEMENT_TYPE:
        raise VerificationError(f"{name}: signed payload is not an in-toto Statement v1")
    return RoleSignature(stmt, tuple(sorted(found)))


def not_trusted(role: RoleKeys) -> str:
    """How a key outside ``role`` is described: ``is not among the keys you pinned`` (pinned one by
    one), else ``is not trusted for role commit (root v3 (root.json, ...))``."""
    if role.origin == PINNED:
        return f"is not among the keys you pinned{role.note}"
    return f"is not trusted for role {role.role} ({role.origin})"


def _below_threshold(env: Mapping, role: RoleKeys, name: str, found: Mapping, others: Mapping[str, str]) -> str:
    claimed = [s.get("keyid") or "" for s in env["signatures"]]
    if found:
        return (
            f"{name}: signed by {len(found)} of the {role.threshold} keys role {role.role} needs "
            f"({', '.join(role.name(k) for k in found)}; {role.origin})"
        )
    wrong = [f"key {kid[:16]} ({what})" for kid, what in others.items() if kid in claimed]
    if wrong:
        return f"{name}: signed by {wrong[0]}, which may not sign for role {role.role} ({role.origin})"
    who = f"key {claimed[0][:16]}" if claimed and claimed[0] else "an unnamed key"
    allowed = ", ".join(role.name(k) for k in sorted(role.keys))
    if role.origin == PINNED:
        return f"{name}: signed by {who}, which is not among the keys you pinned ({allowed}){role.note}"
    return f"{name}: signed by {who}, which is not trusted for role {role.role} ({role.origin}: {allowed})"
