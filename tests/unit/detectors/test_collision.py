import numpy as np

from provenance.detectors import get_detector


def test_records_placed_on_another_class_are_flagged_naming_the_target(digits_split, flags_and_scores):
    target = digits_split.Xb[0]
    target_class = digits_split.yb[0]
    sources = np.flatnonzero(digits_split.yp != target_class)[:15]
    poisons = target + 0.15 * (digits_split.Xp[sources] - target)
    delta = digits_split.delta(poisons, digits_split.yp[sources])
    result = get_detector("collision").run(digits_split.profile, delta, fpr=0.01)
    n_clean = len(digits_split.Xp)
    assert flags_and_scores(result, n_clean)[0].mean() >= 0.9
    assert flags_and_scores(result)[0][:n_clean].mean() <= 0.03
    explanation = result.findings[-1].explanation
    assert f"label {target_class}" in explanation  # the nearest other-class record, the likely target
