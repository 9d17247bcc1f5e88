"""How far a batch of records shifts from the rest of the data: delta-level drift signals.

Real deliveries drift (a new vendor, camera, season or writer), and a drifted batch is
not a poisoned one. The profile measures these statistics for each of the base's own
pseudo-batches (runs of its file order, ``profiles.batches``) against the rest of the
sample and stores them (``ReferenceProfile.batch_shift``, signed with the profile);
detection measures the same statistics for the delta against the whole sample and
reports a batch as *shifted* (a warning, never a block) when it goes past the natural
range of the base's own batches. Each statistic is bias-corrected, so that a batch of
any size with no shift scores about 0 and the values of batches of different sizes
compare:

- ``class_mix``: Cohen's w of the two-sample chi-square test of homogeneity of class
  counts, after subtracting its expectation under no shift: sqrt(max(0, chi2 - df) / n);
- ``mean_shift``: the distance between the batch's and the rest's mean within-class
  residuals (record minus its class mean), in within-class standard deviations, after
  subtracting the noise of two sample means: sqrt(max(0, |diff|^2 / s^2 - d (1/n + 1/m)));
- ``spectral``: the largest eigenvalue of the batch's residuals' second moment, whitened
  by the within-class covariance, above the Marchenko-Pastur edge (1 + sqrt(d/n))^2 that
  noise alone reaches (a shared direction, as in Tran et al.'s spectral signatures);
- ``gradient``: the squared distance between the batch's and the rest's mean loss
  gradient under the base's linear model (fitted without the batch), over the variance
  of one record's gradient, minus the noise of the two means (1/n + 1/m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from provenance.features.softmax import loss_residuals, mean_gradient

SIGNALS = ("class_mix", "mean_shift", "spectral", "gradient")
# A delta is shifted when a signal passes the base's largest batch value by twice that
# value's distance from the base's typical batch: beyond anything the base's own batches
# did. Below these floors a shift is too small to report whatever the base shows (Cohen's
# "small" w; half a within-class standard deviation; one whitened direction with twice
# the variance; a tenth of one record's gradient variance).
WARN_SPREADS = 2.0
FLOORS = {"class_mix": 0.1, "mean_shift": 0.5, "spectral": 1.0, "gradient": 0.1}


@dataclass(frozen=True)
class Reference:
    """What the statistics compare a batch against (the rest of the data), precomputed."""

    class_counts: np.ndarray  # (k,)
    class_means: np.ndarray  # (k, d) standardised
    residual_mean: np.ndarray  # (d,) mean within-class residual
    residual_var: float  # mean per-dimension within-class variance
    whitener: np.ndarray  # (d, d) inverse square root of the shrunk within-class covariance
    gradient_mean: np.ndarray  # (d+1, k)
    gradient_var: float  # E|g - mean|^2 of one record
    n: int


def reference_of(Z: np.ndarray, labels: np.ndarray, n_classes: int, weights: np.ndarray) -> Reference:
    """The comparison data for records ``Z`` (m, d) with class indexes ``labels`` (m,),
    under linear-model ``weights`` ((d+1) x k)."""
    Z = np.asarray(Z, dtype=np.float64)
    Xb, res = loss_residuals(weights, Z.astype(np.float32), labels)
    return _reference_from_sums(_sums(Z, labels, n_classes, Xb, res))


@dataclass
class _Sums:
    """Additive sufficient statistics of a set of records, from which ``Reference`` follows:
    sums over records can be added and subtracted, so the rest of a sample is its whole
    minus one batch."""

    counts: np.ndarray  # (k,)
    class_sums: np.ndarray  # (k, d)
    scatter: np.ndarray  # (d, d) sum of z z'
    gradient_sum: np.ndarray  # (d+1, k) sum of outer(x_i, r_i)
    gradient_sq: float  # sum of |x_i|^2 |r_i|^2

    def plus(self, other: _Sums, sign: float = 1.0) -> _Sums:
        return _Sums(
            self.counts + sign * other.counts,
            self.class_sums + sign * other.class_sums,
            self.scatter + sign * other.scatter,
            self.gradient_sum + sign * other.gradient_sum,
            self.gradient_sq + sign * other.gradient_sq,
        )


def _sums(Z: np.ndarray, labels: np.ndarray, n_classes: int, Xb: np.ndarray, res: np.ndarray) -> _Sums:
    """``_Sums`` of records ``Z`` (float64) whose loss factors are ``Xb``, ``res`` (``loss_residuals``)."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    class_sums = np.zeros((n_classes, Z.shape[1]))
    np.add.at(class_sums, labels, Z)
    Xb64, res64 = Xb.astype(np.float64), res.astype(np.float64)
    sq = (Xb64**2).sum(1) * (res64**2).sum(1)
    return _Sums(counts, class_sums, Z.T @ Z, Xb64.T @ res64, float(sq.sum()))


