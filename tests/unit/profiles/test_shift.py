"""Batch drift: a delta against the natural range of the base's own pseudo-batches."""

import numpy as np
import pytest

from provenance.detectors.drift import batch_drift
from provenance.features.lda import fit_lda
from provenance.profiles.shift import SIGNALS, pseudo_batch_shifts, reference_of, shift_statistics


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


def _one_batch_at_a_time(Z, labels, batches, n_classes, weights):
    """The definition: for each pseudo-batch, the rest of its parity recomputed from scratch."""
    count = int(batches.max()) + 1
    out = np.zeros((count, len(SIGNALS)))
    for b in range(count):
        mine = batches == b
        rest = (batches % 2 == b % 2) & ~mine
        if mine.sum() < 2 or rest.sum() < 2:
            continue
        model = weights[1 - (b % 2)]
        ref = reference_of(Z[rest], labels[rest], n_classes, model)
        out[b] = shift_statistics(Z[mine], labels[mine], ref, model)
    return out


@pytest.mark.parametrize("classes", [3, 40])
def test_pseudo_batch_shifts_equal_the_batch_by_batch_definition(classes):
    rng = np.random.default_rng(classes)
    labels = np.sort(rng.integers(0, classes, 900))
    Z = rng.normal(size=(900, 12)) + rng.normal(scale=2.0, size=(classes, 12))[labels]
    batches = rng.integers(0, 10, 900).astype(np.int32)
    batches[:3] = 9  # one batch drifts
    Z[batches == 9] += 0.7
    fold = (batches % 2).astype(bool)
    weights = np.stack(
        [
            fit_lda(Z[~fold], labels[~fold], classes),
            fit_lda(Z[fold], labels[fold], classes),
            fit_lda(Z, labels, classes),
        ]
    )
    fast = pseudo_batch_shifts(Z, labels, batches, classes, weights)
    assert fast.shape == (10, len(SIGNALS)) and fast[9, 1] > 0  # the drifted batch shows
    # float32 logits (loss_residuals) differ in their last bits with the rows a product is
    # taken over; everything else is float64
    np.testing.assert_allclose(fast, _one_batch_at_a_time(Z, labels, batches, classes, weights), rtol=1e-5, atol=1e-7)
