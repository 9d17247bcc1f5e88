"""The shift a batch's classes share (``detectors.drift.shared_shift``), and the detectors scoring
a batch that moved as a whole without it (newcomer review 11, finding 6).

An attacker who controls the batch must not hide poison behind the correction: only a move most
classes share is removed, so a trigger or a drag confined to a few classes stays in the records.
"""

import numpy as np

from provenance.detectors.drift import FAR_SHIFT, MIN_SHIFT, batch_drift, class_spread, remove_shift, shared_shift
from provenance.detectors.registry import run_detectors
from provenance.detectors.shared import delta_Z, standardized_delta


def _brightened(split, by: float, X=None, labels=None):
    delta = split.delta(X=X, labels=labels)
    return delta.__class__(**{**delta.__dict__, "X": np.clip(delta.X + by, 0, 16), "cache": {}})


def _standardized(split, X):
    return split.profile.standardize(np.asarray(X, np.float32))


def test_a_move_every_class_makes_is_measured_and_a_move_of_one_class_is_not(digits_split):
    profile, X, labels = digits_split.profile, digits_split.Xp, digits_split.yp.astype(np.int64)
    Z = _standardized(digits_split, X)
    move = np.zeros(profile.dim, np.float32)
    move[[0, 7, 20]] = [2.0, -1.5, 0.75]
    everyone, classes = shared_shift(profile, Z + move, labels)
    alone, _ = shared_shift(profile, Z, labels)
    assert classes == 10
    assert np.allclose(everyone - alone, move, atol=1e-5)  # each column's median moves by exactly the move

    # a trigger on every record of class 3 (a backdoor's target) is no move the batch shares: the
    # median over classes steps to a neighbouring class's move at most, a twentieth of the trigger
    trigger = Z.copy()
    trigger[labels == 3] += 5.0
    assert np.abs(shared_shift(profile, trigger, labels)[0] - alone).max() < 0.25
    trigger[np.isin(labels, [0, 1, 2, 3, 4, 5])] += 5.0  # most classes: then it is the batch's move
    assert np.abs(shared_shift(profile, trigger, labels)[0] - alone).max() > 4.5


def test_with_two_classes_only_a_move_both_make_counts_and_only_its_smaller_part(digits_split):
    profile = digits_split.profile
    two = np.isin(digits_split.yp, [0, 1])
    Z, labels = _standardized(digits_split, digits_split.Xp[two]), digits_split.yp[two].astype(np.int64)
    base, classes = shared_shift(profile, Z, labels)
    assert classes == 2
    moved = Z.copy()
    moved[labels == 0, 5] += 3.0
    moved[labels == 1, 5] += 1.0
    moved[labels == 0, 6] += 3.0
    moved[labels == 1, 6] -= 3.0
    shift, _ = shared_shift(profile, moved, labels)
    assert abs(shift[5] - base[5] - 1.0) < 0.35  # the part both classes share
    assert shift[6] == 0.0  # opposite moves share nothing


def test_a_one_class_batch_is_never_corrected(digits_split):
    profile = digits_split.profile
    three = digits_split.yp == 3
    vector, classes = shared_shift(
        profile, _standardized(digits_split, digits_split.Xp[three] + 1), digits_split.yp[three].astype(np.int64)
    )
    assert classes == 1 and not vector.any()


def test_a_brightened_batch_is_scored_without_its_shift_and_planted_outliers_still_stand_out(digits_split):
    clean = run_detectors(digits_split.profile, digits_split.delta())
    rng = np.random.default_rng(5)
    noise = rng.uniform(0, 16, (10, digits_split.Xp.shape[1])).astype(np.float32)
    delta = _brightened(digits_split, 1.0, X=noise, labels=rng.integers(0, 10, 10))
    results = run_detectors(digits_split.profile, delta)
    shift = remove_shift(digits_split.profile, delta)
    assert shift is not None and shift.removed and shift.classes == 10 and 1.0 < shift.size < FAR_SHIFT
    assert not np.array_equal(delta_Z(digits_split.profile, delta), standardized_delta(digits_split.profile, delta))

    def flagged(rs, start=0, stop=None):
        return sum(f.flagged for r in rs if r.detector == "outlier" for f in r.findings[start:stop])

    n = len(digits_split.Xp)
    # as delivered, nearly every brightened record sits away from the base: scored against its
    # batch, the clean records flag about as often as unshifted ones do
    assert flagged(results, 0, n) <= flagged(clean) + 10
    assert flagged(results, n) == 10  # the noise still stands out within the batch


def test_a_shift_farther_than_the_bound_is_not_removed(digits_split):
    delta = _brightened(digits_split, 6.0)
    run_detectors(digits_split.profile, delta, ["outlier"])
    shift = remove_shift(digits_split.profile, delta)
    assert shift is not None and shift.size > FAR_SHIFT and not shift.removed
    assert "scored as delivered" in shift.sentence
    assert np.array_equal(delta_Z(digits_split.profile, delta), standardized_delta(digits_split.profile, delta))
    assert class_spread(digits_split.profile) > 0


def test_a_mean_moved_by_some_records_only_is_not_a_batch_shift(digits_split):
    """Poison added to a clean batch moves its mean (``mean_shift`` warns) but is no move its classes
    share: nothing is removed, and the warning says the mean moved with some of its records."""
    rng = np.random.default_rng(3)
    noise = rng.uniform(0, 16, (60, digits_split.Xp.shape[1])).astype(np.float32)
    delta = digits_split.delta(X=noise, labels=rng.integers(0, 10, 60))
    run_detectors(digits_split.profile, delta, ["outlier"])
    moved = next(s for s in batch_drift(digits_split.profile, delta) if s.signal == "mean_shift")
    shift = remove_shift(digits_split.profile, delta)
    assert moved.shifted and shift is not None and shift.outcome == "small" and shift.size < MIN_SHIFT
    assert "not as a whole" in shift.sentence
    assert np.array_equal(delta_Z(digits_split.profile, delta), standardized_delta(digits_split.profile, delta))
