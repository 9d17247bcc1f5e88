"""Whose a record is when it entered as a same-label near twin of a removed record (attack review 34b, A34b-6).

A vendor that delivers the team's record a gram apart, under its own label, in the release that drops the team's
(a correction, and it passes), would otherwise own the copy: its relabel one release later was the vendor's own,
judged by its 5% rate. Here a record that entered the signed ancestry in version V as a near twin under the same
label (``removed_twins.near_twins``, ``same_label``) of a record V's parent held and V dropped keeps that record's
owners: the parent's lineage re-judged under the pins (``trusted_lineage``). The twin is read from V's and its
parent's signed profiles (``load_profile``): a record V's profile did not sample, or a parent without a comparable
profile, inherits nothing (the caller's first deliverers stand). One pair of profiles is read per entering version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from provenance.store import Store


def inherited_owners(store: Store, entered: dict[bytes, str]) -> dict[bytes, tuple[bytes, frozenset[str]]]:
    """For each record of ``entered`` (digest -> the version it entered the signed ancestry in), the removed record
    it is a same-label near twin of and that record's owners, where it is one.

    Returns:
        digest -> (the removed record's digest, the sources the parent's lineage, re-judged under the pins, gives it
        to); records that are no such twin are left out. Raises ``VerificationError`` when a version, profile or
        lineage does not verify.
    """
    out: dict[bytes, tuple[bytes, frozenset[str]]] = {}
    for version in sorted(set(entered.values())):
        out.update(_twins_at(store, version, sorted(d for d, v in entered.items() if v == version)))
    return out


def _twins_at(store: Store, version: str, digests: list[bytes]) -> dict[bytes, tuple[bytes, frozenset[str]]]:
    """:func:`inherited_owners` for the records ``digests`` that entered in ``version``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.errors import InputError
    from provenance.gate.removed_twins import RemovedPool, near_twins
    from provenance.lineage.classify import trusted_lineage, version_lineage
    from provenance.lineage.deliverers import delivering_sources
    from provenance.profiles.loading import load_profile
    from provenance.version_facts import signed_ancestry

    chain = signed_ancestry(store, version, 2)
    if len(chain) < 2:
        return {}
    parent = str(chain[1][0]["tag"])
    try:
        now, before = load_profile(store, version), load_profile(store, parent)
    except InputError:  # committed without a profile: nothing to compare
        return {}
    if now.featurizer != before.featurizer or now.dim != before.dim:
        return {}
    sampled = {bytes(d): i for i, d in enumerate(np.asarray(now.sample_digests, dtype=np.uint8))}
    asked = [d for d in digests if d in sampled]
    held = set(version_lineage(store, version).column("digest").to_pylist())
    parent_digests = [bytes(d) for d in np.asarray(before.sample_digests, dtype=np.uint8)]
    gone = [i for i, d in enumerate(parent_digests) if d not in held]
    if not asked or not gone:
        return {}
    pool = RemovedPool(
        np.asarray(before.sample_X, dtype=np.float32)[gone],
        [str(before.classes[int(before.sample_labels[i])]) for i in gone],
        [parent_digests[i] for i in gone],
        [parent] * len(gone),
        np.asarray(before.loo_dist, dtype=np.float64)[gone, 0] if np.size(before.loo_dist) else None,
    )
    rows = [sampled[d] for d in asked]
    labels = [str(now.classes[int(now.sample_labels[i])]) for i in rows]
    pairs = near_twins(before, np.asarray(now.sample_X, dtype=np.float32)[rows], labels, pool, same_label=True)
    twins = {d: pool.digests[j] for d, (j, _, _) in zip(asked, pairs) if j >= 0}
    if not twins:
        return {}
    removed = pa.array(sorted(set(twins.values())), pa.binary(32))
    lineage = trusted_lineage(store, parent)
    owners = delivering_sources(lineage.filter(pc.is_in(lineage.column("digest"), value_set=removed)), removed)
    return {d: (r, owners.get(r, frozenset())) for d, r in twins.items()}
