"""Nearest neighbours: the fast paths give exactly the reference's answer, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.features.neighbors import k_smallest, nearest, nearest_by_label, squared_distances


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
