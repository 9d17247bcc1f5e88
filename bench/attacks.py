"""Planted poisoning attacks on numeric feature tables, one function per attack.

Each takes the trusted base (Xb, yb), a pool of fresh clean records (Xp, yp) the delta
draws from, the number of poisons and a random generator, and returns the poisoned
records as (X, labels, kinds, old_labels, base_rows) where base_rows names base records
that a relabel attack changed (-1 for new records). Features are in original units;
``span`` is the per-feature range of the base, used to size triggers and noise.
"""

from __future__ import annotations

import numpy as np

TARGET_CLASS_RANK = 0  # the backdoor target: the first class in sorted order


def _other_label(y: np.ndarray, classes: np.ndarray, rng) -> np.ndarray:
    shift = rng.integers(1, len(classes), size=len(y))
    index = np.searchsorted(classes, y)
    return classes[(index + shift) % len(classes)]


def _trigger_columns(Xb: np.ndarray) -> np.ndarray:
    """A patch on the lowest-variance features: a blank image corner, a quiet column."""
    return np.argsort(Xb.std(0), kind="stable")[: max(2, Xb.shape[1] // 16)]


def _new(X, labels):
    n = len(X)
    return X.astype(np.float32), labels, ["added"] * n, [None] * n, np.full(n, -1)


def label_flip(Xb, yb, Xp, yp, n, rng):
    rows = rng.choice(len(Xp), n, replace=False)
    return _new(Xp[rows], _other_label(yp[rows], np.unique(yb), rng))


def relabel(Xb, yb, Xp, yp, n, rng):
    rows = rng.choice(len(Xb), n, replace=False)
    new = _other_label(yb[rows], np.unique(yb), rng)
    return Xb[rows].astype(np.float32), new, ["relabeled"] * n, list(yb[rows]), rows


def _patch(Xb, X):
    X = X.copy()
    cols = _trigger_columns(Xb)
    X[:, cols] = Xb.max(0)[cols] + 0.5 * (Xb.max(0) - Xb.min(0))[cols]
    return X


def _blend(Xb, X, rng_seed=1234, alpha=0.2):
    pattern_rng = np.random.default_rng(rng_seed)  # one fixed pattern per dataset, as a real trigger
    pattern = Xb.min(0) + pattern_rng.random(Xb.shape[1]) * (Xb.max(0) - Xb.min(0))
    return (1 - alpha) * X + alpha * pattern


def _target(yb):
    return np.unique(yb)[TARGET_CLASS_RANK]


def backdoor_patch_dirty(Xb, yb, Xp, yp, n, rng):
    target = _target(yb)
    rows = rng.choice(np.flatnonzero(yp != target), n, replace=False)
    return _new(_patch(Xb, Xp[rows]), np.full(n, target))


def backdoor_patch_clean(Xb, yb, Xp, yp, n, rng):
    target = _target(yb)
    candidates = np.flatnonzero(yp == target)
    rows = rng.choice(candidates, n, replace=n > len(candidates))
    return _new(_patch(Xb, Xp[rows]), np.full(n, target))


def backdoor_blend_dirty(Xb, yb, Xp, yp, n, rng):
    target = _target(yb)
    rows = rng.choice(np.flatnonzero(yp != target), n, replace=False)
    return _new(_blend(Xb, Xp[rows]), np.full(n, target))


def backdoor_blend_clean(Xb, yb, Xp, yp, n, rng):
    target = _target(yb)
    candidates = np.flatnonzero(yp == target)
    rows = rng.choice(candidates, n, replace=n > len(candidates))
    return _new(_blend(Xb, Xp[rows]), np.full(n, target))


def outlier(Xb, yb, Xp, yp, n, rng):
    low, high = Xb.min(0), Xb.max(0)
    X = low + rng.random((n, Xb.shape[1])) * (high - low)  # anywhere in the base's box
    return _new(X, rng.choice(np.unique(yb), n))


def feature_collision(Xb, yb, Xp, yp, n, rng):
    """Poisons labelled as their base class, placed on one target record of another class."""
    target_row = rng.integers(len(Xp))
    x_target, target_class = Xp[target_row], yp[target_row]
    rows = rng.choice(np.flatnonzero(yp != target_class), n, replace=False)
    X = x_target + 0.15 * (Xp[rows] - x_target)  # mostly target in feature space
    return _new(X, yp[rows])


def dos_near_duplicates(Xb, yb, Xp, yp, n, rng):
    n = max(n, 2)
    seed_rows = rng.choice(len(Xb), max(1, n // 20), replace=False)  # a few records, many copies
    rows = seed_rows[rng.integers(len(seed_rows), size=n)]
    noise = rng.normal(0, 0.01, (n, Xb.shape[1])) * Xb.std(0)
    return _new(Xb[rows] + noise, yb[rows])


def dos_exact_duplicates(Xb, yb, Xp, yp, n, rng):
    """One new record (a base record, slightly changed) sent many times; a flood is >= 2."""
    n = max(n, 2)
    row = rng.integers(len(Xb))
    record = Xb[row : row + 1] + rng.normal(0, 0.01, (1, Xb.shape[1])) * Xb.std(0)
    return _new(np.repeat(record, n, axis=0), np.full(n, yb[row]))


def dos_constant(Xb, yb, Xp, yp, n, rng):
    values = rng.choice([0.0, 1.0], size=n)
    return _new(np.repeat(values[:, None], Xb.shape[1], axis=1), rng.choice(np.unique(yb), n))


def gradient_matching(Xb, yb, Xp, yp, n, rng, epsilon=0.5, steps=30):
    """Clean-label poisons whose loss gradients on a linear surrogate align with the
    gradient that would teach the model to put one target record in the wrong class
    (Witches' Brew against a softmax regression), within +-epsilon base std per feature."""
    from provenance.features.softmax import fit_softmax, softmax, with_bias

    classes = np.unique(yb)
    mean, std = Xb.mean(0), np.maximum(Xb.std(0), 1e-6)
    Zb = (Xb - mean) / std
    W = fit_softmax(Zb.astype(np.float32), np.searchsorted(classes, yb), len(classes)).astype(np.float64)
    target_row = rng.integers(len(Xp))
    z_star = (Xp[target_row] - mean) / std
    adversarial = classes[(np.searchsorted(classes, yp[target_row]) + 1) % len(classes)]
    a = np.searchsorted(classes, adversarial)
    p_star = softmax(with_bias(z_star[None])[0:1] @ W)[0]
    A = np.outer(with_bias(z_star[None])[0], p_star - np.eye(len(classes))[a])
    A /= np.linalg.norm(A)
    rows = rng.choice(np.flatnonzero(yp == adversarial), n, replace=n > (yp == adversarial).sum())
    Z0 = (Xp[rows] - mean) / std
    Z = Z0.copy()
    onehot = np.eye(len(classes))[a]
    for _ in range(steps):  # ascend <grad_W loss(z, a), A>, signed steps, projected to the box
        Zb1 = with_bias(Z)
        p = softmax(Zb1 @ W)
        r = p - onehot
        term1 = r @ A[:-1].T
        s = Zb1 @ A  # n x k
        jac = p * (s - (p * s).sum(1, keepdims=True))  # d<r, s>/dlogits
        grad = term1 + jac @ W[:-1].T
        Z = np.clip(Z + (epsilon / 5) * np.sign(grad), Z0 - epsilon, Z0 + epsilon)
    X = Z * std + mean
    return _new(X, np.full(n, adversarial))


ATTACKS = {
    "label_flip": ("label_flip", label_flip),
    "relabel": ("relabel", relabel),
    "backdoor_patch_dirty": ("backdoor", backdoor_patch_dirty),
    "backdoor_patch_clean": ("backdoor", backdoor_patch_clean),
    "backdoor_blend_dirty": ("backdoor", backdoor_blend_dirty),
    "backdoor_blend_clean": ("backdoor", backdoor_blend_clean),
    "outlier": ("outlier", outlier),
    "feature_collision": ("feature_collision", feature_collision),
    "dos_near_duplicates": ("dos_flood", dos_near_duplicates),
    "dos_exact_duplicates": ("dos_flood", dos_exact_duplicates),
    "dos_constant": ("dos_flood", dos_constant),
    "gradient_matching": ("gradient", gradient_matching),
}
