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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.errors import NotRereadable
from provenance.features.base import FeatureError
from provenance.manifest import Manifest
from provenance.profiles.copy_index import INDEX_MAX_ROWS, INDEX_MAX_VALUES, CopyIndex
from provenance.profiles.copy_index_read import every_table_row
from provenance.profiles.featurize import delta_features
from provenance.profiles.reference import ReferenceProfile
from provenance.sources.interface import DatasetSpec
from provenance.sources.records import Records


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
    locators = table.column("locator").combine_chunks()
    digests = fixed_digests(table.column("digest").combine_chunks())
    try:
        content = every_table_row(spec, locators, digests, columns)
    except NotRereadable as exc:  # by design (records read by an id column), not a failure
        return None, f"its records are not read again ({exc})"
    try:
        X = delta_features(profile, kind, Records([], table=content))
    except FeatureError as exc:
        from provenance.features.base import named_records

        raise named_records(exc, [str(x) for x in locators.to_pylist()]) from exc
    known = pa.array(profile.classes, pa.string())
    labels = pc.index_in(table.column("label").cast(pa.string()), value_set=known).fill_null(-1).to_numpy()
    Z = profile.standardize(X)
    return CopyIndex.build(Z, labels, digests, radius, profile.mean, profile.scale), None


def fixed_digests(column: pa.Array) -> np.ndarray:
    """A manifest's ``digest`` column (fixed_size_binary(32), no nulls) as an (N, 32) uint8 view of its buffer."""
    data = column.buffers()[1]
    if data is None or column.null_count:
        return np.zeros((0, 32), dtype=np.uint8)
    return np.frombuffer(data, np.uint8, count=32 * len(column), offset=32 * column.offset).reshape(-1, 32)
