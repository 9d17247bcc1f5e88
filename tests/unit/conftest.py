"""Real small datasets (scikit-learn's packaged digits), split into a trusted base and a delta."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.datasets import load_digits

from provenance.detectors import Delta
from provenance.profiles.reference import ReferenceProfile, build_profile


def digests_of(X: np.ndarray) -> list[bytes]:
    return [hashlib.sha256(row.tobytes()).digest() for row in np.ascontiguousarray(X, dtype=np.float32)]


@dataclass
class Split:
    profile: ReferenceProfile
    Xb: np.ndarray
    yb: np.ndarray
    Xp: np.ndarray  # fresh clean records the delta is drawn from
    yp: np.ndarray

    def delta(self, X=None, labels=None, kinds=None, old_labels=None, sources=None, digests=None) -> Delta:
        """The clean pool plus the given extra records."""
        X_extra = np.zeros((0, self.Xp.shape[1]), np.float32) if X is None else np.asarray(X, np.float32)
        n_extra = len(X_extra)
        labels = [] if labels is None else [str(l) for l in labels]
        all_X = np.vstack([self.Xp, X_extra]).astype(np.float32)
        return Delta(
            digests=digests_of(self.Xp) + (digests if digests is not None else digests_of(X_extra)),
            X=all_X,
            labels=[str(l) for l in self.yp] + labels,
            sources=(sources if sources is not None else ["vendor"] * len(all_X)),
            kinds=["added"] * len(self.Xp) + (kinds or ["added"] * n_extra),
            old_labels=[None] * len(self.Xp) + (old_labels or [None] * n_extra),
        )


@pytest.fixture(scope="session")
def digits_split() -> Split:
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    order = np.random.default_rng(0).permutation(len(X))
    base, pool = order[:1078], order[1078:]
    profile = build_profile(
        X[base], y[base].astype(str), digests_of(X[base]), featurizer="numeric/v1", sources=["vendor"] * len(base)
    )
    return Split(profile, X[base], y[base], X[pool], y[pool])


def _flags_and_scores(result, start: int = 0):
    flags = np.array([f.flagged for f in result.findings[start:]])
    scores = np.array([f.score for f in result.findings[start:]])
    return flags, scores


@pytest.fixture
def flags_and_scores():
    """(flags, scores) of a result's findings from index ``start`` on."""
    return _flags_and_scores
