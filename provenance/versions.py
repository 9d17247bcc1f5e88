"""Versions: commit a dataset as a signed manifest, and verify one against its data again."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from provenance import clock, keys, signing
from provenance.errors import InputError, VerificationError
from provenance.manifest import Manifest
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec, HashedDataset
from provenance.store import audit
from provenance.store.store import Store

PREDICATE_TYPE = "https://prov.dev/dataset-version/v1"
_MAX_LISTED = 20


def _portable(spec: DatasetSpec, store: Store) -> DatasetSpec:
    """Keep local paths relative to the store's folder, so a moved project still verifies."""
    base = str(store.base.resolve())
    if "://" in spec.path:  # an fsspec URL names its data wherever the store is
        return spec
    if spec.rev is not None:
        from provenance.sources.dvc import normalise

        spec = normalise(spec)
        if spec.repo == base or spec.repo.startswith(base + os.sep):
            spec = replace(spec, repo=os.path.relpath(spec.repo, base))
        return spec
    path = os.path.abspath(spec.path)
    if path == base or path.startswith(base + os.sep):
        path = os.path.relpath(path, base)
    labels = spec.labels_csv
    if labels and os.path.abspath(labels).startswith(base + os.sep):
        labels = os.path.relpath(os.path.abspath(labels), base)
    return replace(spec, path=path, labels_csv=labels)


def _local(spec: DatasetSpec, store: Store) -> DatasetSpec:
    if "://" in spec.path:
        return spec
    if spec.rev is not None:
        return replace(spec, repo=str(store.base / spec.repo)) if spec.repo and not os.path.isabs(spec.repo) else spec
    if os.path.isabs(spec.path):
        return spec
    labels = spec.labels_csv
    if labels and not os.path.isabs(labels):
        labels = str(store.base / labels)
    return replace(spec, path=str(store.base / spec.path), labels_csv=labels)


def predicate(
    tag: str, hashed: HashedDataset, parent: dict | None, audit_head: str, manifest_oid: str, spec: DatasetSpec
) -> dict:
    m = hashed.manifest
    return {
        "version": tag,
        "records": len(m),
        "labels": m.label_counts(),
        "sources": m.source_counts(),
        "schema": {
            "kind": hashed.kind,
            "columns": hashed.columns,
            "digestAlgorithm": m.digest_algorithm,
            "labelColumn": spec.options.label_column if hashed.kind == "table" else None,
        },
        "parent": {"version": parent["tag"], "merkleRoot": parent["merkle_root"]} if parent else None,
        "featurizer": None,
        "auditLogHead": audit_head,
        "manifest": {"sha256": manifest_oid, "mediaType": "application/vnd.apache.parquet"},
        "createdAt": clock.now_iso(),
    }


@dataclass
class CommitResult:
    tag: str
    parent: str | None
    records: int
    merkle_root: str
    keyid: str
    manifest_object: str
    envelope_object: str
    key_registered: bool
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "extra"} | self.extra


