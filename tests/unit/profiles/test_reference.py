import hashlib

import numpy as np
import pytest

from provenance.features import FeatureError
from provenance.profiles.reference import ReferenceProfile, build_profile


def _gaussian_base(n, seed=0, dim=8, classes=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    X = (rng.normal(0, 1, (n, dim)) + y[:, None] * 2.0).astype(np.float32)
    digests = [hashlib.sha256(f"record-{seed}-{i}".encode()).digest() for i in range(n)]
    return X, y.astype(str), digests


def test_same_records_in_any_order_give_the_same_bytes():
    X, y, digests = _gaussian_base(600)
    first = build_profile(X, y, digests, featurizer="numeric/v1", max_per_class=100).to_bytes()
    order = np.random.default_rng(1).permutation(len(X))
    shuffled = build_profile(
        X[order], y[order], [digests[i] for i in order], featurizer="numeric/v1", max_per_class=100
    )
    assert shuffled.to_bytes() == first
    assert ReferenceProfile.from_bytes(first).to_bytes() == first
    with pytest.raises(FeatureError, match="damaged reference profile"):
        ReferenceProfile.from_bytes(first[: len(first) // 2])


def test_round_trip_keeps_everything():
    X, y, digests = _gaussian_base(300)
    profile = build_profile(X, y, digests, featurizer="numeric/v1", sources=["a"] * 200 + ["b"] * 100, max_per_class=50)
    loaded = ReferenceProfile.from_bytes(profile.to_bytes())
    assert loaded.classes == profile.classes and loaded.source_counts == {"a": 200, "b": 100}
    np.testing.assert_array_equal(loaded.sample_X, profile.sample_X)
    np.testing.assert_array_equal(loaded.nn_idx, profile.nn_idx)


def test_profile_is_bounded_whatever_the_base_size():
    # Detection cost depends on the profile, so a 10x bigger base must not grow it.
    small = build_profile(*_gaussian_base(1_500, seed=1), featurizer="numeric/v1", max_per_class=200)
    large = build_profile(*_gaussian_base(15_000, seed=2), featurizer="numeric/v1", max_per_class=200)
    assert small.sample_size == large.sample_size == 600
    assert abs(len(small.to_bytes()) - len(large.to_bytes())) < 1_000
    assert large.n_records == 15_000


def test_sample_is_the_smallest_digests_per_class():
    X, y, digests = _gaussian_base(400)
    profile = build_profile(X, y, digests, featurizer="numeric/v1", max_per_class=10)
    for c, name in enumerate(profile.classes):
        expected = sorted(d for d, label in zip(digests, y) if label == name)[:10]
        got = sorted(bytes(d) for d in profile.sample_digests[profile.sample_labels == c])
        assert got == expected


def test_dimension_mismatch_and_nan_are_feature_errors():
    X, y, digests = _gaussian_base(200)
    profile = build_profile(X, y, digests, featurizer="numeric/v1")
    with pytest.raises(FeatureError, match="dimension mismatch"):
        profile.standardize(np.zeros((3, 5), np.float32))
    X[7, 2] = np.nan
    with pytest.raises(FeatureError) as err:
        build_profile(X, y, digests, featurizer="numeric/v1")
    assert err.value.records == [digests[7].hex()[:12]]


F32_MAX = float(np.finfo(np.float32).max)


@pytest.mark.parametrize("where", ["base", "delta"])
def test_no_feature_float32_holds_overflows_the_standardised_space(where):
    # attack review 28c, A28c-2: a finite feature near float32's limit in a column the base holds constant was inf
    # once standardised, and the detectors' squares of it NaN; in the base or in a delta, every standardised value
    # and every row's squared norm (what distances and covariances sum) is finite, the huge ones held at Z_LIMIT
    from provenance.profiles.reference import Z_LIMIT

    X, y, digests = _gaussian_base(300)
    X[:, 0] = 0.0  # constant in the base: its scale is the floor
    huge = np.array([[1e38] * 8, [-1e38] * 8, [F32_MAX] * 8, [-F32_MAX] * 8], dtype=np.float32)
    if where == "base":
        X[:4] = huge
    profile = build_profile(X, y, digests, featurizer="numeric/v1", max_per_class=200)
    with np.errstate(over="raise", invalid="raise"):  # an overflow below is an error here, not a silent inf
        for Z in (profile.sample_Z, profile.standardize(huge), profile.class_means):
            assert np.isfinite(Z).all() and np.abs(Z).max() <= Z_LIMIT
            assert np.isfinite((Z.astype(np.float32) ** 2).sum(axis=1)).all()
    if where == "delta":  # against a base that never held them, they stand Z_LIMIT scales out, on their own side
        Z = profile.standardize(huge)
        assert (np.abs(Z[:, 0]) == np.float32(Z_LIMIT)).all() and (np.sign(Z[:, 0]) == [1, -1, 1, -1]).all()


def test_bounding_the_standardised_space_leaves_ordinary_values_bit_for_bit():
    X, y, digests = _gaussian_base(300)
    profile = build_profile(X, y, digests, featurizer="numeric/v1", max_per_class=200)
    np.testing.assert_array_equal(profile.standardize(X), ((X - profile.mean) / profile.scale).astype(np.float32))
