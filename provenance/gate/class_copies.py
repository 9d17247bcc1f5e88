"""Which of a listed new class's records are copies of base records under one per-column scale and shift.

A copy attack keeps its originals' shape: 14 malignant records with every value 8% (or 30%) larger sit, after the
profile's standardising, at ``a * z + b`` of their originals ``z`` with one ``a`` and ``b`` per column for the whole
group. A genuinely new class has a shape of its own: no such map lays its records onto base records. So the group's
records are matched to base sample records and the map fitted by least squares on the best-fitting quarter of the
pairs (trimmed, refitted until the quarter settles, so records of another shape in the group do not pull the fit),
the matching redone under the map, until it settles. It starts up to six ways (nearest as is; both sides
standardised on their own, as a common map of every column would leave them; nearest in direction in the raw
columns, as one factor on every value leaves it; standardised on their own against each of the at most three base
classes most of the group sits inside, alone) and keeps the start that finds the most copies. The fit follows the
copies while they are at least a quarter of the group (``TRIM``); more records of another shape than that beside
them can pull it away.

A record *is a copy* when its distance to its matched base record under the map is at most ``COPY_BAR`` of that
record's distance to its nearest other distinct base record under the same map: closer to its match than the
base's own records are to each other, by a margin no chance alignment of a new class reaches on the bench
(``bench/class_inside_new_classes.py``). The map is measured in the group's own scale, so shrinking the base onto
the group (a map near 0) makes no copies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

COPY_BAR = 0.25  # a copy lies within a quarter of its match's spacing to the base's other records
GROUP_CAP = 128  # records one map is fitted on and judged at a time (callers pass every record, a chunk at a time)
ROUNDS = 10  # matching rounds from each start, and fitting rounds within each, at most
CLASS_STARTS = 3  # base classes a fit starts from alone, at most (the ones most of the group sits inside)
TRIM = 4  # the map is fitted on the best-fitting quarter of the pairs: copies a quarter of the records or more


def copies_of(
    group: np.ndarray,
    base: np.ndarray,
    base_classes: np.ndarray,
    centre: np.ndarray,
    scale: np.ndarray,
    start_classes: Sequence[int] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Which rows of ``group`` are copies of ``base`` rows under one per-column scale and shift (see the module).

        ``group`` (n x d) and ``base`` (m x d): standardised features (the profile's space, raw = z * ``scale`` +
        ``centre``, each (d,)); ``base_classes`` (m,): the class index of each base row; ``start_classes``: the classes
    to start from alone (at most ``CLASS_STARTS`` of them, first first). Returns a bool array (n,); only
        the first ``GROUP_CAP`` rows can be True; all False when either side has fewer than 2 rows. With it, the base
        row each row is matched to (n,), -1 where none."""
    n = len(group)
    out, matched = np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int64)
    if n < 2 or len(base) < 2:
        return out, matched
    Zg = np.asarray(group[:GROUP_CAP], dtype=np.float64)
    Zc = np.asarray(base, dtype=np.float64)
    starts = [
        _sq(Zg, Zc).argmin(1),
        _sq(_own_scale(Zg), _own_scale(Zc)).argmin(1),
        (_direction(Zg * scale + centre) @ _direction(Zc * scale + centre).T).argmax(1),
    ]
    for c in list(start_classes)[:CLASS_STARTS]:
        at = np.flatnonzero(base_classes == c)
        if len(at) >= 2:
            starts.append(at[_sq(_own_scale(Zg), _own_scale(Zc[at])).argmin(1)])
    best = max((_fitted_copies(Zg, Zc, match) for match in starts), key=lambda c: int(c[0].sum()))
    out[: len(Zg)], matched[: len(Zg)] = best
    return out, matched


def scaled_copies(
    group: np.ndarray, base: np.ndarray, centre: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Which rows of ``group`` are copies of ``base`` rows each under a factor of its own: every raw value of the record
    one factor times its original's (A33b-1: 14 copies at 1.05 to 1.35; A33b-2: four groups of four factors), which
    no one map per column fits. In the raw columns (z * ``scale`` + ``centre``) such a copy points the way its
    original does; a row is one when the angle to the base row nearest in direction is at most ``COPY_BAR`` of that
    row's angle to its nearest other base row of another direction. ``group`` (n x d) and ``base`` (m x d):
    standardised features. Returns a bool array (n,), all False when ``base`` has fewer than 2 rows, and the base row
    each row is nearest in direction to (n,), -1 where none."""
    n = len(group)
    out, matched = np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int64)
    if n == 0 or len(base) < 2:
        return out, matched
    G = _direction(np.asarray(group, dtype=np.float64) * scale + centre)
    B = _direction(np.asarray(base, dtype=np.float64) * scale + centre)
    for start in range(0, n, GROUP_CAP):
        cos = np.clip(G[start : start + GROUP_CAP] @ B.T, -1.0, 1.0)
        match = cos.argmax(1)
        angle = np.arccos(cos[np.arange(len(match)), match])
        own = np.arccos(np.clip(B[match] @ B.T, -1.0, 1.0))
        own[own <= 1e-9] = np.inf  # the match itself and base rows of its direction
        out[start : start + len(match)] = angle <= COPY_BAR * own.min(1)
        matched[start : start + len(match)] = match
    return out, matched


def _fitted_copies(Zg: np.ndarray, Zc: np.ndarray, match: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The copies (bool, len(Zg)) under the per-column map fitted from the matching ``match`` (a base row per row),
    and the matching the fit settled on."""
    trim = max(len(Zg) // TRIM, min(len(Zg), 3))
    for _ in range(ROUNDS):
        keep = np.arange(len(Zg))
        for _ in range(ROUNDS):  # concentration steps on the pairs as matched: fit, keep the best-fitting, again
            a, b = _fit(Zg[keep], Zc[match[keep]])
            best = np.sort(np.argsort(((Zg - (Zc[match] * a + b)) ** 2).sum(1), kind="stable")[:trim])
            if np.array_equal(best, keep):
                break
            keep = best
        d2 = _sq(Zg, Zc * a + b)
        new = d2.argmin(1)
        residual = np.sqrt(d2[np.arange(len(Zg)), new])
        if np.array_equal(new, match):
            break
        match = new
    mapped = Zc * a + b
    spacing = _sq(mapped[match], mapped)
    spacing[spacing <= 1e-12] = np.inf  # the match itself and base records equal to it under the map
    return residual <= COPY_BAR * np.sqrt(spacing.min(1)), match


def _fit(G: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, ``a`` and ``b`` minimising ``|G - (a * P + b)|²`` (a = 1 where ``P``'s column is constant)."""
    pm, gm = P.mean(0), G.mean(0)
    var = ((P - pm) ** 2).mean(0)
    cov = ((P - pm) * (G - gm)).mean(0)
    a = np.where(var > 1e-12, cov / np.where(var > 1e-12, var, 1.0), 1.0)
    return a, gm - a * pm


def _direction(A: np.ndarray) -> np.ndarray:
    """The rows of ``A`` scaled to length 1 (a zero row left at 0)."""
    norm = np.sqrt((A * A).sum(1, keepdims=True))
    return A / np.where(norm > 0, norm, 1.0)


def _own_scale(A: np.ndarray) -> np.ndarray:
    """``A`` with each column centred and scaled on its own (a constant column left at 0)."""
    scale = A.std(0)
    scale[scale == 0] = 1.0
    return (A - A.mean(0)) / scale


def _sq(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared distances between the rows of ``A`` and of ``B`` (len(A) x len(B))."""
    return np.maximum((A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T, 0.0)
