"""Release attestations: a signed SLSA Verification Summary that version B passed policy P against base A.

The attestation is an in-toto Statement v1 in a DSSE envelope whose predicate is a SLSA
Verification Summary Attestation (``predicateType`` ``https://slsa.dev/verification_summary/v1``),
so generic in-toto and SLSA verifiers can read it: ``verifier``, ``timeVerified``,
``resourceUri`` (``prov:version/B``), ``policy`` (its file and SHA-256 digest),
``inputAttestations`` (the signed envelopes of B and A), ``verificationResult``
(``PASSED``) and ``verifiedLevels`` (``PROV_RELEASE_GATE_PASSED``). prov's own facts sit
in the extension field ``https://prov.dev/release/v1`` (extension fields are URIs, as the
VSA parsing rules allow): the SHA-256 of the version's signed statement (``versionStatement``: its labels,
classes and schema as committed, so a statement re-signed since by a commit key alone is not released), the base (tag
and Merkle root), the release counter, the expiry,
which checks the policy turned off (and its acknowledgement), the rules and detectors,
the waivers honoured, the audit-log head and the log's RFC 9162 state (``auditLog``:
size, root, head; ``provenance.gate.release_history``), the decision (``pass`` or ``warned``) and
the warnings it passed with (a batch shifted beyond the base's own batches). ``schemas/release-attestation.schema.json``.

The release counter grows with every release of the store (:func:`next_release`): at
least B's depth in its signed history (the first version is release 1, its child 2, ...)
and B's :func:`commit_ordinal` (how many versions the store had committed when B was:
signed, and kept in git with ``.prov/``), and one more than every release already attested
in the store by a key trusted for ``attest`` of a version committed before B, so a fix made from an
older version (a quarantine from the last good one) supersedes a bad release instead of sharing its
number, even when each is attested in a fresh checkout that keeps no attestation. A release number
names a version, in commit order: attesting a version again keeps its number, and one released for
the first time after a version committed after it stays below that one; when releases kept out of commit
order leave no room below it, or a kept release's version cannot be placed in commit order (its statement
does not verify under the pins), the attestation is refused (exit 1) instead of guessed. A training job
checks an attestation with ``prov verify B --attestation FILE --signer K.pub``: the
envelope must be signed by a key the verifier trusts for ``attest``; the base must be a
signed ancestor of B; the attestation must not have expired (freeze); and its release
counter must not be older than the newest the job has accepted (rollback; see
``provenance.trust.releases``). Reading and checking attestations (and kept log states) is
``gate/attestation_verify.py``; this module writes them.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance import clock, keys, output_file, signing
from provenance.errors import InputError
from provenance.gate import release_settings
from provenance.gate.release_history import EXTENSION, ReleasePlace, release_under_lock, require_extends_attested
from provenance.store.checkpoints import CheckpointKey
from provenance.store.log_state import LogState, current
from provenance.trust.pins import pins_of
from provenance.trust.roles import ATTEST, not_trusted
from provenance.version_facts import signed_ancestry, statement_digest

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from provenance.gate.policy import Policy
    from provenance.gate.results import GateResult
    from provenance.store.store import Store

PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
LEGACY_PREDICATE_TYPE = "https://prov.dev/release-check/v1"
VERIFIER_ID = "https://prov.dev/verifier/prov-check"
VERIFIED_LEVEL = "PROV_RELEASE_GATE_PASSED"
INTEGRITY_CHECKS = ("integrity.verify_signatures", "integrity.verify_data")
ACKNOWLEDGEMENT = release_settings.ACKNOWLEDGE_DISABLED.name
VALID_FOR = release_settings.VALID_FOR_DAYS.name


def setting(policy: Policy, name: str, default: Any = None) -> Any:
    """The policy's value of ``section.key`` (``default`` when the policy has no such setting)."""
    section, key = name.split(".", 1)
    return (policy.settings.get(section) or {}).get(key, default)


def checks_off(policy: Policy) -> list[str]:
    """Every on/off setting the policy turns off that is on by default (``integrity.verify_data``, ...).

    These are the checks a release passed *without*; the attestation names them.
    """
    from provenance.gate.policy import defaults

    out: list[str] = []
    for section, values in defaults().items():
        for key, default in values.items():
            if default is True and setting(policy, f"{section}.{key}", True) is False:
                out.append(f"{section}.{key}")
    return out