def commit(
    store: Store, spec: DatasetSpec, tag: str, key_path: str, parent: str | None = None, executor=None, hooks=()
) -> CommitResult:
    """Read, hash, sign and record one version. Checks cheap things before reading data."""
    if not tag or any(c.isspace() or ord(c) < 32 for c in tag):
        raise InputError(f"tag {tag!r}: must be non-empty with no spaces or control characters")
    if store.db.execute("select 1 from versions where tag = ?", [tag]).fetchone():
        raise InputError(f"{store.root}: version {tag!r} already exists; choose a new tag")
    default_parent = parent is None
    parent = parent if parent is not None else store.latest_version()
    parent_row = store.version(parent) if parent else None
    private = keys.load_private(key_path)
    keyid = keys.key_id(private.public_key())
    revoked = store.db.execute(
        "select revoked_at from keys where keyid = ? and revoked_at is not null", [keyid]
    ).fetchone()
    if revoked:
        raise VerificationError(f"{key_path}: key {keyid[:16]} was revoked at {revoked[0]}; it cannot sign versions")

    hashed = build_manifest(spec, executor=executor)
    # A manifest built by the external sort is already a file: stream it into the store.
    manifest_bytes = (
        Path(hashed.manifest.path) if getattr(hashed.manifest, "path", None) else hashed.manifest.to_bytes()
    )
    portable = _portable(spec, store)
    dataset = json.dumps(portable.to_dict(), sort_keys=True)
    with store.write():
        # Again under the lock: another process may have committed while we were hashing.
        if store.db.execute("select 1 from versions where tag = ?", [tag]).fetchone():
            raise InputError(f"{store.root}: version {tag!r} already exists; choose a new tag")
        if default_parent:
            parent = store.latest_version()
            parent_row = store.version(parent) if parent else None
        manifest_oid = store.put_object(manifest_bytes, "parquet")
        _, head = store.audit_head()
        pred = predicate(tag, hashed, parent_row, head, manifest_oid, spec)
        for hook in hooks:  # later stages (lineage, profiles) add facts to the predicate
            hook(store, tag, hashed, pred)
        stmt = signing.statement(tag, hashed.manifest.root, PREDICATE_TYPE, pred)
        envelope = signing.sign(stmt, private)
        envelope_oid = store.put_object(signing.canonical_json(envelope), "json")
        registered = False
        if not store.db.execute("select 1 from keys where keyid = ?", [keyid]).fetchone():
            registered_at = clock.now_iso()
            store.db["keys"].insert(
                {
                    "keyid": keyid,
                    "name": Path(key_path).stem,
                    "public_pem": keys.public_pem(private.public_key()),
                    "registered_at": registered_at,
                }
            )
            store.audit("key.register", keyid, {"name": Path(key_path).stem, "registered_at": registered_at})
            registered = True
        store.audit(
            "commit",
            tag,
            {
                "merkle_root": hashed.manifest.root.hex(),
                "manifest": manifest_oid,
                "envelope": envelope_oid,
                "keyid": keyid,
                "parent": parent,
                "dataset": dataset,
            },
        )
        seq, _ = store.audit_head()
        store.db["versions"].insert(
            {
                "tag": tag,
                "parent": parent,
                "created_at": pred["createdAt"],
                "merkle_root": hashed.manifest.root.hex(),
                "records": len(hashed.manifest),
                "manifest_object": manifest_oid,
                "envelope_object": envelope_oid,
                "keyid": keyid,
                "dataset": dataset,
                "kind": hashed.kind,
                "audit_seq": seq,
            }
        )
    return CommitResult(
        tag, parent, len(hashed.manifest), hashed.manifest.root.hex(), keyid, manifest_oid, envelope_oid, registered
    )


# --- reading back --------------------------------------------------------------------


def load_manifest(store: Store, row: dict) -> Manifest:
    data = store.objects.get(row["manifest_object"], f"manifest of {row['tag']}")
    manifest = Manifest.from_bytes(data, f"manifest of {row['tag']}")
    if manifest.root.hex() != row["merkle_root"]:
        raise VerificationError(f"manifest of {row['tag']}: Merkle root does not match the version record")
    return manifest


def verified_statement(store: Store, row: dict) -> dict:
    """The version's signed statement, after checking signature, key, subject and manifest."""
    data = store.objects.get(row["envelope_object"], f"envelope of {row['tag']}")
    env = signing.parse_envelope(data, f"envelope of {row['tag']}")
    trusted = store.trusted_keys()
    if row["keyid"] not in trusted:
        raise VerificationError(f"version {row['tag']}: its key {row['keyid'][:16]} is not a registered, unrevoked key")
    verified = signing.verify(env, {row["keyid"]: trusted[row["keyid"]]}, f"envelope of {row['tag']}")
    stmt = verified.statement
    if signing.subject_root(stmt).hex() != row["merkle_root"]:
        raise VerificationError(f"version {row['tag']}: signed Merkle root differs from the version record")
    pred = stmt.get("predicate", {})
    if pred.get("version") != row["tag"] or stmt["subject"][0].get("name") != row["tag"]:
        raise VerificationError(f"version {row['tag']}: envelope was signed for version {pred.get('version')!r}")
    if pred.get("manifest", {}).get("sha256") != row["manifest_object"]:
        raise VerificationError(f"version {row['tag']}: signed manifest digest differs from the version record")
    parent = pred.get("parent") or {}
    if parent.get("version") != row["parent"]:
        raise VerificationError(
            f"version {row['tag']}: signed parent {parent.get('version')!r} differs from {row['parent']!r}"
        )
    return stmt


def _record_changes(signed: Manifest, current: Manifest) -> dict[str, list[dict]]:
    """Records added, removed and relabeled between a signed manifest and the data now."""

    def index(m: Manifest) -> dict[bytes, tuple[set[str], list[str]]]:
        out: dict[bytes, tuple[set[str], list[str]]] = {}
        for d, label, loc in zip(m.digests, m.labels, m.table.column("locator").to_pylist()):
            labels, locs = out.setdefault(d, (set(), []))
            labels.add(label)
            locs.append(loc)
        return out

    old, new = index(signed), index(current)
    changes: dict[str, list[dict]] = {"added": [], "removed": [], "relabeled": []}
    for d in sorted(new.keys() - old.keys()):
        changes["added"].append({"digest": d.hex(), "labels": sorted(new[d][0]), "locators": new[d][1]})
    for d in sorted(old.keys() - new.keys()):
        changes["removed"].append({"digest": d.hex(), "labels": sorted(old[d][0]), "locators": old[d][1]})
    for d in sorted(old.keys() & new.keys()):
        if old[d][0] != new[d][0]:
            changes["relabeled"].append(
                {"digest": d.hex(), "old": sorted(old[d][0]), "new": sorted(new[d][0]), "locators": new[d][1]}
            )
    return changes


