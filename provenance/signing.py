"""DSSE envelopes around in-toto Statement v1, signed with Ed25519.

Three layers a reader can name: :func:`statement` builds what is claimed, :func:`sign`
wraps it in a DSSE envelope, :func:`verify` checks the envelope against a set of trusted
public keys and only then parses the payload. Nothing in an envelope is trusted before
its signature.

Formats: the envelope is DSSE v1 (github.com/secure-systems-lab/dsse, ``envelope.md`` and
``protocol.md``: ``{"payloadType", "payload" (base64), "signatures": [{"keyid", "sig"
(base64)}]}``, signed over the pre-authentication encoding :func:`pae`); the payload is an
in-toto Statement v1 (github.com/in-toto/attestation, ``spec/v1/statement.md``) with
``payloadType`` ``application/vnd.in-toto+json``, serialised as :func:`canonical_json`;
its one subject's digest set is ``{"rfc6962-sha256": <Merkle root, hex>}``. Signatures
are Ed25519 (RFC 8032, deterministic: one key and one payload give one signature).
securesystemslib, an independent DSSE implementation, verifies our envelopes in the
tests, and ``tests/data/golden/dsse-ed25519/`` pins one envelope byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provenance.errors import InputError, VerificationError
from provenance.keys import key_id

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
DATASET_VERSION_TYPE = "https://prov.dev/dataset-version/v1"
"""The predicate type of a version's statement (``prov commit``; ``provenance.version_facts`` reads it)."""
MERKLE_DIGEST = "rfc6962-sha256"  # in-toto digest-set key for a manifest's Merkle root
MAX_ENVELOPE_BYTES = 64 << 20
MAX_ENVELOPE_VALUES = 10_000  # a DSSE envelope is a few fields and a short list of signatures
MAX_STATEMENT_VALUES = 4_000_000  # a statement holds counts per label and source, never one entry per record


# signature_verifies's verdicts: (raw public key, signature, SHA-256 of the message) -> whether it verifies
_VERDICTS: dict[tuple[bytes, bytes, bytes], bool] = {}
_VERDICTS_MAX = 1 << 14  # about 2 MiB; emptied when full


def signature_verifies(key: Ed25519PublicKey, sig: bytes, message: bytes) -> bool:
    """Whether ``sig`` is an Ed25519 signature (RFC 8032) of ``message`` under ``key``.

    The verdict is remembered for the process, keyed by the key's raw 32 bytes, the signature's bytes and the
    SHA-256 of the message: it is a fact about those bytes alone (RFC 8032 verification is deterministic), so
    it holds whoever changes the store. Only the mathematics is remembered, never a decision: each caller
    still reads the envelope's bytes, the keys it trusts (pins, rows, revocations) and the threshold afresh,
    and any change to them is other bytes, looked up or verified anew. A command reading the same envelopes
    many times (``prov log``: each release's signed ancestry; ``prov check --attest``: the store's
    attestations per rule; the store id's versions after each write) verifies each signature once.
    """
    memo = (key.public_bytes_raw(), bytes(sig), hashlib.sha256(message).digest())
    found = _VERDICTS.get(memo)
    if found is None:
        try:
            key.verify(sig, message)
            found = True
        except InvalidSignature:
            found = False
        if len(_VERDICTS) >= _VERDICTS_MAX:
            _VERDICTS.clear()
        _VERDICTS[memo] = found
    return found


def json_values_bound(data: bytes) -> int:
    """An upper bound on the number of JSON values (containers, keys and scalars) ``data`` would parse into.

    Every value but the first follows a ``[``, ``{``, ``,`` or (a member's value) its key,
    so twice the count of ``[ { ,`` plus one bounds them; counting those bytes costs
    a few milliseconds per 64 MiB, while parsing ``[],[],...`` builds a Python object
    (about 64 bytes) for every three input bytes.
    """
    return 2 * (data.count(b"[") + data.count(b"{") + data.count(b",")) + 1


