"""A small multinomial logistic regression in numpy, fitted deterministically.

The gradient detector needs a model fitted on the trusted reference to compute
per-record gradients; a linear model on the (standardised) features is cheap, convex
(so the fit is the same on every run) and its per-record gradients have a closed form.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of an ``n x k`` logit matrix: probabilities, each row summing to 1.

    The row maximum is subtracted first, so large logits do not overflow ``exp``. Keeps
    the input's float dtype.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def with_bias(Z: np.ndarray) -> np.ndarray:
    """``Z`` (``n x d``) with a column of ones appended (``n x (d+1)``, same dtype): the bias term of a linear model."""
    return np.hstack([Z, np.ones((len(Z), 1), dtype=Z.dtype)])


def fit_softmax(Z: np.ndarray, y: np.ndarray, n_classes: int, l2: float = 1e-2, iterations: int = 300) -> np.ndarray:
    """Fit a multinomial logistic regression: weights ((d+1) x k, float32) by Nesterov-accelerated gradient descent.

    ``Z`` is the ``n x d`` feature matrix (standardised by the caller), ``y`` the ``n``
    integer class indices in ``[0, n_classes)``; the last weight row is the bias. The
    loss is the mean cross-entropy plus ``l2 * ||W||^2 / 2`` (bias included), minimised
    for exactly ``iterations`` steps of size 1/L from W = 0, where L (the gradient's
    Lipschitz constant) is estimated by 30 power iterations from a fixed start: no
    randomness, so the same inputs give the same weights. No records (n = 0) gives
    zero weights. ``y`` is not checked: a class index of ``n_classes`` or more raises
    numpy's ``IndexError``, a negative one silently counts as a class from the end.
    """
    Xb = with_bias(Z.astype(np.float64))
    n, d1 = Xb.shape
    W = np.zeros((d1, n_classes))
    if n == 0:
        return W.astype(np.float32)
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    # Lipschitz constant of the loss gradient: 0.5 * largest eigenvalue of Xb'Xb / n, plus l2.
    v = np.ones(d1) / np.sqrt(d1)
    for _ in range(30):  # power iteration from a fixed start: deterministic
        v = Xb.T @ (Xb @ v) / n
        v /= np.linalg.norm(v) + 1e-12
    lipschitz = 0.5 * float(v @ (Xb.T @ (Xb @ v)) / n) + l2
    step = 1.0 / lipschitz
    previous = W.copy()
    for t in range(1, iterations + 1):
        lookahead = W + (t - 1.0) / (t + 2.0) * (W - previous)
        grad = Xb.T @ (softmax(Xb @ lookahead) - onehot) / n + l2 * lookahead
        previous, W = W, lookahead - step * grad
    return W.astype(np.float32)


def loss_residuals(W: np.ndarray, Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x with bias, p - onehot): a record's loss gradient w.r.t. W is their outer product.

    Detectors work with these two factors instead of the (d+1)*k gradient itself, so
    memory stays n*(d+k), not n*d*k.
    """
    Xb = with_bias(Z.astype(np.float32))
    residual = softmax(Xb @ W)
    residual[np.arange(len(y)), y] -= 1.0
    return Xb, residual


def gradient_norms(Xb: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """Frobenius norm of each record's loss gradient ``outer(x_i, r_i)``: ``|x_i| * |r_i|`` (length n).

    ``Xb`` and ``residual`` are ``loss_residuals``'s two factors (``n x (d+1)``, ``n x k``).
    """
    return np.linalg.norm(Xb, axis=1) * np.linalg.norm(residual, axis=1)


def gradient_projections(Xb: np.ndarray, residual: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """<outer(x_i, r_i), direction> for each record, direction being (d+1) x k."""
    return np.einsum("ij,ij->i", Xb @ direction, residual)


def mean_gradient(Xb: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """The mean of the records' loss gradients, ``Xb' residual / n`` (``(d+1) x k``), without the L2 term.

    ``Xb`` and ``residual`` are ``loss_residuals``'s factors; no records gives zeros.
    """
    return Xb.T @ residual / max(len(Xb), 1)
