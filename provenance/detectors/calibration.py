"""Thresholds calibrated on the reference, and raw scores mapped into [0, 1].

Every detector computes a raw score (higher = more suspicious) for the delta and the
same raw score, leave-one-out, for the reference sample. The threshold is the
reference's (1 - fpr) quantile and a record is flagged only when strictly above it, so
at most ``fpr`` of clean reference-like records are flagged. The [0, 1] score is the
record's position in the reference distribution (its empirical CDF). Past the
reference's 95th percentile the tail is modelled as exponential (a peaks-over-threshold
fit), so records beyond every reference value keep ranking by how far out they are and
scores of different detectors stay comparable (1 - score approximates a p-value).
"""

from __future__ import annotations

import math

import numpy as np

TAIL_QUANTILE = 0.95


def _squash(raw: np.ndarray) -> np.ndarray:
    return 0.5 + np.arctan(raw) / np.pi  # strictly increasing into (0, 1)


def sorted_quantile(reference: np.ndarray, q: float, higher: bool = False) -> float:
    """``float(np.quantile(reference, q))`` (method "linear"; ``higher``: method "higher") of ``reference``, finite
    float64 scores in order of value, ``q`` in [0, 1]: read at numpy's index with numpy's interpolation, the same
    value (tested against ``np.quantile``), without its partition of a copy and its per-call set-up (~0.1 ms a
    calibration, and a ``prov diff --detect`` fits ~120: the held-out refits of the combined verdict). The same
    bits but for a zero's sign (numpy's partition may put 0.0 before -0.0), which nothing a calibration computes
    from a quantile can see: it is compared, subtracted from scores and the result exponentiated.

    numpy's "linear": index ``(n - 1) * q``; at or past the last, the last score; else between the scores at its
    floor ``a`` and the next ``b``, with ``t`` its fraction, ``a + (b - a) * t``, or ``b - (b - a) * (1 - t)`` from
    ``t = 0.5`` on (``numpy.lib._function_base_impl._lerp``). "higher": the score at ``ceil((n - 1) * q)``."""
    at = (reference.size - 1) * q
    if higher:
        return float(reference[math.ceil(at)])
    if at >= reference.size - 1:
        return float(reference[-1])
    below = math.floor(at)
    a, b = float(reference[below]), float(reference[below + 1])
    t = at - below
    step = b - a
    return b - step * (1 - t) if t >= 0.5 else a + step * t


class Calibration:
    """Raw detector scores turned into [0, 1] scores and flags, calibrated on the reference's own raw scores.

    A record is flagged when its raw score is above the reference's ``1 - fpr`` quantile;
    its score is its (smoothed) rank among the reference scores, continued past them
    by an exponential tail fitted to the reference's top ``1 - TAIL_QUANTILE``.
    """

    def __init__(self, reference_raw: np.ndarray, fpr: float):
        ref = np.asarray(reference_raw, dtype=np.float64)
        self._fit(np.sort(ref[np.isfinite(ref)]), fpr)

    @classmethod
    def of_sorted(cls, reference_sorted: np.ndarray, fpr: float) -> Calibration:
        """The calibration of ``reference_sorted`` (float64, finite, in order of value) without filtering and
        sorting it again: the held-out refits (``beyond.held_out_p_values``) fit up to ~19 calibrations per
        detector on scores already put in order once, and a sort is most of a fit. Its scores and p-values are
        those of ``Calibration(reference_sorted, fpr)``, bit for bit (tested): the same values in order (only
        -0.0 and 0.0, equal under every comparison here, may stand in another order); the caller vouches for
        the order and finiteness (not checked: that would cost what it saves)."""
        calibration = cls.__new__(cls)
        calibration._fit(reference_sorted, fpr)
        return calibration

    def _fit(self, reference: np.ndarray, fpr: float) -> None:
        """Fit on ``reference``: finite float64 scores in order of value."""
        if not 0.0 < fpr < 1.0:
            raise ValueError(f"false-positive rate must be in (0, 1), got {fpr}")
        if reference.size == 0:
            raise ValueError("no reference scores to calibrate on (is the profile empty?)")
        self.reference = reference
        self.fpr = fpr
        self.raw_threshold = sorted_quantile(reference, 1.0 - fpr, higher=True)
        self.tail_start = sorted_quantile(reference, TAIL_QUANTILE)
        # the scores above the tail's start are those after its last copy: ``reference[reference > tail_start]``
        excess = reference[np.searchsorted(reference, self.tail_start, side="right") :] - self.tail_start
        self.tail_share = excess.size / self.reference.size
        self.tail_scale = float(excess.mean()) if excess.size else 0.0

    def scores(self, raw: np.ndarray, below: np.ndarray | None = None) -> np.ndarray:
        """Scores in [0, 1] for raw scores: the share of reference scores below, smoothed, with the tail model
        (``below``: how many reference scores lie below each, when the caller knows)."""
        raw = np.asarray(raw, dtype=np.float64)
        if below is None:
            below = np.searchsorted(self.reference, raw, side="left")
        n = self.reference.size
        empirical = (below + _squash(raw)) / (n + 1.0)
        if self.tail_scale <= 0:
            return empirical
        with np.errstate(over="ignore", invalid="ignore"):
            tail = 1.0 - self.tail_share * np.exp(-(raw - self.tail_start) / self.tail_scale)
        return np.where(raw > self.tail_start, np.clip(np.maximum(empirical, tail), 0.0, 1.0), empirical)

    def p_values(self, raw: np.ndarray) -> np.ndarray:
        """1 - score: the share of reference records scoring at least this high (a
        conformal p-value, smoothed between ranks), continued by the tail model past them."""
        return 1.0 - self.scores(raw)

    def reference_p_values(self) -> np.ndarray:
        """``p_values(self.reference)``, bit for bit (tested), in the reference's order of value: each score's
        count of reference scores below it is the position where its run of equal values starts, read in one
        pass instead of a binary search per score (the held-out refits score each fit's own records)."""
        ref = self.reference
        starts = np.ones(ref.size, dtype=bool)
        starts[1:] = ref[1:] != ref[:-1]  # -0.0 == 0.0, as searchsorted compares them
        below = np.maximum.accumulate(np.where(starts, np.arange(ref.size), 0))
        return 1.0 - self.scores(ref, below)

    def flags(self, raw: np.ndarray) -> np.ndarray:
        """True where a raw score is above the reference's ``1 - fpr`` quantile."""
        return np.asarray(raw, dtype=np.float64) > self.raw_threshold

    @property
    def score_threshold(self) -> float:
        """The threshold on the [0, 1] scale: flagged scores are above it."""
        return float(self.scores(np.array([self.raw_threshold]))[0])
