"""The neighbour graph of a reference profile's sample, leave-one-out and leave-one-batch-out.

Built once at commit so that every detector can calibrate on the reference without
touching the base again. It is an exact k-nearest-neighbour computation over the whole
sample (m x m distances, in blocks of rows so memory stays bounded), which makes it the
largest part of a profile's time; the distances and the k-nearest search (``k_smallest``, a
bound from column-group minima instead of a partial sort of every row) are ``features.neighbors``'s.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from provenance.executor import default_workers
from provenance.features.neighbors import k_smallest, squared_distances

_BLOCK_ROWS = 1024  # query rows per block: a block x sample distance matrix stays small
_MAX_THREADS = 2  # blocks computed at once (this project's machines have 2 cores)
_THREADED_MAX_POINTS = 4096  # above this a second block's distances (m x 1024 float64) cost too much memory


def batch_neighbour_graph(
    Z: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int, threads: int | None = None
) -> dict[str, np.ndarray]:
    """Neighbour geometry of a reference sample, leave-one-out and leave-one-batch-out.

    ``Z`` (m x d) are the sample's standardised features, ``labels`` (m,) class indexes
    sorted ascending, ``groups`` (m,) the pseudo-batch of each record. Returns ``loo_idx``
    and ``loo_dist`` (m x k, each record's k nearest others), ``idx`` and ``dist`` (m x k,
    the k nearest records of *other* pseudo-batches) and ``own_dist`` / ``other_dist``
    (m,), the nearest record of another batch with the same / another label. Distances
    are Euclidean (float32), neighbours nearest first with ties broken by index; missing
    neighbours are index -1 at distance inf. Raises ValueError if ``labels`` is not sorted.

    ``threads`` (default: ``PROV_WORKERS`` or the usable CPUs, at most 2) blocks of rows are
    computed at once when the sample holds at most 4,096 records: each block is the same
    computation either way, so the result is the same to the bit; only the wall time differs
    (the products and searches release the GIL).

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

    def block(start: int) -> None:
        stop = min(start + _BLOCK_ROWS, m)
        rows = np.arange(stop - start)
        d2 = squared_distances(Z[start:stop], Z, norms)
        d2[rows, start + rows] = np.inf
        loo_idx, loo_d2 = k_smallest(d2, k)
        out["loo_idx"][start:stop, : loo_idx.shape[1]] = loo_idx
        out["loo_dist"][start:stop, : loo_idx.shape[1]] = np.sqrt(loo_d2)
        d2[groups[start:stop, None] == groups[None, :]] = np.inf
        idx, other_d2 = k_smallest(d2, k)
        out["idx"][start:stop, : idx.shape[1]] = idx
        out["dist"][start:stop, : idx.shape[1]] = np.sqrt(other_d2)
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

    block_starts = range(0, m, _BLOCK_ROWS)
    threads = default_workers() if threads is None else threads
    if threads > 1 and len(block_starts) > 1 and m <= _THREADED_MAX_POINTS:
        # each block is the same computation on either path (same shapes, so the same bits), writing
        # its own rows of ``out``; numpy and BLAS release the GIL for the products and the searches
        with ThreadPoolExecutor(max_workers=min(threads, _MAX_THREADS)) as pool:
            list(pool.map(block, block_starts))
    else:
        for start in block_starts:
            block(start)
    return out