def check_attester(store: Store, key_path: str, policy: Policy) -> tuple[Ed25519PrivateKey, str]:
    """Refuse, before any work, an attestation that could not be written or would not verify.

    Returns the attester's private key and key id. Raises ``InputError`` (exit 2) when
    nothing is pinned, the key is not trusted for ``attest`` by the pins, or the policy
    turns off an integrity check without saying why (``integrity.acknowledge_disabled``);
    ``VerificationError`` (exit 1) when the store's audit log is not an extension of the
    log state an attestation kept in the store signed (a rolled-back store; attack review
    5, finding 3).
    """
    pins = pins_of(store)
    pins.require_trust_decision("prov check --attest")
    private = keys.load_private(key_path)
    keyid = keys.key_id(private.public_key())
    role = pins.role_keys(ATTEST, store)
    if keyid not in role.keys:
        raise InputError(
            f"{key_path}: key {keyid[:16]} {not_trusted(role)}; a verifier would reject the attestation it signs"
        )
    disabled = [c for c in checks_off(policy) if c in INTEGRITY_CHECKS]
    if disabled and not setting(policy, ACKNOWLEDGEMENT):
        raise InputError(
            f"{policy.name}: turns off {', '.join(disabled)}; a release checked without it cannot be attested "
            f'unless the policy says why: set [integrity] acknowledge_disabled = "..."'
        )
    require_extends_attested(store)
    return private, keyid


def attest(
    store: Store,
    result: GateResult,
    policy: Policy,
    key_path: str,
    out: str,
    log_state: LogState | None = None,
    replace: bool = True,
    placed: ReleasePlace | None = None,
) -> str:
    """Sign and write the release attestation of a passing check; also kept in the store.

    Args:
        store: the open store, carrying the verifier's pins (``store.pins``).
        result: the ``GateResult`` of ``provenance.gate.gate.check``; must pass (``warned`` included).
        policy: the policy the check ran under (its digest, settings, expiry and acknowledgement).
        key_path: the attester's private key (PKCS#8 PEM); the pins must trust it for ``attest``.
        out: the file to write the envelope to (its folder must exist).
        log_state: the audit log's state the release signs (``auditLog``): the one the check
            started from (``prov check --attest`` takes it before the check appends its own
            entries, which a CI checkout does not keep); default the log now.
        replace: replace a file already at ``out`` (``prov check --attest --force``); else that is
            ``output_file.AlreadyExists`` (exit 2), with the store left as it was.
        placed: the release as ``release_history.place_release`` placed it before the check, on the state
            ``log_state`` is of; taken under the store's lock when nothing it was read from changed since, else
            placed again there (``release_history.release_under_lock``). Default: placed under the lock.

    Returns:
        The object id (SHA-256 hex) of the envelope in the store.

    Raises:
        InputError (exit 2): the check did not pass; nothing is pinned; the key is not
            trusted for ``attest`` (a verifier would reject it); the policy turns off an
            integrity check without ``integrity.acknowledge_disabled``; the base is not a
            signed ancestor of the version; the base was never released and ``result.base_release`` does not
            declare it trusted (:func:`base_standing`); ``out``'s folder is missing.
        VerificationError (exit 1): the store's audit log is not an extension of the log
            state an attestation kept in the store signed (``check_attester``), or, checked again inside the
            write, of ``log_state`` (a ``.prov/`` writer cut the log after the check: the attestation's closing
            checkpoint would sign the cut log; nothing is written); the release counter cannot be placed in
            commit order (``release_history.next_release``: no room below a later-committed version's release,
            or a kept release's version does not verify under the pins), nothing written; the audit log is broken
            (its closing checkpoint refuses to sign it): nothing recorded and no file written.

    ``out`` is written once the store's write has committed, under its lock; a failure to write it then raises
    InputError (exit 2) saying the attestation was recorded in the store and which object holds it.
    """
    if result.decision not in ("pass", "warned"):
        raise InputError(f"{result.version} did not pass; only a passing check can be attested")
    private, keyid = check_attester(store, key_path, policy)
    off, acknowledged = checks_off(policy), setting(policy, ACKNOWLEDGEMENT)
    out_path = Path(out)
    if not out_path.parent.is_dir():
        raise InputError(f"{out}: folder {out_path.parent} does not exist")
    ancestry = signed_ancestry(store, result.version)
    chain = {row["tag"]: row for row, _ in ancestry}
    if result.base not in chain:
        from provenance.gate.base_release import not_ancestor

        older = [row["tag"] for row, _ in ancestry][1:]
        raise InputError(f"{not_ancestor(result.base, result.version, older)}; an attestation's base must be one")
    new, base = chain[result.version], chain[result.base]
    checked = clock.parse(result.checked_at, "checkedAt") if result.checked_at else clock.now()
    days = setting(policy, VALID_FOR, release_settings.VALID_FOR_DAYS.default)
    expires = checked + dt.timedelta(days=days)
    facts: dict[str, Any] = {  # prov's own facts; the release and the log's state are taken under the lock, below
        "version": result.version,
        "versionStatement": {"sha256": statement_digest(ancestry[0][1])},  # what the job loads (A35l-3)
        "base": {"version": result.base, "merkleRoot": base["merkle_root"], **base_standing(result)},
        "release": None,
        "expires": clock.iso(expires),
        "policy": {
            "path": policy.path,
            "digest": policy.digest,
            "checksOff": off,
            "acknowledged": acknowledged,
            "settings": policy.settings,
        },
        "decision": result.decision,
        "warnings": [{"rule": r.rule, "reason": r.reason} for r in result.rules if r.status == "warn"],
        "rules": [{"rule": r.rule, "status": r.status} for r in result.rules],
        "detectors": [
            {k: d.get(k) for k in ("detector", "status", "scored", "flagged", "waived", "allowed")}
            for d in result.detectors
        ],
        "waivers": len(result.waivers["honoured"]),
        "auditLogHead": None,
        "auditLog": None,
        "store": ancestry[0][1]["predicate"].get("store"),  # the store id the version signed (17b)
    }
    predicate = {
        "verifier": {"id": VERIFIER_ID, "version": {"prov-data": _prov_version()}},
        "timeVerified": clock.iso(checked),
        "resourceUri": f"prov:version/{result.version}",
        "policy": {"uri": policy.path or "prov:policy/default", "digest": {"sha256": policy.digest}},
        "inputAttestations": [
            {"uri": f"prov:version/{row['tag']}", "digest": {"sha256": row["envelope_object"]}} for row in (new, base)
        ],
        "verificationResult": "PASSED",
        "verifiedLevels": [VERIFIED_LEVEL],
        "slsaVersion": "1.0",
        EXTENSION: facts,
    }
    # a device, FIFO or folder (or, without replace, any file) is refused before the store changes
    output_file.check_output(out, "--attest-out", replace)
    # the file is put at ``out`` only once the write has committed (its closing checkpoint refuses a log broken
    # meanwhile, which rolls the store back: a file written inside it stayed, a signed release of a refused command;
    # attack review 24c, A24c-3), still under the lock, as --checkpoint-out is (kept_log.KeptLog.keeper). Its bytes
    # are staged beside ``out`` inside the write, so a full disk or a folder that cannot be written rolls it back.
    signed: dict[str, Any] = {}
    keep = functools.partial(_place_attestation_file, signed, out)
    try:
        with store.write(CheckpointKey(private, Path(key_path).stem), keep):  # covers the check's own entries too
            if log_state is not None:  # again under the lock: its checkpoint never signs a log cut since the check
                from provenance.store.log_state import require_extends  # (attack review 21a)

                require_extends(store, log_state, f"prov check {result.version} --attest")
            # the number is taken where no other prov writer comes in between, so the attestation signed names
            # exactly the release recorded (a concurrent release could share it: review 23)
            facts["release"] = release_under_lock(store, result.version, ancestry, placed, log_state)
            facts["auditLogHead"] = store.audit_head()[1]
            facts["auditLog"] = (log_state or current(store)).to_dict()
            stmt = signing.statement(result.version, bytes.fromhex(new["merkle_root"]), PREDICATE_TYPE, predicate)
            envelope = signing.canonical_json(signing.sign(stmt, private))
            oid = store.put_object(envelope, "json")
            store.db.table("attestations").insert(
                {
                    "object": oid,
                    "version": result.version,
                    "base": result.base,
                    "policy_digest": policy.digest,
                    "keyid": keyid,
                    "created_at": result.checked_at,
                },
                replace=True,
            )
            store.audit("attest", result.version, {"object": oid, "base": result.base, "policy": policy.digest})
            signed.update(object=oid, version=result.version, release=facts["release"])
            signed["staged"] = output_file.stage_output(out, envelope, "--attest-out", replace)
    finally:
        if "staged" in signed:  # placed by then, or the write failed: no temporary file stays beside ``out``
            signed["staged"].discard()
    return oid


