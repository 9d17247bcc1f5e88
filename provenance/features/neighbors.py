"""Exact nearest neighbours in blocks, so memory stays bounded whatever the sizes.

Used by the detectors (delta records against the profile's sample) and by the reference
profile's neighbour graph (``profiles.graph``, built once at commit).
"""

from __future__ import annotations

import numpy as np

_BLOCK_ROWS = 1024  # query rows per block: a block x sample distance matrix stays small


def squared_distances(queries: np.ndarray, points: np.ndarray, point_norms: np.ndarray | None = None) -> np.ndarray:
    """All squared Euclidean distances, clipped at zero against rounding.

    In place on one matrix: the temporaries of the plain expression cost more than the
    matrix product itself. In float64: a matrix product's kernel varies with the block's
    shape, and in float32 that moved scores by up to 1e-8 between one delta and the same
    delta in chunks; in float64 the difference is below 1e-14 (tested at 1e-9).

    ``-2 q.p`` is the product with ``-2 p``: scaling by a power of two is exact in every
    product and partial sum, so the bits are those of ``(q @ p.T) * -2`` without that pass
    over the matrix (tested bit for bit).
    """
    q = queries.astype(np.float64, copy=False)
    p = points.astype(np.float64, copy=False)
    if point_norms is None:
        point_norms = np.einsum("ij,ij->i", p, p)
    d2 = q @ (p * -2.0).T
    d2 += np.einsum("ij,ij->i", q, q)[:, None]
    d2 += point_norms[None, :]
    return np.maximum(d2, 0.0, out=d2)


