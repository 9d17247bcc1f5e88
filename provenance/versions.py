"""Versions: commit a dataset as a signed manifest with its stages (verifying one again: ``version_verify``).

A commit hashes every record, then runs its stages (per-record lineage, the reference
profile) in two phases: each *prepares* with no store lock held, then one short write
under the lock re-checks the tag, the parent and the signing key, records what every
stage prepared, signs the in-toto statement and inserts the version. The same happens
whether the commit comes from Python or from ``prov commit``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance import clock, keys, progress, signing
from provenance.commit_checks import (
    refuse_existing,
    refuse_nothing_pinned,
    refuse_revoked_key,
    refuse_unpinned_key,
    refuse_unvouched,
    validate_message,
    validate_tag,
    verified_parent,
)
from provenance.errors import InputError, VerificationError
from provenance.profiles.sample import NONCE_BYTES, salt_from_signature, salt_message
from provenance.sources.build import build_manifest
from provenance.sources.facts import signed_facts
from provenance.sources.interface import DatasetSpec, HashedDataset
from provenance.stages import CommitJob, CommitStage
from provenance.store import identity
from provenance.store.checkpoints import CheckpointKey, register_signing_key
from provenance.store.log_state import current
from provenance.store.store import Store
from provenance.trust import statements
from provenance.trust.pins import pins_of
from provenance.version_facts import (
    PREDICATE_TYPE,
    first_id_commit,
    load_manifest,
    newest_version,
    portable_spec,
    verified_statement,
)
from provenance.version_verify import verify_audit, verify_version

if TYPE_CHECKING:
    from provenance.features.registry import FeaturizerSpec
    from provenance.kept_log import KeptLog

# The default stages (lineage, the reference profile and its featurisers) are imported when a
# commit builds them: `prov verify` and `prov show` use this module without them (~25 ms).
AUTO = "auto"  # the profile's default featuriser: provenance.profiles.featurize.AUTO

STAGE_NAMES = {"LineageStage": "lineage", "ProfileStage": "reference profile"}  # as progress shows them


def predicate(
    tag: str,
    hashed: HashedDataset,
    parent: dict | None,
    audit_head: str,
    manifest_oid: str,
    spec: DatasetSpec,
    dataset: dict | None = None,
) -> dict:
    """The signed facts of a new version (the in-toto predicate, ``schemas/version-statement.schema.json``).

    ``parent`` is the parent's ``versions`` row (or None), ``audit_head`` the audit log's
    head hash (hex) the version anchors to, ``manifest_oid`` the manifest object's name
    (hex SHA-256 of its Parquet bytes). ``createdAt`` is now, ISO 8601 UTC.

    ``dataset`` is where and how the data is read (``DatasetSpec.to_dict()`` with paths
    relative to the store's folder): signed, so ``prov verify`` re-reads exactly what was
    committed, never a location someone wrote into the store later. Stages add
    ``lineage``, ``profile`` and ``featurizer`` to it before it is signed.
    """
    m = hashed.manifest
    facts = signed_facts(hashed)  # schema with types, label type and classes; the file listing
    return {
        "version": tag,
        "records": len(m),
        "labels": m.label_counts(),
        "sources": m.source_counts(),
        "schema": facts["schema"],
        **({"listing": facts["listing"]} if "listing" in facts else {}),
        "parent": {"version": parent["tag"], "merkleRoot": parent["merkle_root"]} if parent else None,
        "featurizer": None,
        "auditLogHead": audit_head,
        "manifest": {"sha256": manifest_oid, "mediaType": "application/vnd.apache.parquet"},
        "dataset": dataset if dataset is not None else spec.to_dict(),
        "createdAt": clock.now_iso(),
    }


@dataclass
class CommitResult:
    """What a commit made (``schemas/commit.schema.json``); digests and object names are hex SHA-256.

    ``merkle_root`` is the manifest's RFC 6962 root; ``keyid`` the committer's key id;
    ``key_registered`` is true when this commit registered the committer's public key.
    """

    tag: str
    parent: str | None
    records: int
    merkle_root: str
    keyid: str
    manifest_object: str
    envelope_object: str
    key_registered: bool
    lineage: dict | None = None  # the signed lineage counts and object, if the lineage stage ran
    profile: dict | None = None  # the signed profile facts (status "ok" or "unavailable" with a reason)
    featurizer: str | None = None  # identity of the profile's featuriser
    # the featuriser spec the commit was given or carried, options as given (signed featurizerRequested; None: automatic)
    featurizer_requested: dict | None = None
    message: str | None = None  # the signed commit message, if one was given
    identical_to: str | None = None  # the parent, when the data is the parent's record for record (same root)
    # what the commit took from the parent's signed read options and featuriser (commit_defaults.commit_on_parent)
    from_parent: dict | None = None
    retype_note: str | None = None  # why records are unattributed: trusted signed batches signed other column types
    # the columns whose type changed since the parent, as prov diff names them (newcomer review 29)
    schema_note: str | None = None
    # the parent's numeric feature columns this version's profile no longer reads, and why (newcomer review 27, #4)
    features_note: str | None = None
    # content columns the automatic numeric featuriser left out as not numeric, and how to include one (review 30, #6)
    unfeatured_note: str | None = None
    # the checkpoint written outside .prov/ (--checkpoint-out): {"path", "treeSize", "rootHash", "keyid"}
    checkpoint_out: dict | None = None
    # the first commit to sign a store id: how many logged trust entries naming no store it signs over (17b)
    id_less_trust_entries: int = 0
    # the kept log states (--checkpoint PREV) the audit log was found to extend before signing: [{"path", "treeSize"}]
    extends: list[dict] | None = None
    # the audit log as this commit's write left it, its commit entry last: {"treeSize", "rootHash", "headHash"}
    log_state: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-able data (``prov commit --json``)."""
        return asdict(self)


def default_stages(featurizer: str | FeaturizerSpec = AUTO) -> list[CommitStage]:
    """The stages every commit runs unless told otherwise: per-record lineage, then the reference profile.

    ``featurizer`` is ``"auto"`` (numeric columns / image pixels), a registry name, or a
    :class:`~provenance.features.registry.FeaturizerSpec`.
    """
    from provenance.lineage.lineage_stage import LineageStage
    from provenance.profiles.stage import ProfileStage

    return [LineageStage(), ProfileStage(featurizer)]


@first_id_commit()  # this commit may be the store's first to sign its id: its parent may be from before ids
def commit(
    store: Store,
    spec: DatasetSpec,
    tag: str,
    key_path: str | Path,
    parent: str | None = None,
    *,
    executor: Any = None,
    featurizer: str | FeaturizerSpec = AUTO,
    stages: Sequence[CommitStage] | None = None,
    message: str | None = None,
    kept_log: KeptLog | None = None,
    allow_empty: bool = False,
) -> CommitResult:
    """Read, hash, sign and record one version with its stages; what ``prov commit`` does.

    ``spec`` says where and how to read the data; ``key_path`` is the committer's Ed25519
    private key (PKCS#8 PEM); ``parent`` defaults to the latest version *at the moment of
    recording*, read from the hash-chained audit log (:func:`newest_version`: ``VerificationError`` when
    that version's row is missing or does not verify, never an older one); ``executor`` runs the hashing
    (local processes or Dask; default local).
    ``stages`` default to :func:`default_stages` (``featurizer`` picks the profile's
    featuriser); pass ``[]`` for a bare signed manifest (detection then refuses it).
    ``message`` (``prov commit -m``) is signed into the version's predicate. Data identical
    to the parent's (same Merkle root) still makes the version; the result's
    ``identical_to`` then names the parent. ``kept_log`` (``--checkpoint PREV``: ``kept_log.KeptLog.check``,
    made by the caller before any work) is checked again first thing under the lock
    (``KeptLog.require_held``): a log cut while the data was hashed is never signed (attack review 18, F18-2);
    its ``--checkpoint-out`` is written once the write has committed, before the lock is released
    (``KeptLog.keeper``; the caller's ``KeptLog.finish`` reports it or raises its failure).
    Data with no records is ``InputError`` naming the path unless ``allow_empty`` (``prov commit --allow-empty``):
    an emptied file is more often a failed export than a meant version (newcomer review 27, finding 5).

    Cheap checks run before any data is read. Stages prepare with no lock held; the
    write lock is then taken once, for re-checks and recording only: if another commit
    took ``tag`` meanwhile that is ``InputError``; if the key was revoked meanwhile,
    ``VerificationError``; a default parent is re-read; lineage is classified again if
    batches were added or keys revoked meanwhile. Raises ``InputError`` (exit 2) for bad
    input, ``VerificationError`` (exit 1), ``StoreError`` (exit 3; ``StoreBusyError``
    when the lock is not free within ``PROV_LOCK_TIMEOUT`` seconds, or a read-only store,
    checked before any data is read); ``KeyFileError`` (exit 2) for the key file. On any
    failure the store is left as it was.
    """
    validate_tag(tag)
    validate_message(message)
    refuse_existing(store, tag)
    store.require_writable()  # before hours of hashing, not at the final write
    if parent is not None:
        store.version(parent)  # an unknown parent is an input error before any reading
    private = keys.load_private(key_path)
    keyid = keys.key_id(private.public_key())
    refuse_revoked_key(store, keyid, key_path)
    refuse_unpinned_key(store, keyid, key_path)
    # a hidden or unverifiable parent fails before any reading, not after
    salted_by = parent if parent is not None else newest_version(store, "--parent")
    # The profile sample is keyed by a salt only the committer's key draws (its deterministic signature
    # of the parent's Merkle root and the tag): a source cannot grind its records into it (profiles.sample).
    salt_parent = bytes.fromhex(verified_parent(store, salted_by)["merkle_root"]) if salted_by else None
    identity.expected(store)  # a log and versions that disagree on the store id: named as the cause, first
    refuse_unvouched(store)  # a planted version entry is refused before hours of hashing, not only at the write
    salt_nonce = os.urandom(NONCE_BYTES)  # signed into the facts: no two commits draw one salt (S11-1)
    salt_signature = private.sign(salt_message(salt_parent, tag, salt_nonce))
    sample_salt = salt_from_signature(salt_signature)
    stages = default_stages(featurizer) if stages is None else list(stages)

    if spec.rev is not None:  # HEAD or a branch moves: hash, and store, the one commit it names now
        from provenance.sources.dvc import pin_revision  # subprocess and DVC only for --rev

        spec = pin_revision(spec)
    hashed = build_manifest(spec, executor=executor, sample_salt=sample_salt)
    if not len(hashed.manifest) and not allow_empty:
        raise InputError(
            f"{spec.path}: no records; an empty version is committed only on purpose (prov commit --allow-empty)"
        )
    prepared = []
    for commit_stage in stages:
        with progress.stage(STAGE_NAMES.get(type(commit_stage).__name__, type(commit_stage).__name__), unit="steps"):
            job = CommitJob(store, tag, hashed, spec, sample_salt, salt_signature, salt_parent, salt_nonce)
            prepared.append(commit_stage.prepare(job))
    # A manifest built by the external sort is already a file: stream it into the store.
    path = getattr(hashed.manifest, "path", None)
    manifest_bytes: bytes | Path = Path(path) if path else hashed.manifest.to_bytes()
    portable = portable_spec(spec, store).to_dict()
    dataset = json.dumps(portable, sort_keys=True)
    root = hashed.manifest.root.hex()
    # the commit ends by signing an audit checkpoint with the committer's key: nothing it logged is left pending
    # with --checkpoint-out, the state after it is kept before the lock is released (KeptLog.keeper; F19b-1)
    keep = kept_log.keeper(tag) if kept_log is not None else None
    with store.write(CheckpointKey(private, Path(key_path).stem), keep):
        # Again under the lock: another process may have committed, revoked or cut the log meanwhile.
        if kept_log is not None:
            kept_log.require_held(store)
        refuse_existing(store, tag)
        refuse_revoked_key(store, keyid, key_path)
        if parent is None:
            parent = newest_version(store, "--parent")
        parent_row = verified_parent(store, parent) if parent else None
        # the external sort's manifest file is this commit's own (a private temporary folder): linked, not copied
        manifest_oid = store.put_object(manifest_bytes, "parquet", owned=path is not None)
        pred = predicate(tag, hashed, parent_row, "", manifest_oid, spec, portable)
        if message is not None:
            pred["message"] = message
        first_id = identity.expected(store).first  # no version signs an id yet: this one is the first
        pred["store"] = identity.ensure(store)  # which store the version is of (attack review 16c, C16-2)
        id_less = len(statements.id_less_entries(store, pins_of(store).role_keys("commit", store))) if first_id else 0
        for stage in prepared:
            stage.record(store, tag, pred)
        # the record-level change against the parent, as prov diff merges it (lineage sources included), signed
        # so prov diff PARENT TAG reads it instead of both manifests (delta.signed_delta); under the lock, after
        # the lineage stage recorded the object it names records by
        delta_oid = _record_delta(store, parent_row, tag, manifest_oid, len(hashed.manifest), pred)
        pred["auditLogHead"] = store.audit_head()[1]  # after the stages' own audit entries
        envelope = signing.sign(signing.statement(tag, hashed.manifest.root, PREDICATE_TYPE, pred), private)
        envelope_oid = store.put_object(signing.canonical_json(envelope), "json")
        registered = _register_committer(store, keyid, private, key_path)
        store.audit(
            "commit",
            tag,
            {
                "merkle_root": root,
                "manifest": manifest_oid,
                "envelope": envelope_oid,
                "keyid": keyid,
                "parent": parent,
                "dataset": dataset,
                **({"delta": delta_oid} if delta_oid else {}),  # so fsck and gc count the object as referenced
            },
        )
        seq, _ = store.audit_head()
        store.db.table("versions").insert(
            {
                "tag": tag,
                "parent": parent,
                "created_at": pred["createdAt"],
                "merkle_root": root,
                "records": len(hashed.manifest),
                "manifest_object": manifest_oid,
                "envelope_object": envelope_oid,
                "keyid": keyid,
                "dataset": dataset,
                "kind": hashed.kind,
                "audit_seq": seq,
            }
        )
        log_state = current(store).to_dict()  # what a state kept after this write must extend (F18-2)
    return CommitResult(
        tag,
        parent,
        len(hashed.manifest),
        root,
        keyid,
        manifest_oid,
        envelope_oid,
        registered,
        pred.get("lineage"),
        pred.get("profile"),
        pred.get("featurizer"),
        pred.get("featurizerRequested"),
        message,
        parent if parent_row is not None and parent_row["merkle_root"] == root else None,
        id_less_trust_entries=id_less,
        log_state=log_state,
    )


def _record_delta(store: Store, parent_row: dict | None, tag: str, manifest_oid: str, records: int, pred: dict):
    """Inside the write: store the delta object against the verified parent and name it in ``pred``; its name, or None."""
    if parent_row is None:
        return None
    from provenance.delta.signed_delta import for_commit

    row = {"tag": tag, "manifest_object": manifest_oid, "records": records}
    made = for_commit(store, parent_row, row, pred)
    if made is None:  # a change too large to be worth one: a diff merges both manifests
        return None
    data, fact = made
    oid = store.put_object(data, "parquet")
    pred["delta"] = {**fact, "sha256": oid}
    return oid


def _register_committer(store: Store, keyid: str, private: Any, key_path: str | Path) -> bool:
    """Inside the write: register the committer's public key on its first commit (audit-logged)."""
    return register_signing_key(store, private, Path(key_path).stem)


def register_key(store: Store, public_path: str | Path, name: str, kept_log: KeptLog | None = None) -> dict:
    """Add a public key to the store's registered keys (audit-logged); refuse a revoked one.

    ``public_path`` is an Ed25519 public key (SubjectPublicKeyInfo PEM); ``name`` a label
    for people (non-empty, no control characters). A registered key is only the store's
    cache: verifiers that pin keys do not count it.
    Returns ``{"keyid": hex, "name": name, "registered": bool}`` (false if it already was).
    Raises ``InputError`` for a bad key file (``KeyFileError``) or name, ``VerificationError``
    for a revoked key, ``StoreError`` (exit 3) for a read-only or busy store. ``kept_log``
    (``--checkpoint PREV``: ``kept_log.KeptLog.held``) is checked again first thing inside the write:
    ``VerificationError`` (exit 1, nothing written) when the audit log no longer holds one of its states.
    """
    public = keys.load_public(public_path)
    keyid = keys.key_id(public)
    if not name.strip() or any(ord(c) < 32 for c in name):
        raise InputError(f"--name {name!r}: must be non-empty, without control characters")
    row = store.db.execute("select revoked_at from keys where keyid = ?", [keyid]).fetchone()
    if row and row[0]:
        raise VerificationError(f"{public_path}: key {keyid[:16]} was revoked at {row[0]}")
    if row:
        return {"keyid": keyid, "name": name, "registered": False}
    with store.write():
        if kept_log is not None:  # again under the lock: a log cut meanwhile is not extended
            kept_log.require_held(store)
        if store.db.execute("select 1 from keys where keyid = ?", [keyid]).fetchone():
            return {"keyid": keyid, "name": name, "registered": False}  # registered meanwhile
        store.db.table("keys").insert(
            {"keyid": keyid, "name": name, "public_pem": keys.public_pem(public), "registered_at": clock.now_iso()}
        )
        store.audit("key.register", keyid, {"name": name})
    return {"keyid": keyid, "name": name, "registered": True}


# verify_version and verify_audit are version_verify's, load_manifest, newest_version and verified_statement
# version_facts', validate_tag, validate_message, refuse_existing and refuse_nothing_pinned commit_checks';
# named here for the modules and tests that import them from versions
__all__ = [
    "CommitResult",
    "commit",
    "default_stages",
    "load_manifest",
    "newest_version",
    "predicate",
    "refuse_existing",
    "refuse_nothing_pinned",
    "register_key",
    "validate_message",
    "validate_tag",
    "verified_statement",
    "verify_audit",
    "verify_version",
]
