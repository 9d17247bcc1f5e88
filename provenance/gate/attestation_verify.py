"""Checking release attestations and log states kept outside the store (split out of ``gate/attestation.py``).

``verify_attestation`` is ``prov verify V --attestation FILE`` (and ``provenance.load``'s release
options): the envelope must be signed by a key the verifier trusts for ``attest``, name the version
and a signed ancestor as its base, not have expired, and not be older than the newest release a
training job has accepted (``provenance.trust.releases``). ``kept_log_head`` reads a checkpoint or
an attestation given to ``prov audit verify --checkpoint`` as the signed log state the store's log
must extend. ``gate/attestation.py`` writes attestations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance import clock, input_file, signing
from provenance.errors import InputError, VerificationError
from provenance.gate.attestation import LEGACY_PREDICATE_TYPE, PREDICATE_TYPE
from provenance.gate.release_history import EXTENSION, other_store
from provenance.store import identity
from provenance.store.checkpoints import CHECKPOINT_TYPE, Checkpoint, Keys, checkpoint_from_file, trusted_keys
from provenance.store.log_state import LogState, require_consistent
from provenance.trust import releases
from provenance.trust.pins import pins_of
from provenance.trust.roles import ATTEST
from provenance.version_facts import signed_ancestry

if TYPE_CHECKING:
    from provenance.store.store import Store
    from provenance.trust.pins import Pins


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
    pins do not trust. A file inside the store's ``.prov/`` folder, a link resolving there, a path through a bind
    mount of it or a hard link to a file there, is InputError before it is read
    (``checkpoints.refuse_kept_in_store``: a ``.prov/`` writer could swap in an older state).
    """
    from provenance.gate.log_state_file import looks_like, not_a_log_state, signed_kind
    from provenance.store.checkpoints import refuse_kept_in_store

    refuse_kept_in_store(store, path)
    data = input_file.read_bounded(path, signing.MAX_ENVELOPE_BYTES, "checkpoint (--checkpoint)")
    try:
        env = signing.parse_envelope(data, path)
    except InputError as exc:  # one line whatever the file is (newcomer review 17, F6), never "pin that key"
        if b'"payloadType"' in data[:4096]:
            raise  # an envelope, damaged: its own error says how
        raise not_a_log_state(path, looks_like(data)) from exc
    kind = signing.unverified_statement(env).get("predicateType")
    if kind not in (PREDICATE_TYPE, CHECKPOINT_TYPE, None):
        raise not_a_log_state(path, signed_kind(kind))
    if kind != PREDICATE_TYPE:
        return checkpoint_from_file(path, trusted)
    signed = pins_of(store).verify(env, ATTEST, path, store)
    facts = (signed.statement.get("predicate") or {}).get(EXTENSION)
    state = LogState.from_dict(facts.get("auditLog") if isinstance(facts, dict) else None, path, InputError)
    if state is None:
        raise not_a_log_state(path, "a release attestation written by an older prov, without the audit log's state")
    _refuse_other_store(store, path, facts.get("store") if isinstance(facts, dict) else None)
    if state.size == 0:
        return None
    when = str((signed.statement.get("predicate") or {}).get("timeVerified") or "")
    return state.as_checkpoint(when, signed.keyid, hashlib.sha256(data).hexdigest())


