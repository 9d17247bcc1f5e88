"""Exact nearest neighbours in blocks, so memory stays bounded whatever the sizes.

Used by the detectors (delta records against the profile's sample, and the delta against
itself) and by the reference profile's neighbour graph (``profiles.graph``, built once at
commit). Each block of query rows is sized so that its distance matrix fits in one core's
L2 cache (``_BLOCK_BYTES``): every pass over it then reads from cache, which halved the
cost of a 10,000-record delta against a 10,000-record matrix. BLAS runs on one thread
(``features.blas``): with blocks this small, waking threads costs more than the product,
and one thread fixes the bits. The k nearest are found by a threshold instead of a partial
sort of every row (``k_smallest``). Where the optional extension is built, the passes after
the product run in C (``provenance.fastknn``: the same answers, bit for bit).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from provenance.fastknn import Selector, finish
from provenance.features.blas import single_threaded_blas

_BLOCK_BYTES = 1 << 20  # one block's float64 distance matrix: one core's L2 cache on this project's machines
_MAX_BLOCK_ROWS = 1024
_MIN_BLOCK_ROWS = 8
_GROUP_SIZE = 16  # k_smallest: columns per group (measured: 4-32 alike; fewer groups, a looser bound)
_CANDIDATES_PER_K = 8  # k_smallest: past this many entries under the bound per neighbour wanted, rows are full of ties


def block_rows(points: int) -> int:
    """Query rows per block against ``points`` columns: a float64 block of about ``_BLOCK_BYTES``,
    between 8 and 1024 rows."""
    return int(min(_MAX_BLOCK_ROWS, max(_MIN_BLOCK_ROWS, _BLOCK_BYTES // (8 * max(points, 1)))))


def squared_distances(queries: np.ndarray, points: np.ndarray, point_norms: np.ndarray | None = None) -> np.ndarray:
    """All squared Euclidean distances, clipped at zero against rounding.

    ``queries`` (n x d) and ``points`` (m x d), any float dtype; ``point_norms`` (m,), when
    given, the points' squared norms. Returns (n x m) float64.

    In place on one matrix: the temporaries of the plain expression cost more than the
    matrix product itself. In float64: a matrix product's kernel varies with the block's
    shape, and in float32 that moved scores by up to 1e-8 between one delta and the same
    delta in chunks; in float64 the difference is below 1e-14 (tested at 1e-9).

    ``-2 q.p`` is the product with ``-2 p``: scaling by a power of two is exact in every
    product and partial sum, so the bits are those of ``(q @ p.T) * -2`` without that pass
    over the matrix (tested bit for bit).
    """
    p = points.astype(np.float64, copy=False)
    if point_norms is None:
        point_norms = np.einsum("ij,ij->i", p, p)
    return _squared_distances(queries, p * -2.0, point_norms)


def _squared_distances(queries: np.ndarray, scaled_points: np.ndarray, point_norms: np.ndarray) -> np.ndarray:
    """``squared_distances`` with the points already scaled by -2 (once per search, not per block).

    The clip at zero is ``copyto`` where negative, not ``np.maximum``: the same values (a
    sum ending in ``+ point_norms`` is never -0.0, and NaN stays NaN) at a third of the cost.
    """
    q = queries.astype(np.float64, copy=False)
    d2 = q @ scaled_points.T
    if finish(d2, np.einsum("ij,ij->i", q, q), point_norms):  # the compiled pass (provenance.fastknn): same bits
        return d2
    d2 += np.einsum("ij,ij->i", q, q)[:, None]
    d2 += point_norms[None, :]
    np.copyto(d2, 0.0, where=d2 < 0.0)
    return d2


def _blocks(
    queries: np.ndarray, points: np.ndarray, exclude: tuple[np.ndarray, np.ndarray] | None, self_pairs: bool
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield (start, stop, d2) for each block of query rows, the excluded pairs (and with
    ``self_pairs`` each query's own column) set to inf."""
    n, m = len(queries), len(points)
    points = points.astype(np.float64, copy=False)
    norms = np.einsum("ij,ij->i", points, points)
    scaled = points * -2.0
    step = block_rows(m)
    ex_rows, ex_cols = exclude if exclude is not None else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    order = np.argsort(ex_rows, kind="stable")
    ex_rows, ex_cols = ex_rows[order], ex_cols[order]
    for start in range(0, n, step):
        stop = min(start + step, n)
        d2 = _squared_distances(queries[start:stop], scaled, norms)
        lo, hi = np.searchsorted(ex_rows, [start, stop])
        if hi > lo:
            d2[ex_rows[lo:hi] - start, ex_cols[lo:hi]] = np.inf
        if self_pairs:
            rows = np.arange(stop - start)
            d2[rows, start + rows] = np.inf
        yield start, stop, d2


