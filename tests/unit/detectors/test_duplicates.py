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


def test_a_jittered_flood_is_flagged_by_its_count_where_the_base_has_its_own_near_twins():
    """A flood of six jittered copies of one record, in weather-like data whose base has a
    few near-identical readings of its own (the seattle_weather case of the gate bench):
    the copies' closeness stays inside the base's range (p ~0.003, not flagged at the
    combined 0.01), but six near copies where a base record has 0.04 are a flood."""
    from provenance.detectors import Delta, run_detectors
    from provenance.detectors.combine import combine
    from provenance.profiles.reference import build_profile

    rng = np.random.default_rng(7)

    def readings(n):
        rain = rng.exponential(1.0, n) * (rng.random(n) < 0.4)
        X = np.column_stack([rain, rng.normal(15, 7, n), rng.normal(8, 5, n), rng.gamma(3, 1, n)])
        X = np.round(X, 0).astype(np.float32)
        return X, np.where(X[:, 0] > 0, "rain", "sun")

    Xb, yb = readings(800)
    calm = np.array([0, 10, 5, 2]) + rng.normal(0, 0.004, (6, 4)) * Xb.std(0)  # near-identical calm days
    Xb, keep = np.unique(np.vstack([Xb, calm]).astype(np.float32), axis=0, return_index=True)
    yb = np.concatenate([yb, ["sun"] * 6])[keep]
    Xc, yc = readings(300)
    fresh = np.array([d not in set(digests_of(Xb)) for d in digests_of(Xc)])
    Xc, keep = np.unique(Xc[fresh], axis=0, return_index=True)
    yc = yc[fresh][keep]
    flood = (Xb[5] + rng.normal(0, 0.03, (6, 4)) * Xb.std(0)).astype(np.float32)
    X, y = np.vstack([Xc, flood]), [*yc, *[yb[5]] * 6]
    n = len(X)
    profile = build_profile(Xb, yb, digests_of(Xb), featurizer="x", positions=np.arange(len(Xb)))
    delta = Delta(
        digests_of(X), X, y, ["v"] * n, ["added"] * n, [None] * n, np.zeros(n, np.int64), np.zeros(n, np.int64)
    )
    results = run_detectors(profile, delta, fpr=0.01)
    verdicts = combine(results, 0.01, profile.sample_batches)
    assert all(v.flagged for v in verdicts.records[-6:])
    assert sum(v.flagged for v in verdicts.records[:-6]) <= 0.02 * (n - 6)
    duplicates = next(r for r in results if r.detector == "duplicates")
    assert "near copies within" in duplicates.findings[-1].explanation
    assert "where a base record has" in duplicates.findings[-1].explanation


def test_the_count_tail_is_scipy_s_negative_binomial_or_poisson_upper_tail():
    from scipy import stats

    from provenance.detectors.duplicates import count_tail

    k = np.array([0, 1, 3, 10, 40])
    mean, variance = 2.26, 5.35
    size = mean**2 / (variance - mean)
    expected = stats.nbinom.sf(k - 1, size, size / (size + mean))
    assert np.allclose(count_tail(k, mean, variance), expected, rtol=1e-9, atol=1e-300)
    assert np.allclose(count_tail(k, 0.9, 0.5), stats.poisson.sf(k - 1, 0.9), rtol=1e-9, atol=1e-300)
    assert count_tail(np.array([0]), 1.0, 3.0)[0] == 1.0


def test_the_tight_pair_distance_is_a_low_order_statistic_of_positive_first_neighbour_distances():
    from provenance.detectors.tight_cluster import tightest_pair

    loo = np.array([[0.0, 1.0], [0.5, 2.0], [np.inf, np.inf], [0.25, 0.3]], dtype=np.float32)
    assert tightest_pair(loo) == 0.5  # an exact twin (distance 0) and a record with no neighbour are skipped
    assert tightest_pair(np.zeros((3, 2), np.float32)) == 0.0
    assert tightest_pair(np.zeros((0, 16), np.float32)) == 0.0


def _planted(loo_dist: np.ndarray, pairs: int) -> np.ndarray:
    """``loo_dist`` with ``pairs`` near-twins planted: each makes two records' nearest neighbour 1e-4 away."""
    planted = loo_dist.copy()
    planted[: 2 * pairs, 0] = 1e-4
    return planted


