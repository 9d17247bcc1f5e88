import hashlib

import numpy as np

from provenance.detectors import get_detector


def digests_of(X: np.ndarray) -> list[bytes]:
    return [hashlib.sha256(row.tobytes()).digest() for row in np.ascontiguousarray(X, dtype=np.float32)]


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


def _repeating_base(digits_split):
    """The digits base where every fifth record has three rows, as real data repeats."""
    from provenance.profiles.reference import build_profile

    Xb, yb = digits_split.Xb, digits_split.yb.astype(str)
    rows = np.concatenate([np.arange(len(Xb)), np.repeat(np.arange(0, len(Xb), 5), 2)])
    return build_profile(Xb[rows], yb[rows], digests_of(Xb[rows]), featurizer="numeric/v1")


def test_the_profile_keeps_how_often_the_base_repeats_each_record(digits_split):
    profile = _repeating_base(digits_split)
    assert sorted(set(profile.sample_copies.tolist())) == [1, 3]
    assert abs(profile.sample_copies.mean() - 1.4) < 0.05


def test_copies_at_the_base_s_own_rate_pass_and_a_flood_of_copies_is_flagged(digits_split):
    from dataclasses import replace

    profile = _repeating_base(digits_split)
    clean = digits_split.delta()
    n = len(clean)
    base_repeated, base_single = digits_split.Xb[[0, 5, 10]], digits_split.Xb[[1]]
    X = np.vstack([clean.X, base_repeated, base_single, digits_split.Xp[:1] + 0.5])
    delta = replace(
        clean,
        digests=clean.digests + digests_of(np.vstack([base_repeated, base_single, digits_split.Xp[:1] + 0.5])),
        X=X.astype(np.float32),
        labels=clean.labels + [str(v) for v in digits_split.yb[[0, 5, 10, 1]]] + [str(digits_split.yp[0])],
        sources=clean.sources + ["vendor"] * 5,
        kinds=clean.kinds + ["copied"] * 4 + ["added"],
        old_labels=clean.old_labels + [None] * 5,
        # repeated base records gain one row each (as common as the base makes them);
        # a record the base has once gains 40, a new record 40
        extra_copies=np.array([0] * n + [1, 1, 1, 40, 40]),
        base_copies=np.array([0] * n + [3, 3, 3, 1, 0]),
        cache={},
    )
    result = get_detector("duplicates").run(profile, delta, fpr=0.01)
    flags = [f.flagged for f in result.findings]
    assert flags[n : n + 3] == [False, False, False]
    assert flags[n + 3 :] == [True, True]
    assert "40 extra exact copies added" in result.findings[n + 3].explanation
    assert result.p_values[n + 3] < 1e-12 and result.summary["extra_copies"] == 83
    assert np.mean(flags[:n]) <= 0.03


def test_five_rows_of_one_new_record_are_a_flood_in_data_that_never_repeats(digits_split):
    from dataclasses import replace

    clean = digits_split.delta(digits_split.Xp[:1] + 0.5, ["1"])
    n = len(clean)
    delta = replace(clean, extra_copies=np.array([0] * (n - 1) + [4]), cache={})
    result = get_detector("duplicates").run(digits_split.profile, delta, fpr=0.01)
    assert result.extreme_p[-1] <= 0.01 / n and result.findings[-1].flagged
    assert "4 extra exact copies" in result.findings[-1].explanation