def _refuse_other_store(store: Store, path: str, attested: object) -> None:
    """Raise VerificationError (exit 1) when the release attestation kept in ``path`` names a store id (``attested``)
    other than this store's (the pinned id, else the id of record): the log state it keeps is that store's, and said
    as this log cut back it sent the reader restoring a store nobody had touched (newcomer review 17, F5). Nothing is
    said when either id is unknown (an attestation or a store from before ids)."""
    from provenance.store import identity

    if not identity.is_store_id(attested):
        return
    pins = pins_of(store)
    ours, origin = pins.store_id, f"the store id you pinned ({pins.store_id_origin})"
    if ours is None:
        try:
            record = identity.of_record(store)
        except VerificationError:  # a broken log is said by the check that follows, not here
            return
        if record is None:
            return
        ours, origin = record.store_id, f"this store's id of record ({record.describe()})"
    if attested != ours:
        raise VerificationError(
            f"{path}: the log state of another store: a release attestation of store {attested}, not {origin}, "
            f"{ours}; give the log state kept for this store"
        )


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
    fail_on_revoked: bool = False,
    at_release: bool = False,
    kept_log_states: Sequence[str] = (),
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
        fail_on_revoked: refuse the release when records it holds are no longer attested under the pins
            (a source key revoked since, ``lineage_not_trusted``); without it they are reported, not refused.
        at_release: an audit of a past release (newcomer review 13, finding 2): everything is checked as
            for a training job except the expiry, which is reported (``expired``) instead of refused; a
            release state or ``min_release`` (a job's freshness) with it is an ``InputError``. An expired
            attestation says the release was made and checked; it is no go-ahead to train today.
        kept_log_states: log states kept outside the store (``prov verify --checkpoint F``, ``load(...,
            kept_log_state=F)``): checkpoint files (``prov audit checkpoint --out``, or the one ``prov trust
            revoke --checkpoint-key`` writes) signed by a maintainer key the verifier pins, or release
            attestations signed by the pinned ``attest`` role, as ``prov audit verify --checkpoint`` takes them.
            The store's audit log must extend each, so a ``.prov/`` writer who cut the log back to before a
            revocation and deleted the checkpoints over it is refused (attack review 13b, V13b-1).

    Returns:
        ``{"version", "attestation", "signature": "ok", "keyid", "base": {"version", "merkle_root"},
        "policy": {"path", "digest"}, "checks_off", "acknowledged", "checked_at", "expires",
        "expired", "at_release", "release", "audit_log": {"treeSize", "rootHash", "headHash"} | None,
        "release_state": {"path", "release", "root_version", "audit_log_size", "created"} | None,
        "lineage_not_trusted": [{"batch", "source", "reason", "records"}]}``
        (``created``: the state file did not exist before; ``lineage_not_trusted``: each batch whose
        records the version signed as attested and that attests nothing under the pins now, judged as
        ``prov show`` judges them: newcomer review 12, finding 3).

    Raises:
        InputError (exit 2): nothing pinned; the file is unreadable, not a DSSE envelope,
            or written by an older prov; the release state file is malformed or inside ``.prov/`` (a link
            resolving there too: a ``.prov/`` writer could roll it back); ``at_release`` with a
            release state or ``min_release``.
        VerificationError (exit 1): a signature not by a key trusted for ``attest``;
            another predicate type, version, Merkle root or result; an expired
            attestation; a base that is not a signed ancestor or not the one required;
            another policy; with ``fail_on_revoked``, records no longer attested under the
            pins; a release older than the newest accepted, or a root of trust
            older than the one the release state records; with a release state that
            records an audit-log state, an attestation without one, or whose log (or the
            store's) is not an extension of it; an audit log that does not extend a kept log state, or a
            kept one not signed by a key the pins trust for it.
    """
    if at_release and (release_state is not None or min_release is not None):
        raise InputError(
            "--at-release audits a past release as it was made, and is no go-ahead to train: a training job keeps "
            "its --release-state / --min-release and needs a fresh attestation (prov check --attest) instead"
        )
    pins = pins_of(store)
    pins.require_trust_decision(f"prov verify {version} --attestation {path}")
    if release_state:  # the job's rollback guard: a .prov/ writer must not be able to roll it back
        from provenance.store.checkpoints import refuse_kept_in_store

        refuse_kept_in_store(store, release_state, "--release-state")
    known = releases.read_state(release_state) if release_state else None
    env, data = read_attestation(path)
    checked = check_release(
        store, env, path, version, now=now, at_release=at_release, base=base, policy_digest=policy_digest
    )
    pred, facts, release, row, expires = checked.predicate, checked.facts, checked.release, checked.row, checked.expires
    policy = facts.get("policy") or {}
    # before judging lineage: a revocation the log holds (V13-1), and one a kept state signed after (V13b-1)
    _require_log_matches_checkpoints(store, pins, path, kept_log_states)
    log = _attested_log_kept(store, facts, path, version)
    not_trusted = not_attested_now(store, version)
    if not_trusted and fail_on_revoked:
        raise VerificationError(f"{path}: {revoked_warning(release, version, not_trusted)}")
    root_version = pins.root.version if pins.root is not None else None
    candidate = releases.AcceptedRelease(
        release,
        version,
        row["merkle_root"],
        hashlib.sha256(data).hexdigest(),
        root_version=root_version,
        audit_log=log,
        attest_key=checked.keyid,
    )
    floor = releases.after_rotation(known, _pinned_attest_keys(pins))  # A35l-2: a rotated-out key's counter
    releases.check_fresh(candidate, floor, min_release, path)
    if known is not None and known.audit_log is not None:  # the log must not have lost entries since
        kept = f"release {known.release} ({known.version}), accepted by this job"
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
        "keyid": checked.keyid,
        "base": {"version": checked.base["version"], "merkle_root": checked.base["merkleRoot"]},
        "policy": {"path": policy.get("path"), "digest": checked.policy_digest},
        "checks_off": list(policy.get("checksOff") or []),
        "acknowledged": policy.get("acknowledged"),
        "checked_at": pred.get("timeVerified"),
        "expires": clock.iso(expires),
        "expired": checked.expired,
        "at_release": at_release,
        "release": release,
        "audit_log": log.to_dict() if log is not None else None,
        "release_state": state,
        "lineage_not_trusted": not_trusted,
    }


@dataclass(frozen=True)
class CheckedRelease:
    """A release attestation :func:`check_release` accepted: ``keyid`` signed it for the pinned ``attest``
    role; ``row`` is the store's row of the version it attests (tag and Merkle root match); ``predicate``
    is its signed SLSA VSA predicate, ``facts`` prov's release facts in it, ``base`` the signed
    ``{"version", "merkleRoot"}`` of its base (a signed ancestor), ``policy_digest`` the policy's SHA-256
    hex, ``release`` its counter (>= 1), ``expires`` when it ends (UTC) and ``expired`` whether it has."""

    keyid: str
    row: dict
    predicate: dict
    facts: dict
    base: dict
    policy_digest: str | None
    release: int
    expires: dt.datetime
    expired: bool


def check_release(
    store: Store,
    env: dict,
    path: str,
    version: str | None = None,
    *,
    now: dt.datetime | None = None,
    at_release: bool = False,
    base: str | None = None,
    policy_digest: str | None = None,
) -> CheckedRelease:
    """The checks of one release attestation (``env``, a shape-checked DSSE envelope named ``path``) that
    :func:`verify_attestation` makes before it reads the audit log, release state and lineage: signed by
    the pinned ``attest`` role (store revocations honoured), a release attestation of ``version`` (default:
    the version it names) at this store's Merkle root, PASSED, of the store id the verifier pinned if any
    (``store``; an attestation made before it names none), of the store id the version itself signs and of this
    store's id (pinned or of record: ``release_history.other_store``), not expired (with ``at_release``: expiry
    reported, not refused), its base a signed ancestor (and ``base`` when given), one policy digest (and
    ``policy_digest`` when given), a release counter. ``prov log`` and ``prov show`` mark a release only
    from an attestation that passes these and an audit log that matches its checkpoints
    (``version_releases``). Raises VerificationError (exit 1) naming ``path`` and the first check that
    fails, InputError (exit 2) for a version this store does not have."""
    signed = pins_of(store).verify(env, ATTEST, path, store)
    stmt = signed.statement
    if stmt.get("predicateType") != PREDICATE_TYPE:
        raise VerificationError(f"{path}: not a release attestation (predicateType {stmt.get('predicateType')!r})")
    pred = stmt.get("predicate")
    facts = pred.get(EXTENSION) if isinstance(pred, dict) else None
    if not isinstance(pred, dict) or not isinstance(facts, dict):
        raise VerificationError(f"{path}: a verification summary without prov's release facts ({EXTENSION})")
    version = version if version is not None else str(facts.get("version"))
    row = store.version(version)
    if facts.get("version") != version:
        raise VerificationError(f"{path}: attests version {facts.get('version')!r}, not {version}")
    if signing.subject_root(stmt).hex() != row["merkle_root"]:
        raise VerificationError(
            f"{path}: attests a version {version} with another Merkle root than {version} has here (another store's)"
        )
    if pred.get("verificationResult") != "PASSED":
        raise VerificationError(f"{path}: records result {pred.get('verificationResult')!r}, not PASSED")
    pins = pins_of(store)
    if pins.store_id is not None and facts.get("store") not in (None, pins.store_id):  # attack review 17b
        raise VerificationError(
            f"{path}: attests a release of store {str(facts.get('store'))[:16]}, not the store id you pinned "
            f"({pins.store_id[:16]}, {pins.store_id_origin})"
        )
    ancestry = signed_ancestry(store, version)
    foreign = other_store(facts, ancestry[0][1]["predicate"].get("store"), identity.expected(store).store_id)
    if foreign is not None:  # attack review 19, F19-2: a mirror's release, which this store's gate never passed
        raise VerificationError(f"{path}: {foreign}: another store's release")
    _require_released_statement(facts, ancestry[0][1], path, version)
    expires = clock.parse(str(facts.get("expires")), f"{path}: expires")
    expired = (now or clock.now()) >= expires
    if expired and not at_release:
        raise VerificationError(
            f"{path}: expired at {clock.iso(expires)} (an old release is not served forever); "
            f"check {version} again with 'prov check --attest' for a fresh attestation"
        )
    base_facts = facts.get("base") or {}
    chain = {r["tag"]: r for r, _ in ancestry}
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
    return CheckedRelease(signed.keyid, row, pred, facts, base_facts, signed_digest, release, expires, expired)


def _pinned_attest_keys(pins: Pins) -> frozenset[str] | None:
    """The key ids the verifier's own pins (a root in force, else ``--signer`` keys) trust for ``attest``, store
    revocations aside (a ``.prov/`` writer must not be able to reset a job's release floor by revoking a key in the
    store); None when nothing is pinned."""
    if pins.root is None and not pins.signers:
        return None
    return frozenset(pins.role_keys(ATTEST).keys)


def _attested_log_kept(store: Store, facts: dict, path: str, version: str) -> LogState:
    """The audit log's state the attestation signs (``auditLog``), which the store's log must extend: the
    attestation is itself a kept log state, so a ``.prov/`` writer who rolled the store back below it (a revocation
    gone) is refused even for a job with no release state yet (attack review 35l, A35l-1). Raises
    VerificationError (exit 1) for a log that does not extend it, or an attestation without one (an older prov's)."""
    from provenance.store.log_state import require_extends

    log = LogState.from_dict(facts.get("auditLog"), path)
    if log is None:
        raise VerificationError(
            f"{path}: carries no audit-log state, so it cannot show the store's log kept every entry it was checked "
            f"on; attest {version} again with this prov"
        )
    require_extends(store, log, path)
    return log


def _require_released_statement(facts: dict, stmt: dict, path: str, version: str) -> None:
    """Raise VerificationError (exit 1) unless the attestation's signed ``versionStatement`` digest is that of
    ``stmt``, the version's verified statement in the store (``version_facts.statement_digest``): the Merkle root
    alone leaves the labels, classes and schema to whoever holds a commit key, who could re-sign them after the
    release (attack review 35l, A35l-3). An attestation written before it signed the digest is refused too."""
    from provenance.version_facts import statement_digest

    signed = facts.get("versionStatement")
    digest = signed.get("sha256") if isinstance(signed, dict) else None
    if digest is None:
        raise VerificationError(
            f"{path}: written by an older prov: it signs {version}'s Merkle root but not its signed statement "
            f"(labels, classes, schema); attest {version} again with 'prov check --attest' and verify the new file"
        )
    if digest != statement_digest(stmt):
        raise VerificationError(
            f"{path}: released another signed statement of {version} than the store holds (its labels, classes or "
            "schema were signed again since, by whoever holds a commit key): check who holds that key"
        )


def _require_log_matches_checkpoints(store: Store, pins, path: str, kept: Sequence[str] = ()) -> None:
    """The store's audit log against every checkpoint in it signed by a key the verifier knows, as ``prov audit
    verify`` and the gate's integrity rule check it. A ``.prov/`` writer who cleared a revocation's row and its
    audit entry left a checkpoint that no longer matches: the release's lineage is then judged on a log that lost
    entries, so the attestation is refused (attack review 13, V13-1). ``kept``: log state files kept outside the
    store (``kept_log_head``: signed by a pinned maintainer key or the pinned ``attest`` role, else refused), which
    the log must extend too: one who also deleted the checkpoints over the revocation is caught only by those
    (attack review 13b, V13b-1). Raises VerificationError (exit 1), InputError (exit 2) for a kept file that is no
    log state."""
    from provenance.store.coverage import verify_log

    maintainers, held = pins.maintainer_keys(store), trusted_keys(store, pins.known_keys(store))
    heads = [h for h in (kept_log_head(store, f, held) for f in kept) if h is not None]  # any pinned key's (A14-4)
    try:
        verify_log(store, maintainers, heads, pins.known_keys(store), pins.retired_keys(store))
    except VerificationError as exc:
        against = "its signed checkpoints" + (f" and the log state kept in {', '.join(kept)}" if kept else "")
        raise VerificationError(
            f"{path}: the store's audit log does not match {against} ({exc}), so what it says about "
            "revoked keys cannot be relied on (prov audit verify names the break)"
        ) from exc


def not_attested_now(store: Store, version: str) -> list[dict]:
    """The batches whose records ``version`` signed as attested and that attest nothing under the pins now
    (a revoked source key), with their record counts: ``version_show.lineage_under_pins``'s judgement."""
    from provenance.version_facts import verified_statement
    from provenance.version_show import lineage_under_pins

    lineage = (verified_statement(store, store.version(version)).get("predicate") or {}).get("lineage")
    judged = lineage_under_pins(store, version, lineage if isinstance(lineage, dict) else {})
    return list(judged.get("lineage_not_trusted") or [])


def revoked_warning(release: object, version: str, not_trusted: list[dict]) -> str:
    """One line for a training job: the release holds records no longer attested, which batches, why, and what to do
    (release a version committed since: the version's signed lineage is what names the revoked batches, so a new
    attestation of the same version would warn again)."""
    from provenance.lineage.standing import not_trusted_line

    lines = "; ".join(not_trusted_line(item) for item in not_trusted)
    return (
        f"release {release} ({version}) holds records no longer attested under your pins: {lines}; "
        f"before training on them, commit the data again (prov commit) and check and attest that version "
        f"(prov check --attest): a new attestation of {version} holds them too, as its lineage is signed in it; "
        "in the new version, records their source signed again with a trusted key (prov add) are attested, "
        "the rest count as unattributed"
    )