def test_planted_near_twins_cannot_shrink_the_tight_pair_distance_below_its_floor(digits_split):
    """Attack review 6 finding 4 and 6b finding 2: near-twins planted in earlier releases set the base's
    smallest pair distances. One pair left the 3rd smallest alone; two (over two releases) set it; the
    floor from the bulk of the distances holds until about 5% of the sample is planted."""
    from provenance.detectors.tight_cluster import (
        TIGHT_FLOOR_SHARE,
        TIGHT_ORDER,
        expected_order_distance,
        tightest_pair,
    )

    loo = digits_split.profile.loo_dist
    honest = tightest_pair(loo)
    first = np.sort(loo[:, 0][loo[:, 0] > 0])
    assert honest == first[TIGHT_ORDER - 1]  # the floor lies below the honest radius: clean data is judged as before
    floor = TIGHT_FLOOR_SHARE * expected_order_distance(loo, TIGHT_ORDER)
    assert 0.5 * honest < floor < honest
    for pairs in (1, 2, 5, 20):
        assert tightest_pair(_planted(loo, pairs)) >= 0.95 * floor, (
            pairs
        )  # plants lower the dimension estimate a little
    # a twentieth of the sample planted is what data with many natural near-twins looks like
    assert tightest_pair(_planted(loo, len(loo) // 30)) < 1e-3


def test_where_a_twentieth_of_the_base_has_a_near_twin_the_tight_pair_distance_is_the_data_s_own():
    """Rounded or repeated readings (DAAG's spam7: ~15% of its records are far closer to their nearest
    record than the bulk predicts) keep a radius on the scale of their own near-twins: the floor from
    the bulk would make clean batches of such data tight clusters."""
    from provenance.detectors.tight_cluster import TIGHT_FLOOR_QUANTILE, tightest_pair

    rng = np.random.default_rng(0)
    loo = np.sort(rng.uniform(1.0, 3.0, (1000, 16)).astype(np.float32), axis=1)
    loo[:150, 0] = rng.uniform(1e-3, 2e-3, 150)
    assert tightest_pair(loo) == np.quantile(loo[:, 0], TIGHT_FLOOR_QUANTILE) < 2e-3


def test_exact_twins_switch_the_tight_cluster_rule_off_only_when_common_throughout_the_base():
    from provenance.detectors.tight_cluster import twins_common

    batches = np.arange(1000) * 10 // 1000
    loo = np.ones((1000, 4), np.float32)
    loo[:3, :3] = 0.0  # three records with three exact twins each, planted one per release
    assert not twins_common(loo, batches)
    loo[-30:, :3] = 0.0  # 3% of the sample, in the last deliveries and beside the records they copy
    loo[[0, 100, 200, 300], :3] = 0.0
    assert not twins_common(loo, batches)
    loo[::25, :3] = 0.0  # 4% of every batch repeats its values: what the data looks like
    assert twins_common(loo, batches)
    assert not twins_common(np.zeros((0, 16), np.float32), np.zeros(0, np.int64))


def _six_copy_flood(digits_split, profile):
    """The duplicates detector's result on the clean pool plus six jittered copies of its first record."""
    rng = np.random.default_rng(3)
    flood = np.repeat(digits_split.Xp[:1], 6, axis=0)
    for row in flood:  # +-1 on two pixels each
        row[rng.choice(64, 2, replace=False)] += rng.choice([-1.0, 1.0], 2)
    delta = digits_split.delta(flood, [digits_split.yp[0]] * 6)
    return get_detector("duplicates").run(profile, delta, fpr=0.01)


def test_feature_twins_planted_over_six_deliveries_leave_the_tight_cluster_rule_on(digits_split):
    """Attack review 9, D2: three exact feature twins (distinct digests: a float changed below float32
    precision) of one base record in each of six passing deliveries, 24 of the 1,678 sample records
    with three twins (1.4%), stood the tight-cluster rule down, and a flood of six jittered copies of
    one new record then passed with nothing flagged. Real digits in the base's file order."""
    from provenance.profiles.reference import build_profile

    Xb, yb = digits_split.Xb.astype(np.float32), digits_split.yb.astype(str)
    X, y, digests = [Xb[:1000]], [yb[:1000]], digests_of(Xb[:1000])
    for k, start in enumerate(range(1000, 1078, 13)):  # six deliveries appended in file order
        original = 10 + 150 * k
        X += [Xb[start : start + 13], np.repeat(Xb[original : original + 1], 3, axis=0)]
        y += [yb[start : start + 13], [yb[original]] * 3]
        digests += digests_of(Xb[start : start + 13])
        digests += [hashlib.sha256(Xb[original].tobytes() + bytes([k, j])).digest() for j in range(3)]
    X, y = np.vstack(X), np.concatenate(y)
    profile = build_profile(X, y, digests, featurizer="numeric/v1", positions=np.arange(len(X)))
    assert len(set(digests)) == len(X) == profile.sample_size

    result = _six_copy_flood(digits_split, profile)
    assert result.summary["tight_cluster_rule"] == "on"
    assert (result.extreme_p[-6:] == 0.0).all()
    assert "a flood of copies" in result.findings[-1].explanation
    assert (result.extreme_p[1 : len(digits_split.Xp)] > 0.0).all()  # Xp[0] is the flood's original


def test_one_image_under_several_labels_is_not_a_tight_cluster(digits_split):
    """Content repeated under other labels (annotators disagreeing: one digest, several labels) is the
    label detectors' business; the tight-cluster rule counts distinct contents."""
    same = np.repeat(digits_split.Xp[:1], 4, axis=0)
    delta = digits_split.delta(same, ["1", "2", "3", "4"], digests=digests_of(same))
    result = get_detector("duplicates").run(digits_split.profile, delta, fpr=0.01)
    assert result.summary["tight_cluster_records"] == 0


def test_twins_spread_over_a_shuffled_release_file_leave_the_tight_cluster_rule_on(digits_split):
    """Attack review 10, D10-1: the same 24 planted feature twins as D2 (three per delivery, eight
    deliveries), but each release file written in shuffled row order, spread them over every
    pseudo-batch of the base and stood the rule down by itself; a flood of six jittered copies then
    passed. The rule stays on: the note says the base repeats values and names the policy setting."""
    from provenance.detectors.tight_cluster import stand_down_tight_cluster
    from provenance.profiles.reference import build_profile

    Xb, yb = digits_split.Xb.astype(np.float32), digits_split.yb.astype(str)
    X, y, digests = [Xb[:1000]], [yb[:1000]], digests_of(Xb[:1000])
    for k in range(8):
        original = 10 + 120 * k
        X.append(np.repeat(Xb[original : original + 1], 3, axis=0))
        y.append([yb[original]] * 3)
        digests += [hashlib.sha256(Xb[original].tobytes() + bytes([k, j])).digest() for j in range(3)]
    X, y = np.vstack(X), np.concatenate(y)
    order = np.random.default_rng(0).permutation(len(X))  # the release file, written shuffled
    profile = build_profile(
        X[order], y[order], [digests[i] for i in order], featurizer="numeric/v1", positions=np.arange(len(X))
    )
    result = _six_copy_flood(digits_split, profile)
    assert result.summary["twins_common"] is True  # the twins do reach every pseudo-batch
    assert result.summary["tight_cluster_rule"] == "on"
    assert "duplicates_tight_cluster = false" in result.summary["note"]
    assert (result.extreme_p[-6:] == 0.0).all()
    stand_down_tight_cluster(result)  # what the policy setting does (gate: detectors.duplicates_tight_cluster)
    assert (result.extreme_p[-6:] > 0.0).all()
    assert result.summary["note"].startswith("tight-cluster rule off by the policy")


def test_a_base_that_repeats_its_values_throughout_says_so_and_only_the_policy_stands_the_rule_down(
    digits_split,
):
    from provenance.detectors.tight_cluster import stand_down_tight_cluster
    from provenance.profiles.reference import build_profile

    Xb, yb = digits_split.Xb.astype(np.float32), digits_split.yb.astype(str)
    rows = np.sort(np.concatenate([np.arange(len(Xb)), np.repeat(np.arange(0, len(Xb), 25), 3)]))
    digests = [hashlib.sha256(Xb[r].tobytes() + i.to_bytes(4, "big")).digest() for i, r in enumerate(rows)]
    profile = build_profile(Xb[rows], yb[rows], digests, featurizer="numeric/v1", positions=np.arange(len(rows)))
    result = get_detector("duplicates").run(profile, digits_split.delta(), fpr=0.01)
    assert result.summary["tight_cluster_rule"] == "on"
    assert result.summary["note"].startswith("exact feature twins are common throughout the base")
    stand_down_tight_cluster(result)
    assert result.summary["tight_cluster_rule"].startswith("off by the policy")
