"""The statistics behind diff-level signals: our incomplete gamma against known values and scipy."""

from __future__ import annotations

import math

import pytest

from provenance.diff import signals


@pytest.mark.parametrize(
    "x, df, p",
    [
        (3.841458820694124, 1, 0.05),
        (5.991464547107979, 2, 0.05),
        (6.634896601021214, 1, 0.01),
        (0.0, 3, 1.0),
        (124.3421134, 100, 0.05),
    ],
)
def test_chi2_sf_known_values(x, df, p):
    assert signals.chi2_sf(x, df) == pytest.approx(p, rel=1e-7)


def test_against_scipy_over_a_grid():
    stats = pytest.importorskip("scipy.stats", reason="scipy (a test-only cross-check) is not installed")
    for df in (1, 2, 3, 7, 30, 200):
        for x in (0.01, 0.5, 1, 3, 10, 50, 300, 1500):
            assert signals.chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-8, abs=1e-300)
    for k in (1, 2, 5, 40, 1000):
        for mean in (0.001, 0.7, 5, 40, 900):
            assert signals.poisson_sf(k, mean) == pytest.approx(stats.poisson.sf(k - 1, mean), rel=1e-8, abs=1e-300)


def test_gamma_p_and_q_sum_to_one():
    for a, x in ((0.5, 0.2), (3, 2.9), (10, 30), (100, 90)):
        assert signals.gamma_p(a, x) + signals.gamma_q(a, x) == pytest.approx(1.0)


def test_poisson_edges():
    assert signals.poisson_sf(0, 3.0) == 1.0
    assert signals.poisson_sf(1, 0.0) == 0.0
    assert signals.poisson_sf(1, 2.0) == pytest.approx(1 - math.exp(-2.0))


def test_class_mix_shift_flags_a_one_class_flood_not_a_faithful_sample():
    base = {"cat": 5000, "dog": 5000}
    assert not signals.class_mix_shift({"cat": 102, "dog": 98}, base).flagged
    s = signals.class_mix_shift({"cat": 190, "dog": 10}, base)
    assert s.flagged and s.statistic["df"] == 1 and s.statistic["p_value"] < 1e-20
    assert s.statistic["cells"][0]["class"] in ("cat", "dog")


def test_tiny_shift_on_huge_sample_is_not_flagged():
    s = signals.class_mix_shift({"cat": 505_000, "dog": 495_000}, {"cat": 500_000, "dog": 500_000})
    assert s.statistic["p_value"] < 1e-6 and not s.flagged  # significant but w = 0.005


def test_a_clean_delta_large_next_to_its_base_is_not_a_shift():
    # Both samples are draws from one mix; a goodness-of-fit test against the base's
    # (noisy) mix would call this significant far more often than its p-value says.
    rng = __import__("numpy").random.default_rng(0)
    p_values = []
    for _ in range(300):
        draws = rng.choice(10, size=1800)
        base = {str(c): int((draws[:1000] == c).sum()) for c in range(10)}
        new = {str(c): int((draws[1000:] == c).sum()) for c in range(10)}
        p_values.append(signals.class_mix_shift(new, base).statistic["p_value"])
    assert sum(p < 0.01 for p in p_values) <= 9  # ~1% expected (3 of 300), well short of 3%


def test_relabel_rate_flags_the_source_that_relabels():
    out = {
        s.subject["source"]: s for s in signals.relabel_rate_by_source({"a": 2, "evil": 30}, {"a": 5000, "evil": 300})
    }
    assert out["evil"].flagged and not out["a"].flagged
    assert out["evil"].statistic["rate"] == pytest.approx(0.1)


def test_volume_jump_against_history_and_new_source():
    assert signals.volume_jump("a", 200, 1000, 0.1, [190, 210]).flagged is False
    jump = signals.volume_jump("a", 2000, 1000, 0.1, [190, 210])
    assert jump.flagged and jump.statistic["ratio"] == pytest.approx(10.0)
    new = signals.volume_jump("x", 50, 0, 0.1, [0, 0])
    assert new.name == "new_source" and not new.flagged
    assert signals.volume_jump("a", 5, 1000, 0.1, []) is None


def test_removals_concentrated_in_one_class():
    s = signals.removals_concentrated({"cat": 95, "dog": 5}, {"cat": 500, "dog": 500})
    assert s.flagged and s.subject == {"class": "cat"}
    assert not signals.removals_concentrated({"cat": 52, "dog": 48}, {"cat": 500, "dog": 500}).flagged
