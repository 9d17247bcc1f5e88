"""A version opened for a training job: its signature, manifest, data spec and (when asked) release checked.

``open_signed_version`` checks everything the verifying loader relies on, under the job's pins,
before a record is read, and returns a :class:`SignedVersion`: the facts ``dataset.VerifiedDataset``
reads the data against (``provenance.load`` calls both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from provenance.errors import InputError
from provenance.manifest import Manifest
from provenance.sources.interface import DatasetSpec

if TYPE_CHECKING:
    from provenance.trust.pins import Pins


@dataclass(frozen=True)
class SignedVersion:
    """What the loader relies on, all checked: the version's name, signed statement, manifest and data spec."""

    tag: str
    statement: dict
    manifest: Manifest
    spec: DatasetSpec
    kind: str
    columns: list[str]
    attestation: dict | None = None

    @property
    def merkle_root(self) -> str:
        """The signed Merkle root, hex."""
        return self.manifest.root.hex()


def open_signed_version(
    store_root: str,
    tag: str,
    pins: Pins,
    attestation: str | None = None,
    policy: str | None = None,
    *,
    base: str | None = None,
    release_state: str | None = None,
    min_release: int | None = None,
    fail_on_revoked: bool = False,
    kept_log_states: Sequence[str] = (),
) -> SignedVersion:
    """Open ``tag`` in the store at ``store_root`` and check everything the loader relies on, under ``pins``.

    ``pins`` (the caller's :class:`~provenance.trust.pins.Pins`) must pin something: keys
    cached in the store are whatever whoever can write ``.prov/`` put there, so they are
    never trusted here (``InputError``, exit 2). Then: the version's DSSE signature under
    the commit role and the facts it names (``version_facts.verified_statement``), its
    manifest against the signed Merkle root (``load_manifest``), where the data is and how
    it reads from the *signed* predicate (never from the store's rows), and with
    ``attestation`` (a ``prov check --attest`` file) that a key pinned for the attest role
    released this version (``gate.attestation_verify.verify_attestation``), under ``policy`` (a
    policy file), against ``base``, not older than the release ``release_state`` records
    (updated on success) nor than ``min_release``, each when given, as ``prov verify V
    --attestation A`` checks them; records of the release no longer attested under ``pins`` (a source
    key revoked since) are a ``RuntimeWarning``, or with ``fail_on_revoked`` a ``VerificationError``; the audit
    log must extend each of ``kept_log_states`` (log state files the job keeps outside the store); a
    ``release_state`` file this call created (no earlier release recorded: a mistyped path) is a ``RuntimeWarning``;
    without ``attestation``, a version no release attestation kept in the store names under ``pins`` is an
    ``UnreleasedVersionWarning`` (``loader.unreleased``).
    Raises ``InputError`` (nothing pinned, unknown version, unreadable files, a release option without an attestation) or ``VerificationError`` (a
    signature, manifest or attestation that does not check out).
    """
    from provenance.store.store import Store
    from provenance.version_facts import dataset_from_predicate, load_manifest, verified_statement

    pins.require_trust_decision(f"loading version {tag}")
    release: dict[str, object] = {"policy": policy, "base": base, "release_state": release_state}
    release |= {"min_release": min_release, "fail_on_revoked": fail_on_revoked or None}
    release["kept_log_state"] = list(kept_log_states) or None
    needs = [name for name, value in release.items() if value is not None]
    if needs and attestation is None:
        raise InputError(f"{needs[0]} is checked against a release attestation: give the attestation too")
    store = Store(Path(store_root))
    store.pins = pins
    try:
        row = store.version(tag)
        statement = verified_statement(store, row)
        manifest = load_manifest(store, row)
        checked = None
        if attestation is not None:
            from provenance.gate.attestation_verify import verify_attestation
            from provenance.gate.policy import load as load_policy

            digest = load_policy(policy).digest if policy is not None else None
            checked = verify_attestation(
                store,
                tag,
                attestation,
                policy_digest=digest,
                base=base,
                release_state=release_state,
                min_release=min_release,
                fail_on_revoked=fail_on_revoked,
                kept_log_states=kept_log_states,
            )
            if checked["lineage_not_trusted"]:  # newcomer review 12, finding 3: the job trained on it silently
                import warnings

                from provenance.gate.attestation_verify import revoked_warning

                warnings.warn(
                    revoked_warning(checked["release"], tag, checked["lineage_not_trusted"]), RuntimeWarning, 3
                )
            if (checked.get("release_state") or {}).get("created"):  # newcomer review 13, finding 15
                import warnings

                warnings.warn(
                    f"{release_state}: created; no earlier release was recorded, so nothing older was refused this "
                    "time (check the path if this job has verified releases before)",
                    RuntimeWarning,
                    3,
                )
        else:  # a job that meant a release learnt nothing from a version never released (newcomer review 31)
            from provenance.loader.unreleased import warn_if_unreleased

            warn_if_unreleased(store, tag, 3, first=not (statement.get("predicate") or {}).get("parent"))
        predicate = statement.get("predicate") or {}
        spec = dataset_from_predicate(store, row, predicate)
    finally:
        store.close()
    schema = predicate.get("schema") or {}
    kind = schema.get("kind") or row["kind"]
    return SignedVersion(tag, statement, manifest, spec, kind, list(schema.get("columns") or []), checked)
