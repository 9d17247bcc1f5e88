"""A linear softmax model fitted in closed form: shrinkage linear discriminant analysis.

Detectors need a model of the trusted base that gives P(label | x) and per-record loss
gradients (``knn_label``, ``gradient``). Multinomial logistic regression fitted by
gradient descent costs n x k per iteration, which at thousands of classes dominated the
commit (issue 14: 379 s at 500 classes). Linear discriminant analysis with a shared,
shrunk covariance (Hastie, Tibshirani and Friedman, *Elements of Statistical Learning*
4.3; shrinkage after Ledoit and Wolf 2004) is the same linear softmax family
(logits ``z W + b``), fitted in one pass: class means, one d x d covariance and one
solve, so it costs O(n d^2 + d^2 k) whatever the class count, and it is deterministic.
The weights use the same ((d+1) x k) layout as before, so per-record gradients keep
their closed form (``features.softmax.loss_residuals``).
"""

from __future__ import annotations

import numpy as np

MIN_SHRINKAGE = 0.05


def fit_lda(Z: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Weights ((d+1) x k, float32) of a shrinkage LDA on standardised features.

    ``Z`` is (n x d), ``y`` (n,) class indexes in [0, k). A class with no records here
    gets the overall mean and a prior of one pseudo-record, so it is never predicted
    with confidence. The covariance is shrunk towards its average variance by
    ``MIN_SHRINKAGE + d / n`` (more when records are few next to dimensions).
    """
    Z = np.asarray(Z, dtype=np.float64)
    n, d = Z.shape
    W = np.zeros((d + 1, n_classes))
    if n == 0:
        return W.astype(np.float32)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    sums = np.zeros((n_classes, d))
    np.add.at(sums, y, Z)
    overall = Z.mean(axis=0)
    means = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], overall)
    centred = Z - means[y]
    dof = max(n - int((counts > 0).sum()), 1)
    cov = centred.T @ centred / dof
    shrink = min(1.0, MIN_SHRINKAGE + d / n)
    target = float(np.trace(cov)) / d if d else 1.0
    cov = (1 - shrink) * cov + shrink * max(target, 1e-6) * np.eye(d)
    solved = np.linalg.solve(cov, means.T)  # d x k
    prior = np.log((counts + 1.0) / (n + n_classes))
    W[:d] = solved
    W[d] = -0.5 * np.einsum("kd,dk->k", means, solved) + prior
    return W.astype(np.float32)
