"""The relabel scan (``detectors.relabel_scan``): relabels judged as a group against the base's held-out batches."""

import numpy as np
import pytest

from provenance.detectors.relabel_scan import HeldOutNull, scan_relabels

BATCHES, PER_BATCH = 10, 80


def _null(low_share_by_batch=None, seed: int = 0) -> HeldOutNull:
    """Held-out records of classes "a" and "b" in BATCHES pseudo-batches; p-values uniform, or in batch b a
    share ``low_share_by_batch[b]`` of them below 0.02 (a batch that drifted)."""
    rng = np.random.default_rng(seed)
    batches = np.repeat(np.arange(BATCHES), PER_BATCH)
    labels = np.array(["a", "b"] * (BATCHES * PER_BATCH // 2), dtype=object)
    p = rng.uniform(0, 1, len(batches))
    if low_share_by_batch is not None:
        for b, share in enumerate(low_share_by_batch):
            rows = np.flatnonzero(batches == b)[: int(share * PER_BATCH)]
            p[rows] = rng.uniform(0, 0.02, len(rows))
    return HeldOutNull(batches, labels, {"combined": p, "knn_label": p.copy()})


def _delta(relabel_p):
    """20 added records (p 0.5) then relabels of class "a" with p-values ``relabel_p``, both sources alike."""
    p = np.concatenate([np.full(20, 0.5), relabel_p])
    relabeled = np.arange(len(p)) >= 20
    return {"combined": p, "knn_label": p.copy()}, ["a"] * len(p), relabeled


def test_relabels_each_moderately_low_block_together_and_are_named_lowest_first():
    p, labels, relabeled = _delta(np.array([0.015, 0.004, 0.02, 0.009, 0.012, 0.6, 0.3, 0.8]))
    scan = scan_relabels(p, labels, relabeled, _null(), alpha=0.001)
    assert scan.blocked and scan.tests == 10 and scan.bar == pytest.approx(1e-4)
    assert scan.n == 8 and scan.count >= 4 and scan.expected < 1
    assert scan.contributors[:2] == [21, 23]  # p 0.004, then 0.009: delta indices, lowest first


def test_relabels_spread_like_the_base_pass():
    p, labels, relabeled = _delta(np.linspace(0.05, 0.95, 8))
    scan = scan_relabels(p, labels, relabeled, _null(), alpha=0.001)
    assert not scan.blocked and scan.p_value > 0.01


def test_a_base_whose_batches_drift_allows_more_low_relabels():
    # 4 of 8 relabels at p 0.01: far out against a base whose batches never show that, within what it
    # shows when a batch in two holds 20% such records
    p, labels, relabeled = _delta(np.array([0.01, 0.01, 0.01, 0.01, 0.5, 0.5, 0.5, 0.5]))
    assert scan_relabels(p, labels, relabeled, _null(), alpha=0.001).blocked
    drifting = _null([0.2, 0.0] * (BATCHES // 2))
    scan = scan_relabels(p, labels, relabeled, drifting, alpha=0.001)
    assert not scan.blocked and scan.rho > 0.02


def test_waived_relabels_leave_the_count_and_no_relabel_is_no_test():
    p, labels, relabeled = _delta(np.array([0.015, 0.004, 0.02, 0.009, 0.012, 0.6, 0.3, 0.8]))
    relabeled[[20, 21, 22, 23, 24]] = False  # the five low ones waived
    scan = scan_relabels(p, labels, relabeled, _null(), alpha=0.001)
    assert scan.n == 3 and not scan.blocked
    none = scan_relabels(p, labels, np.zeros(len(labels), bool), _null(), alpha=0.001)
    assert none.tests == 0 and not none.blocked


def test_relabels_to_a_class_the_base_lacks_are_not_judged():
    p, labels, relabeled = _delta(np.array([0.004] * 6))
    labels = ["new"] * len(labels)
    scan = scan_relabels(p, labels, relabeled, _null(), alpha=0.001)
    assert scan.tests == 0 and not scan.blocked
