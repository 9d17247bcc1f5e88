"""Reviewed exceptions: a signed statement that one finding (record digest + detector) on
one version was looked at and accepted, with a reason.

A waiver counts only if its DSSE signature verifies under a registered, unrevoked key of
the store and it names the version being checked; anything else is ignored and reported,
never silently honoured.
"""

from __future__ import annotations

import json
from pathlib import Path

from provenance import clock, keys, signing
from provenance.errors import InputError, VerificationError
from provenance.store import Store

PREDICATE_TYPE = "https://prov.dev/waiver/v1"


def create_waiver(store: Store, version: str, digest: str, detector: str, reason: str, key_path: str) -> dict:
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
        store.db["waivers"].insert(
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


def _judge(env_bytes: bytes, origin: str, version: str, trusted: dict) -> tuple[dict | None, str | None]:
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


def collect_waivers(store: Store, version: str, files=()) -> tuple[set[tuple[str, str]], dict]:
    """Waived (digest, detector) pairs for ``version``, and what was honoured or ignored and why."""
    trusted = store.trusted_keys()
    candidates: list[tuple[bytes, str]] = []
    for row in store.db["waivers"].rows_where("version = ?", [version]):
        candidates.append((store.objects.get(row["object"], "waiver"), f"stored waiver {row['object'][:16]}"))
    for path in files:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot read waivers ({exc})") from exc
        items = data if isinstance(data, list) else [data]
        candidates += [(json.dumps(item).encode(), f"{path}[{i}]") for i, item in enumerate(items)]
    waived: set[tuple[str, str]] = set()
    report = {"honoured": [], "ignored": []}
    for env_bytes, origin in candidates:
        pred, problem = _judge(env_bytes, origin, version, trusted)
        facts = {k: (pred or {}).get(k) for k in ("digest", "detector", "reason", "reviewer")} | {"origin": origin}
        if problem:
            report["ignored"].append(facts | {"why": problem})
        else:
            waived.add((pred["digest"], pred["detector"]))
            report["honoured"].append(facts)
    return waived, report
