"""gate.class_inside, gate.class_copies and the label comparison of gate.detection_common: when a listed new class is
judged in full (attack review 32a: A32a-7, copies of one base class's records under a new name; A32a-5, a base class
spelled otherwise; review 32e: A32e-3, decoys beside the copies). A real profile built from two well-separated
classes; each delta's neighbours found as knn_label finds them (nearest sample records in the profile's standardised
space)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from provenance.detectors.knn_label import VOTERS
from provenance.gate.class_inside import MIN_COPIES, chance_bound, inside_classes, inside_of
from provenance.gate.class_names import class_key, spelled_as_base
from provenance.gate.class_two_sample import CHUNK, WITHIN, within_share
from provenance.profiles.reference import NEIGHBOURS_KEPT, ReferenceProfile, build_profile

PER_CLASS = 150


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    """Classes "a" (around 0) and "b" (around 3) in four dimensions, 150 records each, in file order."""
    rng = np.random.default_rng(7)
    X = np.vstack([rng.normal(0, 1, (PER_CLASS, 4)), rng.normal(3, 1, (PER_CLASS, 4))])
    labels = ["a"] * PER_CLASS + ["b"] * PER_CLASS
    digests = [hashlib.sha256(str(i).encode()).digest() for i in range(len(X))]
    return build_profile(X, labels, digests, featurizer="numeric/v1", positions=np.arange(len(X)))


def _neighbours(profile: ReferenceProfile, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``NEIGHBOURS_KEPT`` nearest sample records (idx, dist), nearest first."""
    Z = profile.standardize(X).astype(np.float64)
    d = np.sqrt(((Z[:, None, :] - profile.sample_Z[None, :, :].astype(np.float64)) ** 2).sum(axis=2))
    idx = np.argsort(d, axis=1, kind="stable")[:, :NEIGHBOURS_KEPT]
    return idx, np.take_along_axis(d, idx, axis=1)


def _judge(profile: ReferenceProfile, X: np.ndarray, label: str = "cat"):
    rows = list(range(len(X)))
    Z = profile.standardize(X)
    return inside_classes(profile, _neighbours(profile, X), Z, [label] * len(X), rows, VOTERS)[label]


def _b_copies(profile: ReferenceProfile, n: int = 14) -> np.ndarray:
    """``n`` of b's sample records (raw values)."""
    return profile.sample_X[profile.sample_labels == 1][:n].astype(np.float64)


def test_copies_of_one_base_class_scaled_are_judged_in_full(profile):
    # A32a-7's shape: 14 of b's sample records, every value 8% larger
    inside = _judge(profile, _b_copies(profile) * 1.08)
    assert inside is not None and inside.base_class == "b" and inside.records == 14 and inside.copies == 14
    assert "14 of its 14 added record(s) are copies of records of base class 'b'" in inside.words


def test_copies_split_across_both_base_classes_are_judged_in_full(profile):
    # A32d-1: 7 copies of a's records and 7 of b's, 8% larger, under one listed name
    copies = np.vstack([profile.sample_X[profile.sample_labels == 0][:7], _b_copies(profile, 7)]) * 1.08
    inside = _judge(profile, copies)
    assert inside is not None and set(inside.base_classes) == {"a", "b"} and inside.copies == 14
    assert "copies of records of base classes " in inside.words


def test_copies_beyond_a_class_s_own_distances_are_judged_in_full(profile):
    # A32d-2: no distance cap to step past, and a scale and shift per column fitted, however far
    for scale in (1.3, 3.0):
        inside = _judge(profile, _b_copies(profile) * scale)
        assert inside is not None and inside.base_classes == ("b",) and inside.copies == 14, scale


def test_decoys_beside_the_copies_do_not_hide_them(profile):
    # A32e-3: 30 points between the classes raise the bound a new class shows by chance, not past 14 copies
    a_mean, b_mean = (profile.sample_X[profile.sample_labels == c].mean(0) for c in (0, 1))
    decoys = (a_mean + b_mean) / 2 + np.random.default_rng(9).normal(0, 0.5, (30, 4))
    inside = _judge(profile, np.vstack([_b_copies(profile) * 1.08, decoys]))
    assert inside is not None and inside.copies >= 14 and inside.records == 44 and inside.bound < 14


def test_a_genuinely_new_class_is_judged_on_class_free_evidence(profile):
    # 30 records of a third cluster between the two, and 30 at b's edge (every one sits inside b by its voters):
    # their own shape, no map lays them on b's records, and they lie farther from b's records than b's from each other
    rng = np.random.default_rng(8)
    assert _judge(profile, rng.normal([-3, 3, -3, 3], 1, (30, 4))) is None
    edge = rng.normal([6, 3, 3, 3], 1, (30, 4))
    assert (_neighbours(profile, edge)[0] >= PER_CLASS).mean() > 0.9 and _judge(profile, edge) is None