@single_threaded_blas
def nearest(
    queries: np.ndarray,
    points: np.ndarray,
    k: int,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
    point_mask: np.ndarray | None = None,
    queries_are_points: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Indexes and distances of the ``k`` nearest ``points`` to each query, nearest first.

    ``queries`` (n x d), ``points`` (m x d). ``exclude`` (query rows, point columns: two
    int64 arrays of equal length) removes pairs, e.g. a relabeled record and its own copy
    in the base (``same_digest_pairs``). ``point_mask`` (m,) bool restricts the points.
    ``queries_are_points`` leaves each point out of its own neighbours. Returns (n x k)
    int64 indexes and (n x k) float32 distances, ties in order of index; missing
    neighbours (fewer than k allowed points) get index -1 and distance inf.
    """
    n, m = len(queries), len(points)
    k_eff = min(k, m)
    idx = np.full((n, k), -1, dtype=np.int64)
    dist = np.full((n, k), np.inf, dtype=np.float32)
    if n == 0 or m == 0 or k == 0:
        return idx, dist
    for start, stop, d2 in _blocks(queries, points, exclude, queries_are_points):
        if point_mask is not None:
            d2[:, ~point_mask] = np.inf
        if k_eff == 1:  # the common case: a plain argmin is several times cheaper
            best, best_d2 = _argmin(d2)
            idx[start:stop, 0] = best
            dist[start:stop, 0] = np.sqrt(best_d2)
            continue
        block_idx, block_d2 = k_smallest(d2, k_eff)
        idx[start:stop, :k_eff] = block_idx
        dist[start:stop, :k_eff] = np.sqrt(block_d2)
    return idx, dist


def _argmin(d2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's smallest entry: its column (the lowest among ties; -1 where it is not
    finite) and its value."""
    best = d2.argmin(axis=1)
    best_d2 = d2[np.arange(len(d2)), best]
    return np.where(np.isfinite(best_d2), best, -1), best_d2


def k_smallest(d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` smallest entries of ``d2`` (rows x m, float64), ordered by (value, column).

    Returns (rows x min(k, m)) column indexes (int64; -1 where the entry is not finite) and
    their values (inf where a row has fewer than k entries that are not NaN). Among entries
    tied at the k-th value, those of lowest column are kept, so the answer is fully
    determined by ``d2``.

    A bound, not a partial sort of every row: the columns are cut into g >= 2k groups of
    ``_GROUP_SIZE`` (column j in group j mod g), and each row's k-th smallest group minimum
    bounds its k-th smallest entry from above (the k group minima are k distinct entries).
    Only the entries up to that bound (on real data about k per row) are sorted. The group
    minima are one vectorised pass over long contiguous runs; ``argpartition`` over every
    row cost ~10x more CPU at a 10,000-record delta.
    """
    rows, m = d2.shape
    k = min(k, m)
    groups = m // _GROUP_SIZE
    if k == 0 or groups < 2 * k:
        return _k_smallest_by_partition(d2, k)
    d2 = np.ascontiguousarray(d2)
    group_min = np.fmin.reduce(d2[:, : groups * _GROUP_SIZE].reshape(rows, _GROUP_SIZE, groups), axis=1)
    bound = np.partition(group_min, k - 1, axis=1)[:, k - 1]
    within = d2 <= bound[:, None]
    if np.count_nonzero(within) > _CANDIDATES_PER_K * k * rows:  # many ties at the bound: a flood of copies
        return _k_smallest_tied(d2, k)
    flat = np.flatnonzero(within)
    return _top_k_of(d2, flat, rows, k)


def _top_k_of(d2: np.ndarray, flat: np.ndarray, rows: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``k_smallest``'s answer from candidate entries ``flat`` (flat indexes into ``d2``, any
    order) that hold each row's k smallest: sorted by (row, value, column), the first k of
    each row kept."""
    m = d2.shape[1]
    row, col = np.divmod(flat, m)
    value = d2.ravel()[flat]
    order = np.lexsort((col, value, row))
    row, col, value = row[order], col[order], value[order]
    rank = np.arange(len(row)) - np.searchsorted(row, np.arange(rows))[row]
    keep = rank < k
    top = np.full((rows, k), -1, dtype=np.int64)
    top_d2 = np.full((rows, k), np.inf)
    top[row[keep], rank[keep]] = col[keep]
    top_d2[row[keep], rank[keep]] = value[keep]
    return np.where(np.isfinite(top_d2), top, -1), top_d2


def _k_smallest_tied(d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``k_smallest`` where many entries tie at the bound (exact copies): each row's exact k-th
    value (a sort of the block's rows), every entry below it, and of the entries equal to it the
    lowest columns that fill k (at most k ``argmax`` passes). Bounded whatever the ties."""
    rows, m = d2.shape
    if np.isnan(d2).any():  # NaN is never a neighbour; a partition would sort it last and tie on nothing
        d2 = np.where(np.isnan(d2), np.inf, d2)
    # a sort, not np.partition: introselect takes ~10x longer on rows of equal values with one inf
    kth = np.sort(d2, axis=1)[:, k - 1 : k]
    below = d2 < kth
    tied = d2 == kth
    need = k - np.count_nonzero(below, axis=1)
    every = np.arange(rows)
    for taken in range(k):  # the lowest tied column still wanted in each row, one per pass
        first = tied.argmax(axis=1)
        wanted = every[tied[every, first] & (need > taken)]
        below[wanted, first[wanted]] = True
        tied[wanted, first[wanted]] = False
    return _top_k_of(d2, np.flatnonzero(below), rows, k)


def _k_smallest_by_partition(d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``k_smallest`` for narrow matrices (fewer than 2 x _GROUP_SIZE x k columns): each
    row sorted by (value, column), NaN last and reported as inf."""
    rows, m = d2.shape
    if k == 0:
        return np.zeros((rows, 0), np.int64), np.zeros((rows, 0))
    cols = np.broadcast_to(np.arange(m), d2.shape)
    order = np.lexsort((cols, d2), axis=1)[:, :k]
    top = np.take_along_axis(cols, order, axis=1)
    top_d2 = np.take_along_axis(d2, order, axis=1)
    return np.where(np.isfinite(top_d2), top, -1), np.where(np.isnan(top_d2), np.inf, top_d2)


def same_digest_pairs(query_digests: np.ndarray, point_digests: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The (query row, point column) pairs of identical digests, as two int64 arrays (None
    when there are none). ``query_digests`` (n x 32) and ``point_digests`` (m x 32) uint8."""
    if len(query_digests) == 0 or len(point_digests) == 0:
        return None
    q = np.ascontiguousarray(query_digests).view(np.dtype((np.void, 32))).ravel()
    p = np.ascontiguousarray(point_digests).view(np.dtype((np.void, 32))).ravel()
    p_order = np.argsort(p, kind="stable")
    p_sorted = p[p_order]
    lo = np.searchsorted(p_sorted, q, side="left")
    hi = np.searchsorted(p_sorted, q, side="right")
    counts = hi - lo
    if not counts.any():
        return None
    rows = np.repeat(np.arange(len(q)), counts)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    cols = p_order[starts + np.arange(len(rows))]
    return rows.astype(np.int64), cols.astype(np.int64)


@single_threaded_blas
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
    within each of ``radii`` (r,) (counts by ``squared_distances``; r = 0 when ``radii`` is
    None). Each block's distance matrix is computed once instead of once per question: for
    the delta against itself (10,000 records) that matrix is the costliest step of
    ``prov diff --detect``.
    """
    n, m = len(queries), len(points)
    k_eff = min(k, m)
    radii2 = np.zeros(0) if radii is None else np.asarray(radii, dtype=np.float64) ** 2
    out: dict[str, np.ndarray] = {
        "idx": np.full((n, k), -1, dtype=np.int64),
        "dist": np.full((n, k), np.inf, dtype=np.float32),
        "first_idx": np.full(n, -1, dtype=np.int64),
        "first_dist": np.full(n, np.inf, dtype=np.float32),
        "close": np.zeros((n, len(radii2)), dtype=np.int64),
    }
    if n == 0 or m == 0:
        return out
    native = Selector((queries, points), k_eff, radii2=radii2)
    for start, stop, d2 in _blocks(queries, points, None, queries_are_points):
        if native.block(d2, start, stop):
            continue
        out["close"][start:stop] = _count_within(d2, radii2)
        if k_eff > 1:
            # the k smallest in order of (value, column) start with the argmin's answer: the
            # row's smallest entry at its lowest column, -1 and inf where none is finite
            block_idx, block_d2 = k_smallest(d2, k_eff)
            out["idx"][start:stop, :k_eff] = block_idx
            out["dist"][start:stop, :k_eff] = np.sqrt(block_d2)
            out["first_idx"][start:stop] = block_idx[:, 0]
            out["first_dist"][start:stop] = out["dist"][start:stop, 0]
            continue
        best, best_d2 = _argmin(d2)
        out["first_idx"][start:stop] = best
        out["first_dist"][start:stop] = np.sqrt(best_d2)
        if k_eff == 1:  # as ``nearest``: the argmin, not a search
            out["idx"][start:stop, 0] = best
            out["dist"][start:stop, 0] = out["first_dist"][start:stop]
    native.write(out)
    return out


def _count_within(d2: np.ndarray, radii2: np.ndarray) -> np.ndarray:
    """(rows x r) how many entries of each row of ``d2`` are strictly below each of ``radii2``:
    one comparison at the largest radius, then the few entries it finds counted per radius
    (or, past ``_CANDIDATES_PER_K`` a row, as in a flood of copies, each radius counted densely)."""
    rows, m = d2.shape
    counts = np.zeros((rows, len(radii2)), dtype=np.int64)
    if len(radii2) == 0:
        return counts
    within = d2 < radii2.max()
    if np.count_nonzero(within) > _CANDIDATES_PER_K * rows:  # a flood of near copies: count densely
        for j, r2 in enumerate(radii2):
            counts[:, j] = np.count_nonzero(d2 < r2, axis=1)
        return counts
    flat = np.flatnonzero(within)
    row = flat // m
    value = d2.ravel()[flat]
    for j, r2 in enumerate(radii2):
        counts[:, j] = np.bincount(row[value < r2], minlength=rows)
    return counts


@single_threaded_blas
def nearest_by_label(
    queries: np.ndarray,
    points: np.ndarray,
    k: int,
    query_labels: np.ndarray,
    point_labels: np.ndarray,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """One pass for what several detectors need: the k nearest points, and the nearest
    point with the query's label ("own") and with any other label ("other").

    ``queries`` (n x d) with ``query_labels`` (n,) int; ``points`` (m x d) with
    ``point_labels`` (m,) int sorted ascending (ValueError otherwise); ``exclude`` as for
    ``nearest``. Returns ``idx`` / ``dist`` (n x k) as ``nearest``, and ``own_idx`` /
    ``own_dist``, ``other_idx`` / ``other_dist`` (n,), the lowest index among tied points,
    -1 and inf where there is none.
    """
    n = len(queries)
    out: dict[str, np.ndarray] = {
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
    point_labels = np.asarray(point_labels)
    if np.any(np.diff(point_labels) < 0):
        raise ValueError("nearest_by_label needs the points sorted by label (profiles keep them so)")
    # Points sorted by label: each label's points are one column range, so each block's
    # per-label minima are one reduceat pass, not masked copies of the distance matrix.
    labels_present, starts = np.unique(point_labels, return_index=True)
    span = np.searchsorted(labels_present, query_labels)
    span = np.where(
        (span < len(labels_present)) & (labels_present[np.minimum(span, len(labels_present) - 1)] == query_labels),
        span,
        -1,
    )
    lo = np.where(span >= 0, starts[np.maximum(span, 0)], 0)
    hi = np.where(span >= 0, np.r_[starts[1:], m][np.maximum(span, 0)], 0)
    k_eff = min(k, m)
    ends = np.r_[starts[1:], m]
    native = Selector((queries, points), k_eff, starts=starts)
    for start, stop, d2 in _blocks(queries, points, exclude, False):
        if native.block(d2, start, stop, span[start:stop]):
            continue
        rows = np.arange(stop - start)
        per_label = np.fmin.reduceat(d2, starts, axis=1)
        own_span = span[start:stop]
        own_d2 = np.where(own_span >= 0, per_label[rows, np.maximum(own_span, 0)], np.inf)
        per_label[rows[own_span >= 0], own_span[own_span >= 0]] = np.inf
        other_d2 = per_label.min(axis=1)
        # the lowest column holding the other-label minimum lies in the lowest label holding it
        # (the labels' columns are ordered): each row searches one label's columns, not all m
        other_label = np.argmax(per_label == other_d2[:, None], axis=1)
        own = _first_in_spans(d2, lo[start:stop], hi[start:stop])
        other = _first_in_spans(d2, starts[other_label], ends[other_label])
        out["own_idx"][start:stop] = np.where(np.isfinite(own_d2), own, -1)
        out["own_dist"][start:stop] = np.sqrt(own_d2)
        out["other_idx"][start:stop] = np.where(np.isfinite(other_d2), other, -1)
        out["other_dist"][start:stop] = np.sqrt(other_d2)
        block_idx, block_d2 = k_smallest(d2, k_eff)
        out["idx"][start:stop, :k_eff] = block_idx
        out["dist"][start:stop, :k_eff] = np.sqrt(block_d2)
    native.write(out)
    return out


def _first_in_spans(d2: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Each row's lowest column of its smallest entry among columns ``lo[r]:hi[r]`` (-1 for an
    empty range), searching that range alone: a block has a few rows, each range one class's share of
    the columns, where a mask over every column and an equality pass cost several passes over the block."""
    found = np.full(len(d2), -1, dtype=np.int64)
    for r, (a, b) in enumerate(zip(lo.tolist(), hi.tolist())):
        if b > a:
            found[r] = a + int(d2[r, a:b].argmin())
    return found
