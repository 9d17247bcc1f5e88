"""The combined verdict's budget: overdispersion measured on the base's pseudo-batches."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as scipy_stats

from provenance import stats
from provenance.detectors import budget


def test_batches_that_flag_alike_show_no_overdispersion():
    assert budget.overdispersion([100] * 10, [1] * 10) == 0.0
    assert budget.overdispersion([100] * 10, [0] * 10) == 0.0
    assert budget.overdispersion([100], [5]) == 0.0


def test_batches_that_flag_unevenly_show_overdispersion_up_to_the_cap():
    # the fixed data of a base whose flags sit in a few batches, and one odd batch
    mild = budget.overdispersion([100] * 10, [0, 0, 1, 2, 0, 3, 1, 0, 2, 1], cap=1.0)
    odd = budget.overdispersion([100] * 10, [0, 0, 0, 0, 0, 0, 0, 0, 0, 10], cap=1.0)
    assert 0.0 <= mild < odd
    assert odd > budget.RHO_CAP and budget.overdispersion([100] * 10, [0] * 9 + [10]) == budget.RHO_CAP


def test_without_overdispersion_the_budget_is_the_binomial_one():
    for n in (50, 300, 2000):
        assert budget.upper_limit(n, 0.01, 0.001, 0.0) == stats.binomial_upper_limit(n, 0.01, 0.001)


@pytest.mark.parametrize("n,rho", [(100, 0.002), (300, 0.01), (3000, 0.005)])
def test_the_budget_is_the_strict_beta_binomial_tail_quantile(n, rho):
    k = budget.upper_limit(n, 0.01, 0.001, rho)
    a, b = 0.01 * (1 / rho - 1), 0.99 * (1 / rho - 1)
    assert scipy_stats.betabinom.sf(k, n, a, b) < 0.001 <= scipy_stats.betabinom.sf(k - 1, n, a, b)
    assert k >= stats.binomial_upper_limit(n, 0.01, 0.001)
    assert budget.tail_p(k + 1, n, 0.01, rho) < 0.001 <= budget.tail_p(k, n, 0.01, rho)


def test_the_budget_grows_with_the_spread_between_the_bases_batches():
    even = budget.flag_budget(300, 0.01, 0.001, 1000, [100] * 10, [1] * 10, calibration_size=0)
    uneven = budget.flag_budget(300, 0.01, 0.001, 1000, [100] * 10, [0, 0, 0, 0, 3, 0, 0, 4, 0, 3], calibration_size=0)
    assert even.rho == 0.0 and even.flags == stats.binomial_upper_limit(300, 0.01, 0.001)
    assert uneven.rho > 0 and uneven.flags > even.flags and uneven.beyond >= even.beyond
    assert even.beyond_rate == pytest.approx(1 / 1001)
    p_flags, p_beyond = uneven.p_values(uneven.flags + 1, 0)
    assert p_flags < 0.001 and p_beyond == 1.0


def test_an_empty_delta_has_an_empty_budget():
    empty = budget.flag_budget(0, 0.01, 0.001, 500, [50] * 10, [np.int64(1)] * 10)
    assert empty.flags == 0 and empty.beyond == 0 and empty.p_values(0, 0) == (1.0, 1.0)


def test_one_odd_base_batch_widens_a_large_delta_s_budget_at_most_fourfold():
    """Security review 2: with rho at its cap, a 10,000-record delta was allowed about a
    hundredfold variance (459 flags at fpr 0.01 instead of 124). The variance factor is capped."""
    sizes, flags = [100] * 10, [1] * 9 + [10]  # one odd pseudo-batch puts rho at the cap
    assert budget.overdispersion(sizes, flags) == budget.RHO_CAP
    for n in (300, 1_000, 10_000, 30_000):
        b = budget.flag_budget(n, 0.01, 0.01, 5_000, sizes, flags, calibration_size=0)
        assert 1 + (n - 1) * b.rho <= budget.MAX_VARIANCE_FACTOR + 1e-9
        assert b.flags == budget.upper_limit(n, 0.01, 0.01, min(budget.RHO_CAP, 3.0 / (n - 1)))
    wide = budget.flag_budget(10_000, 0.01, 0.01, 5_000, sizes, flags, calibration_size=0).flags
    assert wide < budget.upper_limit(10_000, 0.01, 0.01, budget.RHO_CAP) / 2


def _scipy_upper_limit(n: int, p: float, alpha: float, rho: float) -> int:
    """The budget as it was computed on scipy.stats.betabinom (the reference)."""
    scale = 1.0 / rho - 1.0
    a, b = p * scale, (1.0 - p) * scale
    floor = int(n * p)
    k = max(floor, int(scipy_stats.betabinom.isf(alpha, n, a, b)))
    while k < n and scipy_stats.betabinom.sf(k, n, a, b) >= alpha:
        k += 1
    while k > floor and scipy_stats.betabinom.sf(k - 1, n, a, b) < alpha:
        k -= 1
    return k


def test_the_beta_binomial_tail_gives_scipy_stats_bits_without_importing_it():
    rng = np.random.default_rng(11)
    for _ in range(60):
        n = int(rng.integers(1, 5000))
        p, rho = float(10 ** rng.uniform(-4, -0.5)), float(10 ** rng.uniform(-4, -1))
        a, b = p * (1 / rho - 1), (1 - p) * (1 / rho - 1)
        tail = budget.BetaBinomialTail(n, a, b)
        ks = sorted({-1, 0, 1, n - 1, n, n + 3, *rng.integers(0, n, 8).tolist()})
        for k in ks:  # in increasing order, then again (the kept pmf grows, then is reused)
            assert tail(k) == float(scipy_stats.betabinom.sf(k, n, a, b)), (n, a, b, k)
        for k in ks[::-1]:
            assert tail(k) == float(scipy_stats.betabinom.sf(k, n, a, b)), (n, a, b, k)
        assert budget.tail_p(ks[2], n, p, rho) == float(scipy_stats.betabinom.sf(ks[2] - 1, n, a, b))


@pytest.mark.parametrize("n", [1, 7, 100, 300, 3000, 10_000, 60_000])
def test_the_beta_binomial_budget_is_the_one_scipy_stats_gave(n):
    for p in (0.001, 0.01, 0.05, 1 / 8001):
        for rho in (1e-4, 0.002, 0.01, budget.effective_rho(0.01, n)):
            for alpha in (0.001, 0.01):
                assert budget.upper_limit(n, p, alpha, rho) == _scipy_upper_limit(n, p, alpha, rho), (n, p, rho, alpha)


def test_the_diff_and_gate_budgets_do_not_import_scipy_stats():
    code = (
        "import sys\n"
        "from provenance.detectors import budget\n"
        "budget.flag_budget(3000, 0.01, 0.001, 8000, [100] * 10, [0, 0, 0, 0, 3, 0, 0, 4, 0, 3])\n"
        "budget.flag_budget(3000, 0.01, 0.001, 8000)\n"
        "print('scipy.stats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_clean_batch_judged_by_a_small_reference_is_allowed_the_spread_that_reference_gives():
    """The combined verdict flags a record when its statistic ranks among the lowest fpr (m + 1) of
    m reference records', so a clean batch's flag rate, given the reference, is a Beta(k, m + 1 - k)
    draw around fpr: 400 clean records judged by 540 flag 4 on average but more than 11 (the
    binomial budget) about once in 120 deltas, not once in a thousand. Simulated with exchangeable
    scores: the budget with the reference's 1 / (m + 2) holds at alpha, the binomial one does not."""
    rng = np.random.default_rng(0)
    m, n, fpr, alpha = 540, 400, 0.01, 0.001
    k = int(fpr * (m + 1))
    cut = rng.beta(k, m + 1 - k, size=200_000)  # the flag rate a random reference of m gives
    counts = rng.binomial(n, cut)
    binomial = stats.binomial_upper_limit(n, fpr, alpha)
    finite = budget.flag_budget(n, fpr, alpha, m, calibration_size=m)
    assert finite.rho == pytest.approx(1 / (m + 2)) and finite.flags > binomial
    assert (counts > binomial).mean() > 5 * alpha
    assert (counts > finite.flags).mean() <= 1.5 * alpha
