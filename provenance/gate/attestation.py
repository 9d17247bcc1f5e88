"""Release attestations: a signed SLSA Verification Summary that version B passed policy P against base A.

The attestation is an in-toto Statement v1 in a DSSE envelope whose predicate is a SLSA
Verification Summary Attestation (``predicateType`` ``https://slsa.dev/verification_summary/v1``),
so generic in-toto and SLSA verifiers can read it: ``verifier``, ``timeVerified``,
``resourceUri`` (``prov:version/B``), ``policy`` (its file and SHA-256 digest),
``inputAttestations`` (the signed envelopes of B and A), ``verificationResult``
(``PASSED``) and ``verifiedLevels`` (``PROV_RELEASE_GATE_PASSED``). prov's own facts sit
in the extension field ``https://prov.dev/release/v1`` (extension fields are URIs, as the
VSA parsing rules allow): the base (tag and Merkle root), the release counter, the expiry,
which checks the policy turned off (and its acknowledgement), the rules and detectors,
the waivers honoured, the audit-log head and the log's RFC 9162 state (``auditLog``:
size, root, head; ``provenance.gate.release_history``), the decision (``pass`` or ``warned``) and
the warnings it passed with (a batch shifted beyond the base's own batches). ``schemas/release-attestation.schema.json``.

The release counter grows with every release of the store (:func:`next_release`): at
least B's depth in its signed history (the first version is release 1, its child 2, ...)
and B's :func:`commit_ordinal` (how many versions the store had committed when B was:
signed, and kept in git with ``.prov/``), and one more than every release already attested
in the store by a key trusted for ``attest``, so a fix made from an older version (a
quarantine from the last good one) supersedes a bad release instead of sharing its number,
even when each is attested in a fresh checkout that keeps no attestation; attesting a
version again keeps its number. A training job
checks an attestation with ``prov verify B --attestation FILE --signer K.pub``: the
envelope must be signed by a key the verifier trusts for ``attest``; the base must be a
signed ancestor of B; the attestation must not have expired (freeze); and its release
counter must not be older than the newest the job has accepted (rollback; see
``provenance.trust.releases``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance import clock, input_file, keys, output_file, signing
from provenance.errors import InputError, VerificationError
from provenance.gate import release_settings
from provenance.gate.release_history import EXTENSION, commit_ordinal, next_release, require_extends_attested
from provenance.store.checkpoints import CHECKPOINT_TYPE, Checkpoint, CheckpointKey, Keys, checkpoint_from_file
from provenance.store.log_state import LogState, current, require_consistent
from provenance.trust import releases
from provenance.trust.pins import pins_of
from provenance.trust.roles import ATTEST, not_trusted
from provenance.version_facts import signed_ancestry

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

    Returns:
        The object id (SHA-256 hex) of the envelope in the store.

    Raises:
        InputError (exit 2): the check did not pass; nothing is pinned; the key is not
            trusted for ``attest`` (a verifier would reject it); the policy turns off an
            integrity check without ``integrity.acknowledge_disabled``; the base is not a
            signed ancestor of the version; ``out``'s folder is missing.
        VerificationError (exit 1): the store's audit log is not an extension of the log
            state an attestation kept in the store signed (``check_attester``).
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
        raise InputError(f"{result.base} is not an ancestor of {result.version}; an attestation's base must be one")
    new, base = chain[result.version], chain[result.base]
    checked = clock.parse(result.checked_at, "checkedAt") if result.checked_at else clock.now()
    days = setting(policy, VALID_FOR, release_settings.VALID_FOR_DAYS.default)
    expires = checked + dt.timedelta(days=days)
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
        EXTENSION: {
            "version": result.version,
            "base": {"version": result.base, "merkleRoot": base["merkle_root"]},
            "release": next_release(store, result.version, max(len(ancestry), commit_ordinal(store, ancestry[0][1]))),
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
            "auditLogHead": store.audit_head()[1],
            "auditLog": (log_state or current(store)).to_dict(),
        },
    }
    stmt = signing.statement(result.version, bytes.fromhex(new["merkle_root"]), PREDICATE_TYPE, predicate)
    envelope = signing.canonical_json(signing.sign(stmt, private))
    # a device, FIFO or folder (or, without replace, any file) is refused before the store changes
    output_file.check_output(out, "--attest-out", replace)
    with store.write(CheckpointKey(private, Path(key_path).stem)):  # covers the check's own entries too
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
        output_file.write_output(out, envelope, "--attest-out", replace)
    return oid


def _prov_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("prov-data")
    except PackageNotFoundError:
        return "unknown"


def read_attestation(path: str, what: str = "attestation") -> tuple[dict, bytes]:
    """The attestation file's DSSE envelope (shape-checked) and its bytes; ``InputError`` names the file
    (and ``what`` it was given as).

    An attestation written by a prov before SLSA VSAs (``https://prov.dev/release-check/v1``)
    is refused here with the way forward.
    """
    data = input_file.read_bounded(path, signing.MAX_ENVELOPE_BYTES, what)
    try:
        env = signing.parse_envelope(data, path)
    except InputError as exc:
        from provenance.report.formats import report_kind

        if (kind := report_kind(data)) is None:
            raise
        raise InputError(
            f"{path}: {kind}, not a release attestation; write one with "
            "'prov check V --base B --attest --key K.key' (it writes V.attestation.json) and pass that file"
        ) from exc
    if signing.unverified_statement(env).get("predicateType") == LEGACY_PREDICATE_TYPE:
        raise InputError(
            f"{path}: written by an older prov (no base ancestry, expiry or release counter); "
            "attest the version again with 'prov check V --base B --attest --key K' and verify the new file"
        )
    return env, data


def kept_log_head(store: Store, path: str, trusted: Keys) -> Checkpoint | None:
    """A log state kept outside the store (``prov audit verify --checkpoint FILE``) as a signed tree head.

    ``path`` is a checkpoint (``prov audit checkpoint --out``), signed by a key of
    ``trusted``, or a release attestation signed by the pinned ``attest`` role, whose
    signed ``auditLog`` the log must extend. None for an attestation of an empty log.
    Raises InputError (exit 2) naming the file when it is neither (naming what it is: a batch
    envelope, a waiver, ...) or carries no log state, VerificationError (exit 1) for a signature the
    pins do not trust.
    """
    env, data = read_attestation(path, "checkpoint (--checkpoint)")
    kind = signing.unverified_statement(env).get("predicateType")
    if kind != PREDICATE_TYPE:
        if kind is not None and kind != CHECKPOINT_TYPE:  # never "pin that key": it is no log state (newcomer 10, 14)
            raise InputError(
                f"{path}: {_signed_kind(kind)}, not an audit checkpoint or release attestation; --checkpoint takes "
                "a file from 'prov audit checkpoint --key K --out F' or 'prov check --attest'"
            )
        return checkpoint_from_file(path, trusted)
    signed = pins_of(store).verify(env, ATTEST, path, store)
    facts = (signed.statement.get("predicate") or {}).get(EXTENSION)
    state = LogState.from_dict(facts.get("auditLog") if isinstance(facts, dict) else None, path, InputError)
    if state is None:
        raise InputError(f"{path}: a release attestation without the audit log's state (written by an older prov)")
    if state.size == 0:
        return None
    when = str((signed.statement.get("predicate") or {}).get("timeVerified") or "")
    return state.as_checkpoint(when, signed.keyid, hashlib.sha256(data).hexdigest())


def _signed_kind(predicate_type: object) -> str:
    """What a signed statement of ``predicate_type`` is, for a message about a file given as something else."""
    from provenance.gate.waiver_judging import PREDICATE_TYPE as WAIVER
    from provenance.lineage.standing import PREDICATE_TYPE as BATCH
    from provenance.lineage.withdraw import PREDICATE_TYPE as WITHDRAWAL
    from provenance.trust.root import PREDICATE_TYPE as ROOT
    from provenance.trust.statements import PREDICATE_TYPE as TRUST_ENTRY
    from provenance.version_facts import PREDICATE_TYPE as VERSION

    names = {
        BATCH: "a signed batch envelope (prov sign)",
        VERSION: "a version's signed statement (prov commit)",
        WAIVER: "a signed waiver (prov waive)",
        WITHDRAWAL: "a signed batch withdrawal (prov withdraw)",
        TRUST_ENTRY: "a signed trust entry (prov trust add)",
        ROOT: "a root of trust file",
        LEGACY_PREDICATE_TYPE: "a release attestation written by an older prov",
    }
    return names.get(str(predicate_type), f"a signed statement of type {predicate_type!r}")


def verify_attestation(
    store: Store,
    version: str,
    path: str,
    *,
    policy_digest: str | None = None,
    base: str | None = None,
    release_state: str | None = None,
    min_release: int | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """Check a release attestation file for ``version`` (``prov verify V --attestation FILE``).

    Args:
        store: the open store, carrying the verifier's pins (required).
        version: the version the attestation must name (tag and Merkle root).
        path: the attestation file (a DSSE envelope).
        policy_digest: when given, the policy the release must have passed (SHA-256 hex).
        base: when given, the base the release must have been checked against.
        release_state: the training job's state file (``provenance.trust.releases``):
            a release older than the one it records is refused, and so is one whose audit
            log is not an RFC 9162 extension of the newest log state it records (a
            consistency proof built from the store's log); a fresh one is recorded.
        min_release: refuse a release counter below this.
        now: the time expiry is judged at (default: now).

    Returns:
        ``{"version", "attestation", "signature": "ok", "keyid", "base": {"version", "merkle_root"},
        "policy": {"path", "digest"}, "checks_off", "acknowledged", "checked_at", "expires",
        "release", "audit_log": {"treeSize", "rootHash", "headHash"} | None,
        "release_state": {"path", "release", "root_version", "audit_log_size", "created"} | None}``
        (``created``: the state file did not exist before).

    Raises:
        InputError (exit 2): nothing pinned; the file is unreadable, not a DSSE envelope,
            or written by an older prov; the release state file is malformed.
        VerificationError (exit 1): a signature not by a key trusted for ``attest``;
            another predicate type, version, Merkle root or result; an expired
            attestation; a base that is not a signed ancestor or not the one required;
            another policy; a release older than the newest accepted, or a root of trust
            older than the one the release state records; with a release state that
            records an audit-log state, an attestation without one, or whose log (or the
            store's) is not an extension of it.
    """
    pins = pins_of(store)
    pins.require_trust_decision(f"prov verify {version} --attestation {path}")
    known = releases.read_state(release_state) if release_state else None
    env, data = read_attestation(path)
    signed = pins.verify(env, ATTEST, path, store)
    stmt = signed.statement
    if stmt.get("predicateType") != PREDICATE_TYPE:
        raise VerificationError(f"{path}: not a release attestation (predicateType {stmt.get('predicateType')!r})")
    pred = stmt.get("predicate") or {}
    facts = pred.get(EXTENSION)
    if not isinstance(facts, dict):
        raise VerificationError(f"{path}: a verification summary without prov's release facts ({EXTENSION})")
    row = store.version(version)
    if facts.get("version") != version or signing.subject_root(stmt).hex() != row["merkle_root"]:
        raise VerificationError(
            f"{path}: attests version {facts.get('version')!r} with another Merkle root, not {version}"
        )
    if pred.get("verificationResult") != "PASSED":
        raise VerificationError(f"{path}: records result {pred.get('verificationResult')!r}, not PASSED")
    expires = clock.parse(str(facts.get("expires")), f"{path}: expires")
    if (now or clock.now()) >= expires:
        raise VerificationError(
            f"{path}: expired at {clock.iso(expires)} (an old release is not served forever); "
            f"check {version} again with 'prov check --attest' for a fresh attestation"
        )
    base_facts = facts.get("base") or {}
    chain = {r["tag"]: r for r, _ in signed_ancestry(store, version)}
    ancestor = chain.get(str(base_facts.get("version")))
    if ancestor is None or ancestor["merkle_root"] != base_facts.get("merkleRoot"):
        raise VerificationError(
            f"{path}: its base {base_facts.get('version')!r} is not a signed ancestor of {version} "
            "with the Merkle root it names"
        )
    if base is not None and base_facts.get("version") != base:
        raise VerificationError(f"{path}: {version} was checked against {base_facts.get('version')}, not {base}")
    policy = facts.get("policy") or {}
    signed_digest = (pred.get("policy") or {}).get("digest", {}).get("sha256")
    if signed_digest != policy.get("digest"):
        raise VerificationError(f"{path}: its two policy digests differ")
    if policy_digest and signed_digest != policy_digest:
        raise VerificationError(
            f"{path}: passed policy {str(signed_digest)[:16]}, not the one required ({policy_digest[:16]})"
        )
    release = facts.get("release")
    if not isinstance(release, int) or isinstance(release, bool) or release < 1:
        raise VerificationError(f"{path}: has no release counter")
    root_version = pins.root.version if pins.root is not None else None
    log = LogState.from_dict(facts.get("auditLog"), path)
    candidate = releases.AcceptedRelease(
        release, version, row["merkle_root"], hashlib.sha256(data).hexdigest(), root_version=root_version, audit_log=log
    )
    releases.check_fresh(candidate, known, min_release, path)
    if known is not None and known.audit_log is not None:  # the log must not have lost entries since
        kept = f"release {known.release} ({known.version}), accepted by this job"
        if log is None:
            raise VerificationError(
                f"{path}: carries no audit-log state, so it cannot show the log kept every entry of {kept}; "
                f"attest {version} again with this prov"
            )
        require_consistent(store, known.audit_log, log, path, kept)
    state = None
    if release_state:
        written = releases.record(release_state, candidate)
        state = {"path": release_state, "release": release, "root_version": written.root_version}
        state["created"] = known is None  # a new file refused nothing older: a typo in the path turns that off
        state["audit_log_size"] = written.audit_log.size if written.audit_log is not None else None
    return {
        "version": version,
        "attestation": path,
        "warnings": facts.get("warnings", []),
        "signature": "ok",
        "keyid": signed.keyid,
        "base": {"version": base_facts["version"], "merkle_root": base_facts["merkleRoot"]},
        "policy": {"path": policy.get("path"), "digest": signed_digest},
        "checks_off": list(policy.get("checksOff") or []),
        "acknowledged": policy.get("acknowledged"),
        "checked_at": pred.get("timeVerified"),
        "expires": clock.iso(expires),
        "release": release,
        "audit_log": log.to_dict() if log is not None else None,
        "release_state": state,
    }
