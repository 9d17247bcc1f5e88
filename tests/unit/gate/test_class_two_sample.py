"""gate.class_two_sample.relabelled_spread: records of a listed class that lie within base classes' own spread, pooled
over the classes they sit inside (F1) and counted by the ones that lie close, not only by their share (F2). Real
arrays, seeded; the class each record sits inside is given, as gate.class_inside gives it."""

from __future__ import annotations

import numpy as np

from provenance.gate.class_two_sample import MIN_RECORDS, WITHIN, band_bound, close_bound, relabelled_spread

CENTRES = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 8.0, 0.0]])  # three base classes, 8 apart


def _base() -> tuple[np.ndarray, np.ndarray]:
    """200 records of each class about its centre (unit normal) and their class indexes."""
    rng = np.random.default_rng(34)
    return np.vstack([rng.normal(c, 1.0, (200, 3)) for c in CENTRES]), np.repeat(np.arange(3), 200)


def _fresh(per_class: int, seed: int = 35) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` fresh records of each class, drawn as the base's, and the class each sits inside."""
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(c, 1.0, (per_class, 3)) for c in CENTRES]), np.repeat(np.arange(3), per_class)


def test_four_records_in_each_of_three_classes_are_tested_together():
    # F1: under MIN_RECORDS in every class, 12 together (7 of them within their class's median spacing, as about half
    # of records drawn as the base's are); each class's 4 alone test nothing
    sample, labels = _base()
    listed, inside = _fresh(4, seed=36)
    spread = relabelled_spread(listed, inside, sample, labels)
    assert MIN_RECORDS == 5 and spread is not None and spread.classes == (0, 1, 2) and spread.records == 12
    assert spread.within == 7 and spread.share >= WITHIN
    assert relabelled_spread(listed[:4], inside[:4], sample, labels) is None


def test_far_records_do_not_dilute_the_close_ones_away():
    # F2: 20 records a millionth off base records beside 500 far ones inside the same class: a share of 4%, but 20
    # close where a new class's records in the band (the 20 and 33 of the far ones: the rest lie beyond the class's 90%
    # quantile) show at most close_bound(53)
    sample, labels = _base()
    rng = np.random.default_rng(36)
    far = rng.normal(0.0, 1.0, (500, 3))
    far = 3.5 * far / np.linalg.norm(far, axis=1, keepdims=True)  # on a sphere at class 0's edge, off its records
    listed = np.vstack([sample[:20] + 1e-6, far])
    spread = relabelled_spread(listed, np.zeros(len(listed), dtype=np.int64), sample, labels)
    assert spread is not None and spread.classes == (0,) and spread.records == 520
    assert spread.share < WITHIN and spread.band == 53 and spread.close >= 20 > close_bound(53) == spread.bound
    assert relabelled_spread(far, np.zeros(len(far), dtype=np.int64), sample, labels) is None


def test_far_records_inside_another_class_do_not_dilute_a_class_s_own_share():
    sample, labels = _base()
    listed, inside = _fresh(10)
    rng = np.random.default_rng(37)
    far = (
        CENTRES[1]
        + 3.5 * rng.normal(0.0, 1.0, (300, 3)) / np.linalg.norm(rng.normal(0.0, 1.0, (300, 3)), axis=1)[:, None]
    )
    spread = relabelled_spread(
        np.vstack([listed[:10], far]), np.r_[inside[:10], np.ones(300, dtype=np.int64)], sample, labels
    )
    assert spread is not None and spread.classes == (0,) and spread.records == 10


def test_a_new_class_at_a_class_s_edge_and_records_inside_none_are_not_relabelled():
    sample, labels = _base()
    edge = np.random.default_rng(38).normal([4.0, 4.0, 3.0], 0.5, (40, 3))  # between the classes, off every record
    assert relabelled_spread(edge, np.zeros(40, dtype=np.int64), sample, labels) is None
    listed, _ = _fresh(10)
    assert relabelled_spread(listed, np.full(len(listed), -1), sample, labels) is None


def test_the_close_bound_is_a_binomial_limit_at_one_percent():
    assert [close_bound(n) for n in (0, 18, 30, 373)] == [0, 2, 3, 11]


def _beyond_spacing(sample: np.ndarray, ratio: float, k: int) -> np.ndarray:
    """``k`` records about class 0's records (the first 200 of ``sample``), each stepped from one of them (seeded)
    along a random direction until its nearest class-0 record lies ``ratio`` times their median nearest-record
    distance away."""
    own = sample[:200]
    gaps = np.sqrt(((own[:, None, :] - own[None, :, :]) ** 2).sum(-1)) + np.diag(np.full(200, np.inf))
    radius = ratio * float(np.median(gaps.min(1)))
    rng, out = np.random.default_rng(39), []
    for start in own[rng.integers(0, 200, k)]:
        step = rng.normal(size=3)
        step /= np.linalg.norm(step)
        reach = np.arange(1, 2000) * radius / 100  # up to 20 radii: out of the class, if nowhere nearer
        gap = np.sqrt(((start + reach[:, None] * step - own[:, None, :]) ** 2).sum(-1)).min(0)
        out.append(start + reach[int(np.argmax(gap >= radius))] * step)
    return np.array(out)


def test_records_just_beyond_the_median_spacing_are_counted_in_the_band():
    # A34e-1: 40 records each 1.2 times class 0's median spacing from its nearest record: none within the median, none
    # close, all 40 within the class's 90% quantile, where a new class of 40 shows at most band_bound(40)
    sample, labels = _base()
    listed = _beyond_spacing(sample, 1.2, 40)
    spread = relabelled_spread(listed, np.zeros(40, dtype=np.int64), sample, labels)
    assert spread is not None and spread.within == 0 and spread.close == 0
    assert spread.band == 40 > band_bound(40) == spread.band_bound
    # three times the spacing: beyond the band, as a new class at the class's edge lies (the test's bound)
    assert relabelled_spread(_beyond_spacing(sample, 3.0, 40), np.zeros(40, dtype=np.int64), sample, labels) is None


def test_the_band_bound_is_a_binomial_limit_at_four_fifths():
    assert [band_bound(n) for n in (0, 25, 31, 40, 160)] == [0, 25, 30, 39, 143]
