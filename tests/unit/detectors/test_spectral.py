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
