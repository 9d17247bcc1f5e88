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
    from provenance.profiles.z_limit import Z_LIMIT

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


@pytest.mark.parametrize("glitch", [1e38, 1e6])
def test_a_few_huge_records_in_the_base_do_not_set_their_columns_scale(glitch):
    # attack review 29b, A29b-4: a glitch waived into the base (1e38, or 1e6 where the rest are pixels) set its
    # column's plain std, so a trigger in a column the base holds at 0 stood ~1e-36 scales out. BULK_TRIM_MIN such
    # records leave the column's centre at 0 and its scale at the floor, where a trigger of 16 stands far out
    from provenance.profiles.reference import BULK_TRIM_MIN

    X, y, digests = _gaussian_base(500)
    X[:, 0] = 0.0
    clean = build_profile(X, y, digests, featurizer="numeric/v1", max_per_class=200)
    X[:BULK_TRIM_MIN, 0] = glitch
    glitched = build_profile(X, y, digests, featurizer="numeric/v1", max_per_class=200)
    assert glitched.mean[0] == clean.mean[0] == 0.0 and glitched.scale[0] == clean.scale[0] < 0.1
    trigger = np.zeros((1, 8), dtype=np.float32)
    trigger[0, 0] = 16.0
    assert glitched.standardize(trigger)[0, 0] > 100
    # the other columns' scales move only as the glitch records' other values leave the bulk
    np.testing.assert_allclose(glitched.scale[1:], clean.scale[1:], rtol=0.02)


def test_the_winsorised_scale_keeps_an_ordinary_columns_spread():
    # the centre and scale of a column with no extreme records are within a few percent of its plain mean and std
    # (so detection on clean data keeps its geometry), and a trimmed end holds only the few most extreme values
    from provenance.profiles.reference import bulk_trimmed

    X, y, digests = _gaussian_base(5000)
    profile = build_profile(X, y, digests, featurizer="numeric/v1", max_per_class=2000)
    np.testing.assert_allclose(profile.scale, X.astype(np.float64).std(axis=0), rtol=0.02)
    np.testing.assert_allclose(profile.mean, X.astype(np.float64).mean(axis=0), atol=0.01)
    assert [bulk_trimmed(n) for n in (1, 4, 5, 8, 9, 500, 1000, 1001, 8000)] == [0, 0, 1, 1, 2, 2, 2, 3, 16]
    # ten records: the two at each end are held at the third (0, 1 at 2; 8 and the 1e6 glitch at 7), so the centre
    # and scale are those of [2, 2, 2, 3, 4, 5, 6, 7, 7, 7] whatever the largest value is
    column = np.array([*range(9), 1e6], dtype=np.float32)[:, None]
    ten = [hashlib.sha256(f"ten-{i}".encode()).digest() for i in range(10)]
    held = build_profile(column, np.array(["a", "b"] * 5), ten, featurizer="numeric/v1", max_per_class=10)
    winsorised = np.array([2, 2, 2, 3, 4, 5, 6, 7, 7, 7], dtype=np.float64)
    assert held.mean.tolist() == [4.5]
    np.testing.assert_allclose(held.scale, [winsorised.std()], rtol=1e-6)  # kept as float32
