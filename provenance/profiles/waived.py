"""The base profile detectors judge a delta by, without the base records a pinned waive key waived.

A record a reviewer waived ("a sensor glitch, harmless") stays in the version, and so in the next version's base
profile, where its value (px00 = 1e38 in a column the base holds at 0) set the column's scale: the winsorised scale
(``profiles.reference.bulk_trimmed``) holds two such records at the bulk's edge, but three waived glitches set it
again and 30 digits carrying a patch trigger then passed (attack review 30b, A30b-2). The principled fix: a waived
record was accepted as an exception, not as what the base's columns look like, so the profile's statistics leave it
out. The profile's statistics are its sample's (``build_version_profile`` summarises the sample), so the profile is
rebuilt from its own sample without the waived records (``build_profile``: centre, scale, neighbours, calibration),
the same function commit ran, deterministic; a base whose sample holds no waived record keeps its profile as signed,
bit for bit (clean data changes nothing).

Only waivers that count: signed by keys the verifier pins for the ``waive`` role (``gate.waiver_judging``), covered
by a signed audit head, naming the base or a version of its signed ancestry (a glitch waived on v2 is still in v3).
With nothing pinned (``prov diff --detect`` or ``prov quarantine`` without ``--signer``) waivers are judged against
the keys found in the store, as that run judges every other signature (and says so): the run judges by the profile
a pinned check judges by when the store's keys are the pinned ones, so its stored run does not read as tampered to
a pinned ``prov findings --recompute``, nor is a pinned check's quarantine step refused (attack review 32c, A32c-3).
A pinned run never takes a store key: its waivers count only under its pins.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from provenance.profiles.reference import ReferenceProfile
    from provenance.store import Store


def waived_records(store: Store, base: str) -> set[tuple[bytes, str]]:
    """``{(digest, label)}`` of the records honoured waivers let back in ``base`` or a version of its signed
    ancestry, judged against the ``waive`` role of the verifier's pins (``store.pins``) and the audit entries a
    trusted signature covers; with nothing pinned, the unrevoked keys found in the store stand for the pins
    (``Pins.role_keys``), as they do for every signature an unpinned run checks.

    An ancestry these pins do not vouch for (a link that does not verify) leaves the base's own waivers only.

    Raises:
        VerificationError: a covered waiver's object is missing (``judge_waivers``).
    """
    from provenance.errors import VerificationError
    from provenance.gate.waiver_judging import judge_waivers
    from provenance.store.coverage import coverage
    from provenance.trust.pins import pins_of
    from provenance.trust.roles import WAIVE
    from provenance.version_facts import signed_ancestry

    pins = pins_of(store)
    if not (store.db["waivers"].exists() and store.db["waivers"].count):
        return set()  # no waiver stored at all: no ancestry walked
    role = pins.role_keys(WAIVE, store)
    trusted = pins.maintainer_keys(store)
    signed = coverage(store, store.trusted_keys() if trusted is None else trusted).signed
    try:
        tags = [row["tag"] for row, _ in signed_ancestry(store, base)]
    except VerificationError:  # an ancestor these pins do not vouch for: its waivers count for nothing here
        tags = [base]
    out: set[tuple[bytes, str]] = set()
    for tag in tags:
        if store.db["waivers"].count_where("version = ?", [tag]):
            waivers = judge_waivers(store, tag, (), role, signed)
            out |= {(bytes.fromhex(digest), str(label)) for digest, _, label in waivers.waived if label is not None}
    return out


def without_waived(profile: ReferenceProfile, waived: set[tuple[bytes, str]]) -> ReferenceProfile:
    """``profile`` rebuilt from its sample without the records in ``waived`` (``{(digest, label)}``), the base's
    counts kept; ``profile`` itself when its sample holds none of them (or would hold nothing else)."""
    from provenance.profiles.copy_index import carried_copy_index
    from provenance.profiles.reference import build_profile

    if not waived:
        return profile
    digests = [bytes(d) for d in profile.sample_digests]
    labels = [profile.classes[i] for i in profile.sample_labels.tolist()]
    keep = np.array([(d, label) not in waived for d, label in zip(digests, labels)], dtype=bool)
    if keep.all() or not keep.any():
        # the statistics stand; the copy index, every base record's, leaves the waived ones out all the same
        carried = carried_copy_index(profile, profile, left_out=waived)
        return profile if carried is profile.copy_index else dataclasses.replace(profile, copy_index_carried=carried)
    # file order as the sample's pseudo-batches give it (batch, then the sample's own order): the batches are cut
    # again from the same order, so a record stays in (about) its batch
    positions = np.lexsort((np.arange(len(keep)), profile.sample_batches))
    rank = np.empty(len(keep), dtype=np.int64)
    rank[positions] = np.arange(len(keep))
    rebuilt = build_profile(
        profile.sample_X[keep],
        [label for label, k in zip(labels, keep) if k],
        [d for d, k in zip(digests, keep) if k],
        featurizer=profile.featurizer,
        max_per_class=profile.max_per_class,
        positions=rank[keep],
        max_total=len(keep),
        featurizer_spec=profile.featurizer_spec,
        copies=profile.sample_copies[keep],
        within_batches=profile.within_batch_copies,
    )
    rebuilt = dataclasses.replace(
        rebuilt,
        n_records=profile.n_records,
        classes=rebuilt.classes,
        class_counts=[profile.class_counts[profile.classes.index(c)] for c in rebuilt.classes],
        source_counts=profile.source_counts,
    )
    # the copy index stays in use, in the rebuilt profile's space, without the waived records (A33d-3)
    return dataclasses.replace(rebuilt, copy_index_carried=carried_copy_index(profile, rebuilt, left_out=waived))


def detection_profile(store: Store, base: str, new: str | None = None) -> ReferenceProfile:
    """``base``'s signed reference profile (``profiles.loading.load_profile``) without the records a pinned waive key
    waived (:func:`waived_records`, :func:`without_waived`): what every detector run on a delta against ``base``
    (``prov check``, ``prov diff --detect``, ``prov findings --recompute``) judges it by. With ``new`` (the candidate
    version), on the numeric feature columns ``new``'s verified schema still has
    (``profiles.shared_columns.on_shared_columns``; newcomer review 32, finding 1), which
    :func:`feature_columns_gone` names."""
    from provenance.profiles.loading import load_profile
    from provenance.profiles.shared_columns import on_shared_columns

    profile = without_waived(load_profile(store, base), waived_records(store, base))
    return on_shared_columns(profile, feature_columns_gone(store, profile, new)) if new is not None else profile


def feature_columns_gone(store: Store, profile: ReferenceProfile, new: str) -> list[str]:
    """The numeric feature columns ``profile`` reads that version ``new``'s verified schema lacks (columns it dropped),
    in the profile's order; empty when none, or for another featuriser's profile."""
    from provenance.profiles.shared_columns import columns_gone
    from provenance.version_facts import verified_statement

    schema = verified_statement(store, store.version(new))["predicate"].get("schema") or {}
    if schema.get("kind", "table") != "table":
        return []
    return columns_gone(profile, schema.get("columns") or [])
