"""``gate.removed_twins.near_twins``: an added record under another label pairs with a removed record it nearly
copies or edits (A33a-1, A33c-3); the same label, a new record, or an edit on data whose base pairs two classes so
honestly, pairs with nothing. Real profiles (``build_profile``) of generated records, no store."""

from __future__ import annotations

import hashlib

import numpy as np

from provenance.gate.removed_twins import (
    EDIT_FLOOR,
    EDIT_SCALES,
    EDIT_SHARE,
    RemovedPool,
    copy_radius,
    near_twins,
    two_class_edit_share,
)
from provenance.profiles.reference import ReferenceProfile, build_profile

PER_CLASS = 120


def _profile(X: np.ndarray, labels: list[str]) -> ReferenceProfile:
    digests = [hashlib.sha256(str(i).encode()).digest() for i in range(len(X))]
    return build_profile(X, labels, digests, featurizer="numeric/v1", positions=np.arange(len(X)))


def _continuous() -> tuple[np.ndarray, list[str]]:
    """Two overlapping classes of 4 continuous features (penguin-like scales)."""
    rng = np.random.default_rng(34)
    X = np.column_stack(
        [rng.normal(44, 5, 2 * PER_CLASS), rng.normal(200, 14, 2 * PER_CLASS), rng.normal(4500, 1000, 2 * PER_CLASS)]
    )
    X = np.column_stack([X, rng.normal(17, 2, 2 * PER_CLASS)])
    return X, ["a"] * PER_CLASS + ["b"] * PER_CLASS


def _pool(X: np.ndarray, labels: list[str], rows: list[int]) -> RemovedPool:
    digests = [hashlib.sha256(str(i).encode()).digest() for i in rows]
    return RemovedPool(X[rows], [labels[i] for i in rows], digests, ["v2"] * len(rows))


def test_a_gram_apart_under_another_label_is_a_near_copy_and_under_its_own_nothing():
    X, labels = _continuous()
    profile = _profile(X, labels)
    copy = X[[7]] + np.array([[0.0, 0.0, 1.0, 0.0]])  # record 7 (class a) a gram heavier
    (twin,) = near_twins(profile, copy, ["b"], _pool(X, labels, [7, 130]))
    assert twin[0] == 0 and twin[1] == "near copy" and twin[2] <= copy_radius(profile), twin
    assert near_twins(profile, copy, ["a"], _pool(X, labels, [7, 130])) == [(-1, "", float("inf"))]


def _bound(X: np.ndarray, profile: ReferenceProfile, row: int, column: int) -> float:
    """How far an edit may move ``X[row, column]``: ``EDIT_SHARE`` of it or ``EDIT_SCALES`` of its column's scale."""
    return max(EDIT_SHARE * abs(X[row, column]), EDIT_SCALES * float(profile.scale[column]))


def test_one_column_moved_within_half_its_scale_is_an_edit_and_beyond_it_is_not():
    X, labels = _continuous()
    profile = _profile(X, labels)
    edited = X[[7]].copy()
    edited[0, 2] += 0.4 * float(profile.scale[2])  # beyond the near-copy radius, within EDIT_SCALES (0.5)
    (twin,) = near_twins(profile, edited, ["b"], _pool(X, labels, [7]))
    assert twin[1] == "edit" and twin[2] > copy_radius(profile), twin
    edited[0, 2] = X[7, 2] + 1.6 * _bound(X, profile, 7, 2)
    assert near_twins(profile, edited, ["b"], _pool(X, labels, [7]))[0][0] == -1


def test_an_edit_nearer_a_kept_record_pairs_with_nothing_and_nearer_the_removed_one_pairs():
    X, labels = _continuous()
    X[8, [0, 1, 3]] = X[7, [0, 1, 3]]  # record 8 (class a, kept) equal to record 7 but for its mass
    X[8, 2] = X[7, 2] + 0.3 * float(_scale(X, labels)[2])
    profile = _profile(X, labels)
    edited = X[[7]].copy()
    edited[0, 2] += 0.2 * float(profile.scale[2])  # an edit of both, nearer the kept record 8: not ranked
    assert near_twins(profile, edited, ["b"], _pool(X, labels, [7]))[0][0] == -1
    edited[0, 2] = X[7, 2] + 0.13 * float(profile.scale[2])  # nearer the removed record 7 (A35a-2)
    (twin,) = near_twins(profile, edited, ["b"], _pool(X, labels, [7]))
    assert twin[0] == 0 and twin[1] == "edit", twin


def _scale(X: np.ndarray, labels: list[str]) -> np.ndarray:
    return _profile(X, labels).scale


def test_two_class_edits_are_measured_as_a_share_of_the_sample():
    X, labels = _continuous()
    assert two_class_edit_share(_profile(X, labels)) == 0.0
    X[PER_CLASS + 1, [0, 1, 3]] = X[1, [0, 1, 3]]  # one planted pair of two classes: 2 of 240 records
    X[PER_CLASS + 1, 2] = X[1, 2] + 40
    share = two_class_edit_share(_profile(X, labels))
    assert share == 2 / (2 * PER_CLASS) and share * 2 * PER_CLASS <= EDIT_FLOOR, share


def test_two_class_edits_among_records_left_out_of_the_count_switch_nothing_off():
    X, labels = _continuous()
    for k in range(4):  # four planted pairs of two classes: 8 of 240 records, over EDIT_FLOOR
        X[PER_CLASS + k, [0, 1, 3]] = X[k, [0, 1, 3]]
        X[PER_CLASS + k, 2] = X[k, 2] + 40
    profile = _profile(X, labels)
    assert two_class_edit_share(profile) * 2 * PER_CLASS == 8
    counted = np.ones(len(profile.sample_X), dtype=bool)
    planted = {hashlib.sha256(str(i).encode()).digest() for k in range(4) for i in (k, PER_CLASS + k)}
    counted[[bytes(d) in planted for d in np.asarray(profile.sample_digests, dtype=np.uint8)]] = False
    assert two_class_edit_share(profile, counted) == 0.0
    edited = X[[7]].copy()
    edited[0, 2] += 0.4 * float(profile.scale[2])  # an edit of record 7
    assert near_twins(profile, edited, ["b"], _pool(X, labels, [7]))[0][0] == -1  # edits off
    (twin,) = near_twins(profile, edited, ["b"], _pool(X, labels, [7]), counted=counted)
    assert twin[1] == "edit", twin


def test_a_new_record_pairs_with_nothing():
    X, labels = _continuous()
    profile = _profile(X, labels)
    new = np.array([[50.0, 190.0, 3000.0, 15.0]])
    assert near_twins(profile, new, ["b"], _pool(X, labels, list(range(0, 2 * PER_CLASS, 3))))[0][0] == -1


def test_edits_are_no_evidence_where_the_base_pairs_two_classes_so():
    # rounded readings: rain and sun days equal in three columns, half a degree apart in the fourth
    rng = np.random.default_rng(35)
    X = np.column_stack(
        [
            rng.choice([0.0, 0.3, 1.3], 2 * PER_CLASS),
            rng.integers(10, 30, 2 * PER_CLASS) + 0.0,
            rng.integers(0, 16, 2 * PER_CLASS) / 2,
            rng.choice([1.1, 2.5, 3.4], 2 * PER_CLASS),
        ]
    )
    labels = ["rain"] * PER_CLASS + ["sun"] * PER_CLASS
    profile = _profile(X, labels)
    edited = X[[7]].copy()
    edited[0, 1] += 0.5
    assert near_twins(profile, edited, ["sun"], _pool(X, labels, [7]))[0][0] == -1
