"""A calibration's quantiles read off its sorted scores are numpy's (session 32, perf32b)."""

from __future__ import annotations

import numpy as np

from provenance.detectors.calibration import TAIL_QUANTILE, Calibration, sorted_quantile


def _sorted_samples(rng: np.random.Generator) -> list[np.ndarray]:
    """Scores as detectors give them: smooth, on a grid (ties), with 0.0 and -0.0, tiny and huge, one or two."""
    samples = [np.array([0.5]), np.array([-1.0, 2.0]), np.array([0.0, -0.0, 0.0])]
    for n in (3, 19, 20, 101, 999, 1000, 2048):
        grid = np.round(rng.normal(size=n), 1)
        grid[::11] = -0.0
        samples += [rng.exponential(size=n), grid, rng.random(n) * 1e300, rng.random(n) * 1e-300]
    return [np.sort(s) for s in samples]


def test_sorted_quantile_is_numpys_linear_and_higher_quantile():
    """Every quantile a calibration takes (the tail's start, ``1 - fpr`` "higher"), and others, equal numpy's:
    the same bits for every value but zero, whose sign numpy's partition may choose either way."""
    rng = np.random.default_rng(32)
    levels = [TAIL_QUANTILE, 0.99, 0.95, 0.8, 0.999, 0.0, 0.5, 1.0, *rng.random(5)]
    for reference in _sorted_samples(rng):
        for q in levels:
            for higher in (False, True):
                want = float(np.quantile(reference, q, method="higher" if higher else "linear"))
                got = sorted_quantile(reference, q, higher)
                assert got == want and (want == 0.0 or np.float64(got).tobytes() == np.float64(want).tobytes()), (
                    reference.size,
                    q,
                    higher,
                )


def test_a_calibration_scores_as_one_fitted_with_numpys_quantiles():
    """The fitted calibration's threshold, tail and scores are those numpy's quantiles give, bit for bit."""
    rng = np.random.default_rng(3)
    for reference in _sorted_samples(rng):
        for fpr in (0.01, 0.05, 0.3):
            fitted = Calibration(reference, fpr)
            tail_start = float(np.quantile(reference, TAIL_QUANTILE))
            excess = reference[reference > tail_start] - tail_start
            assert fitted.raw_threshold == float(np.quantile(reference, 1.0 - fpr, method="higher"))
            assert fitted.tail_start == tail_start
            assert fitted.tail_share == excess.size / reference.size
            assert fitted.tail_scale == (float(excess.mean()) if excess.size else 0.0)
            by_numpy = Calibration.__new__(Calibration)  # the fit as numpy's quantiles made it before
            by_numpy.reference, by_numpy.fpr, by_numpy.raw_threshold = reference, fpr, fitted.raw_threshold
            by_numpy.tail_start, by_numpy.tail_share = tail_start, excess.size / reference.size
            by_numpy.tail_scale = float(excess.mean()) if excess.size else 0.0
            probe = np.concatenate([reference, [reference.max() * 2 + 1, reference.min() - 1, 0.0, -0.0]])
            assert fitted.scores(probe).tobytes() == by_numpy.scores(probe).tobytes()
            assert fitted.score_threshold == by_numpy.score_threshold
