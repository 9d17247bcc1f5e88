import numpy as np

from provenance.detectors import get_detector


def _patch(X):
    X = X.copy()
    X[:, [0, 7, 56, 63]] = 16.0  # the four corner pixels, blank in almost every digit
    return X


def test_clean_label_patch_backdoor_is_flagged(digits_split, flags_and_scores):
    target_rows = np.flatnonzero(digits_split.yp == 0)[:20]
    delta = digits_split.delta(_patch(digits_split.Xp[target_rows]), ["0"] * 20)
    result = get_detector("spectral").run(digits_split.profile, delta, fpr=0.01)
    n_clean = len(digits_split.Xp)
    assert flags_and_scores(result, n_clean)[0].mean() >= 0.9
    assert flags_and_scores(result)[0][:n_clean].mean() <= 0.03
    assert "shared direction" in result.findings[-1].explanation


def test_clean_delta_is_flagged_near_the_stated_rate(digits_split, flags_and_scores):
    result = get_detector("spectral").run(digits_split.profile, digits_split.delta(), fpr=0.05)
    rate = np.mean([f.flagged for f in result.findings])
    assert rate <= 0.10


def test_a_faint_blended_trigger_on_a_few_clean_label_records_is_flagged(digits_split, flags_and_scores):
    """Six genuine 0s with 3% of a fixed random pattern blended in (a clean-label blend
    backdoor, as provenance.demo.attacks plants it, fainter): along directions where the
    whole base hardly varies the shift stands out. Whitened toward the identity, spectral
    flagged none of the six (issue 14: clean-label blend backdoors 2 of 43 in the gate bench)."""
    rows = np.flatnonzero(digits_split.yp == 0)[:6]
    pattern = np.random.default_rng(1234).random(64) * 16.0
    delta = digits_split.delta(0.97 * digits_split.Xp[rows] + 0.03 * pattern, ["0"] * 6)
    result = get_detector("spectral").run(digits_split.profile, delta, fpr=0.01)
    n_clean = len(digits_split.Xp)
    assert flags_and_scores(result, n_clean)[0].all()
    assert flags_and_scores(result)[0][:n_clean].mean() <= 0.015
