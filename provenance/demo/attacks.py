"""The catalogue of planted poisoning attacks, shared by ``prov demo`` and ``bench/``.

Each :class:`Attack` has a name, the attack family it belongs to (the families of the
design contract, which detectors declare they cover: ``provenance.detectors.FAMILIES``),
its parameters with their values, and a builder that plants it on numeric features.

A builder takes a :class:`Setting` (the trusted base ``(Xb, yb)`` and a pool ``(Xp, yp)``
of fresh clean records the delta draws from), the number of poisons ``n`` and a numpy
random ``Generator``, plus its keyword parameters, and returns :class:`Planted` records.
Features are in original units (the base's per-feature range sizes triggers and noise);
labels are whatever ``yb`` holds (ints or strings). The same inputs and seed always give
the same poisons. ``Planted.on_grid`` rounds and clips them onto an integer feature grid
(pixel intensities, counts), as the demo's digits need.

To add an attack: write its builder here, with its parameters keyword-only and their
defaults, and add one ``Attack`` line to ``CATALOGUE``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from provenance.detectors.base import FAMILIES


class Planted(NamedTuple):
    """Poisoned records from one attack.

    ``X`` (float32, n x d) and ``labels`` are the records as the delta carries them;
    ``kinds`` says per record whether it is "added" or "relabeled"; ``old_labels`` the
    label a relabeled record had in the base (``None`` for added ones); ``base_rows``
    the base row a relabel changed (-1 for added records).
    """

    X: np.ndarray
    labels: np.ndarray
    kinds: list[str]
    old_labels: list[Any]
    base_rows: np.ndarray

    def on_grid(self, low: float, high: float) -> Planted:
        """The same records with features rounded to integers and clipped to ``[low, high]``."""
        return self._replace(X=np.clip(np.rint(self.X), low, high).astype(np.float32))


class Setting(NamedTuple):
    """Where an attack plants: the trusted base ``(Xb, yb)`` and a pool ``(Xp, yp)`` of fresh clean records."""

    Xb: np.ndarray
    yb: np.ndarray
    Xp: np.ndarray
    yp: np.ndarray


Builder = Callable[..., Planted]
"""``build(on: Setting, n, rng, **params) -> Planted``."""


@dataclass(frozen=True)
class Attack:
    """One planted attack: ``name``, ``family`` (one of ``FAMILIES``), its builder and the parameters it fixes.

    ``presets`` fix some of the builder's keyword parameters (two attacks can share a
    builder: a dirty-label and a clean-label backdoor); ``params`` lists every parameter
    with the value this attack uses.
    """

    name: str
    family: str
    build: Builder
    presets: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"attack {self.name}: family {self.family!r} is not one of {', '.join(FAMILIES)}")
        unknown = set(self.presets) - set(_keyword_defaults(self.build))
        if unknown:
            raise ValueError(f"attack {self.name}: {self.build.__name__} has no parameter {', '.join(sorted(unknown))}")

    @property
    def params(self) -> dict[str, Any]:
        """Every keyword parameter of the builder, with the value this attack uses."""
        return {**_keyword_defaults(self.build), **self.presets}

    def plant(
        self,
        Xb: np.ndarray,
        yb: np.ndarray,
        Xp: np.ndarray,
        yp: np.ndarray,
        n: int,
        rng: np.random.Generator,
        **params: Any,
    ) -> Planted:
        """Plant ``n`` poisons against base ``(Xb, yb)`` from pool ``(Xp, yp)``; ``params`` override this attack's.

        Raises:
            TypeError: a parameter the builder does not take.
        """
        unknown = set(params) - set(self.params)
        if unknown:
            raise TypeError(f"attack {self.name} takes no parameter {', '.join(sorted(unknown))}")
        return self.build(Setting(Xb, yb, Xp, yp), n, rng, **{**self.params, **params})


def _keyword_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    return {
        p.name: p.default for p in inspect.signature(fn).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


# --- helpers --------------------------------------------------------------------------


def _other_label(y: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shift = rng.integers(1, len(classes), size=len(y))
    index = np.searchsorted(classes, y)
    return classes[(index + shift) % len(classes)]


def _new(X: np.ndarray, labels: np.ndarray) -> Planted:
    n = len(X)
    return Planted(X.astype(np.float32), labels, ["added"] * n, [None] * n, np.full(n, -1))


def _lowest_variance_columns(Xb: np.ndarray) -> np.ndarray:
    """Where a patch trigger goes by default: the quietest features (a blank image corner, a constant column)."""
    return np.argsort(Xb.std(0), kind="stable")[: max(2, Xb.shape[1] // 16)]


# --- builders -------------------------------------------------------------------------


def label_flip(on: Setting, n: int, rng: np.random.Generator) -> Planted:
    """New records from the pool, each labelled as another class (uniformly among the others)."""
    rows = rng.choice(len(on.Xp), n, replace=False)
    return _new(on.Xp[rows], _other_label(on.yp[rows], np.unique(on.yb), rng))


def relabel(on: Setting, n: int, rng: np.random.Generator) -> Planted:
    """Base records given another label in the new version (same content, so a relabel in the diff)."""
    rows = rng.choice(len(on.Xb), n, replace=False)
    new = _other_label(on.yb[rows], np.unique(on.yb), rng)
    return Planted(on.Xb[rows].astype(np.float32), new, ["relabeled"] * n, list(on.yb[rows]), rows)


def backdoor(
    on: Setting,
    n: int,
    rng: np.random.Generator,
    *,
    trigger: str = "patch",
    clean_label: bool = False,
    target_rank: int = 0,
    columns: Sequence[int] | None = None,
    value: float | None = None,
    alpha: float = 0.2,
    pattern_seed: int = 1234,
) -> Planted:
    """Pool records carrying a trigger, labelled as the target class (the ``target_rank``-th class in sorted order).

    ``trigger="patch"`` sets ``columns`` (default: the lowest-variance features) to
    ``value`` (default: half the base's range above its maximum); ``"blend"`` mixes in a
    fixed random pattern (one per ``pattern_seed``, as a real trigger) with weight
    ``alpha``. Dirty-label poisons come from other classes; clean-label ones
    (``clean_label=True``) are target-class records, drawn with replacement if too few.
    """
    target = np.unique(on.yb)[target_rank]
    if clean_label:
        candidates = np.flatnonzero(on.yp == target)
        rows = rng.choice(candidates, n, replace=n > len(candidates))
    else:
        rows = rng.choice(np.flatnonzero(on.yp != target), n, replace=False)
    X = on.Xp[rows].copy()
    if trigger == "patch":
        cols = _lowest_variance_columns(on.Xb) if columns is None else np.asarray(columns)
        X[:, cols] = on.Xb.max(0)[cols] + 0.5 * (on.Xb.max(0) - on.Xb.min(0))[cols] if value is None else value
    elif trigger == "blend":
        pattern_rng = np.random.default_rng(pattern_seed)
        pattern = on.Xb.min(0) + pattern_rng.random(on.Xb.shape[1]) * (on.Xb.max(0) - on.Xb.min(0))
        X = (1 - alpha) * X + alpha * pattern
    else:
        raise ValueError(f"backdoor trigger {trigger!r}: expected 'patch' or 'blend'")
    return _new(X, np.full(n, target))


def outlier(on: Setting, n: int, rng: np.random.Generator) -> Planted:
    """Uniform random records anywhere in the base's bounding box, with random labels."""
    low, high = on.Xb.min(0), on.Xb.max(0)
    X = low + rng.random((n, on.Xb.shape[1])) * (high - low)
    return _new(X, rng.choice(np.unique(on.yb), n))


def feature_collision(
    on: Setting,
    n: int,
    rng: np.random.Generator,
    *,
    pull: float = 0.15,
) -> Planted:
    """Poisons labelled as their own class, placed on one target record of another class.

    Each poison keeps ``pull`` of its own offset from the target: mostly target in feature space.
    """
    target_row = rng.integers(len(on.Xp))
    x_target, target_class = on.Xp[target_row], on.yp[target_row]
    rows = rng.choice(np.flatnonzero(on.yp != target_class), n, replace=False)
    X = x_target + pull * (on.Xp[rows] - x_target)
    return _new(X, on.yp[rows])


def near_duplicates(
    on: Setting,
    n: int,
    rng: np.random.Generator,
    *,
    copies_per_record: int = 20,
    noise: float = 0.01,
) -> Planted:
    """A flood: a few base records, ``copies_per_record`` copies of each, with Gaussian noise of ``noise`` base std."""
    n = max(n, 2)
    seed_rows = rng.choice(len(on.Xb), max(1, n // copies_per_record), replace=False)
    rows = seed_rows[rng.integers(len(seed_rows), size=n)]
    jitter = rng.normal(0, noise, (n, on.Xb.shape[1])) * on.Xb.std(0)
    return _new(on.Xb[rows] + jitter, on.yb[rows])


def exact_duplicates(
    on: Setting,
    n: int,
    rng: np.random.Generator,
    *,
    noise: float = 0.01,
) -> Planted:
    """One new record (a base record moved by ``noise`` base std) sent ``n`` times; a flood is at least 2."""
    n = max(n, 2)
    row = rng.integers(len(on.Xb))
    record = on.Xb[row : row + 1] + rng.normal(0, noise, (1, on.Xb.shape[1])) * on.Xb.std(0)
    return _new(np.repeat(record, n, axis=0), np.full(n, on.yb[row]))


def constant_records(on: Setting, n: int, rng: np.random.Generator) -> Planted:
    """Empty or constant records (every feature 0.0 or every feature 1.0), with random labels."""
    values = rng.choice([0.0, 1.0], size=n)
    return _new(np.repeat(values[:, None], on.Xb.shape[1], axis=1), rng.choice(np.unique(on.yb), n))


def gradient_matching(
    on: Setting,
    n: int,
    rng: np.random.Generator,
    *,
    epsilon: float = 0.5,
    steps: int = 30,
) -> Planted:
    """Clean-label poisons whose loss gradients align with a targeted misclassification.

    Witches' Brew (Geiping et al., ICLR 2021) against a softmax regression fitted on the
    base: the poisons' gradients on a linear surrogate align with the gradient that would
    teach the model to put one target record in the wrong class, by ``steps`` signed
    steps within +-``epsilon`` base std per feature.
    """
    from provenance.features.softmax import fit_softmax, softmax, with_bias

    classes = np.unique(on.yb)
    if len(classes) < 2:  # spam7's first rows are all spam: no wrong class to aim at (label_flip's ValueError too)
        raise ValueError(f"gradient_matching needs a base of two classes or more; this one has only {classes[0]!r}")
    mean, std = on.Xb.mean(0), np.maximum(on.Xb.std(0), 1e-6)
    Zb = (on.Xb - mean) / std
    W = fit_softmax(Zb.astype(np.float32), np.searchsorted(classes, on.yb), len(classes)).astype(np.float64)
    # the direction to align with is the gradient of the target's loss at its adversarial class (the next after
    # its own), 0 where the surrogate already gives the target that class with certainty (a float64 softmax of
    # 1.0): divided by its norm, every poison was NaN. Such a target is drawn again among the pool records that
    # have a direction; the first draw is kept when it has one, so every other planting is as before.
    Zp = (on.Xp - mean) / std
    wrong = np.eye(len(classes))[(np.searchsorted(classes, on.yp) + 1) % len(classes)]
    has_direction = (softmax(with_bias(Zp) @ W) != wrong).any(axis=1)
    if not has_direction.any():
        raise ValueError("gradient_matching: the surrogate already gives every pool record its adversarial class")
    target_row = rng.integers(len(on.Xp))
    if not has_direction[target_row]:
        target_row = rng.choice(np.flatnonzero(has_direction))
    z_star = Zp[target_row]
    adversarial = classes[(np.searchsorted(classes, on.yp[target_row]) + 1) % len(classes)]
    a = np.searchsorted(classes, adversarial)
    p_star = softmax(with_bias(z_star[None])[0:1] @ W)[0]
    A = np.outer(with_bias(z_star[None])[0], p_star - np.eye(len(classes))[a])
    A /= np.linalg.norm(A)
    rows = rng.choice(np.flatnonzero(on.yp == adversarial), n, replace=n > (on.yp == adversarial).sum())
    Z0 = (on.Xp[rows] - mean) / std
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


CATALOGUE: tuple[Attack, ...] = (
    Attack("label_flip", "label_flip", label_flip),
    Attack("relabel", "relabel", relabel),
    Attack("backdoor_patch_dirty", "backdoor", backdoor, {"trigger": "patch", "clean_label": False}),
    Attack("backdoor_patch_clean", "backdoor", backdoor, {"trigger": "patch", "clean_label": True}),
    Attack("backdoor_blend_dirty", "backdoor", backdoor, {"trigger": "blend", "clean_label": False}),
    Attack("backdoor_blend_clean", "backdoor", backdoor, {"trigger": "blend", "clean_label": True}),
    Attack("outlier", "outlier", outlier),
    Attack("feature_collision", "feature_collision", feature_collision),
    Attack("dos_near_duplicates", "dos_flood", near_duplicates),
    Attack("dos_exact_duplicates", "dos_flood", exact_duplicates),
    Attack("dos_constant", "dos_flood", constant_records),
    Attack("gradient_matching", "gradient", gradient_matching),
)
"""Every planted attack, in the order benchmarks report them."""

ATTACKS: dict[str, Attack] = {attack.name: attack for attack in CATALOGUE}
"""The catalogue by name."""
