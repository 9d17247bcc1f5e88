"""provenance.stats: every tail and test against scipy directly and against the values
prov's earlier hand-written incomplete-gamma and binomial code gave on fixed inputs."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as scipy_stats

from provenance import stats

# (input, value the hand-written code gave before prov moved to scipy)
EARLIER_CHI2 = [
    ((3.841458820694124, 1), 0.050000000000000086),
    ((50, 7), 1.4444852779215397e-08),
    ((1500, 200), 1.0036428290613718e-197),
    ((0.5, 3), 0.9188914116546758),
]
EARLIER_POISSON = [
    ((1, 0.001), 0.0009995001666250082),
    ((5, 0.7), 0.0007855354489530237),
    ((40, 5), 8.550023756842859e-23),
    ((1000, 900), 0.000549902265711916),
]
EARLIER_BINOMIAL = [
    ((3, 100, 0.01), 0.07937320225217774),
    ((12, 720, 0.01), 0.06194445788940244),
    ((30, 1000, 0.01), 2.0599888509698612e-07),
    ((1, 1, 0.5), 0.5),
]
EARLIER_BUDGET = [
    ((0, 0.01, 0.001), 0),
    ((10, 0.01, 0.001), 2),
    ((720, 0.01, 0.001), 17),
    ((100_000, 0.01, 0.001), 1099),
]
EARLIER_BUDGET += [((5000, 0.05, 0.01), 286)]


@pytest.mark.parametrize("args, earlier", EARLIER_CHI2)
def test_chi2_tail_keeps_the_earlier_values(args, earlier):
    assert stats.chi2_sf(*args) == pytest.approx(earlier, rel=1e-10)


@pytest.mark.parametrize("args, earlier", EARLIER_POISSON)
def test_poisson_tail_keeps_the_earlier_values(args, earlier):
    assert stats.poisson_sf(*args) == pytest.approx(earlier, rel=1e-10)


@pytest.mark.parametrize("args, earlier", EARLIER_BINOMIAL)
def test_binomial_tail_keeps_the_earlier_values(args, earlier):
    assert stats.binomial_sf(*args) == pytest.approx(earlier, rel=1e-10)


@pytest.mark.parametrize("args, earlier", EARLIER_BUDGET)
def test_binomial_upper_limit_keeps_the_earlier_budgets(args, earlier):
    assert stats.binomial_upper_limit(*args) == earlier


def test_tails_against_scipy_over_a_grid():
    for df in (1, 2, 3, 7, 30, 200):
        for x in (0.01, 0.5, 1, 3, 10, 50, 300, 1500):
            assert stats.chi2_sf(x, df) == pytest.approx(scipy_stats.chi2.sf(x, df), rel=1e-12, abs=1e-300)
    for k in (1, 2, 5, 40, 1000):
        for mean in (0.001, 0.7, 5, 40, 900):
            assert stats.poisson_sf(k, mean) == pytest.approx(scipy_stats.poisson.sf(k - 1, mean), rel=1e-12)
    for n in (1, 10, 720, 10_000):
        for k in (1, 2, n // 50 + 1, n):
            assert stats.binomial_sf(k, n, 0.01) == pytest.approx(scipy_stats.binom.sf(k - 1, n, 0.01), rel=1e-12)


def test_tail_edges():
    assert stats.chi2_sf(5.0, 0) == 1.0
    assert stats.poisson_sf(0, 3.0) == 1.0 and stats.poisson_sf(1, 0.0) == 0.0
    assert stats.poisson_sf(1, 2.0) == pytest.approx(1 - math.exp(-2.0))
    assert stats.binomial_sf(0, 10, 0.1) == 1.0 and stats.binomial_sf(11, 10, 0.1) == 0.0


def test_binomial_upper_limit_is_the_strict_tail_quantile():
    for n, p, alpha in ((50, 0.01, 0.001), (720, 0.01, 0.001), (3000, 0.05, 0.01), (100_000, 0.001, 1e-6)):
        k = stats.binomial_upper_limit(n, p, alpha)
        assert scipy_stats.binom.sf(k, n, p) < alpha  # more than k flags: rarer than alpha
        assert k == int(n * p) or scipy_stats.binom.sf(k - 1, n, p) >= alpha  # and k is the smallest such


def test_homogeneity_matches_scipy_contingency_and_the_earlier_values():
    test = stats.chi_square_homogeneity([190, 10, 3, 0], [5000, 5000, 0, 7])
    expected = scipy_stats.chi2_contingency([[190, 10, 3, 0], [5000, 5000, 0, 7]], correction=False)
    assert test.statistic == pytest.approx(expected.statistic) and test.df == 3
    assert test.p_value == pytest.approx(9.139189509719016e-66, rel=1e-10)  # the earlier code's value
    assert test.effect_w == pytest.approx(1.2131, abs=5e-5)
    assert test.expected[0].tolist() == pytest.approx([103.1898, 99.6112, 0.0601, 0.1389], abs=5e-4)


def test_homogeneity_cannot_test_an_empty_sample_or_one_class():
    for sample, reference in (([0, 0], [500, 500]), ([5], [500]), ([], [])):
        test = stats.chi_square_homogeneity(sample, reference)
        assert (test.statistic, test.p_value, test.effect_w) == (0.0, 1.0, 0.0)
    with pytest.raises(ValueError):
        stats.chi_square_homogeneity([1, 0], [2, 0])  # a class nobody has
    with pytest.raises(ValueError):
        stats.chi_square_homogeneity([1, 2], [2])


def test_importing_prov_statistics_does_not_load_scipy():
    code = "import sys, provenance.stats, provenance.delta.signals; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_statistics_load_scipys_special_functions_without_their_array_api_wrappers():
    """A fresh ``prov diff`` pays ~0.13 s of CPU for ``scipy.special``'s package ``__init__``
    (its array-API wrappers import numpy.f2py, numpy.testing, numpy.ma); the tails need only
    the compiled ufuncs. They must be the very objects ``scipy.special`` exports (same bits),
    and a later ``import scipy.special`` must still work."""
    code = (
        "import sys\n"
        "from provenance import stats\n"
        "values = (stats.chi2_sf(50, 7), stats.poisson_sf(5, 0.7), stats.binomial_sf(3, 100, 0.01),"
        " stats.binomial_upper_limit(720, 0.01, 0.001))\n"
        "f = stats.special_functions()\n"
        "print(sorted(m for m in ('scipy.special', 'scipy._lib.array_api_compat', 'numpy.f2py', 'numpy.ma')"
        " if m in sys.modules))\n"
        "import scipy.special\n"
        "print(values == (float(scipy.special.chdtrc(7, 50)), float(scipy.special.pdtrc(4, 0.7)),"
        " float(f._binom_sf(2.0, 100, 0.01)), 17))\n"
        "print(all(getattr(scipy.special, n) is getattr(f, n) for n in ('chdtrc', 'pdtrc', 'betaln', 'betainc')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:3] == ["[]", "True", "True"]


def test_diff_statistics_give_scipy_stats_bits_exactly():
    """The diff's tails skip importing scipy.stats; the values must not move by one bit."""
    rng = np.random.default_rng(7)
    for df in (1, 2, 3, 7, 30, 200):
        for x in (0.01, 0.5, 1, 3, 10, 50, 300, 1500):
            assert stats.chi2_sf(x, df) == float(scipy_stats.chi2.sf(x, df))
    for k in (1, 2, 5, 40, 1000):
        for mean in (0.001, 0.7, 5, 40, 900):
            assert stats.poisson_sf(k, mean) == float(scipy_stats.poisson.sf(k - 1, mean))
    for _ in range(200):
        k = int(rng.integers(2, 30))
        sample, reference = rng.integers(0, 50, k), rng.integers(1, 5000, k)
        test = stats.chi_square_homogeneity(sample.tolist(), reference.tolist())
        if sample.sum() == 0:
            continue
        ref = scipy_stats.chi2_contingency(np.array([sample, reference]), correction=False)
        assert (test.statistic, test.p_value) == (float(ref.statistic), float(ref.pvalue))
        assert test.expected.tolist() == ref.expected_freq.tolist()


