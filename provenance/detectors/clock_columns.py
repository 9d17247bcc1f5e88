"""Columns that grow with the data's own file order: a year, a timestamp, a counter (newcomer review 32: a
gapminder table delivered year by year had up to half of each clean delivery flagged by ``spectral``).

Real deliveries grow in time, so such a column lies past the base's range on every delivery. ``spectral`` looks
for the direction a delta's records share and scores each by how far it goes along it: in a delivery of two new
years every record shares the move in ``year``, its later year goes furthest, and the base's own records, whitened
by the other half of the base's file order (its other years), project at one distance with little spread; so the
later half of a clean delivery stood out (bench/results/det33b-growing-time.md). The move is the batch's, not its
records': ``detectors.drift`` reports it, and ``spectral`` takes it off the added records in that column
(``on_the_base_clock``: the batch's median moved onto the base sample's) before it looks for a shared direction.
Each record's distance from its batch in the column stays, so one record pushed far in time still stands out (a
year's standardised scale is wide, its values sit far from 0, so only the whitened ``spectral`` sees a year of 2150
among 1967s: 78 base standard deviations).

A column is a clock when both hold:

- in the base's signed profile sample, it grows with file order: each pseudo-batch's smallest value is at least
  the largest of the pseudo-batch before it, and its values are not all one (``profiles.batches``: runs of the
  base's file order, signed with the profile);
- every added record of the delta (re-read from its signed data) lies at or past the sample's largest value.

Nothing here comes from a writable row: the profile is signed, the delta's values are recomputed from its data.
Only the numeric featuriser's columns are read (an embedding, pixels or hashed text name no column).
"""

from __future__ import annotations

import numpy as np

from provenance.detectors.base import Delta
from provenance.detectors.drift_columns import feature_columns
from provenance.profiles.reference import ReferenceProfile


def grows_with_file_order(values: np.ndarray, batches: np.ndarray) -> bool:
    """Whether ``values`` (m,) of records in pseudo-batches ``batches`` (m,; file order) never fall from one
    pseudo-batch to the next (each one's smallest at least the largest before it) and are not all one value."""
    finite = np.isfinite(values)
    values, batches = values[finite], batches[finite]
    present = np.unique(batches)
    if len(present) < 2 or float(values.max()) <= float(values.min()):
        return False
    highest = -np.inf
    for b in present:
        mine = values[batches == b]
        if float(mine.min()) < highest:
            return False
        highest = float(mine.max())
    return True


def clock_columns(profile: ReferenceProfile, delta: Delta) -> np.ndarray:
    """Which feature dimensions of ``profile`` are clocks for ``delta`` (bool (d,); the module docstring says
    when): all False for a featuriser whose dimensions name no column, or a delta with no added record."""
    key = ("clock-columns", id(profile))
    if key in delta.cache:
        return delta.cache[key]
    clocks = np.zeros(profile.dim, dtype=bool)
    added = np.array([k == "added" for k in delta.kinds], dtype=bool)
    if feature_columns(profile) is not None and added.any() and len(profile.sample_X):
        raw = np.asarray(delta.X, dtype=np.float64)[added]
        sample = np.asarray(profile.sample_X, dtype=np.float64)
        batches = np.asarray(profile.sample_batches, dtype=np.int64)
        for j in range(profile.dim):
            top = float(np.nanmax(sample[:, j]))
            clocks[j] = bool((raw[:, j] >= top).all()) and grows_with_file_order(sample[:, j], batches)
    delta.cache[key] = clocks
    return clocks


def clock_names(profile: ReferenceProfile, clocks: np.ndarray) -> list[str]:
    """The column names of the dimensions ``clocks`` marks (``clock_columns``), in dimension order."""
    names = feature_columns(profile) or []
    return [names[j] for j in np.flatnonzero(clocks) if j < len(names)]


def on_the_base_clock(Z: np.ndarray, sample_Z: np.ndarray, clocks: np.ndarray, added: np.ndarray) -> np.ndarray:
    """Standardised delta features ``Z`` (n, d) with the added records (``added``, bool (n,)) moved in each clock
    column (``clocks``, bool (d,)) by the sample's median less theirs: a copy, float32. The batch's move in time
    comes off; each record's distance from its batch in that column stays, so one record pushed far along it still
    stands out."""
    Z = np.array(Z, dtype=np.float32)
    if added.any():
        move = np.median(sample_Z[:, clocks], axis=0) - np.median(Z[added][:, clocks], axis=0)
        rows = np.flatnonzero(added)
        Z[np.ix_(rows, np.flatnonzero(clocks))] += move.astype(np.float32)
    return Z
