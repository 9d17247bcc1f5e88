"""detectors.drift.toward_class: how far a batch's shared move carries one class mean toward another
(attack review 12, D12-2), computed in blocks so 2,000 classes never hold a (k, k, d) array."""

from types import SimpleNamespace

import numpy as np

from provenance.detectors.drift import toward_class


def brute(means: np.ndarray, v: np.ndarray) -> float:
    gaps = means[None, :, :] - means[:, None, :]
    length2 = np.einsum("ijd,ijd->ij", gaps, gaps)
    ok = length2 > 0
    return float(np.max(np.abs(gaps @ v)[ok] / length2[ok]))


def test_it_is_the_largest_share_of_a_gap_between_two_class_means_and_matches_the_pairwise_form():
    rng = np.random.default_rng(0)
    for k in (2, 3, 10, 300):
        means = rng.normal(size=(k, 8)).astype(np.float32)
        v = rng.normal(size=8)
        got = toward_class(SimpleNamespace(class_means=means), v)
        assert np.isclose(got, brute(means.astype(np.float64), v), rtol=1e-9), k
    means = np.array([[0.0, 0.0], [4.0, 0.0]], np.float32)
    assert np.isclose(toward_class(SimpleNamespace(class_means=means), np.array([1.0, 0.0])), 0.25)
    assert toward_class(SimpleNamespace(class_means=means), np.array([0.0, 3.0])) == 0.0  # across, not toward