def bounded_json(data: bytes, name: str, what: str, max_values: int):
    """``json.loads(data)`` after checking :func:`json_values_bound` against ``max_values``.

    Raises ``InputError`` naming ``name``, ``what`` and the limit when the bound is
    passed; JSON errors propagate as ``ValueError`` (``json.JSONDecodeError``,
    ``UnicodeDecodeError``, an integer past Python's digit limit) or ``RecursionError``.
    """
    if json_values_bound(data) > max_values:
        raise InputError(
            f"{name}: {what} holds more JSON values than the limit of {max_values:,} "
            "(checked before parsing; a signed statement holds counts, not records)"
        )
    return json.loads(data)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding, the bytes a signature covers.

    ``"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload``, lengths as ASCII decimal
    byte counts; binding the type stops a payload being re-read as another format.
    """
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def canonical_json(obj: object) -> bytes:
    """The signed serialisation of a statement: UTF-8 JSON, keys sorted, no spaces, non-ASCII kept.

    Deterministic for the JSON values prov signs (no floats that print differently). It is
    what gets signed; a verifier parses the signed bytes and never re-serialises them.
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def statement(subject_name: str, merkle_root: bytes, predicate_type: str, predicate: Mapping) -> dict:
    """An in-toto Statement v1 about one subject: ``subject_name`` (a version tag or batch name)
    whose digest is the 32-byte ``merkle_root`` (hex under ``rfc6962-sha256``), with the
    ``predicate`` (JSON values) of ``predicate_type`` (a URI such as
    ``https://prov.dev/dataset-version/v1``)."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": {MERKLE_DIGEST: merkle_root.hex()}}],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }


def sign(stmt: Mapping, private: Ed25519PrivateKey) -> dict:
    """A DSSE envelope (a JSON-ready ``dict``) carrying ``stmt`` signed with ``private``.

    One signature, whose ``keyid`` is :func:`provenance.keys.key_id` of the signer.
    """
    payload = canonical_json(stmt)
    sig = private.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key_id(private.public_key()), "sig": base64.b64encode(sig).decode()}],
    }


@dataclass(frozen=True)
class Verified:
    """What :func:`verify` established: the signed statement and the trusted key that signed it."""

    statement: dict
    keyid: str  # the key that actually verified (never taken from the envelope alone)


def parse_envelope(data: bytes, name: str) -> dict:
    """Parse envelope bytes (read from ``name``) and check their shape only; no signature is checked.

    Returns the envelope as a ``dict``. Raises ``InputError`` (exit 2) naming ``name`` for
    anything that is not a DSSE envelope: more than 64 MiB, not JSON, too deeply nested,
    a missing or mistyped field, no signatures, bad base64.
    """
    if len(data) > MAX_ENVELOPE_BYTES:
        raise InputError(f"{name}: envelope is larger than the {MAX_ENVELOPE_BYTES >> 20} MiB limit")
    try:
        env = bounded_json(data, name, "envelope", MAX_ENVELOPE_VALUES)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer past the digit limit
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
    """Verify a parsed envelope against ``trusted`` (key id -> public key); return what it signed.

    Fails closed: no trusted key, no trust. A signature counts only if it verifies under a
    trusted key *and* its ``keyid`` field, when present, names that same key; a lying
    keyid is a failure, not a hint to skip. The payload is parsed only after a signature
    verified. Raises ``VerificationError`` (exit 1) naming ``name`` for a wrong
    ``payloadType``, no trusted keys, no verifying signature, or a signed payload that is
    not an in-toto Statement v1.
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
            if not signature_verifies(key, sig, message):
                continue
            if claimed is not None and claimed != kid:
                problems.append(f"signature verifies under key {kid[:16]} but its keyid claims {claimed[:16]}")
                break
            try:
                stmt = bounded_json(payload, name, "signed statement", MAX_STATEMENT_VALUES)
            except (ValueError, RecursionError) as exc:
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
        return bounded_json(base64.b64decode(env["payload"]), "envelope", "statement", MAX_STATEMENT_VALUES)
    except (ValueError, KeyError, TypeError, RecursionError, InputError):
        return {}


def subject_root(stmt: Mapping) -> bytes:
    """The 32-byte Merkle root a statement's first subject names (``rfc6962-sha256``).

    Raises ``VerificationError`` when the statement has no such digest.
    """
    try:
        return bytes.fromhex(stmt["subject"][0]["digest"][MERKLE_DIGEST])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise VerificationError(f"statement has no {MERKLE_DIGEST} subject digest") from exc
