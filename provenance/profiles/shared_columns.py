"""The base profile on the feature columns a candidate still has, when the candidate dropped some.

A user who drops a feature column (clinic A's ``skin``, 98% missing) commits a version whose records lack a column
the base's numeric profile reads; every ``prov check`` and ``prov diff --detect`` against that base then refused the
version (exit 2, "the table lacks feature columns"), with no way forward (newcomer review 32, finding 1). Dropping a
column removes information, it cannot add poison, so the delta is scored on the columns both sides have: the base's
profile is rebuilt from its own signed sample on those columns (``build_profile``, the function commit ran, as
``profiles.waived.without_waived`` rebuilds it without waived records: deterministic, and read only from the profile
object the base's signed statement names, never from a row), and the report names the columns left out.

Which columns the candidate has is read from its verified statement's schema. Only a numeric featuriser's profile is
narrowed (its columns are named in its spec); any other keeps refusing, naming the columns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

import numpy as np

from provenance.features.numeric import IDENTITY_PREFIX
from provenance.profiles.reference import ReferenceProfile

NUMERIC = "numeric"


def profile_columns(profile: ReferenceProfile) -> list[str] | None:
    """The columns a numeric profile reads, in its feature order (its spec's ``columns``); None for another
    featuriser's profile or a spec that does not list them."""
    spec = profile.featurizer_spec or {}
    columns = (spec.get("options") or {}).get("columns")
    if spec.get("name") != NUMERIC or not isinstance(columns, list) or len(columns) != profile.dim:
        return None
    return [str(c) for c in columns]


def columns_gone(profile: ReferenceProfile, candidate_columns: Collection[str]) -> list[str]:
    """The feature columns ``profile`` reads that ``candidate_columns`` (the candidate's signed schema's) lacks, in
    the profile's order; empty when none, or when the profile is not a numeric one (:func:`profile_columns`)."""
    columns = profile_columns(profile)
    have = set(candidate_columns)
    return [c for c in columns or () if c not in have]


def on_shared_columns(profile: ReferenceProfile, gone: Collection[str]) -> ReferenceProfile:
    """``profile`` rebuilt from its sample on its columns but ``gone``, the base's counts kept; ``profile`` itself
    when ``gone`` is empty, or holds every column (a version with no records signs no columns, and one that kept no
    feature column has nothing to score on: its records, if any, are refused naming the columns they lack)."""
    from provenance.profiles.copy_index import carried_copy_index
    from provenance.profiles.reference import build_profile

    columns = profile_columns(profile)
    keep = [j for j, c in enumerate(columns or ()) if c not in set(gone)]
    if not gone or columns is None or not keep:
        return profile
    shared = [columns[j] for j in keep]
    spec = dict(profile.featurizer_spec or {})
    spec["options"] = {**(spec.get("options") or {}), "columns": shared}
    labels = [profile.classes[i] for i in profile.sample_labels.tolist()]
    # the sample's file order, as its pseudo-batches give it, so each record stays in its batch
    positions = np.lexsort((np.arange(len(labels)), profile.sample_batches))
    rank = np.empty(len(labels), dtype=np.int64)
    rank[positions] = np.arange(len(labels))
    rebuilt = build_profile(
        np.ascontiguousarray(profile.sample_X[:, keep]),
        labels,
        [bytes(d) for d in profile.sample_digests],
        featurizer=IDENTITY_PREFIX + ",".join(shared),
        max_per_class=profile.max_per_class,
        positions=rank,
        max_total=len(labels),
        featurizer_spec=spec,
        copies=profile.sample_copies,
        within_batches=profile.within_batch_copies,
    )
    rebuilt = dataclasses.replace(
        rebuilt,
        n_records=profile.n_records,
        class_counts=[profile.class_counts[profile.classes.index(c)] for c in rebuilt.classes],
        source_counts=profile.source_counts,
        columns_left_out=tuple(c for c in columns if c in set(gone)),
    )
    # the copy index stays in use, projected onto the shared columns (A33d-2)
    return dataclasses.replace(rebuilt, copy_index_carried=carried_copy_index(profile, rebuilt, columns=keep))


def left_out_sentence(columns: Collection[str], base: str, new: str) -> str:
    """``column 'skin' of v2's profile is not in v3: the delta was scored on the feature columns both have ...``:
    the warning ``prov check`` (``detectors.run``) and ``prov diff --detect`` give for ``columns`` (non-empty) that
    ``base``'s profile reads and ``new`` dropped."""
    from provenance.escaping import name_in_sentence, visible

    one = len(columns) == 1
    named = ", ".join(name_in_sentence(c, quote_plain=True) for c in columns)
    return (
        f"column{'' if one else 's'} {named} of {visible(base)}'s profile {'is' if one else 'are'} not in "
        f"{visible(new)}: the delta was scored on the feature columns both versions have, and no detector scores "
        f"{'it' if one else 'them'} (a dropped column adds nothing to train on; to score {'it' if one else 'them'}, "
        f"commit {visible(new)}'s data with {'it' if one else 'them'})"
    )
