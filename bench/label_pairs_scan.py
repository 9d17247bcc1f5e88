"""Flagged records that crowd into one (given label -> looks-like label) pair: a relabel campaign (session 35, det35).

The pair test bench/det35_label_pairs.py replays; not in the library: on the gate bench it blocked no poisoned batch
the default gate passes (bench/results/det35-result.md). bench/variants/label-pairs-rule.patch moves it to
``provenance/detectors/label_pairs.py`` behind a ``detectors.label_pairs`` gate rule.

The combined verdict flags a relabelled record on its own evidence, and ``detectors.combined`` blocks when the
delta holds more flags than its budget allows. A source that relabels twenty records of one class into another
gets each flagged, and grouped in the report ("20 flagged records labelled 'Fair' look like 'Ideal'"), yet 26
flags among some thousand records are within an allowance of 30 (newcomer review 34). What the budget does not
see is where the flags fall: clean flags spread over many (label, looks-like) pairs, a campaign puts them in one.

The test counts, per (source, given label ``g``, looks-like label ``l``) with ``l != g`` (``l`` the label most of a
record's nearest base sample records carry, as ``knn_label``'s explanation names it), the delta's flagged records,
and compares the count with the ``n`` delta records of that source labelled ``g`` under a beta-binomial tail. The
rate is measured on the trusted base, never on unsigned rows: its sample records, each scored with its pseudo-batch
held out (``relabel_scan.held_out_null``), of class ``g`` whose held-out combined p-value is at most ``fpr`` and whose
nearest sample records mostly carry ``l`` (add-one: ``(1 + hits) / (1 + records of g)``); the overdispersion is that
of those counts between the held-out pseudo-batches (``budget.overdispersion``, its variance factor capped at
``budget.MAX_VARIANCE_FACTOR``) plus 1 / (M + 2) for the M records the rate is measured on. The smallest tail
p-value blocks below ``alpha / tests``, the tests being every (source, g, l) a delta of these sources and labels could
fill (Bonferroni over the pairs). Fewer than ``MIN_GROUP`` flagged records of a pair (the report's own grouping)
never block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from provenance.detectors.budget import MAX_VARIANCE_FACTOR, overdispersion, tail_p

MIN_GROUP = 3  # flagged records of one pair before it is judged (report.flagged.GROUPED's line)
LISTED_CONTRIBUTORS = 20  # records named in a block


def top_labels(neighbour_labels: np.ndarray) -> np.ndarray:
    """(n,) int: the label most of each row's voters carry (the lowest among ties, as ``knn_label``'s explanation
    says), -1 for a row with no voter; ``neighbour_labels`` (n x k) class indexes, negative where there is none."""
    neighbour_labels = np.asarray(neighbour_labels, dtype=np.int64)
    n = len(neighbour_labels)
    if n == 0 or neighbour_labels.size == 0:
        return np.full(n, -1, dtype=np.int64)
    voting = neighbour_labels >= 0
    width = int(neighbour_labels.max()) + 1 if voting.any() else 1
    rows = np.broadcast_to(np.arange(n)[:, None], neighbour_labels.shape)[voting]
    counts = np.bincount(rows * width + neighbour_labels[voting], minlength=n * width).reshape(n, width)
    return np.where(voting.any(axis=1), counts.argmax(axis=1), -1)


@dataclass(frozen=True)
class PairNull:
    """The base's sample records as the pair test's null (``pair_null``): each one's class index ``labels`` (m,),
    the label its nearest sample records mostly carry ``looks_like`` (m,), whether its held-out combined p-value is
    at most the rate ``flagged`` (m,), its pseudo-batch ``batches`` (m,)."""

    labels: np.ndarray
    looks_like: np.ndarray
    flagged: np.ndarray
    batches: np.ndarray


def pair_null(
    sample_labels: np.ndarray, sample_neighbours: np.ndarray, held_out_p: np.ndarray, batches: np.ndarray, fpr: float
) -> PairNull:
    """The null of ``scan_pairs`` from a profile's sample.

    Args:
        sample_labels: (m,) each sample record's class index.
        sample_neighbours: (m x K) its nearest other sample records' indexes (-1 where none), the first
            ``knn_label.VOTERS`` voting.
        held_out_p: (m,) its combined p-value with its pseudo-batch held out (``relabel_scan.held_out_null``'s
            ``"combined"``), NaN where none (never counted as flagged).
        batches: (m,) its pseudo-batch.
        fpr: the combined verdict's rate: a held-out p-value at most this counts as flagged.
    """
    from provenance.detectors.knn_label import VOTERS

    labels = np.asarray(sample_labels, dtype=np.int64)
    idx = np.asarray(sample_neighbours, dtype=np.int64)[:, :VOTERS]
    voters = np.where(idx >= 0, labels[np.maximum(idx, 0)], -2)
    p = np.asarray(held_out_p, dtype=np.float64)
    return PairNull(labels, top_labels(voters), np.isfinite(p) & (p <= fpr), np.asarray(batches))


@dataclass(frozen=True)
class PairScan:
    """The test's outcome on one delta (``scan_pairs``).

    ``tests`` the (source, label, looks-like) cells a delta of these sources and labels could fill; ``p_value`` the
    smallest tail p-value and ``bar`` = alpha / tests; at that cell: ``source`` (None for records of no source),
    ``label`` and ``looks_like`` (class indexes), ``count`` flagged records there among the ``n`` of that source
    and label, ``expected`` (n times ``rate``), ``rho``; ``contributors`` those records' delta indexes, lowest
    p-value first. ``blocked`` when ``p_value < bar``.
    """

    tests: int
    p_value: float
    bar: float
    source: str | None = None
    label: int = -1
    looks_like: int = -1
    count: int = 0
    n: int = 0
    expected: float = 0.0
    rate: float = 0.0
    rho: float = 0.0
    contributors: list[int] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        """Whether one pair holds more flagged records than the base's batches explain at the bar."""
        return self.tests > 0 and self.p_value < self.bar


