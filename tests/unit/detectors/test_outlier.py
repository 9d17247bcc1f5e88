import numpy as np

from provenance.detectors import get_detector


def test_injected_outliers_are_flagged_and_clean_records_mostly_not(digits_split, flags_and_scores):
    rng = np.random.default_rng(2)
    outliers = rng.uniform(0, 16, size=(25, 64))  # noise images in the base's pixel range
    delta = digits_split.delta(outliers, rng.integers(0, 10, 25))
    result = get_detector("outlier").run(digits_split.profile, delta, fpr=0.01)
    n_clean = len(digits_split.Xp)
    assert flags_and_scores(result, n_clean)[0].mean() == 1.0
    assert flags_and_scores(result)[0][:n_clean].mean() <= 0.03
    assert "typical" in result.findings[-1].explanation
    assert 0.0 < result.threshold < 1.0
