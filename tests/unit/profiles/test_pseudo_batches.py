"""Pseudo-batches of a base whose file order is grouped by class (a tree of ``<class>/<file>``,
a table sorted by label): cut within each class, so that leaving a record's batch out never
leaves its own class out."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from provenance.detectors import Delta, run_detectors
from provenance.detectors.combine import combine
from provenance.detectors.extreme import batch_label_support
from provenance.profiles.batches import grouped_by_label, pseudo_batches
from provenance.profiles.reference import build_profile
from support import row_digests


def test_a_file_order_grouped_by_class_is_cut_within_each_class():
    labels = np.repeat(np.arange(4), 50)  # four classes, one run each, in file order
    batches = pseudo_batches(np.arange(200), 10, labels)
    assert all(set(batches[labels == c]) == set(range(10)) for c in range(4))
    for c in range(4):  # within a class, the file order's runs
        assert (np.diff(batches[labels == c]) >= 0).all()
    mixed = np.tile(np.arange(4), 50)  # interleaved: the file order's runs, as without labels
    assert (pseudo_batches(np.arange(200), 10, mixed) == pseudo_batches(np.arange(200), 10)).all()
    one_class = np.zeros(200)
    assert (pseudo_batches(np.arange(200), 10, one_class) == pseudo_batches(np.arange(200), 10)).all()
    plain = pseudo_batches(np.arange(200), 10)
    assert grouped_by_label(plain, labels) and not grouped_by_label(plain, mixed)
    assert not grouped_by_label(plain, one_class)
    index = np.arange(200)
    later = np.where(index < 100, index % 2, 2 + index % 2)  # two classes interleaved, then two others
    assert not grouped_by_label(plain, later)  # each class spans five batches: a fifth of it in each


def test_flipped_labels_are_found_in_a_base_sorted_by_class():
    """scikit-learn's digits in a fixed random order, the first 1,200 as the base, then the same
    base sorted by label (as a tree of <class>/<file> lists it); ten of the next 300 records get
    another label. Cut as one file order, the sorted base's ten pseudo-batches were nearly its
    ten classes, every reference record faced no record of its own class, and the label
    evidence was calibrated on that: 5 of the 10 flips were flagged, 10 of 10 in the shuffled
    base. Cut within each class, the sorted base finds them as the shuffled one does."""
    _flipped_labels_are_found(appended=0)


@pytest.mark.parametrize("appended", [15, 50])
def test_flipped_labels_are_found_in_a_base_sorted_by_class_with_a_delivery_appended(appended):
    """Attack review 9, D3: the cut within each class was made only while the file order had at most
    two label runs per label, so a delivery appended to the sorted table in its own (interleaved)
    order switched it off: with 15 appended records 5 of the 10 flips were found, with 50, 6."""
    _flipped_labels_are_found(appended)


def _flipped_labels_are_found(appended: int) -> None:
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order].astype(np.float32), y[order].astype(str)
    n = 1200 - appended
    base = np.argsort(y[:n], kind="stable")  # the class-sorted table, and a delivery appended as it came
    Xb, yb = np.vstack([X[:n][base], X[n:1200]]), np.concatenate([y[:n][base], y[n:1200]])
    profile = build_profile(Xb, yb, row_digests(Xb), featurizer="x", positions=np.arange(1200))
    assert len(set(zip(profile.sample_batches.tolist(), profile.sample_labels.tolist()))) == 100
    Xd, yd = X[1200:1500], y[1200:1500].copy()
    flips = np.arange(0, 300, 30)
    yd[flips] = [str((int(v) + 5) % 10) for v in yd[flips]]
    delta = Delta(row_digests(Xd), Xd, list(yd), ["vendor"] * 300, ["added"] * 300, [None] * 300)
    verdicts = combine(
        run_detectors(profile, delta, fpr=0.01), 0.01, profile.sample_batches, batch_label_support(profile, delta)
    )
    flagged = np.array([v.flagged for v in verdicts.records])
    assert flagged[flips].all()
    assert flagged.sum() - flagged[flips].sum() <= 10  # clean records flagged: within a clean delta's budget
