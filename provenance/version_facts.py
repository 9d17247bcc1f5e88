"""A committed version read back: its signed statement (checked), its manifest, and where its data is.

Everything that reads a version (verify, diff, lineage, profiles, detectors, the gate)
starts here, so each relies only on facts under the version's signature: the statement
is verified before use, and the manifest must have the Merkle root the version signed.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace

from provenance import signing
from provenance.errors import VerificationError
from provenance.manifest import Manifest
from provenance.sources.interface import DatasetSpec
from provenance.store.store import Store


def load_manifest(store: Store, row: dict) -> Manifest:
    """The manifest of the version ``row`` (a ``versions`` table row), checked against its Merkle root.

    Raises ``VerificationError`` if the object is missing, damaged, or has another root.
    """
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
    try:
        return local_spec(DatasetSpec.from_dict(json.loads(row["dataset"])), store)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise VerificationError(
            f"version {row['tag']}: its stored dataset description is damaged ({exc}); run `prov fsck`"
        ) from exc
