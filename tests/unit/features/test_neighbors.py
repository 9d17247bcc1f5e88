"""Nearest neighbours: the fast paths give exactly the reference's answer, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.features.neighbors import (
    k_smallest,
    nearest,
    nearest_by_label,
    nearest_with_count,
    same_digest_pairs,
    squared_distances,
)


def _reference_squared(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    d2 = q @ p.T
    d2 *= -2.0
    d2 += np.einsum("ij,ij->i", q, q)[:, None]
    d2 += np.einsum("ij,ij->i", p, p)[None, :]
    return np.maximum(d2, 0.0, out=d2)


@pytest.mark.parametrize("shape", [(7, 300, 3), (1024, 500, 8), (33, 2000, 64)])
def test_squared_distances_are_bit_for_bit_those_of_the_plain_expression(shape):
    n, m, d = shape
    rng = np.random.default_rng(n + m + d)
    q, p = rng.normal(size=(n, d)) * 3.0, rng.normal(size=(m, d)) * 3.0
    assert np.array_equal(squared_distances(q, p), _reference_squared(q, p))


def _reference_k_smallest(d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    cols = np.broadcast_to(np.arange(d2.shape[1]), d2.shape)
    order = np.lexsort((cols, d2), axis=1)[:, :k]
    top = np.take_along_axis(cols, order, axis=1)
    top_d2 = np.take_along_axis(d2, order, axis=1)
    return np.where(np.isfinite(top_d2), top, -1), top_d2


def _check_top_k(d2: np.ndarray, idx: np.ndarray, values: np.ndarray, k: int) -> None:
    """The reference's values exactly; indexes ordered by (value, index), each pointing at its
    value; equal to the reference's wherever no other entry ties with the k-th value."""
    ref_idx, ref_values = _reference_k_smallest(d2, k)
    assert np.array_equal(values, ref_values)
    rows = np.arange(len(d2))[:, None]
    finite = np.isfinite(values)
    assert np.array_equal(np.where(finite, d2[rows, np.maximum(idx, 0)], np.inf), values)
    assert np.all(np.where(finite, idx, -1) == idx) and np.all(idx[~finite] == -1)
    same = (values[:, 1:] == values[:, :-1]) & finite[:, 1:]
    assert not np.any(same & (idx[:, 1:] < idx[:, :-1]))  # ties in order of index
    kth = values[:, -1:]
    untied = (d2 == kth).sum(axis=1) <= (values == kth).sum(axis=1)
    assert np.array_equal(idx[untied], ref_idx[untied])


@pytest.mark.parametrize("k", [1, 2, 5, 16, 40])
def test_k_smallest_are_the_smallest_in_order_of_value_then_index_even_with_ties_and_excluded_entries(k):
    rng = np.random.default_rng(k)
    d2 = rng.integers(0, 6, size=(200, 40)).astype(np.float64)  # many exact ties at the k-th value
    d2[rng.random(d2.shape) < 0.2] = np.inf  # excluded pairs
    d2[0] = np.inf  # a row with nothing allowed
    d2[1, :3] = [1.0 + 1e-12, 1.0, 1.0 - 1e-12]  # differences float32 cannot see
    d2[2] = rng.normal(size=40) ** 2
    idx, values = k_smallest(d2, k)
    _check_top_k(d2, idx, values, min(k, 40))


@pytest.mark.parametrize("k", [1, 2, 5, 16, 40])
def test_k_smallest_of_wide_rows_equal_a_full_sort_by_value_then_index(k):
    # Wide enough for the group-minimum bound (2,000 columns): exact ties at the k-th value
    # (kept in order of index, as a full sort keeps them), excluded (inf) entries, a row
    # with nothing allowed, a row with fewer than k allowed, and NaN (never a neighbour).
    rng = np.random.default_rng(100 + k)
    d2 = rng.integers(0, 50, size=(60, 2000)).astype(np.float64)
    d2[rng.random(d2.shape) < 0.3] = np.inf
    d2[0] = np.inf
    d2[1] = np.inf
    d2[1, [7, 1500]] = [3.0, 3.0]
    d2[2, :3] = [1.0 + 1e-12, 1.0, 1.0 - 1e-12]
    d2[3] = rng.normal(size=2000) ** 2
    d2[4, ::3] = np.nan
    idx, values = k_smallest(d2, k)
    clean = np.where(np.isnan(d2), np.inf, d2)
    ref_idx, ref_values = _reference_k_smallest(clean, k)
    assert np.array_equal(values, ref_values) and np.array_equal(idx, ref_idx)
    assert list(idx[1, :2]) == [7, 1500][:k] and np.all(idx[0] == -1)


