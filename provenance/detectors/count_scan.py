"""Records one detector finds unusual, counted per detector against the base's later batches.

The combined verdict (``detectors.combine``) ranks a record by ``T = min_d p_d / w_d``, and a
reference record has six detectors' chances to score low, so a record that *one* detector finds
as odd as the base's most odd record ranks several times less extreme in the combination. A
batch carrying a handful of such records (a gradient-matching or dirty-label attack seen by
``knn_label`` alone, a clean-label blend seen by ``spectral`` alone) stays inside the combined
flag budget, which is widened for drift besides (bench/results/gate-misses.md). Here, per
detector, the delta's records at that detector's own p-value <= ``LEVEL`` are counted and
judged against the rate a clean batch lands there, and the smallest tail p-value blocks below
``alpha / detectors`` (Bonferroni over the detectors scanned).

**The null is the base's own later batches, each judged as a delta is** (``forward_null``): the
base's sample is in pseudo-batches of its file order (``profiles.batches``); each pseudo-batch in
the later half of the base is scored against a calibration fitted on the batches *before* it only,
so it meets a reference that never saw it or anything after it, as a delivery past the base's end
meets the base. The rate is the add-one share of those records at or below ``LEVEL``, and the
count's spread beyond the binomial is the intra-batch correlation of their per-batch counts
(``budget.overdispersion``, its variance factor within ``budget.MAX_VARIANCE_FACTOR`` for the
delta's size) plus 1 / (M + 2) for the M records the rate is measured on. Held-out batches scored
against *all* the others (the null of ``relabel_scan``) meet neighbours on both sides in file order,
drift less than a next delivery and blocked clean in-order batches (bench/results/
gate-counts-session19.md: 60 -> 55 of 64 clean tuning batches passing); the forward null passed
every clean batch of the gate bench. Everything is measured on the trusted base's profile, never on
unsigned rows.

Measured (bench/results/gate-counts-session19.md, session 19): with the rule, the default gate
blocks 89 of 112 poisoned in-order batches (85 without) and 86 of 112 at random (85), and every
clean batch passes or blocks as before (in order and at random, and 32 clean deltas of 30-60% of a
dataset). ``LEVEL``, the detectors and the later half were chosen on the tuning seeds and then run
once on the held-out ``... 12 1``: +2 in order, 0 at random.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from provenance.detectors.base import DetectorResult
from provenance.detectors.budget import MAX_VARIANCE_FACTOR, overdispersion, tail_p
from provenance.detectors.calibration import Calibration

LEVEL = 0.005  # the detector p-value at or below which a record is counted (half the default fpr)
FORWARD_SHARE = 0.5  # the null's batches: the later half of the base's pseudo-batches
LEAST_FITTED = 10  # a forward batch is scored only against at least this many earlier records
LISTED_CONTRIBUTORS = 20  # records named in a block (lowest p-value first)


@dataclass(frozen=True)
class ForwardCounts:
    """One detector's null (``forward_null``): per later pseudo-batch of the base, its records at or
    below the level (``counts``) and its records scored (``sizes``), both (B,)."""

    counts: np.ndarray
    sizes: np.ndarray

    def rate_and_rho(self, n: int) -> tuple[float, float]:
        """The add-one rate at the level and the count's intra-batch correlation for ``n`` delta
        records (module docstring); ``(1.0, 0.0)`` with no batch scored (nothing can be judged)."""
        total = int(self.sizes.sum())
        if total == 0:
            return 1.0, 0.0
        rate = (1.0 + float(self.counts.sum())) / (1.0 + total)
        rho = overdispersion(self.sizes.tolist(), self.counts.tolist(), cap=1.0)
        if n > 1:
            rho = min(rho, (MAX_VARIANCE_FACTOR - 1.0) / (n - 1.0))
        return rate, rho + 1.0 / (total + 2.0)


def forward_null(
    reference_raw: np.ndarray, batches: np.ndarray, fpr: float, level: float = LEVEL, share: float = FORWARD_SHARE
) -> ForwardCounts:
    """One detector's counts on the base's later pseudo-batches, each scored forward (module docstring).

    Args:
        reference_raw: (m,) the detector's raw scores of the base's sample records, NaN where none
            (``DetectorResult.reference_raw``).
        batches: (m,) each sample record's pseudo-batch, 0..B-1 in file order (``sample_batches``).
        fpr: the rate the calibration is built at (``Calibration``; its p-values do not depend on it).
        level: the p-value counted at or below.
        share: the share of pseudo-batches before the first one scored.

    Returns:
        A ``ForwardCounts``; empty (no batch) with fewer than two pseudo-batches.
    """
    raw = np.asarray(reference_raw, dtype=np.float64)
    batches = np.asarray(batches, dtype=np.int64)
    if len(raw) != len(batches) or not len(batches):
        return ForwardCounts(np.zeros(0, np.int64), np.zeros(0, np.int64))
    count = int(batches.max()) + 1
    counts, sizes = [], []
    for j in range(max(1, int(np.ceil(share * count))), count):
        fitted = raw[(batches < j) & np.isfinite(raw)]
        held = raw[(batches == j) & np.isfinite(raw)]
        if len(fitted) < LEAST_FITTED or not len(held):
            continue
        p = Calibration(fitted, fpr).p_values(held)
        counts.append(int((p <= level).sum()))
        sizes.append(len(held))
    return ForwardCounts(np.asarray(counts, np.int64), np.asarray(sizes, np.int64))


@dataclass(frozen=True)
class CountScan:
    """The scan's outcome on one delta (``scan_counts``).

    ``tests`` detectors judged; ``p_value`` the smallest tail p-value and ``bar`` = alpha / tests; at
    that detector: ``detector``, ``n`` records judged, ``count`` of them at p <= ``level``,
    ``expected`` (n times the forward rate), ``rate`` and ``rho``; ``contributors`` the delta indices
    of those records, lowest p-value first. ``blocked`` when ``p_value < bar``.
    """

    tests: int
    p_value: float
    bar: float
    level: float = LEVEL
    detector: str | None = None
    n: int = 0
    count: int = 0
    expected: float = 0.0
    rate: float = 0.0
    rho: float = 0.0
    contributors: list[int] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        """Whether one detector finds more of the delta's records unusual than the base's later batches explain."""
        return self.tests > 0 and self.p_value < self.bar


def scan_counts(
    results: Sequence[DetectorResult],
    batches: np.ndarray,
    fpr: float,
    alpha: float,
    left_out: Mapping[str, Iterable[int]] | None = None,
    level: float = LEVEL,
) -> CountScan:
    """Per detector that ran, the delta's records at its p-value <= ``level`` against ``forward_null``.

    Args:
        results: the detectors' results on the delta (``p_values`` (n,) and ``reference_raw`` (m,)).
        batches: (m,) the pseudo-batch of each sample record of the base (``sample_batches``).
        fpr: the policy's rate (the calibrations').
        alpha: the level of the whole scan (Bonferroni over the detectors judged).
        left_out: per detector, delta indices not counted for it (waived records).
        level: the p-value counted at or below.

    Returns:
        A ``CountScan``; ``tests`` 0 (it passes) when no detector has a null (fewer than two
        pseudo-batches, a base too small to fit a forward batch) or no record to judge.
    """
    left_out = left_out or {}
    tried: list[CountScan] = []
    for r in results:
        if r.status != "ran" or r.p_values is None or r.reference_raw is None:
            continue
        p = np.asarray(r.p_values, dtype=np.float64)
        judged = np.isfinite(p)
        judged[[i for i in left_out.get(r.detector, ()) if 0 <= i < len(p)]] = False
        null = forward_null(np.asarray(r.reference_raw), batches, fpr, level)
        n = int(judged.sum())
        if not len(null.sizes) or n == 0:
            continue
        rate, rho = null.rate_and_rho(n)
        hits = np.flatnonzero(judged & (p <= level))
        order = hits[np.argsort(p[hits], kind="stable")]
        tail = tail_p(len(hits), n, min(rate, 1.0 - 1e-9), rho)
        tried.append(CountScan(0, tail, 0.0, level, r.detector, n, len(hits), n * rate, rate, rho, order.tolist()))
    if not tried:
        return CountScan(0, 1.0, alpha, level)
    best = min(tried, key=lambda s: s.p_value)
    return CountScan(
        len(tried),
        best.p_value,
        alpha / len(tried),
        level,
        best.detector,
        best.n,
        best.count,
        best.expected,
        best.rate,
        best.rho,
        best.contributors[:LISTED_CONTRIBUTORS],
    )
