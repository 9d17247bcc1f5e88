"""A committed version read back: its signed statement (checked), its manifest, and where its data is.

Everything that reads a version (verify, diff, lineage, profiles, detectors, the gate)
starts here, so each relies only on facts under the version's signature: the statement
is verified before use, and the manifest must have the Merkle root the version signed.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from provenance import signing
from provenance.errors import VerificationError
from provenance.store.store import Store

if TYPE_CHECKING:  # imported where used: `prov log` and `prov show` need neither numpy nor pyarrow
    from provenance.manifest import Manifest
    from provenance.sources.interface import DatasetSpec


def is_version(store: Store, name: str) -> bool:
    """Whether the store has a version called ``name``."""
    return store.db.execute("select 1 from versions where tag = ?", [name]).fetchone() is not None


def load_manifest(store: Store, row: dict) -> Manifest:
    """The manifest of the version ``row`` (a ``versions`` table row), checked against its Merkle root.

    Raises ``VerificationError`` if the object is missing, damaged, or has another root.
    """
    from provenance.manifest import Manifest

    data = store.objects.get(row["manifest_object"], f"manifest of {row['tag']}")
    manifest = Manifest.from_bytes(data, f"manifest of {row['tag']}")
    if manifest.root.hex() != row["merkle_root"]:
        raise VerificationError(f"manifest of {row['tag']}: Merkle root does not match the version record")
    return manifest


def verified_statement(store: Store, row: dict) -> dict:
    """The version's in-toto Statement (a dict), after checking its DSSE signature and what it names.

    Checks the signing key is registered and unrevoked, and that the signed subject
    (Merkle root), version name, manifest digest and parent equal the version's row.
    Raises ``VerificationError`` naming the version and the fact that differs.
    """
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


def portable_spec(spec: DatasetSpec, store: Store) -> DatasetSpec:
    """``spec`` with local paths inside the store's folder made relative to it, so a moved project still verifies.

    fsspec URLs are kept as they are; a DVC revision keeps its repository relative too.
    """
    base = str(store.base.resolve())
    if "://" in spec.path:  # an fsspec URL names its data wherever the store is
        return spec
    if spec.rev is not None:
        from provenance.sources.dvc import normalise

        spec = normalise(spec)
        if spec.repo and (spec.repo == base or spec.repo.startswith(base + os.sep)):
            spec = replace(spec, repo=os.path.relpath(spec.repo, base))
        return spec
    path = os.path.abspath(spec.path)
    if path == base or path.startswith(base + os.sep):
        path = os.path.relpath(path, base)
    labels = spec.labels_csv
    if labels and os.path.abspath(labels).startswith(base + os.sep):
        labels = os.path.relpath(os.path.abspath(labels), base)
    return replace(spec, path=path, labels_csv=labels)


def local_spec(spec: DatasetSpec, store: Store) -> DatasetSpec:
    """The inverse of :func:`portable_spec`: relative paths resolved against the store's folder."""
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


def version_dataset(store: Store, row: dict) -> DatasetSpec:
    """How to read the version ``row``'s data again, with paths resolved against the store's folder.

    Raises ``VerificationError`` if the stored description is damaged.
    """
    from provenance.sources.interface import DatasetSpec

    try:
        return local_spec(DatasetSpec.from_dict(json.loads(row["dataset"])), store)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise VerificationError(
            f"version {row['tag']}: its stored dataset description is damaged ({exc}); run `prov fsck`"
        ) from exc


def version_log(store: Store) -> list[dict]:
    """Every version, oldest first: ``{"tag", "parent", "created_at", "records", "merkle_root", "keyid"}``
    (``prov log --json``; times ISO 8601 UTC, roots and key ids hex). Read from the store, not verified."""
    keep = ("tag", "parent", "created_at", "records", "merkle_root", "keyid")
    return [{k: r[k] for k in keep} for r in store.versions()]


def describe_version(store: Store, tag: str) -> dict:
    """A version's signed facts for people (``prov show V --json``, ``schemas/show.schema.json``).

    The statement is verified first; counts per label and source, schema and lineage
    counts come from the signed predicate. Raises ``InputError`` for an unknown version,
    ``VerificationError`` if its signature or objects do not check out.
    """
    row = store.version(tag)
    pred = verified_statement(store, row)["predicate"]
    info = {
        "version": tag,
        "parent": row["parent"],
        "created_at": row["created_at"],
        "records": row["records"],
        "merkle_root": row["merkle_root"],
        "keyid": row["keyid"],
        "signature": "ok",
        "labels": pred.get("labels", {}),
        "sources": pred.get("sources", {}),
        "schema": pred.get("schema", {}),
        "dataset": json.loads(row["dataset"]),
        "manifest_object": row["manifest_object"],
        "envelope_object": row["envelope_object"],
    }
    info.update(pred.get("lineage") or {})
    return info