def _reference_from_sums(s: _Sums) -> Reference:
    """``Reference`` from additive sums: the within-class scatter is the raw scatter minus
    each class's ``n_c mean_c mean_c'`` (exact, as the residuals' own products)."""
    counts = s.counts
    m = int(round(float(counts.sum())))
    d = s.class_sums.shape[1]
    overall = s.class_sums.sum(axis=0) / m if m else np.zeros(d)
    present = counts > 0
    means = np.where(present[:, None], s.class_sums / np.maximum(counts, 1)[:, None], overall)
    within = s.scatter - (s.class_sums[present].T / counts[present]) @ s.class_sums[present]
    cov = within / max(m - 1, 1)
    shrink = min(1.0, 0.05 + d / max(m, 1))
    target = max(float(np.trace(cov)) / max(d, 1), 1e-6)
    cov = (1 - shrink) * cov + shrink * target * np.eye(d)
    values, vectors = np.linalg.eigh(cov)
    whitener = (vectors / np.sqrt(np.maximum(values, 1e-9))) @ vectors.T
    g_mean = s.gradient_sum / max(m, 1)
    return Reference(
        class_counts=counts,
        class_means=means,
        residual_mean=np.zeros(d),  # the residuals from the records' own class means sum to zero
        residual_var=target,
        whitener=whitener,
        gradient_mean=g_mean,
        gradient_var=max(s.gradient_sq / max(m, 1) - float((g_mean**2).sum()), 1e-12),
        n=m,
    )