@pytest.mark.parametrize("k", [1, 5, 16])
def test_k_smallest_in_a_flood_of_ties_equal_a_full_sort(k):
    # Most entries equal (exact copies: distance 0), so the bound admits whole rows and the
    # search switches to its tie path: still the full sort's answer, lowest columns first.
    rng = np.random.default_rng(200 + k)
    d2 = np.zeros((40, 3000))
    d2[:, rng.choice(3000, 40, replace=False)] = np.inf  # excluded pairs
    d2[np.arange(40), np.arange(40)] = np.inf  # each row's own column
    d2[5:10] = rng.integers(0, 3, size=(5, 3000))  # few distinct values, many ties at each
    d2[10, ::2] = np.nan
    d2[11] = np.inf
    d2[11, [2999, 17, 400]] = 0.0  # fewer than k allowed
    idx, values = k_smallest(d2, k)
    ref_idx, ref_values = _reference_k_smallest(np.where(np.isnan(d2), np.inf, d2), k)
    assert np.array_equal(values, ref_values) and np.array_equal(idx, ref_idx)


def test_a_flood_of_copies_gives_the_brute_force_neighbours_and_counts():
    rng = np.random.default_rng(9)
    Z = np.vstack([np.ones((700, 4)), rng.normal(size=(300, 4))])  # 700 exact copies
    radii = np.array([0.5, 1.0, 2.0])
    got = nearest_with_count(Z, Z, 5, radii, queries_are_points=True)
    d2 = _reference_squared(Z, Z)
    np.fill_diagonal(d2, np.inf)
    ref_idx, ref_d2 = _reference_k_smallest(d2, 5)
    assert np.array_equal(got["idx"], ref_idx)
    assert np.array_equal(got["dist"], np.sqrt(ref_d2).astype(np.float32))
    assert np.array_equal(got["close"], count_within(Z, Z, radii, queries_are_points=True))
    assert got["close"][0, 0] == 699
    labels = np.sort(rng.integers(0, 3, 1000))
    query_labels = labels[rng.permutation(1000)]
    geometry = nearest_by_label(Z, Z, 16, query_labels, labels)
    for name, same in (("own", True), ("other", False)):
        masked = np.where((labels[None, :] == query_labels[:, None]) == same, _reference_squared(Z, Z), np.inf)
        best = masked.argmin(axis=1)
        assert np.array_equal(geometry[name + "_idx"], best), name


def test_excluded_pairs_and_labels_absent_from_the_sample_as_brute_force():
    # nearest_by_label against brute force over wide blocks: pairs excluded by digest (a
    # relabeled record's own copy), a query whose label the sample lacks (no "own"
    # neighbour), exact copies (ties broken by the lowest index, within and across labels).
    rng = np.random.default_rng(5)
    points = np.round(rng.normal(size=(3000, 3)), 1)
    labels = np.sort(rng.integers(0, 5, 3000))
    points[2900:2910] = points[10]  # copies of a label-0 point under label 4
    queries = np.vstack([points[:50], rng.normal(size=(30, 3))])
    query_labels = np.r_[labels[:50], np.full(30, 2)]
    query_labels[40:45] = 9  # absent from the sample
    exclude = (np.arange(20), np.arange(20))  # each of the first 20 queries is point i itself
    got = nearest_by_label(queries, points, 16, query_labels, labels, exclude=exclude)
    d2 = _reference_squared(queries, points)
    d2[exclude] = np.inf
    ref_idx, ref_d2 = _reference_k_smallest(d2, 16)
    assert np.array_equal(got["idx"], ref_idx)
    assert np.array_equal(got["dist"], np.sqrt(ref_d2).astype(np.float32))
    for name, same in (("own", True), ("other", False)):
        allowed = (labels[None, :] == query_labels[:, None]) == same
        masked = np.where(allowed, d2, np.inf)
        best = masked.argmin(axis=1)
        best_d2 = masked[np.arange(len(masked)), best]
        assert np.array_equal(got[name + "_idx"], np.where(np.isfinite(best_d2), best, -1)), name
        assert np.array_equal(got[name + "_dist"], np.sqrt(best_d2).astype(np.float32)), name
    assert np.all(got["own_idx"][40:45] == -1) and np.all(got["other_idx"] >= 0)
    idx, dist = nearest(queries, points, 16, exclude=exclude)
    assert np.array_equal(idx, ref_idx) and np.array_equal(dist, got["dist"])


