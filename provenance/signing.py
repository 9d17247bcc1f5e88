"""DSSE envelopes around in-toto Statement v1, signed with Ed25519.

Three layers a reader can name: ``statement`` builds what is claimed, ``sign`` wraps it
in a DSSE envelope, ``verify`` checks the envelope against a set of trusted public keys
and only then parses the payload. Nothing in an envelope is trusted before its signature.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provenance.errors import InputError, VerificationError
from provenance.keys import key_id

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
MERKLE_DIGEST = "rfc6962-sha256"  # in-toto digest-set key for a manifest's Merkle root
MAX_ENVELOPE_BYTES = 64 << 20


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def statement(subject_name: str, merkle_root: bytes, predicate_type: str, predicate: Mapping) -> dict:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": {MERKLE_DIGEST: merkle_root.hex()}}],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }


def sign(stmt: Mapping, private: Ed25519PrivateKey) -> dict:
    payload = canonical_json(stmt)
    sig = private.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key_id(private.public_key()), "sig": base64.b64encode(sig).decode()}],
    }


@dataclass(frozen=True)
class Verified:
    statement: dict
    keyid: str  # the key that actually verified (never taken from the envelope alone)


def parse_envelope(data: bytes, name: str) -> dict:
    """Shape checks only; raises InputError (exit 2) for anything that is not a DSSE envelope."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise InputError(f"{name}: envelope is larger than {MAX_ENVELOPE_BYTES >> 20} MiB")
    try:
        env = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{name}: envelope is not JSON ({exc})") from exc
    except RecursionError as exc:
        raise InputError(f"{name}: envelope nests JSON too deeply") from exc
    if not isinstance(env, dict):
        raise InputError(f"{name}: envelope is not a JSON object")
    for fld, typ in (("payloadType", str), ("payload", str), ("signatures", list)):
        if not isinstance(env.get(fld), typ):
            raise InputError(f"{name}: envelope field {fld!r} is missing or not a {typ.__name__}")
    if not env["signatures"]:
        raise InputError(f"{name}: envelope has no signatures")
    for s in env["signatures"]:
        if not isinstance(s, dict) or not isinstance(s.get("sig"), str) or not isinstance(s.get("keyid", ""), str):
            raise InputError(f"{name}: envelope signature entries need string 'keyid' and 'sig'")
    try:
        base64.b64decode(env["payload"], validate=True)
        for s in env["signatures"]:
            base64.b64decode(s["sig"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{name}: envelope has bad base64 ({exc})") from exc
    return env


def verify(env: Mapping, trusted: Mapping[str, Ed25519PublicKey], name: str = "envelope") -> Verified:
    """Verify against ``trusted`` (key id -> key). Fails closed: no trusted key, no trust.

    A signature counts only if it verifies under a trusted key *and* its ``keyid`` field,
    when present, names that same key; a lying keyid is a failure, not a hint to skip.
    """
    if env.get("payloadType") != PAYLOAD_TYPE:
        raise VerificationError(f"{name}: payloadType is {env.get('payloadType')!r}, expected {PAYLOAD_TYPE}")
    if not trusted:
        raise VerificationError(f"{name}: no trusted key to verify against (fails closed)")
    payload = base64.b64decode(env["payload"])
    message = pae(env["payloadType"], payload)
    problems = []
    for s in env["signatures"]:
        sig = base64.b64decode(s["sig"])
        claimed = s.get("keyid") or None
        for kid, key in trusted.items():
            try:
                key.verify(sig, message)
            except InvalidSignature:
                continue
            if claimed is not None and claimed != kid:
                problems.append(f"signature verifies under key {kid[:16]} but its keyid claims {claimed[:16]}")
                break
            try:
                stmt = json.loads(payload)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise VerificationError(f"{name}: signed payload is not JSON") from exc
            if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
                raise VerificationError(f"{name}: signed payload is not an in-toto Statement v1")
            return Verified(stmt, kid)
        else:
            who = f"key {claimed[:16]}" if claimed else "an unnamed key"
            problems.append(f"signature by {who} does not verify under any trusted key")
    raise VerificationError(f"{name}: {'; '.join(problems)}")


def unverified_statement(env: Mapping) -> dict:
    """The payload without checking it: for *naming* things in errors, never for trusting them."""
    try:
        return json.loads(base64.b64decode(env["payload"]))
    except (ValueError, KeyError, TypeError, RecursionError):
        return {}


def subject_root(stmt: Mapping) -> bytes:
    try:
        return bytes.fromhex(stmt["subject"][0]["digest"][MERKLE_DIGEST])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise VerificationError(f"statement has no {MERKLE_DIGEST} subject digest") from exc