def _change_line(kind: str, c: dict) -> str:
    where = ", ".join(c["locators"][:3])
    if kind == "relabeled":
        return f"relabeled {c['digest'][:16]} at {where}: {'/'.join(c['old'])} -> {'/'.join(c['new'])}"
    return f"{kind} {c['digest'][:16]} at {where} (label {'/'.join(c['labels'])})"


def change_records(changes: dict[str, list[dict]]) -> list[dict]:
    """Every changed record as ``{"digest", "kind", "detail"}``, for reports that name records."""
    return [
        {"digest": c["digest"], "kind": kind, "detail": _change_line(kind, c)}
        for kind in ("added", "removed", "relabeled")
        for c in changes[kind]
    ]


def describe_changes(changes: dict[str, list[dict]], limit: int = _MAX_LISTED) -> list[str]:
    lines = []
    for kind in ("added", "removed", "relabeled"):
        lines += [_change_line(kind, c) for c in changes[kind][:limit]]
        if len(changes[kind]) > limit:
            lines.append(f"... and {len(changes[kind]) - limit} more {kind}")
    return lines


def verify_version(store: Store, tag: str, read_data: bool = True, executor=None) -> dict:
    """Check signature, objects and audit anchor; then re-read the data and compare every digest."""
    row = store.version(tag)
    stmt = verified_statement(store, row)
    manifest = load_manifest(store, row)
    head = stmt["predicate"].get("auditLogHead")
    known = {e["hash"] for e in audit.entries(store.db)} | {audit.GENESIS}
    if head not in known:
        raise VerificationError(
            f"version {tag}: the audit-log head it signed is not in the audit log (history rewritten?)"
        )
    report = {
        "version": tag,
        "records": len(manifest),
        "merkle_root": row["merkle_root"],
        "keyid": row["keyid"],
        "signature": "ok",
        "manifest": "ok",
        "data": "not read",
    }
    if not read_data:
        return report
    try:
        spec = _local(DatasetSpec.from_dict(json.loads(row["dataset"])), store)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise VerificationError(
            f"version {tag}: its stored dataset description is damaged ({exc}); run `prov fsck`"
        ) from exc
    try:
        current = build_manifest(spec, executor=executor)
    except InputError as exc:
        raise VerificationError(f"version {tag}: cannot read its data again: {exc}") from exc
    current_manifest = current.manifest
    if current_manifest.root != manifest.root:
        changes = _record_changes(manifest, current_manifest)
        counts = {k: len(v) for k, v in changes.items()}
        raise VerificationError(
            f"version {tag}: data at {spec.path} no longer matches its signed manifest "
            f"({counts['added']} added, {counts['removed']} removed, {counts['relabeled']} relabeled)",
            describe_changes(changes),
            records=change_records(changes),
        )
    report["data"] = "ok"
    return report


def verify_audit(store: Store) -> tuple[int, str]:
    """Walk the hash chain, then check each version's commit entry and signed head are in it."""
    seq, head = audit.verify_chain(store.db)
    known = {e["hash"] for e in audit.entries(store.db)} | {audit.GENESIS}
    for row in store.versions():
        stmt = verified_statement(store, row)
        if stmt["predicate"].get("auditLogHead") not in known:
            raise VerificationError(
                f"audit log is broken: version {row['tag']} signed a head that is no longer in the log"
            )
        entry = store.db.execute("select action, subject from audit where seq = ?", [row["audit_seq"]]).fetchone()
        if entry is None or entry[0] != "commit" or entry[1] != row["tag"]:
            raise VerificationError(f"audit log is broken: the commit entry of version {row['tag']} is missing")
    return seq, head


def register_key(store: Store, public_path: str, name: str) -> dict:
    """Add a public key to the store's registered keys (audit-logged); refuse a revoked one."""
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
        store.db["keys"].insert(
            {"keyid": keyid, "name": name, "public_pem": keys.public_pem(public), "registered_at": clock.now_iso()}
        )
        store.audit("key.register", keyid, {"name": name})
    return {"keyid": keyid, "name": name, "registered": True}
