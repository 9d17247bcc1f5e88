"""Reviewed exceptions: a signed statement that one finding (record digest + detector) on
one version was looked at and accepted, with a reason.

A waiver counts only if its DSSE signature verifies under a key the check trusts (today
the store's registered, unrevoked keys; see ``GateContext.trusted_keys``) and it names
the version being checked; anything else is ignored and reported, never silently honoured.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from provenance import clock, input_file, keys, signing
from provenance.errors import InputError, VerificationError
from provenance.store import Store

PREDICATE_TYPE = "https://prov.dev/waiver/v1"


def create_waiver(store: Store, version: str, digest: str, detector: str, reason: str, key_path: str) -> dict:
    """Sign, store and audit-log a waiver of one finding (``prov waive``).

    The statement is an in-toto Statement v1 (predicate type ``PREDICATE_TYPE``) in a
    DSSE envelope signed with the Ed25519 key at ``key_path``; its subject is the record.

    Args:
        store: the open store.
        version: the version whose finding is accepted.
        digest: the record's content digest, 64 hex characters.
        detector: the detector whose flag is accepted.
        reason: why, for a later reader (not empty).
        key_path: the reviewer's private key (PKCS#8 PEM), registered in the store.

    Returns:
        ``{"waiver": object id, "version", "digest", "detector", "keyid"}``.

    Raises:
        InputError: unknown version, a malformed digest, an empty reason, or a key the
            store does not know (its waivers would be ignored).
    """
    store.version(version)
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InputError(f"waiver digest {digest!r}: expected the record's 64-character hex content digest")
    if not reason.strip():
        raise InputError("a waiver needs a --reason a later reader can check")
    private = keys.load_private(key_path)
    keyid = keys.key_id(private.public_key())
    if keyid not in store.trusted_keys():
        raise InputError(
            f"{key_path}: key {keyid[:16]} is not a registered key of this store; "
            "register it with 'prov keys register' first, or its waivers would be ignored"
        )
    now = clock.now_iso()
    stmt = {
        "_type": signing.STATEMENT_TYPE,
        "subject": [{"name": f"{version}:{digest}", "digest": {"sha256": digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "version": version,
            "digest": digest,
            "detector": detector,
            "reason": reason,
            "reviewer": keyid,
            "createdAt": now,
        },
    }
    envelope = signing.sign(stmt, private)
    with store.write():
        oid = store.put_object(signing.canonical_json(envelope), "json")
        store.db.table("waivers").insert(
            {
                "object": oid,
                "version": version,
                "digest": digest,
                "detector": detector,
                "keyid": keyid,
                "created_at": now,
            },
            replace=True,
        )
        store.audit("waiver", version, {"digest": digest, "detector": detector, "object": oid, "keyid": keyid})
    return {"waiver": oid, "version": version, "digest": digest, "detector": detector, "keyid": keyid}


def _judge(
    env_bytes: bytes, origin: str, version: str, trusted: Mapping[str, Ed25519PublicKey]
) -> tuple[dict | None, str | None]:
    """(predicate, None) for a valid waiver of ``version``; (partial facts, reason) otherwise."""
    try:
        env = signing.parse_envelope(env_bytes, origin)
    except InputError as exc:
        return None, f"not a DSSE envelope ({exc})"
    claimed = signing.unverified_statement(env).get("predicate", {}) or {}
    try:
        stmt = signing.verify(env, trusted, origin).statement
    except VerificationError as exc:
        return claimed, f"unsigned or foreign signature ({exc})"
    if stmt.get("predicateType") != PREDICATE_TYPE:
        return claimed, f"not a waiver (predicateType {stmt.get('predicateType')!r})"
    pred = stmt["predicate"]
    if pred.get("version") != version:
        return pred, f"waives a finding of version {pred.get('version')!r}, not {version!r}"
    return pred, None


@dataclass
class Waivers:
    """The waivers of one version, judged.

    Attributes:
        waived: the honoured (record digest hex, detector name) pairs.
        report: ``{"honoured": [facts], "ignored": [facts + "why"]}``, facts being
            ``digest``, ``detector``, ``reason``, ``reviewer`` (key id) and ``origin``.
    """

    waived: set[tuple[str, str]] = field(default_factory=set)
    report: dict[str, list[dict]] = field(default_factory=lambda: {"honoured": [], "ignored": []})


def read_waiver_files(files: Iterable[str]) -> list[tuple[bytes, str]]:
    """The waiver envelopes in ``files`` (each a JSON envelope or a JSON list of them).

    Returns:
        (envelope bytes, origin ``FILE[i]`` for messages) per envelope, not yet judged.

    Raises:
        InputError: a file that cannot be read or is not JSON (exit 2).
    """
    out: list[tuple[bytes, str]] = []
    for path in files:
        raw = input_file.read_bounded(path, input_file.ENVELOPE_BYTES, "waivers file")
        try:
            data = signing.bounded_json(raw, str(path), "waivers file", signing.MAX_STATEMENT_VALUES)
        except (ValueError, RecursionError) as exc:
            raise InputError(f"{path}: cannot read waivers ({exc})") from exc
        items = data if isinstance(data, list) else [data]
        out += [(json.dumps(item).encode(), f"{path}[{i}]") for i, item in enumerate(items)]
    return out


def judge_waivers(
    store: Store, version: str, extra: Iterable[tuple[bytes, str]], trusted: Mapping[str, Ed25519PublicKey]
) -> Waivers:
    """Judge the stored waivers of ``version`` and the ``extra`` envelopes against ``trusted`` keys.

    A waiver is honoured only if its DSSE signature verifies under one of ``trusted``
    (key id -> public key), its predicate type is the waiver's and it names ``version``;
    every other one is listed as ignored, with why.
    """
    candidates: list[tuple[bytes, str]] = []
    for row in store.db["waivers"].rows_where("version = ?", [version]):
        candidates.append((store.objects.get(row["object"], "waiver"), f"stored waiver {row['object'][:16]}"))
    candidates += list(extra)
    out = Waivers()
    for env_bytes, origin in candidates:
        pred, problem = _judge(env_bytes, origin, version, trusted)
        facts = {k: (pred or {}).get(k) for k in ("digest", "detector", "reason", "reviewer")} | {"origin": origin}
        if problem or pred is None:
            out.report["ignored"].append(facts | {"why": problem})
        else:
            out.waived.add((pred["digest"], pred["detector"]))
            out.report["honoured"].append(facts)
    return out
