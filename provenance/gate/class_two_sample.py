"""Whether a listed new class's records inside a base class lie within that class's own spread.

A class the policy lists is judged on class-free evidence because the base cannot say where its records should lie.
Records of a base class C under a new name are no new class: 150 midpoints of pairs of malignant records, or fresh
malignant records, labelled "cat" (attack review 33b, A33b-4). They are copies of nothing, so the copy test
(``gate.class_copies``) does not see them; but they lie among C's own records as closely as C's records lie among each
other, where a genuinely new class, even one whose records sit inside C by vote, lies at C's edge, farther from C's
records than they are from each other.

The test compares two samples of nearest-neighbour distances (standardised features): each listed record's distance
to its nearest record of C's profile sample, against each of C's sample records' distance to its nearest other
distinct one (leave one out). Were the listed records drawn as C's are, each lies within the median of C's own
distances with probability about one half; the share that does (``within_share``) is measured, and at ``WITHIN`` or
more the records are C's relabelled: the class is judged in full. No seed, no permutation: the result is the data's.
Every listed record inside C is read (``CHUNK`` rows of distances at a time), so no order of the records, which their
content digests set, hides some of them.

A nearest-neighbour count test (Schilling 1986; Henze 1988: do the listed records have each other for neighbours?)
was tried first and kept out: midpoints of C's pairs crowd C's centre and have each other for neighbours (they look
like a new class), while a genuine new class's few records at C's edge have C's for neighbours (they look like C);
``bench/results/fix33f-two-sample.md`` gives both on the same cases.
"""

from __future__ import annotations

import numpy as np

WITHIN = 0.3  # at this share of records within C's median spacing or more, the records are C's (chance: about 0.5)
MIN_RECORDS = 5  # fewer listed records inside a class than this are not tested against it
CHUNK = 512  # rows whose distances are held at once


def within_share(listed: np.ndarray, base: np.ndarray) -> float:
    """The share of ``listed`` rows (n x d) whose distance to the nearest ``base`` row (m x d) is at most the median
    of the base rows' distances to their nearest other distinct base row (both standardised features); a float in
    [0, 1]. 0.0 when ``n`` is 0 or ``base`` has fewer than 2 distinct rows (nothing to measure the spread by)."""
    A, B = np.asarray(listed, dtype=np.float64), np.asarray(base, dtype=np.float64)
    if len(A) == 0 or len(B) < 2:
        return 0.0
    own = _nearest(B, B, distinct=True)
    own = own[np.isfinite(own)]
    if len(own) == 0:
        return 0.0
    return float(np.mean(_nearest(A, B, distinct=False) <= np.median(own)))


def _nearest(A: np.ndarray, B: np.ndarray, distinct: bool) -> np.ndarray:
    """Each row of ``A``'s distance to its nearest row of ``B`` (len(A),); with ``distinct``, rows at distance 0 (the
    row itself, its duplicates) are passed over (inf when nothing else is left)."""
    norms = (B * B).sum(1)
    out = np.empty(len(A))
    for start in range(0, len(A), CHUNK):
        rows = A[start : start + CHUNK]
        d2 = np.maximum((rows * rows).sum(1)[:, None] + norms[None, :] - 2.0 * rows @ B.T, 0.0)
        if distinct:
            d2[d2 <= 1e-12] = np.inf
        out[start : start + len(rows)] = np.sqrt(d2.min(1))
    return out
