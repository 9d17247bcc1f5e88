import hashlib

import numpy as np

from provenance.detectors import Delta, get_detector
from provenance.profiles.reference import build_profile


def _aligned_poisons(split, n, rng):
    """Records of class 1 nudged so their loss gradients all point one shared way."""
    profile = split.profile
    rows = np.flatnonzero(split.yp == 1)[:n]
    Z = profile.standardize(split.Xp[rows])
    W = profile.softmax_weights[2]
    push = W[:-1, 7] - W[:-1, 1]  # towards class 7: large, shared loss gradients
    Z = Z + 1.5 * push / np.linalg.norm(push) * np.sqrt(Z.shape[1]) / 2
    return Z * profile.scale + profile.mean


def test_records_pushing_one_shared_direction_are_flagged(digits_split, flags_and_scores):
    rng = np.random.default_rng(5)
    poisons = _aligned_poisons(digits_split, 25, rng)
    delta = digits_split.delta(poisons, ["1"] * 25)
    result = get_detector("gradient").run(digits_split.profile, delta, fpr=0.01)
    n_clean = len(digits_split.Xp)
    assert flags_and_scores(result, n_clean)[0].mean() >= 0.8
    assert result.summary["shared_direction_ratio"] > 5


def test_clean_delta_has_no_shared_direction(digits_split, flags_and_scores):
    result = get_detector("gradient").run(digits_split.profile, digits_split.delta(), fpr=0.01)
    assert np.mean([f.flagged for f in result.findings]) <= 0.03
    assert result.summary["shared_direction_ratio"] < 5


def test_separable_classes_flag_no_clean_record():
    """Classes so far apart that every residual is ~0: the scores are float32 rounding of
    a constant, and a clean delivery must not be flagged on that noise (D5 of session 9)."""
    rng = np.random.default_rng(2)
    centres = rng.normal(0.0, 3.0, (10, 16))

    def draw(n):
        y = rng.integers(0, 10, n)
        return np.round(centres[y] + rng.normal(size=(n, 16)), 4).astype(np.float32), y

    def digests(X):
        return [hashlib.sha256(row.tobytes()).digest() for row in X]

    Xb, yb = draw(100_000)  # sampled down to the profile's bounded sample
    profile = build_profile(Xb, yb.astype(str), digests(Xb), featurizer="numeric/v1", sources=["vendor"] * len(Xb))
    Xp, yp = draw(100)
    n = len(Xp)
    delta = Delta(digests(Xp), Xp, yp.astype(str).tolist(), ["vendor"] * n, ["added"] * n, [None] * n)
    result = get_detector("gradient").run(profile, delta, fpr=0.01)
    assert sum(f.flagged for f in result.findings) <= 3
