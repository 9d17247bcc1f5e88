"""Batch drift for detectors that look for a direction the delta's records share.

``spectral`` and ``gradient`` find the direction a delta's records have in common (a
trigger's shift, the gradient poisons are crafted to share) and score each record by how
far it goes along it. A clean batch from a new writer, camera or season also shares a
direction, its drift, so every one of its records goes some way along it (issue 14:
in-order digits batches flagged 5-8% of their clean records here). Poisons are few next to
the batch (a source that sends nothing but poison is a shifted batch, reported as such);
so the delta's own median along the direction is the drift, and records are scored by
how far they go *beyond their batch*, against the reference's spread (robust location
and scale, median and a quantile of absolute deviations: Huber and Ronchetti, *Robust Statistics*, 2009).

The correction only ever makes the delta look more ordinary (it never shrinks the
reference's spread), and its size is reported as the batch's drift effect.

``batch_drift`` reports the delta as a whole: how far it shifts (class mix, mean,
shared direction, gradient) against the base's own pseudo-batches (``profiles.shift``).
"""

from __future__ import annotations

import numpy as np

from provenance.detectors.base import Delta
from provenance.detectors.shared import delta_Z
from provenance.profiles.reference import ReferenceProfile
from provenance.profiles.shift import SIGNALS, Shift, delta_shift, judge

SPREAD_QUANTILE = 0.8  # of absolute deviations: robust to 20% poisons, and unlike the MAD
# not zero when most records sit at one value (well-fitted records have no loss gradient)
QUANTILE_TO_SD = 1.0 / 1.2816  # the 0.8 quantile of |N(0, 1)|


def robust_location_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and a quantile-based standard deviation of the finite values (0, 0 when none)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return 0.0, 0.0
    median = float(np.median(v))
    return median, QUANTILE_TO_SD * float(np.quantile(np.abs(v - median), SPREAD_QUANTILE))


def recentre_on_batch(raw: np.ndarray, reference_raw: np.ndarray) -> tuple[np.ndarray, dict]:
    """Raw scores of one batch, moved so their median and spread are no larger than the
    reference's: ``ref_median + (raw - batch_median) * min(1, ref_sd / batch_sd)`` when
    the batch sits higher than the reference, ``raw`` otherwise.

    Returns (adjusted raw (n,), effect) where effect holds ``shift_sd`` (the batch
    median's distance above the reference median, in reference standard deviations) and
    ``spread_ratio`` (batch over reference spread).
    """
    raw = np.asarray(raw, dtype=np.float64)
    ref_median, ref_sd = robust_location_scale(np.asarray(reference_raw, dtype=np.float64))
    batch_median, batch_sd = robust_location_scale(raw)
    if raw.size < 10 or ref_sd <= 0:  # too few records to tell drift from poison
        return raw, {"shift_sd": 0.0, "spread_ratio": 1.0}
    shift = max(batch_median - ref_median, 0.0)
    ratio = batch_sd / ref_sd if ref_sd > 0 else 1.0
    squeeze = min(1.0, 1.0 / ratio) if ratio > 0 else 1.0
    adjusted = np.where(np.isfinite(raw), ref_median + (raw - ref_median - shift) * squeeze, raw)
    if shift == 0.0 and squeeze == 1.0:
        adjusted = raw
    return adjusted, {"shift_sd": shift / ref_sd, "spread_ratio": ratio}


def batch_drift(profile: ReferenceProfile, delta: Delta) -> list[Shift]:
    """The delta's added records as one batch, against the base's own pseudo-batches
    (``profiles.shift``): one ``Shift`` per signal, ``shifted`` when it passes the base's
    natural range. Drift is a warning about the batch, not a verdict on its records."""
    added = np.array([k == "added" for k in delta.kinds], dtype=bool)
    labels = profile.label_indexes([l for l, a in zip(delta.labels, added) if a])
    if added.any():
        values = delta_shift(
            delta_Z(profile, delta)[added],
            labels,
            profile.sample_Z,
            profile.sample_labels.astype(np.int64),
            profile.sample_batches,
            len(profile.classes),
            profile.softmax_weights,
        )
    else:
        values = np.zeros(len(SIGNALS))
    return judge(values, profile.batch_shift)