def test_same_digest_pairs_name_every_identical_pair():
    rng = np.random.default_rng(2)
    points = rng.integers(0, 256, size=(50, 32), dtype=np.uint8)
    points[30] = points[3]  # one digest twice among the points
    queries = np.vstack([points[[3, 7]], rng.integers(0, 256, size=(2, 32), dtype=np.uint8), points[[7]]])
    rows, cols = same_digest_pairs(queries, points)
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 3), (0, 30), (1, 7), (4, 7)]
    assert same_digest_pairs(queries[2:4], points) is None
    assert same_digest_pairs(queries[:0], points) is None


def test_neighbours_are_the_brute_force_order_by_distance_then_index():
    rng = np.random.default_rng(3)
    points = np.round(rng.normal(size=(300, 4)), 1)
    points[150:160] = points[10]  # exact copies: tied distances
    labels = np.sort(rng.integers(0, 4, 300))
    queries = np.vstack([points[:40], rng.normal(size=(20, 4))])
    d2 = _reference_squared(queries, points)
    idx, dist = nearest(queries, points, 8)
    geometry = nearest_by_label(queries, points, 8, labels[:60], labels)
    _, ref_d2 = _reference_k_smallest(d2, 8)
    assert np.array_equal(dist, np.sqrt(ref_d2).astype(np.float32))
    for found in (idx, geometry["idx"]):
        _check_top_k(d2, found, np.where(found >= 0, d2[np.arange(60)[:, None], np.maximum(found, 0)], np.inf), 8)
    own = np.where(labels[None, :] == labels[:60, None], np.sqrt(d2), np.inf)
    assert np.array_equal(geometry["own_dist"], own.min(axis=1).astype(np.float32))


