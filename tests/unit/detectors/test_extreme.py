"""Evidence that blocks one record whatever the budget: far outside the base and unexplained by its batch."""

from dataclasses import replace

import numpy as np

from provenance.detectors import run_detectors
from provenance.detectors.combine import combine
from provenance.detectors.extreme import batch_label_support


def _verdicts(split, delta):
    results = run_detectors(split.profile, delta, fpr=0.01)
    return combine(results, 0.01, split.profile.sample_batches, batch_label_support(split.profile, delta))


def _only_rows(delta, keep: list[int]):
    """``delta`` (a ``Delta``) with only its records at positions ``keep``, in that order (its cache emptied)."""
    return replace(
        delta,
        digests=[delta.digests[i] for i in keep],
        X=delta.X[keep],
        labels=[delta.labels[i] for i in keep],
        sources=[delta.sources[i] for i in keep],
        kinds=[delta.kinds[i] for i in keep],
        old_labels=[delta.old_labels[i] for i in keep],
        extra_copies=delta.extra_copies[keep],
        base_copies=delta.base_copies[keep],
        cache={},
    )


def _flip(label: str) -> str:
    return str((int(label) + 5) % 10)


def test_flipped_labels_are_extreme_and_clean_records_are_not(digits_split):
    n_clean, flipped = 250, [0, 1, 2, 3, 4]
    full = digits_split.delta(digits_split.Xp[flipped] + 0.25, [_flip(str(v)) for v in digits_split.yp[flipped]])
    delta = _only_rows(full, [*range(n_clean), *range(len(full) - len(flipped), len(full))])
    verdicts = _verdicts(digits_split, delta)
    n = len(verdicts.records)
    clean, flips = verdicts.records[:n_clean], verdicts.records[n_clean:]
    assert sum(v.extreme_p <= 0.01 / n for v in flips) >= 3, [v.extreme_p for v in flips]
    assert all(v.flagged for v in flips if v.extreme_p <= 0.01 / n)
    assert not any(v.extreme_p <= 0.01 / n for v in clean)


def test_a_label_its_batch_mates_share_is_not_extreme_alone(digits_split):
    # a new writer's odd "3"s: the base calls them 8s, but the batch has 3s like them the base knows
    threes = np.flatnonzero(digits_split.yp == 3)
    odd = digits_split.Xp[threes[:4]] * 0.6 + digits_split.Xb[np.flatnonzero(digits_split.yb == 8)[:4]] * 0.4
    delta = digits_split.delta(odd, ["3"] * 4)
    support = batch_label_support(digits_split.profile, delta)
    assert (support[-4:] >= 1).all()
    verdicts = _verdicts(digits_split, delta)
    assert all(v.extreme_p == 1.0 for v in verdicts.records[-4:])


def test_flipped_records_do_not_vouch_for_each_other(digits_split):
    zeros = np.flatnonzero(digits_split.yp == 0)[:4]
    delta = digits_split.delta(digits_split.Xp[zeros] + 0.25, ["5"] * 4)  # four 0s called 5, side by side
    assert (batch_label_support(digits_split.profile, delta)[-4:] == 0).all()


def test_an_empty_record_is_extreme_when_the_base_has_none(digits_split):
    delta = digits_split.delta(np.zeros((1, 64)), ["0"])
    verdicts = _verdicts(digits_split, delta)
    assert verdicts.records[-1].extreme_p == 0.0 and verdicts.records[-1].flagged


def test_shares_weigh_the_bonferroni_and_keep_the_level():
    # collision's near-copy evidence takes OTHER_CLASS_COPY_SHARE of extreme_alpha; the two other calibrated
    # sources split the rest (each p / 0.48, not p * 3); a range rule is 0 or 1, never scaled
    import pytest

    from provenance.detectors.extreme import OTHER_CLASS_COPY_SHARE, extreme_p_by_detector

    p = [np.array([1e-4]), np.array([1e-4]), np.array([1e-4]), np.array([0.0])]
    rows = extreme_p_by_detector(p, [False] * 4, None, [False, False, False, True], [None, None, 0.04, None])
    assert OTHER_CLASS_COPY_SHARE == 0.04
    assert rows[:, 0].tolist() == pytest.approx([1e-4 * 2 / 0.96, 1e-4 * 2 / 0.96, 1e-4 / 0.04, 0.0])
    equal = extreme_p_by_detector(p[:3], [False] * 3, None, [False] * 3)
    assert equal[:, 0].tolist() == pytest.approx([3e-4] * 3)
    with pytest.raises(ValueError, match="leaving nothing"):
        extreme_p_by_detector(p[:2], [False, False], None, [False, False], [1.0, None])


def test_an_added_near_copy_of_another_class_is_extreme_and_its_relabel_is_not(digits_split):
    # a base record nudged and labelled with another class: collision's extreme evidence, beside 100 clean records
    # none of which comes near the bar; the same record declared a relabel (kind "relabeled") is the relabel rules' business
    X, labels = digits_split.Xb[:1] + 0.01, [_flip(str(digits_split.yb[0]))]
    delta = digits_split.delta(X, labels)
    delta = _only_rows(delta, [*range(100), len(delta) - 1])
    verdicts = _verdicts(digits_split, delta)
    n = len(verdicts.records)
    copy = verdicts.records[-1]
    assert copy.extreme_p <= 0.01 / n and "collision" in copy.extreme_by, (copy.extreme_p, copy.extreme_by)
    # calibrated on the base's distances to another class (A32e-4), a clean record may carry some collision
    # evidence (0.78 here, one of 100), never near the bar: at least 100 times above it
    assert all(v.extreme_by.get("collision", 1.0) > 100 * 0.01 / n for v in verdicts.records[:-1])
    relabel = replace(delta, kinds=[*delta.kinds[:-1], "relabeled"], cache={})
    assert "collision" not in _verdicts(digits_split, relabel).records[-1].extreme_by