def _place_attestation_file(signed: dict[str, Any], out: str, _store: Store) -> None:
    """The ``keep`` of the attestation's write (``Store.write``): put the envelope staged beside ``out`` there once
    the write has committed, the lock still held. A failure then (``out`` taken or its folder removed meanwhile)
    leaves the attestation recorded in the store: InputError (exit 2) saying so, with the object that holds it."""
    try:
        signed["staged"].place()
    except InputError as exc:
        raise InputError(
            f"{exc}; the attestation of {signed['version']} (release {signed['release']}) was recorded in the store "
            f"as object {signed['object']}, but not written to {out}: run prov check --attest --force again"
        ) from exc


def base_standing(result: GateResult) -> dict[str, Any]:
    """The attestation's facts on its base: ``standing`` (released, first or declared: ``--base-unreleased``)
    and, when released, its ``release``. Raises InputError for a base never released and not declared trusted
    (``prov check --attest`` refuses it before any work; newcomer review 12, finding 8)."""
    from provenance.gate.base_release import UNRELEASED, unreleased_refusal

    standing = result.base_release or {"standing": UNRELEASED}
    if standing["standing"] == UNRELEASED:
        raise unreleased_refusal(result.base, result.version, standing, "--base-unreleased")
    out: dict[str, Any] = {"standing": standing["standing"]}
    if standing.get("release") is not None:
        out["release"] = standing["release"]
    return out


def _prov_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("prov-data")
    except PackageNotFoundError:
        return "unknown"
