"""The compiled neighbour block passes (``provenance.fastknn``) give numpy's answers, bit for bit.

The extension is compiled from the source here into a temporary folder (so the test checks
this source, whether or not the install built it); without a C compiler the tests skip."""

from __future__ import annotations

import importlib.util
import os
import shutil

import numpy as np
import pytest

from provenance import fastknn
from provenance.detectors import combine, registry
from provenance.detectors.extreme import batch_label_support
from provenance.detectors.findings import findings_object_bytes
from provenance.features.neighbors import nearest_by_label, nearest_with_count, squared_distances

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = fastknn.build(tmp_path_factory.mktemp("fastknn"))
    spec = importlib.util.spec_from_file_location("provenance._fastknn", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def native_blocks(monkeypatch):
    """How many blocks the compiled selection answered."""
    seen = {"compiled": 0}
    block = fastknn.Selector.block

    def counted(self, d2, start, stop, own=None):
        done = block(self, d2, start, stop, own)
        seen["compiled"] += done
        return done

    monkeypatch.setattr(fastknn.Selector, "block", counted)
    return seen


def _both(compiled, search):
    with fastknn.forced(None):
        slow = search()
    with fastknn.forced(compiled):
        fast = search()
    return slow, fast


def _assert_same(slow: dict, fast: dict) -> None:
    assert slow.keys() == fast.keys()
    for key in slow:
        assert slow[key].dtype == fast[key].dtype, key
        assert np.array_equal(slow[key], fast[key], equal_nan=True), key


def _points(rng, n, d, grid):
    if grid:  # small integer codes: many exact ties and copies
        return rng.integers(0, 3, size=(n, d)).astype(np.float32)
    return rng.normal(size=(n, d)) * 3.0  # float64: an exact copy's distance can round below zero (clipped)


@pytest.mark.parametrize("trial", range(40))
def test_blocks_give_numpys_neighbours_labels_and_counts_with_ties_floods_and_exclusions(
    compiled, native_blocks, trial
):
    rng = np.random.default_rng(trial)
    n, m, d = int(rng.integers(1, 80)), int(rng.integers(1, 3000)), int(rng.integers(1, 9))
    queries, points = _points(rng, n, d, trial % 2 == 1), _points(rng, m, d, trial % 2 == 1)
    if trial % 5 == 0:  # a flood: half the points one record
        points[: m // 2] = points[0]
        queries[: n // 2] = points[0]
    point_labels = np.sort(rng.integers(0, int(rng.integers(1, 6)), m))
    query_labels = rng.integers(0, 7, n)  # labels 5 and 6 are never in the sample
    k = int(rng.integers(1, 20))
    pairs = rng.integers(0, min(n, m), size=(2, 6)).astype(np.int64)
    exclude = (pairs[0], pairs[1]) if trial % 3 == 0 else None
    radii = np.array([0.5, 1.0, 0.0, 2.5])[: int(rng.integers(0, 5))]
    _assert_same(*_both(compiled, lambda: nearest_by_label(queries, points, k, query_labels, point_labels, exclude)))
    _assert_same(*_both(compiled, lambda: nearest_with_count(queries, points, k, radii)))
    _assert_same(*_both(compiled, lambda: nearest_with_count(queries, queries, min(k, n - 1), radii, True)))
    slow, fast = _both(compiled, lambda: squared_distances(queries, points))
    assert np.array_equal(slow, fast)
    assert native_blocks["compiled"] > 0


def test_copies_whose_distance_rounds_below_zero_are_at_zero_in_column_order(compiled, native_blocks):
    rng = np.random.default_rng(11)
    points = np.repeat(rng.normal(size=(40, 8)) * 3.0, 25, axis=0)  # 25 copies of each of 40 records
    queries = points[::7].copy()
    unclipped = queries @ points.T * -2.0 + np.einsum("ij,ij->i", queries, queries)[:, None]
    unclipped += np.einsum("ij,ij->i", points, points)[None, :]
    assert (unclipped < 0).any()  # what the clip is for
    labels = np.sort(rng.integers(0, 4, len(points)))
    query_labels = rng.integers(0, 4, len(queries))
    _assert_same(*_both(compiled, lambda: nearest_by_label(queries, points, 16, query_labels, labels)))
    _assert_same(*_both(compiled, lambda: nearest_with_count(queries, points, 16, np.array([1e-9, 0.5]))))
    slow, fast = _both(compiled, lambda: squared_distances(queries, points))
    assert np.array_equal(slow, fast) and (fast[unclipped < 0] == 0).all()
    assert native_blocks["compiled"] > 0


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_inputs_that_could_give_a_nan_distance_take_numpys_path(compiled, native_blocks):
    rng = np.random.default_rng(7)
    queries, points = rng.normal(size=(1200, 4)), rng.normal(size=(400, 4))  # blocks of 327 rows
    queries[3, 1] = np.inf  # inf - inf: NaN distances in that block
    labels, query_labels = np.sort(rng.integers(0, 3, 400)), rng.integers(0, 3, 1200)
    _assert_same(*_both(compiled, lambda: nearest_by_label(queries, points, 8, query_labels, labels)))
    huge = points.copy()
    huge[10, 0] = 1e300  # no NaN, but near overflow: numpy's path too
    _assert_same(*_both(compiled, lambda: nearest_with_count(queries[4:], huge, 8, np.array([1.0]))))
    assert native_blocks["compiled"] == 0
    _assert_same(*_both(compiled, lambda: nearest_with_count(queries[4:], points, 8, np.array([1.0]))))
    assert native_blocks["compiled"] > 0
    d2 = np.full((2, 70), 5.0)
    d2[1, 3] = np.nan
    outputs = np.zeros((2, 2), np.int64), np.zeros((2, 2)), np.zeros((2, 2), np.int64), np.zeros((2, 2))
    no = np.zeros(0, np.int64)
    assert compiled.select(d2, 70, 2, *outputs[:2], no, no, *outputs[2:], np.zeros(0), np.zeros((2, 0), np.int64)) == 0


def test_arguments_of_the_wrong_sizes_are_refused_not_read_out_of_bounds(compiled):
    d2 = np.zeros((4, 10))
    with pytest.raises(ValueError):
        compiled.finish(d2, np.zeros(3), np.zeros(10))
    idx, val = np.zeros((4, 3), np.int64), np.zeros((4, 3))
    span_idx, span_val, counts = np.zeros((4, 2), np.int64), np.zeros((4, 2)), np.zeros((4, 1), np.int64)
    own = np.zeros(4, np.int64)
    with pytest.raises(ValueError):  # a span start past the points
        compiled.select(d2, 10, 3, idx, val, np.array([0, 12]), own, span_idx, span_val, np.ones(1), counts)
    with pytest.raises(ValueError):  # an own span that does not exist
        compiled.select(d2, 10, 3, idx, val, np.array([0, 5]), own + 2, span_idx, span_val, np.ones(1), counts)
    with pytest.raises(ValueError):  # more points claimed than the block holds
        compiled.select(d2, 11, 3, idx, val, np.zeros(0, np.int64), own, span_idx, span_val, np.ones(1), counts)


def test_every_detector_finding_and_the_findings_object_are_the_same_on_real_digits(
    compiled, native_blocks, digits_split
):
    """Real data: the digits base's profile, a delta of fresh digits with relabels, exact and near copies."""
    split = digits_split
    rng = np.random.default_rng(3)
    copies = np.repeat(split.Xp[:5], 4, axis=0)
    near = split.Xp[10:40] + rng.normal(scale=0.05, size=(30, split.Xp.shape[1])).astype(np.float32)
    relabeled = split.Xb[:40]
    extra = np.vstack([copies, near, relabeled])
    labels = list(np.repeat(split.yp[:5], 4)) + list(split.yp[10:40]) + [str((int(y) + 3) % 10) for y in split.yb[:40]]
    kinds = ["added"] * 50 + ["relabeled"] * 40
    old = [None] * 50 + [str(y) for y in split.yb[:40]]
    outputs = []
    for module in (None, compiled):
        with fastknn.forced(module):
            delta = split.delta(extra, labels, kinds, old)
            results = registry.run_detectors(split.profile, delta)
            support = batch_label_support(split.profile, delta)
            verdicts = combine.combine(results, 0.01, split.profile.sample_batches, support)
            data, order = findings_object_bytes("run", "v1", "v2", [], results, delta.labels, verdicts)
        outputs.append((results, data, order))
    (slow, slow_bytes, slow_order), (fast, fast_bytes, fast_order) = outputs
    assert [r.status for r in fast] == ["ran"] * len(fast)
    for a, b in zip(slow, fast):
        assert [(f.score, f.flagged, f.explanation) for f in a.findings] == [
            (f.score, f.flagged, f.explanation) for f in b.findings
        ], a.detector
        for name in ("p_values", "reference_p", "reference_raw"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None) and (x is None or np.array_equal(x, y, equal_nan=True)), name
    assert slow_bytes == fast_bytes and slow_order == fast_order
    assert b'"flagged":true' in fast_bytes
    assert native_blocks["compiled"] > 0