def test_fresh_records_of_a_base_class_are_judged_in_full(profile):
    # A33b-4: 30 fresh draws like b's, copies of none, lie among b's records as b's lie among each other
    inside = _judge(profile, np.random.default_rng(8).normal(3, 1, (30, 4)))
    assert inside is not None and inside.base_classes == ("b",) and inside.copies == 0 and inside.within >= WITHIN
    assert f"sit inside base class 'b' and {inside.within:.0%} of those lie as close to its records" in inside.words


def test_midpoints_of_a_base_class_s_pairs_are_judged_in_full(profile):
    # A33b-4's shape: 40 midpoints of pairs of b's records crowd b's centre; no copies
    B = _b_copies(profile, PER_CLASS)
    i, j = np.random.default_rng(11).integers(0, len(B), (2, 40))
    inside = _judge(profile, (B[i] + B[np.where(i == j, (j + 1) % len(B), j)]) / 2)
    assert inside is not None and inside.base_classes == ("b",) and inside.within is not None


def test_copies_each_scaled_by_its_own_factor_are_copies(profile):
    # A33b-1: every value of the i-th copy times its own factor (1.05 to 1.35): no one map, one direction each
    inside = _judge(profile, _b_copies(profile) * np.linspace(1.05, 1.35, 14)[:, None])
    assert inside is not None and inside.copies >= inside.bound and inside.base_classes == ("b",)


def test_the_spread_test_reads_every_record_not_the_first_chunk():
    # A33b-6: records past any cap count; and a base of fewer than two distinct rows measures nothing
    base = np.random.default_rng(12).normal(0, 1, (200, 3))
    far = np.full((CHUNK + 10, 3), 50.0)
    near = base[:40] + 1e-6
    assert within_share(np.vstack([far, near]), base) == pytest.approx(40 / (CHUNK + 50))
    assert within_share(near, base[:1]) == 0.0 and within_share(near[:0], base) == 0.0


def test_fewer_copies_than_the_chance_bound_are_not_enough(profile):
    # two copies beside 28 records at b's edge (a new class, not b's spread): under MIN_COPIES and the bound for 30
    rng = np.random.default_rng(10)
    assert _judge(profile, np.vstack([_b_copies(profile, 2) * 1.08, rng.normal([6, 3, 3, 3], 1, (28, 4))])) is None
    assert MIN_COPIES == 3 and chance_bound(14) == 5 and chance_bound(30) == 7


def test_a_record_whose_voters_split_sits_inside_no_class():
    # five a's and five b's among its ten voters: no majority; its own class's voters left out
    sample_labels = np.array([0] * 10 + [1] * 10)
    idx = np.array([[0, 10, 1, 11, 2, 12, 3, 13, 4, 14], [0, 1, 2, 3, 4, 5, 6, 10, 11, 12]])
    assert inside_of(sample_labels, idx, 2, VOTERS, np.array([-1, -1])).tolist() == [-1, 0]
    assert inside_of(sample_labels, idx, 2, 3, np.array([-1, 0])).tolist() == [0, 1]


def test_a_run_without_neighbours_or_features_judges_every_listed_class_in_full(profile):
    # fail closed: nothing to tell the class from a base class with
    inside = inside_classes(profile, None, None, ["cat", "cat", "dog"], [0, 1, 2], VOTERS)
    assert set(inside) == {"cat", "dog"} and all(i is not None and not i.base_class for i in inside.values())
    assert "no neighbours" in inside["cat"].words
    X = _b_copies(profile, 3)
    no_features = inside_classes(profile, _neighbours(profile, X), None, ["cat"] * 3, [0, 1, 2], VOTERS)
    assert no_features["cat"] is not None and not no_features["cat"].base_class


@pytest.mark.parametrize("spelled", ["malignant ", "Malignant", "MALIGNANT", " malignant", "ｍａｌｉｇｎａｎｔ"])
def test_a_base_class_spelled_otherwise_is_that_class(spelled):
    assert class_key(spelled) == class_key("malignant") == "malignant"
    assert spelled_as_base(["benign", "malignant"], [spelled, "cat"]) == {spelled: "malignant"}


def test_a_base_class_under_its_own_name_or_a_new_name_is_not_spelled_otherwise():
    # wine's class "2", which the base holds a few of, may grow on purpose under its own name
    assert spelled_as_base(["0", "1", "2"], ["2", "3"]) == {}
    # but beside a base class it equals once normalised, even one the base holds, it is that class
    assert spelled_as_base(["Cat", "cat"], ["Cat"]) == {"Cat": "cat"}
