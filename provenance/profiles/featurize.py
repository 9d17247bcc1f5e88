"""Records to features, the same way for a profile's sample and for the delta scored against it.

At commit the featuriser comes from a :class:`FeaturizerSpec` (``auto``: numeric
columns for tables, pixels for trees); the profile stores the spec it resolved to.
For the delta the featuriser is rebuilt from that stored spec through the registry,
and must identify exactly as the profile's did, so both sides are in one feature space.
"""

from __future__ import annotations

import numpy as np

from provenance.features.base import FeatureError, Featurizer
from provenance.features.registry import FeaturizerSpec, build, featurize_checked, legacy_spec, rebuild, spec_of
from provenance.profiles.reference import ReferenceProfile
from provenance.sources.interface import DatasetSpec
from provenance.sources.records import Records

AUTO = "auto"


def default_spec(kind: str, spec: DatasetSpec) -> FeaturizerSpec:
    """``auto``: pixels of the images in a file tree; a table's numeric content columns."""
    if kind == "tree":
        return FeaturizerSpec("image")
    return FeaturizerSpec("numeric", {"exclude": sorted(spec.options.excluded())})


def requested_spec(featurizer: str | FeaturizerSpec, kind: str, spec: DatasetSpec) -> FeaturizerSpec:
    """The spec a commit asked for: ``"auto"``, a registry name, or a full spec."""
    if isinstance(featurizer, FeaturizerSpec):
        return default_spec(kind, spec) if featurizer.name == AUTO else featurizer
    return default_spec(kind, spec) if featurizer == AUTO else FeaturizerSpec(featurizer)


def featurize(featurizer: Featurizer, kind: str, records: Records) -> tuple[Featurizer, np.ndarray]:
    """``(featuriser as resolved for these records, (n, d) float32 matrix)``.

    Trees are featurised from their files' bytes, tables from their content columns
    (the featuriser first resolves against the table's schema). Raises ``FeatureError``
    naming the records that cannot be featurised.
    """
    if kind == "tree":
        return featurizer, featurize_checked(featurizer, records.blobs or [])
    if records.table is None:
        raise FeatureError("no table records to featurise")
    resolved = featurizer.resolve(records.table.schema)
    return resolved, featurize_checked(resolved, records.table)


def build_for_commit(
    requested: FeaturizerSpec, kind: str, records: Records
) -> tuple[FeaturizerSpec, Featurizer, np.ndarray]:
    """Featurise a profile's sample: ``(spec that rebuilds it, featuriser, features)``."""
    resolved, X = featurize(build(requested), kind, records)
    return spec_of(resolved, requested), resolved, X


def featurizer_for(profile: ReferenceProfile) -> Featurizer:
    """The featuriser ``profile`` was made with, rebuilt from the spec it stores.

    Raises ``InputError`` if that featuriser is not registered here, ``FeatureError`` if
    it now identifies differently from the profile.
    """
    if profile.featurizer_spec is not None:
        stored = FeaturizerSpec.from_dict(profile.featurizer_spec, "the reference profile's featuriser")
    else:
        stored = legacy_spec(profile.featurizer)
    return rebuild(stored, profile.featurizer)


def delta_features(profile: ReferenceProfile, kind: str, records: Records) -> np.ndarray:
    """Features of delta ``records`` in ``profile``'s feature space, ``(n, profile.dim)`` float32.

    Raises ``FeatureError`` if the rebuilt featuriser resolves to another identity on
    these records (say, the delta's table lacks a column the base had).
    """
    resolved, X = featurize(featurizer_for(profile), kind, records)
    if resolved.name != profile.featurizer:
        raise FeatureError(
            f"the delta featurises as {resolved.name!r}, but the reference profile was made with "
            f"{profile.featurizer!r}; both versions must be featurised the same way"
        )
    return X
