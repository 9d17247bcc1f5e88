"""The per-detector count (``detectors.count_scan``): records one detector finds unusual, counted against
the base's later pseudo-batches, each scored against the batches before it."""

import hashlib

import numpy as np
import pytest
from sklearn.datasets import load_digits

from provenance.demo.attacks import CATALOGUE
from provenance.detectors import Delta, run_detectors
from provenance.detectors.combine import combine
from provenance.detectors.count_scan import LEVEL, forward_null, scan_counts
from provenance.detectors.extreme import DEFAULT_EXTREME_ALPHA, batch_label_support
from provenance.profiles.reference import build_profile

FPR, ALPHA = 0.01, 0.001


def _digests(X: np.ndarray) -> list[bytes]:
    return [hashlib.sha256(r.tobytes()).digest() for r in np.ascontiguousarray(X, np.float32)]


def _delta(X: np.ndarray, y: np.ndarray) -> Delta:
    n = len(X)
    return Delta(_digests(X), X, [str(v) for v in y], ["vendor"] * n, ["added"] * n, [None] * n)


@pytest.fixture(scope="module")
def blended_digits():
    """scikit-learn's digits in the gate bench's fixed random order (seed 7): a base of the first 1,527
    rows, a clean batch of the next 213, and the same batch with 9 records replaced by the demo's
    clean-label blend backdoor (bench/results/gate-pass-rate-random.md, digits start 1527)."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(7).permutation(len(X))
    X, y = X[order].astype(np.float32), y[order].astype(str)
    start, size = 1527, 213
    Xb, yb, Xd, yd = X[:start], y[:start], X[start : start + size], y[start : start + size]
    profile = build_profile(Xb, yb, _digests(Xb), featurizer="x", positions=np.arange(start))
    attack = next(a for a in CATALOGUE if a.name == "backdoor_blend_clean")
    planted = attack.plant(Xb, yb, Xd, yd, 9, np.random.default_rng(0))
    assert set(planted.kinds) == {"added"}
    taken = set(_digests(planted.X))
    keep = [i for i, d in enumerate(_digests(Xd)) if d not in taken]
    X_new = np.vstack([Xd[keep], planted.X]).astype(np.float32)
    y_new = np.concatenate([yd[keep], np.asarray(planted.labels).astype(str)])
    poisoned = _delta(X_new, y_new)
    poison = np.arange(len(X_new)) >= len(keep)
    return profile, _delta(Xd, yd), poisoned, poison


def _gate_before(profile, delta, results) -> bool:
    """Whether the combined budget (flags, beyond, far) or the extreme rule blocks: the gate without the count."""
    verdicts = combine(results, FPR, profile.sample_batches, batch_label_support(profile, delta))
    n = len(verdicts.records)
    budget = verdicts.budget(n, ALPHA)
    return (
        len(verdicts.flagged) > budget.flags
        or len(verdicts.beyond_reference) > budget.beyond
        or len(verdicts.far_beyond_reference) > budget.far
        or any(v.extreme_p <= DEFAULT_EXTREME_ALPHA / n for v in verdicts.records)
    )


def test_a_clean_label_blend_that_only_spectral_sees_blocks_and_its_clean_twin_passes(blended_digits):
    profile, clean, poisoned, poison = blended_digits
    results = run_detectors(profile, poisoned, fpr=FPR)
    assert not _gate_before(profile, poisoned, results)  # the combined budget and the extreme rule let it through
    scan = scan_counts(results, profile.sample_batches, FPR, ALPHA)
    judged = [r.detector for r in results if r.reference_raw is not None]  # detectors with per-record scores
    assert scan.blocked and scan.detector == "spectral" and scan.tests == len(judged) == 6
    assert scan.bar == pytest.approx(ALPHA / scan.tests) and scan.level == LEVEL
    assert scan.count >= 10 and scan.expected < 2  # 12 records at spectral p <= 0.005 where 1.2 are expected
    assert poison[scan.contributors].sum() >= 8  # the records named are the planted ones
    twin = scan_counts(run_detectors(profile, clean, fpr=FPR), profile.sample_batches, FPR, ALPHA)
    assert not twin.blocked and twin.p_value > 10 * twin.bar


def test_waived_records_leave_the_count(blended_digits):
    profile, _, poisoned, _ = blended_digits
    results = run_detectors(profile, poisoned, fpr=FPR)
    scan = scan_counts(results, profile.sample_batches, FPR, ALPHA)
    spectral = next(r for r in results if r.detector == "spectral")
    low = np.flatnonzero(np.asarray(spectral.p_values) <= LEVEL).tolist()
    assert len(low) == scan.count
    waived = scan_counts(results, profile.sample_batches, FPR, ALPHA, {"spectral": low})
    assert waived.detector != "spectral" or waived.count == 0
    assert not waived.blocked


def test_the_null_is_the_later_batches_scored_forward():
    """Raw scores that grow with the base's file order (drift): a later batch scored against the batches
    before it only lands past their level far more often than ``LEVEL``; scored exchangeably it would not."""
    rng = np.random.default_rng(0)
    batches = np.repeat(np.arange(10), 100)
    drifting = rng.normal(size=1000) + 0.4 * batches
    null = forward_null(drifting, batches, FPR)
    assert len(null.sizes) == 5 and null.sizes.sum() == 500  # batches 5..9
    assert null.counts.sum() / 500 > 10 * LEVEL
    steady = forward_null(rng.normal(size=1000), batches, FPR)
    assert steady.counts.sum() / 500 < 3 * LEVEL
    assert len(forward_null(rng.normal(size=100), np.zeros(100, np.int64), FPR).sizes) == 0  # one batch: no null
