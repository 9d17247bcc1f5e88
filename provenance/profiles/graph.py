"""The neighbour graph of a reference profile's sample, leave-one-out and leave-one-batch-out.

Built once at commit so that every detector can calibrate on the reference without
touching the base again. It is an exact k-nearest-neighbour computation over the whole
sample (m x m distances, in blocks of rows so memory stays bounded), which makes it the
largest part of a profile's time; the distances are ``features.neighbors``'s.
"""

from __future__ import annotations

import numpy as np

from provenance.features.neighbors import squared_distances

_BLOCK_ROWS = 1024  # query rows per block: a block x sample distance matrix stays small
# Both neighbour lists come from one partial sort of each row: the CANDIDATES x k nearest
# records of any batch hold the k nearest of other batches unless a record's own batch
# fills them (then that row alone is searched again, so the result is exact).
CANDIDATES = 3


def batch_neighbour_graph(Z: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Neighbour geometry of a reference sample, leave-one-out and leave-one-batch-out.

    ``Z`` (m x d) are the sample's standardised features, ``labels`` (m,) class indexes
    sorted ascending, ``groups`` (m,) the pseudo-batch of each record. Returns ``loo_idx``
    and ``loo_dist`` (m x k, each record's k nearest others), ``idx`` and ``dist`` (m x k,
    the k nearest records of *other* pseudo-batches) and ``own_dist`` / ``other_dist``
    (m,), the nearest record of another batch with the same / another label. Distances
    are Euclidean (float32), neighbours nearest first with ties broken by index; missing
    neighbours are index -1 at distance inf. Raises ValueError if ``labels`` is not sorted.

    Leaving the record's whole batch out is what makes the reference look like a new
    batch would: a delta's records never have their own batch-mates in the base (grouped
    cross-validation; the conformal calibration sees the same drift a new source brings).
    """
    m = len(Z)
    out: dict[str, np.ndarray] = {
        "loo_idx": np.full((m, k), -1, dtype=np.int64),
        "loo_dist": np.full((m, k), np.inf, dtype=np.float32),
        "idx": np.full((m, k), -1, dtype=np.int64),
        "dist": np.full((m, k), np.inf, dtype=np.float32),
        "own_dist": np.full(m, np.inf, dtype=np.float32),
        "other_dist": np.full(m, np.inf, dtype=np.float32),
    }
    if m == 0:
        return out
    if np.any(np.diff(labels) < 0):
        raise ValueError("batch_neighbour_graph needs the records sorted by label")
    Z = Z.astype(np.float64, copy=False)
    groups = np.asarray(groups)
    norms = np.einsum("ij,ij->i", Z, Z)
    present, starts = np.unique(labels, return_index=True)
    spans = {int(l): (int(a), int(b)) for l, a, b in zip(present, starts, np.r_[starts[1:], m])}
    for start in range(0, m, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, m)
        rows = np.arange(stop - start)
        d2 = squared_distances(Z[start:stop], Z, norms)
        d2[rows, start + rows] = np.inf
        cand = _smallest(d2, min(CANDIDATES * k, m))
        cand_d2 = _gather(d2, cand)
        out["loo_idx"][start:stop], out["loo_dist"][start:stop] = _top_k(cand, cand_d2, k)
        d2[groups[start:stop, None] == groups[None, :]] = np.inf
        other_d2 = np.where(groups[cand] == groups[start:stop, None], np.inf, cand_d2)  # padding: inf already
        idx, dist = _top_k(cand, other_d2, k)
        # a row whose candidates were mostly its own batch-mates: search it again in full
        short = np.flatnonzero(np.isfinite(other_d2).sum(axis=1) < min(k, m))
        if len(short):
            again = _smallest(d2[short], min(k, m))
            idx[short], dist[short] = _top_k(again, _gather(d2[short], again), k)
        out["idx"][start:stop], out["dist"][start:stop] = idx, dist
        # nearest record of another batch with the same label and with another label: the
        # records are sorted by label, so a label's rows of the block and its columns are
        # both contiguous ranges (views, no copies)
        block_labels = labels[start:stop]
        cuts = np.flatnonzero(np.diff(block_labels)) + 1
        for r0, r1 in zip(np.r_[0, cuts], np.r_[cuts, stop - start]):
            lo, hi = spans[int(block_labels[r0])]
            part = d2[r0:r1]
            own = part[:, lo:hi].min(axis=1)
            other = np.minimum(
                part[:, :lo].min(axis=1) if lo > 0 else np.inf, part[:, hi:].min(axis=1) if hi < m else np.inf
            )
            out["own_dist"][start + r0 : start + r1] = np.sqrt(own)
            out["other_dist"][start + r0 : start + r1] = np.sqrt(other)
    return out


def _smallest(d2: np.ndarray, count: int) -> np.ndarray:
    """Column indexes of at least each row's ``count`` smallest entries, in no particular order.

    Every entry left out is larger than every entry kept, so the kept ones are a prefix of
    the row in sorted order (ties at the edge are all kept). The threshold is found in
    float32, where a partial sort is several times cheaper: rounding to float32 is
    monotone, so the entries whose float32 value is at most the ``count``-th smallest
    float32 value hold the ``count`` smallest float64 entries, and nothing smaller is left
    out. Rows keep different numbers of entries only through ties; shorter rows are
    padded with -1 (see ``_gather``).
    """
    rows, m = d2.shape
    if count >= m:
        return np.tile(np.arange(m), (rows, 1))
    d32 = d2.astype(np.float32)
    threshold = np.partition(d32, count - 1, axis=1)[:, count - 1]
    r, c = np.nonzero(d32 <= threshold[:, None])
    kept = np.bincount(r, minlength=rows)
    position = np.arange(len(r)) - np.repeat(np.cumsum(kept) - kept, kept)
    out = np.full((rows, int(kept.max())), -1, dtype=np.int64)
    out[r, position] = c
    return out


def _gather(d2: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """``d2`` at each row's candidate columns; inf at the padding (-1)."""
    return np.where(cand >= 0, np.take_along_axis(d2, np.maximum(cand, 0), axis=1), np.inf)


def _top_k(cand: np.ndarray, cand_d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Of candidate columns ``cand`` at squared distances ``cand_d2`` (rows x c), each row's k
    nearest (index -1 and distance inf where fewer are finite), ties broken by index."""
    rows, c = cand.shape
    idx = np.full((rows, k), -1, dtype=np.int64)
    dist = np.full((rows, k), np.inf, dtype=np.float32)
    k_eff = min(k, c)
    if rows == 0 or k_eff == 0:
        return idx, dist
    order = np.lexsort((cand, cand_d2), axis=1)[:, :k_eff]
    block_idx = np.take_along_axis(cand, order, axis=1)
    block_d2 = np.take_along_axis(cand_d2, order, axis=1)
    idx[:, :k_eff] = np.where(np.isfinite(block_d2), block_idx, -1)
    dist[:, :k_eff] = np.sqrt(block_d2)
    return idx, dist
