"""Whole-version baselines the delta detectors are compared with.

Each takes the whole new version (X, y) and returns one suspiciousness score per record
(higher = more suspicious) and, where the method has one, its own flag.
"""

from __future__ import annotations

import numpy as np


def cleanlab_label_issues(X, y, seed=0, folds=3):
    """cleanlab find_label_issues with cross-validated LogisticRegression probabilities."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes, y_index = np.unique(y, return_inverse=True)
    counts = np.bincount(y_index)
    folds = int(min(folds, counts.min())) if counts.min() >= 2 else 2
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    probs = cross_val_predict(model, X, y_index, cv=folds, method="predict_proba")
    if probs.shape[1] < len(classes):  # a class too rare for every fold: pad
        probs = np.pad(probs, ((0, 0), (0, len(classes) - probs.shape[1])))
    issues = find_label_issues(y_index, probs)
    return 1.0 - get_label_quality_scores(y_index, probs), issues


def spectral_signatures(X, y):
    """Tran et al. 2018: per class, squared projection on the top singular vector."""
    from sklearn.preprocessing import StandardScaler

    Z = StandardScaler().fit_transform(X)
    scores = np.zeros(len(X))
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        centred = Z[rows] - Z[rows].mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        scores[rows] = (centred @ vt[0]) ** 2
    return scores, None


def isolation_forest(X, y, seed=0):
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=100, random_state=seed, n_jobs=1).fit(X)
    return -forest.score_samples(X), forest.predict(X) == -1


def ecod(X, y, seed=0):
    from pyod.models.ecod import ECOD

    model = ECOD().fit(X)
    return model.decision_scores_, model.labels_.astype(bool)


BASELINES = {
    "cleanlab": lambda X, y, seed: cleanlab_label_issues(X, y, seed),
    "spectral_sig": lambda X, y, seed: spectral_signatures(X, y),
    "iforest": lambda X, y, seed: isolation_forest(X, y, seed),
    "ecod": lambda X, y, seed: ecod(X, y, seed),
}
