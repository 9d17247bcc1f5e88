"""Batch drift: a delta against the natural range of the base's own pseudo-batches."""

import numpy as np

from provenance.detectors.drift import batch_drift
from provenance.profiles.shift import SIGNALS


def _by_signal(shifts):
    return {s.signal: s for s in shifts}


def test_the_profile_stores_each_pseudo_batch_s_shift(digits_split):
    shifts = digits_split.profile.batch_shift
    assert shifts.shape == (10, len(SIGNALS)) and np.isfinite(shifts).all() and (shifts >= 0).all()


def test_a_clean_batch_is_within_the_base_s_range_and_a_shifted_one_warns_with_its_effect(digits_split):
    clean = _by_signal(batch_drift(digits_split.profile, digits_split.delta()))
    assert not any(s.shifted for s in clean.values())

    brighter = digits_split.delta()
    brighter = brighter.__class__(**{**brighter.__dict__, "X": brighter.X * 1.3, "cache": {}})
    shifted = _by_signal(batch_drift(digits_split.profile, brighter))
    assert shifted["mean_shift"].shifted and shifted["mean_shift"].effect > 1.0
    assert shifted["mean_shift"].value > shifted["mean_shift"].bound >= shifted["mean_shift"].base_max

    two = np.isin(digits_split.yp, [0, 1])
    few_classes = digits_split.delta()
    keep = np.flatnonzero(two)
    few_classes = few_classes.__class__(
        digests=[few_classes.digests[i] for i in keep],
        X=few_classes.X[keep],
        labels=[few_classes.labels[i] for i in keep],
        sources=[few_classes.sources[i] for i in keep],
        kinds=[few_classes.kinds[i] for i in keep],
        old_labels=[few_classes.old_labels[i] for i in keep],
    )
    mix = _by_signal(batch_drift(digits_split.profile, few_classes))
    assert mix["class_mix"].shifted and not mix["mean_shift"].shifted