def nearest(
    queries: np.ndarray,
    points: np.ndarray,
    k: int,
    exclude: np.ndarray | None = None,
    point_mask: np.ndarray | None = None,
    queries_are_points: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Indexes and distances of the ``k`` nearest ``points`` to each query, nearest first.

    ``exclude`` (queries x points, bool) removes pairs, e.g. a record and itself, or a
    relabeled record and its own copy in the base. ``point_mask`` restricts the points.
    ``queries_are_points`` leaves each point out of its own neighbours without an n x n mask.
    Missing neighbours (fewer than k allowed points) get index -1 and distance inf.
    """
    n, m = len(queries), len(points)
    k_eff = min(k, m)
    idx = np.full((n, k), -1, dtype=np.int64)
    dist = np.full((n, k), np.inf, dtype=np.float32)
    if n == 0 or m == 0 or k == 0:
        return idx, dist
    points = points.astype(np.float64, copy=False)
    norms = np.einsum("ij,ij->i", points, points)
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        d2 = squared_distances(queries[start:stop], points, norms)
        if exclude is not None:
            d2[exclude[start:stop]] = np.inf
        if point_mask is not None:
            d2[:, ~point_mask] = np.inf
        if queries_are_points:
            rows = np.arange(stop - start)
            d2[rows, start + rows] = np.inf
        if k_eff == 1:  # the common case: a plain argmin is several times cheaper
            best = d2.argmin(axis=1)
            best_d2 = d2[np.arange(stop - start), best]
            idx[start:stop, 0] = np.where(np.isfinite(best_d2), best, -1)
            dist[start:stop, 0] = np.sqrt(best_d2)
            continue
        block_idx, block_d2 = k_smallest(d2, k_eff)
        idx[start:stop, :k_eff] = block_idx
        dist[start:stop, :k_eff] = np.sqrt(block_d2)
    return idx, dist


def k_smallest(d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest entries of ``d2`` (rows x m, float64), nearest first.

    Returns (rows x min(k, m)) column indexes (int64; -1 where the entry is not finite) and
    their values. ``argpartition`` keeps k entries; those are ordered by (value, column), so
    the order does not depend on argpartition's internals (which of several entries tied
    at the k-th value it keeps does). A float32 candidate search (partial sort in float32,
    then every entry at most the k-th float32 value) gave the same answers but was slower
    at these sizes: the ``nonzero`` over the block costs more than the partition saves.
    """
    rows, m = d2.shape
    k = min(k, m)
    part = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < m else np.tile(np.arange(m), (rows, 1))
    part_d2 = np.take_along_axis(d2, part, axis=1)
    order = np.lexsort((part, part_d2), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    top_d2 = np.take_along_axis(part_d2, order, axis=1)
    return np.where(np.isfinite(top_d2), top, -1), top_d2


def same_digest_mask(query_digests: np.ndarray, point_digests: np.ndarray) -> np.ndarray | None:
    """queries x points mask of identical digests (None when there are none)."""
    if len(query_digests) == 0 or len(point_digests) == 0:
        return None
    q = query_digests.view(np.dtype((np.void, 32))).ravel()
    p = point_digests.view(np.dtype((np.void, 32))).ravel()
    shared = np.isin(q, p)
    if not shared.any():
        return None
    mask = np.zeros((len(q), len(p)), dtype=bool)
    for i in np.flatnonzero(shared):
        mask[i] = p == q[i]
    return mask


def nearest_with_count(
    queries: np.ndarray,
    points: np.ndarray,
    k: int,
    radii: np.ndarray | None = None,
    queries_are_points: bool = False,
) -> dict[str, np.ndarray]:
    """One pass over the distances for what ``nearest`` and near-copy counts need.

    Returns ``idx`` / ``dist`` (n x k), exactly ``nearest(queries, points, k,
    queries_are_points=queries_are_points)``; ``first_idx`` / ``first_dist`` (n,), each
    query's nearest point by ``argmin`` (the lowest index among tied points; -1 and inf
    where none is allowed); and ``close`` (n x r, int64), how many points lie strictly
    within each of ``radii`` (r,) (counts by ``squared_distances``, strictly within; r = 0 when ``radii`` is None). Each block's distance matrix is computed
    once instead of once per question: for the delta against itself (10,000 records)
    that matrix is the costliest step of ``prov diff --detect``.
    """
    n, m = len(queries), len(points)
    k_eff = min(k, m)
    out = {
        "idx": np.full((n, k), -1, dtype=np.int64),
        "dist": np.full((n, k), np.inf, dtype=np.float32),
        "first_idx": np.full(n, -1, dtype=np.int64),
        "first_dist": np.full(n, np.inf, dtype=np.float32),
        "close": np.zeros((n, 0 if radii is None else len(radii)), dtype=np.int64),
    }
    if n == 0 or m == 0:
        return out
    points = points.astype(np.float64, copy=False)
    norms = np.einsum("ij,ij->i", points, points)
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        d2 = squared_distances(queries[start:stop], points, norms)
        rows = np.arange(stop - start)
        if queries_are_points:
            d2[rows, start + rows] = np.inf
        best = d2.argmin(axis=1)
        best_d2 = d2[rows, best]
        out["first_idx"][start:stop] = np.where(np.isfinite(best_d2), best, -1)
        out["first_dist"][start:stop] = np.sqrt(best_d2)
        for j, radius in enumerate(() if radii is None else radii):
            out["close"][start:stop, j] = (d2 < radius * radius).sum(axis=1)
        if k_eff == 1:  # as ``nearest``: the argmin, not a partial sort
            out["idx"][start:stop, 0] = out["first_idx"][start:stop]
            out["dist"][start:stop, 0] = out["first_dist"][start:stop]
        elif k_eff > 1:
            block_idx, block_d2 = k_smallest(d2, k_eff)
            out["idx"][start:stop, :k_eff] = block_idx
            out["dist"][start:stop, :k_eff] = np.sqrt(block_d2)
    return out


def nearest_by_label(
    queries: np.ndarray,
    points: np.ndarray,
    k: int,
    query_labels: np.ndarray,
    point_labels: np.ndarray,
    exclude: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One pass for what several detectors need: the k nearest points, and the nearest
    point with the query's label ("own") and with any other label ("other")."""
    n = len(queries)
    out = {
        "idx": np.full((n, k), -1, dtype=np.int64),
        "dist": np.full((n, k), np.inf, dtype=np.float32),
        "own_idx": np.full(n, -1, dtype=np.int64),
        "own_dist": np.full(n, np.inf, dtype=np.float32),
        "other_idx": np.full(n, -1, dtype=np.int64),
        "other_dist": np.full(n, np.inf, dtype=np.float32),
    }
    m = len(points)
    if n == 0 or m == 0:
        return out
    if np.any(np.diff(point_labels) < 0):
        raise ValueError("nearest_by_label needs the points sorted by label (profiles keep them so)")
    # Points sorted by label: each label's points are one column range, so own/other
    # minima are slices, not masked copies of the distance matrix.
    labels_present, starts = np.unique(point_labels, return_index=True)
    ends = np.r_[starts[1:], m]
    spans = {int(l): (int(a), int(b)) for l, a, b in zip(labels_present, starts, ends)}
    k_eff = min(k, m)
    points = points.astype(np.float64, copy=False)
    norms = np.einsum("ij,ij->i", points, points)
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        rows = np.arange(stop - start)
        d2 = squared_distances(queries[start:stop], points, norms)
        if exclude is not None:
            d2[exclude[start:stop]] = np.inf
        block_labels = query_labels[start:stop]
        for label in np.unique(block_labels):
            in_block = rows[block_labels == label]
            lo, hi = spans.get(int(label), (0, 0))
            sub = d2[in_block]
            _store_min(out, "own", start + in_block, sub[:, lo:hi], lo)
            other_lo = _min_with_offset(sub[:, :lo], 0)
            other_hi = _min_with_offset(sub[:, hi:], hi)
            take_hi = other_hi[1] < other_lo[1]
            best = np.where(take_hi, other_hi[0], other_lo[0])
            best_d2 = np.where(take_hi, other_hi[1], other_lo[1])
            out["other_idx"][start + in_block] = np.where(np.isfinite(best_d2), best, -1)
            out["other_dist"][start + in_block] = np.sqrt(best_d2)
        block_idx, block_d2 = k_smallest(d2, k_eff)
        out["idx"][start:stop, :k_eff] = block_idx
        out["dist"][start:stop, :k_eff] = np.sqrt(block_d2)
    return out


def _min_with_offset(block: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    if block.shape[1] == 0:
        return np.full(len(block), -1, dtype=np.int64), np.full(len(block), np.inf, dtype=np.float32)
    best = block.argmin(axis=1)
    return best + offset, block[np.arange(len(block)), best]


def _store_min(out: dict, name: str, rows: np.ndarray, block: np.ndarray, offset: int) -> None:
    best, best_d2 = _min_with_offset(block, offset)
    out[name + "_idx"][rows] = np.where(np.isfinite(best_d2), best, -1)
    out[name + "_dist"][rows] = np.sqrt(best_d2)
