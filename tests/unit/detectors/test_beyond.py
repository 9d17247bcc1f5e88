"""How often a clean record lies beyond every reference record: measured on the base's own
pseudo-batches (``detectors.beyond.out_of_fold_rate``), not assumed to be 1 / (m' + 1)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from provenance.detectors import Delta, run_detectors
from provenance.detectors.base import DetectorResult, Finding
from provenance.detectors.beyond import (
    RATE_CAP,
    HeldOutFolds,
    arguments_key,
    held_out,
    held_out_folds,
    held_out_p_values,
    out_of_fold,
    out_of_fold_rate,
    values_order,
    values_order_of_subset,
    weighted_statistic,
)
from provenance.detectors.budget import flag_budget
from provenance.detectors.combine import DETECTOR_WEIGHTS, combine
from provenance.detectors.extreme import batch_label_support
from provenance.detectors.relabel_scan import held_out_null
from provenance.profiles.reference import build_profile
from support import row_digests


def _delta(X: np.ndarray, y: np.ndarray) -> Delta:
    n = len(X)
    return Delta(row_digests(X), X, [str(v) for v in y], ["vendor"] * n, ["added"] * n, [None] * n)


def test_clean_batches_land_beyond_the_reference_at_the_rate_the_budget_allows_for():
    """scikit-learn's digits in a fixed random order (the gate bench's shuffle): a base of the first
    rows, a clean batch of the next 100-400 (bench/beyond_rate.py's ten batches). They put 6 records
    beyond every reference record where 1 / (m' + 1) predicts 2.7 (so the clause blocked clean
    batches: the demo's clean v2 by 16 against 15); the measured rate predicts 8.4, the nearer of the
    two. (Session 9 saw 11 against 9.4; `spectral` in the whole base's metric, session 10, puts fewer
    clean records that far out.)"""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(7).permutation(len(X))
    X, y = X[order].astype(np.float32), y[order].astype(str)
    rng = np.random.default_rng(0)
    seen = assumed = measured = 0.0
    for start in np.linspace(0.3 * len(X), 0.85 * len(X), 10).astype(int):
        size = int(min(rng.integers(100, 401), len(X) - start))
        base = X[:start]
        profile = build_profile(base, y[:start], row_digests(base), featurizer="x", positions=np.arange(start))
        delta = _delta(X[start : start + size], y[start : start + size])
        verdicts = combine(
            run_detectors(profile, delta, fpr=0.01), 0.01, profile.sample_batches, batch_label_support(profile, delta)
        )
        budget = flag_budget(size, 0.01, 0.001, verdicts.beyond_size, beyond_rate=verdicts.beyond_rate)
        seen += len(verdicts.beyond_reference)
        assumed += size / (verdicts.beyond_size + 1.0)
        measured += size * budget.beyond_rate
    assert seen >= 2 * assumed, (seen, assumed)
    assert measured / 2 <= seen <= 2 * measured, (seen, measured)
    assert abs(np.log(seen / measured)) < abs(np.log(seen / assumed)), (seen, measured, assumed)


def _raw(rng: np.random.Generator, batches: int = 10, size: int = 200) -> tuple[list[np.ndarray], np.ndarray]:
    """Three detectors' raw scores of a reference of ``batches`` pseudo-batches, exchangeable."""
    raw = [rng.exponential(size=batches * size) for _ in range(3)]
    return raw, np.repeat(np.arange(batches), size)


def test_one_odd_batch_in_the_base_does_not_buy_a_lenient_rate():
    """An earlier accepted batch of odd records (pseudo-batch 4: 60 records far out on one
    detector) would, counted, raise the measured rate and so the number of records beyond the
    reference every later delivery may bring; the batch with the most records beyond is left
    out of the rate, as the bar leaves out the most extreme batch."""
    rng = np.random.default_rng(3)
    raw, batches = _raw(rng)
    weights = np.ones(3)
    floor = 1 / 1801
    clean = out_of_fold_rate(raw, weights, batches, 0.01, floor)
    odd = [r.copy() for r in raw]
    odd[1][800:860] += 20.0
    assert out_of_fold_rate(odd, weights, batches, 0.01, floor) <= 1.5 * clean
    counted = [r.copy() for r in odd]
    counted[2][1000:1060] += 20.0  # a second odd batch is not left out: the rate rises, within its cap
    assert clean < out_of_fold_rate(counted, weights, batches, 0.01, floor) <= RATE_CAP * 0.01


def test_the_rate_is_at_least_the_exchangeable_rate_and_needs_four_batches():
    rng = np.random.default_rng(4)
    raw, batches = _raw(rng, batches=3)
    assert out_of_fold_rate(raw, np.ones(3), batches, 0.01, 0.002) == 0.002
    raw, batches = _raw(rng)
    assert out_of_fold_rate(raw, np.ones(3), batches, 0.01, 0.009) == 0.009


def test_one_odd_batch_in_the_base_does_not_buy_a_lenient_far_count_and_two_are_counted():
    """The far count's rate (records a thousandfold beyond the bar) leaves out the held-out batch
    with the most such records, as the beyond rate does: one earlier accepted batch of far-out
    records (60 in pseudo-batch 4) leaves it where a clean base has it; a second such batch is
    counted, raising the rate and the spread between batches (within the cap of fpr)."""
    rng = np.random.default_rng(3)
    raw, batches = _raw(rng)
    weights, floor = np.ones(3), 1 / 1801
    clean = out_of_fold(raw, weights, batches, 0.01, floor)
    # no held-out record that far in the 1,800 kept: (1 + 0) / (1 + 1,800)
    assert clean.far_rate == 1 / 1801 and clean.far_rho == 0.0
    odd = [r.copy() for r in raw]
    odd[1][800:860] += 200.0
    assert out_of_fold(odd, weights, batches, 0.01, floor).far_rate == clean.far_rate
    counted = [r.copy() for r in odd]
    counted[2][1000:1060] += 200.0
    twice = out_of_fold(counted, weights, batches, 0.01, floor)
    assert clean.far_rate < twice.far_rate <= 0.01 and twice.far_rho > 0.0


def test_a_dozen_backdoored_records_far_beyond_a_small_base_block_where_the_drift_budget_allows_them():
    """Session 10's gate bench: on a base of a few hundred records the flag budget, widened for the
    drift between the base's batches and for its small sample, allows ~26 flags in a batch of 313, and
    "beyond every reference record" as many, so 5-13 backdoored records, every one flagged, passed.
    Here: scikit-learn's breast cancer in file order, a base of its first 256 rows, the next 313 with
    16 of them replaced by the demo catalogue's clean-label patch backdoor. Both old counts let it
    through; the records lie a thousandfold beyond the reference's bar, where the base's own held-out
    batches put almost none, and that count blocks. The clean batch puts none there."""
    counts = _breast_cancer_far_counts("backdoor_patch_clean", 256, 313, 16, replace=True)
    assert counts["clean"][0] == 0 < counts["clean"][1], counts
    far, allowed = counts["poisoned"]
    assert far > allowed, counts


def test_five_patched_records_far_beyond_a_small_base_block_where_their_clean_twin_has_none():
    """Session 13's gate bench: a base of breast cancer's first 309 rows, the next 152 with five records
    carrying the demo catalogue's dirty-label patch trigger. Every one is flagged, all five lie far
    beyond the reference (the clean batch: none), yet the far count allowed 6: its measured rate, 1 in
    the ~280 held-out base records, was widened again by the finite reference's 1 / (m' + 2). Measured
    against held-out bars at the add-one rate, it allows 4, and the batch blocks."""
    k = 5
    counts = _breast_cancer_far_counts("backdoor_patch_dirty", 309, 152, k, replace=False)
    assert counts["clean"][0] == 0, counts
    far, allowed = counts["poisoned"]
    assert far == k and far > allowed, counts


def _breast_cancer_far_counts(attack_name: str, start: int, size: int, k: int, replace: bool) -> dict:
    """Breast cancer in file order: a base of the first ``start`` rows, the next ``size`` as a clean batch and
    with ``k`` records of the demo catalogue's ``attack_name`` (replacing the batch's first ``k``, or added
    to it). Per batch, (records far beyond the reference, the far count's allowance), after checking that
    neither ``detectors.extreme`` nor the flag and beyond counts block."""
    from sklearn.datasets import load_breast_cancer

    from provenance.demo.attacks import CATALOGUE

    X, y = load_breast_cancer(return_X_y=True)
    X, y = X.astype(np.float32), y.astype(str)
    base, batch, labels = X[:start], X[start : start + size], y[start : start + size]
    attack = next(a for a in CATALOGUE if a.name == attack_name)
    planted = attack.plant(base, y[:start], batch, labels, k, np.random.default_rng(0))
    dropped = k if replace else 0
    poisoned = np.vstack([batch[dropped:], planted.X]).astype(np.float32)
    poisoned_labels = np.concatenate([labels[dropped:], np.asarray(planted.labels).astype(str)])
    profile = build_profile(base, y[:start], row_digests(base), featurizer="x", positions=np.arange(start))
    counts = {}
    for name, (features, classes) in {"clean": (batch, labels), "poisoned": (poisoned, poisoned_labels)}.items():
        delta = _delta(features, classes)
        verdicts = combine(
            run_detectors(profile, delta, fpr=0.01), 0.01, profile.sample_batches, batch_label_support(profile, delta)
        )
        n = len(delta)
        budget = verdicts.budget(n, 0.001)
        assert min(r.extreme_p for r in verdicts.records) > 0.01 / n  # detectors.extreme does not block either
        assert len(verdicts.flagged) <= budget.flags and len(verdicts.beyond_reference) <= budget.beyond, name
        counts[name] = (len(verdicts.far_beyond_reference), budget.far)
    return counts


def _p_values_refitted(reference_raw, out, fpr):
    """Each detector's held-out and kept p-values with its calibration fitted from scratch on the
    other batches' finite raw scores in the records' own order (what ``held_out_p_values`` computes)."""
    from provenance.detectors.calibration import Calibration

    held, kept = [], []
    for raw in reference_raw:
        p_out, p_rest = np.full(int(out.sum()), np.nan), np.full(int((~out).sum()), np.nan)
        rest_raw, out_raw = raw[~out], raw[out]
        calibration = Calibration(rest_raw[np.isfinite(rest_raw)], fpr)
        p_out[np.isfinite(out_raw)] = calibration.p_values(out_raw[np.isfinite(out_raw)])
        p_rest[np.isfinite(rest_raw)] = calibration.p_values(rest_raw[np.isfinite(rest_raw)])
        held.append(p_out)
        kept.append(p_rest)
    return held, kept


def test_held_out_p_values_are_those_of_each_calibration_refitted_from_scratch():
    """``held_out_p_values`` sorts each detector's scores once and reads each batch's calibration and
    the other batches' p-values off that order: on real detector scores (digits; NaN where a detector
    could not score, ties) every p-value is the one of a calibration fitted from scratch, bit for bit."""
    from provenance.detectors.beyond import held_out_p_values, values_order

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    profile = build_profile(X[:1200], y[:1200].astype(str), row_digests(X[:1200]), featurizer="numeric/v1")
    results = run_detectors(profile, _delta(X[1200:1500], y[1200:1500]), None, 0.01)
    raws = [np.asarray(r.reference_raw, np.float64) for r in results if r.reference_raw is not None]
    raws[0] = raws[0].copy()
    raws[0][::37] = np.nan  # records a detector could not score
    batches = np.asarray(profile.sample_batches)
    order = values_order(raws)
    for b in np.unique(batches):
        for fpr in (0.01, 0.05):
            got = held_out_p_values(raws, batches == b, fpr, order)
            want = _p_values_refitted(raws, batches == b, fpr)
            for got_side, want_side in zip(got, want):
                assert [g.tobytes() for g in got_side] == [w.tobytes() for w in want_side]


def _folds_from_nothing(raw, weights, batches, fpr):
    """Each pseudo-batch held out and refitted here, as ``held_out_folds`` is documented to: ``(T_out, T_kept)``."""
    by_value = values_order(raw)
    answer = []
    for b in np.unique(batches):
        held, kept = held_out_p_values(raw, batches == b, fpr, by_value)
        answer.append((weighted_statistic(held, weights), weighted_statistic(kept, weights)))
    return answer


def test_computed_folds_answer_only_the_arguments_they_were_computed_for():
    """``held_out_folds`` reads the folds a caller passes (``held_out``) only for arguments with the same bytes
    (the beyond and far counts, the feature level and the relabel scan's null ask with the same ones); a score
    changed in place, another weight, batch, batch dtype, detector order or rate is computed anew, and equals a
    computation from nothing; the folds' arrays are read-only. (tidy29: this was a module-level cache of the last
    answer; the verdict now passes the folds it computed, ``Verdicts.held_out``.)"""
    rng = np.random.default_rng(8)
    raw, batches = _raw(rng, size=60)
    weights = np.array([1.0, 2.0, 1.0])
    computed = held_out(raw, weights, batches, 0.01)
    assert held_out_folds([r.copy() for r in raw], weights.copy(), batches.copy(), 0.01, computed) is computed.folds
    assert held_out_folds(raw, weights, batches, 0.01) is not computed.folds  # nothing kept between calls
    with pytest.raises(ValueError):
        computed.folds[0].T_out[0] = 0.0
    assert all(a.flags.writeable for a in (*raw, weights, batches))  # the caller's own arrays are not frozen
    raw[1][7] += 50.0  # batch 0's record 7, edited in place: the same objects, other bytes
    for args in (
        (raw, weights, batches, 0.01),
        (raw, np.array([1.0, 1.0, 1.0]), batches, 0.01),
        (raw, weights, batches[::-1].copy(), 0.01),
        (raw, weights, batches.astype(np.int32), 0.01),
        ([raw[1], raw[0], raw[2]], weights[[1, 0, 2]], batches, 0.01),
        (raw, weights, batches, 0.02),
    ):
        folds = held_out_folds(*args, computed)
        assert folds is not computed.folds
        for fold, (T_out, T_kept) in zip(folds, _folds_from_nothing(*args), strict=True):
            assert np.array_equal(fold.T_out, T_out, equal_nan=True)
            assert np.array_equal(fold.T_kept, T_kept, equal_nan=True)
    assert not np.array_equal(held_out_folds(raw, weights, batches, 0.01, computed)[0].T_out, computed.folds[0].T_out)
    # object arrays have no bytes to key them by (their bytes are addresses): folds without a key answer no call
    assert arguments_key([r.astype(object) for r in raw], weights, batches, 0.01) is None
    unkeyed = HeldOutFolds(None, computed.folds)
    assert held_out_folds(raw, weights, batches, 0.01, unkeyed) is not computed.folds


def test_one_verdict_and_its_relabel_scan_refit_the_held_out_batches_once():
    """``combine`` (beyond and far rates, feature level) computes the held-out folds once and hands them on
    (``Verdicts.held_out``); ``relabel_scan.held_out_null`` given them reads them, and its null is the one
    computed afresh."""
    rng = np.random.default_rng(9)
    raw, batches = _raw(rng, size=60)
    m, n = len(batches), 50
    results = []
    for name, scores in zip(("knn_label", "outlier", "spectral"), raw):
        p = rng.uniform(size=n)
        findings = [Finding(f"{i:064x}", name, float(1 - v), bool(v <= 0.01), "") for i, v in enumerate(p)]
        reference_p = (np.argsort(np.argsort(-scores)) + 1.0) / (m + 1.0)
        results.append(
            DetectorResult(name, "ran", None, 0.5, findings, p_values=p, reference_p=reference_p, reference_raw=scores)
        )
    labels = [str(i % 3) for i in range(m)]
    verdicts = combine(results, 0.01, batches)
    computed = verdicts.held_out
    assert computed is not None and len(computed.folds) == len(np.unique(batches))
    # the verdict's rates and level are those its folds give (the same arguments)
    weights = np.array([DETECTOR_WEIGHTS.get(r.detector, 1.0) for r in results])
    assert held_out_folds(raw, weights, batches, 0.01, computed) is computed.folds
    assert verdicts.beyond_rate == out_of_fold(raw, weights, batches, 0.01, verdicts.beyond_rate).rate
    # the scan reads those refits: kept statistics made NaN make its null NaN
    blank = computed._replace(folds=tuple(f._replace(T_out=np.full(len(f.T_out), np.nan)) for f in computed.folds))
    assert np.isnan(held_out_null(results, DETECTOR_WEIGHTS, batches, labels, 0.01, blank).p["combined"]).all()
    null = held_out_null(results, DETECTOR_WEIGHTS, batches, labels, 0.01, computed)
    afresh = held_out_null(results, DETECTOR_WEIGHTS, batches, labels, 0.01)
    assert null.p.keys() == afresh.p.keys() == {"combined", "knn_label"}
    for source, p in null.p.items():
        assert np.array_equal(p, afresh.p[source], equal_nan=True)
    # other weights than the verdict's: the scan refits (the folds do not answer them)
    other = {**DETECTOR_WEIGHTS, "outlier": 3.0}
    assert not np.isnan(held_out_null(results, other, batches, labels, 0.01, blank).p["combined"]).all()


def _scores_with_ties_zeros_and_gaps(rng: np.random.Generator, m: int = 900) -> list[np.ndarray]:
    """Three detectors' raw scores as the held-out refits meet them: continuous, rounded to a grid (ties, as
    ``gradient``'s ``RESOLUTION`` makes), and with NaN where a detector could not score, -0.0 beside 0.0."""
    smooth = rng.exponential(size=m)
    grid = np.round(rng.normal(size=m), 1)
    grid[::17] = -0.0
    grid[1::17] = 0.0
    gaps = rng.normal(size=m)
    gaps[::7] = np.nan
    return [smooth, grid, gaps]


def test_a_calibration_fitted_on_sorted_scores_is_the_one_fitted_from_scratch_bit_for_bit():
    """Session 29 (perf29): the held-out refits fit each calibration on scores already in order
    (``Calibration.of_sorted``) and score its own records from their runs of equal values
    (``reference_p_values``), not by sorting and searching again: every threshold, score and p-value is the
    one of ``Calibration(scores)``, ties, -0.0 and values past the tail included."""
    from provenance.detectors.calibration import Calibration

    rng = np.random.default_rng(29)
    for raw in _scores_with_ties_zeros_and_gaps(rng):
        finite = raw[np.isfinite(raw)]
        fitted = finite[np.argsort(finite, kind="stable")]
        for fpr in (0.01, 0.2):
            fresh, presorted = Calibration(raw, fpr), Calibration.of_sorted(fitted, fpr)
            assert (presorted.raw_threshold, presorted.tail_start, presorted.tail_scale, presorted.tail_share) == (
                fresh.raw_threshold,
                fresh.tail_start,
                fresh.tail_scale,
                fresh.tail_share,
            )
            probe = np.concatenate([finite, [finite.max() * 3, finite.min() - 1.0, 0.0, -0.0]])
            assert presorted.p_values(probe).tobytes() == fresh.p_values(probe).tobytes()
            assert presorted.reference_p_values().tobytes() == fresh.p_values(fitted).tobytes()
    with pytest.raises(ValueError):
        Calibration.of_sorted(np.zeros(0), 0.01)
    with pytest.raises(ValueError):
        Calibration.of_sorted(np.arange(3.0), 1.5)


def test_the_order_of_a_subset_read_off_the_whole_order_is_the_subsets_own():
    """``values_order_of_subset``: the label-drift level's forward pools (each pseudo-batch with the ones before
    it) take their order from the whole reference's, not from a sort of each pool: the same positions."""
    rng = np.random.default_rng(30)
    raws = _scores_with_ties_zeros_and_gaps(rng)
    batches = np.repeat(np.arange(10), 90)
    whole = values_order(raws)
    for keep in [batches <= b for b in range(10)] + [rng.uniform(size=900) < 0.5, np.zeros(900, bool)]:
        got = values_order_of_subset(whole, keep)
        want = values_order([raw[keep] for raw in raws])
        assert [g.tolist() for g in got] == [w.tolist() for w in want]


def test_the_weighted_statistic_is_the_least_weighted_p_value_of_each_record():
    """``weighted_statistic`` column by column (session 29) equals the (k, d) matrix form it replaced, bit for
    bit: NaN for a record no detector scored, a detector's missing p-value skipped, float32 columns widened."""
    rng = np.random.default_rng(31)
    p = [rng.uniform(size=500) for _ in range(4)]
    p[2][1::9] = 0.0
    p[0][::5] = np.nan
    p[1][::5] = np.nan
    p[2][::5] = np.nan
    p[3][::10] = np.nan  # every tenth record: no detector has a p-value
    p[3] = p[3].astype(np.float32)
    weights = np.array([1.0, 2.0, 1.0, 3.0])
    P = np.column_stack(p) / weights
    finite = np.isfinite(P)
    want = np.where(finite.any(axis=1), np.where(finite, P, np.inf).min(axis=1), np.nan)
    got = weighted_statistic(p, weights)
    assert got.dtype == np.float64 and got.tobytes() == want.tobytes()
    assert np.isnan(got[::10]).all() and np.isfinite(np.delete(got, np.arange(0, 500, 10))).all()
    with pytest.raises(ValueError):
        weighted_statistic(p, weights[:3])