def scan_pairs(
    flagged: np.ndarray,
    p_values: np.ndarray,
    labels: np.ndarray,
    looks_like: np.ndarray,
    sources: Sequence[str | None],
    null: PairNull,
    n_classes: int,
    alpha: float,
) -> PairScan:
    """The pair test (module docstring) on one delta.

    Args:
        flagged: (n,) bool, the records the combined verdict flags (less waived ones).
        p_values: (n,) their combined p-values (orders the contributors).
        labels: (n,) each record's class index in the base's profile, -1 for a class the base lacks (not judged).
        looks_like: (n,) the label its nearest base sample records mostly carry (``top_labels``), -1 for none.
        sources: (n,) each record's source, None for none.
        null: the base's held-out sample (``pair_null``).
        n_classes: the profile's classes.
        alpha: the level of the whole test (Bonferroni over its cells).

    Returns:
        A ``PairScan``; ``tests`` 0 (it passes) with no record of a class the base holds, fewer than two
        classes, or no null.
    """
    labels = np.asarray(labels, dtype=np.int64)
    looks_like = np.asarray(looks_like, dtype=np.int64)
    flagged = np.asarray(flagged, dtype=bool)
    p_values = np.asarray(p_values, dtype=np.float64)
    source_keys = np.array(["" if s is None else f"={s}" for s in sources], dtype=object)
    judged = labels >= 0
    if not judged.any() or n_classes < 2 or not len(null.labels):
        return PairScan(0, 1.0, alpha)
    cells = sorted({(s, int(g)) for s, g in zip(source_keys[judged], labels[judged])})
    tests = len(cells) * (n_classes - 1)
    in_pair = flagged & judged & (looks_like >= 0) & (looks_like != labels)
    best = PairScan(tests, 1.0, alpha / tests)
    for key, g in cells:
        of_cell = judged & (source_keys == key) & (labels == g)
        n = int(of_cell.sum())
        for like in np.unique(looks_like[of_cell & in_pair]):
            hits = np.flatnonzero(of_cell & in_pair & (looks_like == like))
            if len(hits) < MIN_GROUP:
                continue
            rate, rho = _pair_rate(null, g, int(like), n)
            tail = tail_p(len(hits), n, min(rate, 1.0 - 1e-9), rho)
            if tail < best.p_value:
                order = hits[np.argsort(p_values[hits], kind="stable")]
                best = PairScan(
                    tests,
                    tail,
                    alpha / tests,
                    None if key == "" else key[1:],
                    g,
                    int(like),
                    len(hits),
                    n,
                    n * rate,
                    rate,
                    rho,
                    order[:LISTED_CONTRIBUTORS].tolist(),
                )
    return best


def _pair_rate(null: PairNull, label: int, like: int, n: int) -> tuple[float, float]:
    """The rate a clean record of class ``label`` is flagged and looks like ``like`` in the base's held-out batches
    (add-one), and the intra-batch correlation of that count (``relabel_scan._null_rate``'s reading)."""
    of_class = null.labels == label
    hit = of_class & null.flagged & (null.looks_like == like)
    rate = (1.0 + float(hit.sum())) / (1.0 + float(of_class.sum()))
    sizes, counts = [], []
    for b in np.unique(null.batches[of_class]):
        members = of_class & (null.batches == b)
        sizes.append(int(members.sum()))
        counts.append(int(hit[members].sum()))
    rho = overdispersion(sizes, counts, cap=1.0)
    if n > 1:
        rho = min(rho, (MAX_VARIANCE_FACTOR - 1.0) / (n - 1.0))
    return rate, rho + 1.0 / (float(of_class.sum()) + 2.0)


__all__ = ["MIN_GROUP", "PairNull", "PairScan", "pair_null", "scan_pairs", "top_labels"]