def _reference_nearest_and_count(points: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What duplicates computed before the shared pass: each point's nearest other point
    (lowest index among ties) and the other points strictly within ``radius``."""
    d2 = squared_distances(points, points)
    np.fill_diagonal(d2, np.inf)
    best = d2.argmin(axis=1)
    best_d2 = d2[np.arange(len(points)), best]
    idx = np.where(np.isfinite(best_d2), best, -1)
    return idx, np.sqrt(best_d2).astype(np.float32), (d2 < radius * radius).sum(axis=1)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 2500])
def test_one_pass_over_the_delta_gives_nearest_and_the_near_copy_count_bit_for_bit(n):
    # The delta against itself, with exact copies (tied distances) and a block boundary
    # (2,500 rows: three blocks): the k nearest are nearest()'s, bit for bit, and the
    # first neighbour and count are the separate argmin pass's.
    rng = np.random.default_rng(n)
    Z = np.round(rng.normal(size=(n, 6)), 1)
    if n > 3:
        Z[n // 2 : n // 2 + 8] = Z[1]  # a flood of exact copies
    radius = 1.0
    k = max(min(5, n - 1), 0)
    got = nearest_with_count(Z, Z, k, np.array([radius]), queries_are_points=True)
    idx, dist = nearest(Z, Z, k, queries_are_points=True)
    assert np.array_equal(got["idx"], idx) and np.array_equal(got["dist"], dist)
    ref_idx, ref_dist, ref_close = _reference_nearest_and_count(Z, radius)
    assert np.array_equal(got["first_idx"], ref_idx)
    assert np.array_equal(got["first_dist"], ref_dist)
    assert np.array_equal(got["close"][:, 0], ref_close)
    assert nearest_with_count(Z, Z, k, None, queries_are_points=True)["close"].shape == (n, 0)


BLOCK_ROWS = 1024  # any block size gives the same counts


def count_within(
    queries: np.ndarray, points: np.ndarray, radii: np.ndarray, queries_are_points: bool = False
) -> np.ndarray:
    """Reference: how many ``points`` lie strictly within each of ``radii`` of each query, in a block
    loop of its own (the detectors' own pass before ``nearest_with_count`` took the radii).

    ``queries`` (n x d), ``points`` (m x d), ``radii`` (r,) in the same (standardised)
    units; with ``queries_are_points`` a query is not counted as its own neighbour.
    Returns (n, r) int64 counts; distances as ``squared_distances`` computes them, so a
    count at ``radii[j]`` equals ``nearest_with_count``'s ``close`` at that radius.
    """
    radii = np.asarray(radii, dtype=np.float64)
    n = len(queries)
    counts = np.zeros((n, len(radii)), dtype=np.int64)
    if n == 0 or len(points) == 0 or len(radii) == 0:
        return counts
    points = points.astype(np.float64, copy=False)
    norms = np.einsum("ij,ij->i", points, points)
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        d2 = squared_distances(queries[start:stop], points, norms)
        if queries_are_points:
            rows = np.arange(stop - start)
            d2[rows, start + rows] = np.inf
        for j, radius in enumerate(radii):
            counts[start:stop, j] = (d2 < radius * radius).sum(axis=1)
    return counts


def test_count_within_counts_as_nearest_with_count_does_at_each_radius():
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(1500, 5)).astype(np.float32)  # more rows than one block
    radii = np.array([0.3, 0.8, 1.4])
    counts = count_within(Z, Z, radii, queries_are_points=True)
    assert counts.shape == (1500, 3) and counts[:, 2].sum() > counts[:, 0].sum() > 0
    assert np.array_equal(counts, nearest_with_count(Z, Z, 1, radii, queries_are_points=True)["close"])
    for j in range(len(radii)):  # one radius at a time: the same counts
        assert np.array_equal(
            counts[:, j], nearest_with_count(Z, Z, 1, radii[j : j + 1], queries_are_points=True)["close"][:, 0]
        )
    assert count_within(Z[:0], Z, radii).shape == (0, 3)


@pytest.mark.parametrize("classes", [1, 2, 7])
def test_own_and_other_label_neighbours_as_brute_force_with_ties_exclusions_and_one_class(classes):
    # Each row's own- and other-label nearest is searched in one label's columns only: the lowest
    # column among ties, across labels too (values on a coarse grid tie often), a query whose
    # every own-label point is excluded, and a one-class sample (no other label: -1 and inf).
    rng = np.random.default_rng(classes)
    points = rng.integers(0, 3, size=(2100, 2)).astype(np.float64)
    labels = np.sort(rng.integers(0, classes, 2100)) * 3  # label values with gaps
    queries = rng.integers(0, 3, size=(90, 2)).astype(np.float64)
    query_labels = labels[rng.integers(0, 2100, 90)]
    query_labels[:3] = -5  # absent from the sample
    first = np.flatnonzero(labels == query_labels[3])
    rows = np.r_[np.arange(40), np.full(len(first), 3)]
    cols = np.r_[rng.integers(0, 2100, 40), first]
    got = nearest_by_label(queries, points, 4, query_labels, labels, exclude=(rows, cols))
    d2 = _reference_squared(queries, points)
    d2[rows, cols] = np.inf
    for name, same in (("own", True), ("other", False)):
        masked = np.where((labels[None, :] == query_labels[:, None]) == same, d2, np.inf)
        best = masked.argmin(axis=1)
        best_d2 = masked[np.arange(len(masked)), best]
        assert np.array_equal(got[name + "_idx"], np.where(np.isfinite(best_d2), best, -1)), name
        assert np.array_equal(got[name + "_dist"], np.sqrt(best_d2).astype(np.float32)), name
    assert got["own_idx"][3] == -1 and np.all(got["own_idx"][:3] == -1)
    if classes == 1:
        assert np.all(got["other_idx"][3:] == -1)