def shift_statistics(
    Z: np.ndarray,
    labels: np.ndarray,
    ref: Reference,
    weights: np.ndarray,
    factors: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The ``SIGNALS`` (4,) of a batch ``Z`` (n, d) with class indexes ``labels`` (n,; -1
    for a class the reference lacks) against ``ref``; ``weights`` is the linear model the
    batch's gradients are taken under (fitted without the batch). ``factors``, when given,
    are ``loss_residuals(weights, Z, labels)`` already computed (every label known)."""
    Z = np.asarray(Z, dtype=np.float64)
    n, d = Z.shape
    if n == 0:
        return np.zeros(len(SIGNALS))
    known = labels >= 0
    k = len(ref.class_counts)
    counts = np.bincount(labels[known], minlength=k).astype(np.float64)
    observed = np.append(counts, float((~known).sum()))
    expected_ref = np.append(ref.class_counts, 0.0)
    class_mix = _excess_w(observed, expected_ref)

    residuals = Z[known] - ref.class_means[labels[known]]
    nk = len(residuals)
    if nk:
        diff = residuals.mean(axis=0) - ref.residual_mean
        excess = float(diff @ diff) / ref.residual_var - d * (1.0 / nk + 1.0 / max(ref.n, 1))
        mean_shift = float(np.sqrt(max(excess, 0.0)))
        white = residuals @ ref.whitener
        top = _top_eigenvalue(white.T @ white / nk)
        spectral = max(top - (1.0 + np.sqrt(d / nk)) ** 2, 0.0)
        Xb, res = (
            factors if factors is not None else loss_residuals(weights, Z[known].astype(np.float32), labels[known])
        )
        shift = mean_gradient(Xb.astype(np.float64), res.astype(np.float64)) - ref.gradient_mean
        gradient = max(float((shift**2).sum()) / ref.gradient_var - (1.0 / nk + 1.0 / max(ref.n, 1)), 0.0)
    else:
        mean_shift = spectral = gradient = 0.0
    return np.array([class_mix, mean_shift, spectral, gradient])


def pseudo_batch_shifts(
    Z: np.ndarray, labels: np.ndarray, batches: np.ndarray, n_classes: int, weights: np.ndarray
) -> np.ndarray:
    """``SIGNALS`` of each pseudo-batch against the rest of the sample: (B, 4).

    ``weights`` (3, d+1, k) are the profile's models (fitted on the even batches, the odd
    batches, all). Everything is out of sample: a batch of parity p, and the other
    batches of parity p it is compared with, are taken under the model fitted on parity
    1 - p. Batches with fewer than 2 records (or nothing to compare with) give zeros.

    The same as ``reference_of`` on the rest and ``shift_statistics`` on the batch, for
    each batch, but each record's loss factors are computed once per parity and each
    batch's rest is the parity's additive sums minus the batch's (``_Sums``): the softmax
    over n x k runs twice, not once per batch, which is what 2,000 classes made slow.
    """
    Z = np.asarray(Z, dtype=np.float64)
    count = int(batches.max()) + 1 if len(batches) else 0
    out = np.zeros((count, len(SIGNALS)))
    for parity in (0, 1):
        model = weights[1 - parity]
        members = np.flatnonzero(batches % 2 == parity)
        Xb, res = loss_residuals(model, Z[members].astype(np.float32), labels[members])
        of_batch = batches[members]
        per_batch = {
            b: (rows, _sums(Z[members[rows]], labels[members[rows]], n_classes, Xb[rows], res[rows]))
            for b in range(parity, count, 2)
            for rows in [np.flatnonzero(of_batch == b)]
        }
        whole = _sums(Z[members], labels[members], n_classes, Xb, res)
        for b, (rows, part) in per_batch.items():
            if len(rows) < 2 or len(members) - len(rows) < 2:
                continue
            ref = _reference_from_sums(whole.plus(part, -1.0))
            chosen = members[rows]
            out[b] = shift_statistics(Z[chosen], labels[chosen], ref, model, (Xb[rows], res[rows]))
    return out


def delta_shift(
    Z: np.ndarray,
    labels: np.ndarray,
    sample_Z: np.ndarray,
    sample_labels: np.ndarray,
    batches: np.ndarray,
    n_classes: int,
    weights: np.ndarray,
) -> np.ndarray:
    """``SIGNALS`` (4,) of a delta against the profile sample's odd pseudo-batches, under the
    model fitted on the even ones: the same footing as ``pseudo_batch_shifts`` (all out of sample)."""
    rest = batches % 2 == 1
    if rest.sum() < 2:
        rest = np.ones(len(batches), dtype=bool)
    ref = reference_of(sample_Z[rest], sample_labels[rest], n_classes, weights[0])
    return shift_statistics(Z, labels, ref, weights[0])


@dataclass
class Shift:
    """One drift signal of the delta against the base's own batches."""

    signal: str
    value: float  # the delta's statistic
    base_median: float  # typical pseudo-batch value
    base_max: float  # largest pseudo-batch value
    bound: float  # warn above this
    shifted: bool

    @property
    def varies(self) -> bool:
        """Whether the base's own batches differ in this signal at all: where they do not (a small or uniform base),
        ``effect`` divides by a floor of 1e-12 and says nothing (``973169473180.0x``; newcomer review 19)."""
        return self.base_max > self.base_median

    @property
    def effect(self) -> float:
        """The delta's excess over the typical batch, in units of the base's largest excess."""
        spread = max(self.base_max - self.base_median, 1e-12)
        return (self.value - self.base_median) / spread

    def to_dict(self) -> dict:
        """The signal as reports carry it (``prov diff --detect``'s ``drift``, the gate's statistic)."""
        return {
            "signal": self.signal,
            "value": round(self.value, 6),
            "base_median": round(self.base_median, 6),
            "base_max": round(self.base_max, 6),
            "bound": round(self.bound, 6),
            "effect": round(self.effect, 3),
            "shifted": self.shifted,
        }


def judge(values: np.ndarray, batch_values: np.ndarray) -> list[Shift]:
    """Each signal of the delta (``values`` (4,)) against the base's batches ((B, 4))."""
    out = []
    for j, name in enumerate(SIGNALS):
        base = batch_values[:, j] if len(batch_values) else np.zeros(1)
        median, top = float(np.median(base)), float(base.max())
        bound = max(top + WARN_SPREADS * max(top - median, 0.0), FLOORS[name])
        value = float(values[j])
        out.append(Shift(name, value, median, top, bound, bool(value > bound and value > 0)))
    return out


def _excess_w(observed: np.ndarray, reference: np.ndarray) -> float:
    n, m = observed.sum(), reference.sum()
    if n == 0 or m == 0:
        return 0.0
    keep = (observed + reference) > 0
    o, r = observed[keep], reference[keep]
    share = (o + r) / (n + m)
    chi2 = float((((o - n * share) ** 2) / (n * share)).sum() + (((r - m * share) ** 2) / (m * share)).sum())
    df = max(int(keep.sum()) - 1, 0)
    return float(np.sqrt(max(chi2 - df, 0.0) / n))


def _top_eigenvalue(matrix: np.ndarray) -> float:
    """Largest eigenvalue of a symmetric matrix (LAPACK's symmetric eigenvalue solver through
    numpy: a commit then never imports scipy, ~0.35 s, nor pays its first-call set-up)."""
    if len(matrix) == 0:
        return 0.0
    return float(np.linalg.eigvalsh(matrix)[-1])
