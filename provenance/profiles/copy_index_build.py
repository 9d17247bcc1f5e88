"""Building a version's copy index at commit (``profiles.copy_index``): every base record read again, checked
against the signed manifest, featurised as the profile's sample is and standardised on the profile's centre and scale.

Only a table whose profile sample misses records gets one (where the sample holds every record, the sample's own
distances are already the whole base's), and only up to ``INDEX_MAX_ROWS`` records and ``INDEX_MAX_VALUES`` features in all. A base the index cannot
be built for (a file tree, a base past the cap) commits without one and says why in its signed facts
(``profile.copyIndex.reason``), which commit prints and a check repeats; its copy evidence is the sample's. A record
that cannot be read again or featurised is no reason to go without: the commit refuses it as it refuses one in the
sample (attack review 33d, A33d-4: a fall back in silence).
"""

from __future__ import annotations

import pyarrow as pa

from provenance.errors import NotRereadable
from provenance.features.base import FeatureError
from provenance.manifest import Manifest
from provenance.profiles.copy_index import INDEX_MAX_ROWS, INDEX_MAX_VALUES, CopyIndex
from provenance.profiles.featurize import delta_features
from provenance.profiles.reference import ReferenceProfile, digests_matrix
from provenance.sources.interface import DatasetSpec
from provenance.sources.records import read_records


def copy_index_or_reason(
    manifest: Manifest, kind: str, columns: list[str], spec: DatasetSpec, profile: ReferenceProfile
) -> tuple[CopyIndex | None, str | None]:
    """``(index, None)``, or ``(None, why the version keeps none)``; ``(None, None)`` where none is needed (the
    sample holds every record).

    Raises:
        VerificationError: a record read again differs from its signed digest (as the sample's reading does).
        FeatureError: a record cannot be featurised (null, NaN or infinite values outside the sample), naming it
            by its locator; the commit then refuses it or keeps no profile, as for the sample.
        InputError: the records cannot be read again (the commit keeps no profile, saying why)."""
    if profile.sample_size >= len(manifest):
        return None, None
    if kind != "table":
        return None, "a file tree's records are not all featurised at commit (only its sample is)"
    if len(manifest) > INDEX_MAX_ROWS or len(manifest) * profile.dim > INDEX_MAX_VALUES:
        return None, (
            f"{len(manifest):,} records x {profile.dim} features is past the index's {INDEX_MAX_ROWS:,} records or "
            f"{INDEX_MAX_VALUES:,} values"
        )
    from provenance.detectors.extreme import copy_search_radius

    radius = copy_search_radius(profile)
    if radius is None:
        return None, "no copy of a base record can block on this base (one class, or no distance small enough)"
    table = pa.Table.from_batches(list(manifest.iter_batches(["digest", "label", "locator"])))
    locators = [str(x) for x in table.column("locator").to_pylist()]
    digests = table.column("digest").to_pylist()
    try:
        records = read_records(spec, kind, locators, digests, columns)
    except NotRereadable as exc:  # by design (records read by an id column), not a failure
        return None, f"its records are not read again ({exc})"
    try:
        X = delta_features(profile, kind, records)
    except FeatureError as exc:
        from provenance.profiles.stage import named_records

        raise named_records(exc, locators) from exc
    labels = profile.label_indexes(table.column("label").to_pylist())
    Z = profile.standardize(X)
    return CopyIndex.build(Z, labels, digests_matrix(digests), radius, profile.mean, profile.scale), None