def test_the_vectorised_poisson_tail_gives_scipy_stats_bits():
    k = np.array([0, 1, 2, 3, 5, 40, 1000, 7, 0, 12])
    mean = np.array([0.5, 1e-12, 0.7, 3.0, 5.0, 40.0, 900.0, 1e-3, 2.0, 1e3])
    assert stats.poisson_sf_many(k, mean).tolist() == scipy_stats.poisson.sf(k - 1, mean).tolist()
    assert stats.poisson_sf_many(k, mean)[0] == 1.0  # P(X >= 0)


def test_binomial_tails_and_limits_give_scipy_stats_bits_without_importing_it():
    rng = np.random.default_rng(5)
    for _ in range(400):
        n = int(rng.integers(1, 200_000))
        p = float(10 ** rng.uniform(-6, -0.1))
        k = int(rng.integers(1, n + 1))
        assert stats.binomial_sf(k, n, p) == float(scipy_stats.binom.sf(k - 1, n, p)), (k, n, p)
        alpha = float(10 ** rng.uniform(-5, -0.5))
        floor = int(n * p)
        ref = max(floor, int(scipy_stats.binom.isf(alpha, n, p)))
        while ref < n and scipy_stats.binom.sf(ref, n, p) >= alpha:
            ref += 1
        while ref > floor and scipy_stats.binom.sf(ref - 1, n, p) < alpha:
            ref -= 1
        assert stats.binomial_upper_limit(n, p, alpha) == ref, (n, p, alpha)
    code = "import sys, provenance.stats as s; s.binomial_upper_limit(3000, 0.01, 0.001); s.binomial_sf(40, 3000, 0.01); print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
