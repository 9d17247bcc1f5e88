"""Release attestations: a signed in-toto statement that version B passed policy P against
base A with detectors D at time T. A training job checks one with
``prov verify B --attestation FILE`` and refuses data without it.
"""

from __future__ import annotations

from provenance import input_file, keys, output_file, signing
from provenance.errors import InputError, VerificationError
from provenance.store import Store

PREDICATE_TYPE = "https://prov.dev/release-check/v1"


def attest(store: Store, result, key_path: str, out: str) -> str:
    """Sign and write the release attestation of a passing check; also kept in the store.

    The attestation is an in-toto Statement v1 (predicate type ``PREDICATE_TYPE``, schema
    ``schemas/release-attestation.schema.json``) whose subject is the version's Merkle
    root, in a DSSE envelope signed with Ed25519. Its predicate names the base (tag and
    Merkle root), the policy (path and digest), the time, the detectors and rules, the
    number of waivers honoured and the audit-log head.

    Args:
        store: the open store.
        result: the ``GateResult`` of ``provenance.gate.gate.check``; must be a pass.
        key_path: the signer's private key (PKCS#8 PEM), registered in the store.
        out: the file to write the envelope to (its folder must exist).

    Returns:
        The object id (SHA-256 hex) of the envelope in the store.

    Raises:
        InputError: the check did not pass, the key is not registered, or ``out``'s folder is missing.
    """
    if result.decision != "pass":
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
    output_file.check_output(out, "--attest-out")  # a device, FIFO or folder is refused before the store changes
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
        output_file.write_output(out, envelope, "--attest-out")
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
    data = input_file.read_bounded(path, signing.MAX_ENVELOPE_BYTES, "attestation")
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
        "signature": "ok",
    }
