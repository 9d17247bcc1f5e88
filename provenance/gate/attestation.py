"""Release attestations: a signed in-toto statement that version B passed policy P against
base A with detectors D at time T, with the warnings it passed with (a batch shifted
beyond the base's own batches). A training job checks one with
``prov verify B --attestation FILE`` and refuses data without it.
"""

from __future__ import annotations

from pathlib import Path

from provenance import keys, signing
from provenance.errors import InputError, VerificationError
from provenance.store import Store
from provenance.store.objects import atomic_write

PREDICATE_TYPE = "https://prov.dev/release-check/v1"


def attest(store: Store, result, key_path: str, out: str) -> str:
    """Sign and write the release attestation of a passing check (decision ``pass`` or
    ``warned``); also kept in the store.

    The attestation is an in-toto Statement v1 (predicate type ``PREDICATE_TYPE``, schema
    ``schemas/release-attestation.schema.json``) whose subject is the version's Merkle
    root, in a DSSE envelope signed with Ed25519. Its predicate names the base (tag and
    Merkle root), the policy (path and digest), the time, the detectors and rules, the
    number of waivers honoured, the audit-log head, the decision and its warnings (a batch
    shifted beyond the base's own batches is released with a warning, stated here).

    Args:
        store: the open store.
        result: the ``GateResult`` of ``provenance.gate.gate.check``; must pass (``warned`` included).
        key_path: the signer's private key (PKCS#8 PEM), registered in the store.
        out: the file to write the envelope to (its folder must exist).

    Returns:
        The object id (SHA-256 hex) of the envelope in the store.

    Raises:
        InputError: the check did not pass, the key is not registered, or ``out``'s folder is missing.
    """
    if result.decision not in ("pass", "warned"):
        raise InputError(f"{result.version} did not pass; only a passing check can be attested")
    private = keys.load_private(key_path)
    keyid = keys.key_id(private.public_key())
    if keyid not in store.trusted_keys():
        raise InputError(
            f"{key_path}: key {keyid[:16]} is not a registered key of this store; a verifier would reject it"
        )
    new, base = store.version(result.version), store.version(result.base)
    predicate = {
        "version": result.version,
        "base": {"version": result.base, "merkleRoot": base["merkle_root"]},
        "policy": result.policy,
        "result": "pass",
        "decision": result.decision,
        "warnings": [{"rule": r.rule, "reason": r.reason} for r in result.rules if r.status == "warn"],
        "checkedAt": result.checked_at,
        "detectors": [
            {k: d[k] for k in ("detector", "status", "scored", "flagged", "waived", "allowed")}
            for d in result.detectors
        ],
        "rules": [{"rule": r.rule, "status": r.status} for r in result.rules],
        "waivers": len(result.waivers["honoured"]),
        "auditLogHead": store.audit_head()[1],
    }
    stmt = signing.statement(result.version, bytes.fromhex(new["merkle_root"]), PREDICATE_TYPE, predicate)
    envelope = signing.canonical_json(signing.sign(stmt, private))
    out_path = Path(out)
    if not out_path.parent.is_dir():
        raise InputError(f"{out}: folder {out_path.parent} does not exist")
    with store.write():
        oid = store.put_object(envelope, "json")
        store.db.table("attestations").insert(
            {
                "object": oid,
                "version": result.version,
                "base": result.base,
                "policy_digest": result.policy["digest"],
                "keyid": keyid,
                "created_at": result.checked_at,
            },
            replace=True,
        )
        store.audit("attest", result.version, {"object": oid, "base": result.base, "policy": result.policy["digest"]})
        atomic_write(out_path, envelope)
    return oid


def verify_attestation(store: Store, version: str, path: str, policy_digest: str | None = None) -> dict:
    """Check a release attestation file for ``version`` (``prov verify V --attestation FILE``).

    Args:
        store: the open store; the envelope must verify under one of its registered keys.
        version: the version the attestation must name (tag and Merkle root).
        path: the attestation file (a DSSE envelope).
        policy_digest: when given, the policy the release must have passed (SHA-256 hex).

    Returns:
        ``{"version", "attestation": path, "base", "policy", "checked_at", "signature": "ok"}``.

    Raises:
        InputError: the file cannot be read or is not a DSSE envelope (exit 2).
        VerificationError: a bad signature, another predicate type, version, Merkle root,
            result or policy (exit 1).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read attestation ({exc.strerror})") from exc
    env = signing.parse_envelope(data, path)
    stmt = signing.verify(env, store.trusted_keys(), path).statement
    if stmt.get("predicateType") != PREDICATE_TYPE:
        raise VerificationError(f"{path}: not a release attestation (predicateType {stmt.get('predicateType')!r})")
    pred = stmt["predicate"]
    row = store.version(version)
    if pred.get("version") != version or signing.subject_root(stmt).hex() != row["merkle_root"]:
        raise VerificationError(
            f"{path}: attests version {pred.get('version')!r} with another Merkle root, not {version}"
        )
    if pred.get("result") != "pass":
        raise VerificationError(f"{path}: records result {pred.get('result')!r}, not pass")
    if policy_digest and pred.get("policy", {}).get("digest") != policy_digest:
        raise VerificationError(
            f"{path}: passed policy {pred.get('policy', {}).get('digest', '')[:16]}, not the one required"
        )
    return {
        "version": version,
        "attestation": path,
        "base": pred["base"]["version"],
        "policy": pred["policy"],
        "checked_at": pred["checkedAt"],
        "warnings": pred.get("warnings", []),
        "signature": "ok",
    }
