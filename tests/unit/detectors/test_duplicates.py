import numpy as np

from provenance.detectors import get_detector


def test_a_flood_of_near_copies_is_flagged(digits_split, flags_and_scores):
    rng = np.random.default_rng(4)
    seeds = digits_split.Xb[:3]
    copies = seeds[rng.integers(0, 3, 40)] + rng.normal(0, 0.05, (40, 64))
    delta = digits_split.delta(copies, digits_split.yb[:3][rng.integers(0, 3, 40)])
    result = get_detector("duplicates").run(digits_split.profile, delta, fpr=0.01)
    n_clean = len(digits_split.Xp)
    assert flags_and_scores(result, n_clean)[0].mean() >= 0.95
    assert flags_and_scores(result)[0][:n_clean].mean() <= 0.03
    assert "near" in result.findings[-1].explanation


def test_exact_repeats_and_constant_records_are_flagged(digits_split, flags_and_scores):
    repeated = np.repeat(digits_split.Xp[:1] + 0.5, 5, axis=0)
    blank = np.zeros((3, 64))
    delta = digits_split.delta(np.vstack([repeated, blank]), ["1"] * 8)
    result = get_detector("duplicates").run(digits_split.profile, delta, fpr=0.01)
    findings = result.findings[len(digits_split.Xp) :]
    assert all(f.flagged for f in findings)
    assert "exact copies" in findings[0].explanation
    assert "constant" in findings[-1].explanation
    assert result.summary["constant_records"] == 3
    assert result.summary["exact_repeats"] == 8  # the blank records repeat too
