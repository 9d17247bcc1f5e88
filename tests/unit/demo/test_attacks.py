"""The catalogue of planted attacks: named, in a detector family, reproducible, parameterised."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.demo.attacks import ATTACKS, CATALOGUE, Attack, label_flip
from provenance.detectors import FAMILIES, available_detectors, get_detector


def test_every_attack_has_a_unique_name_and_a_family_some_detector_covers():
    assert len(ATTACKS) == len(CATALOGUE)
    covered = {family for name in available_detectors() for family in get_detector(name).families}
    for attack in CATALOGUE:
        assert attack.family in FAMILIES and attack.family in covered, attack.name
    with pytest.raises(ValueError, match="family"):
        Attack("typo", "label-flip", label_flip)
    with pytest.raises(ValueError, match="no parameter"):
        Attack("typo", "label_flip", label_flip, {"strength": 2})


def test_each_attack_plants_n_records_the_same_way_for_the_same_seed(digits_split):
    s = digits_split
    for attack in CATALOGUE:
        first = attack.plant(s.Xb, s.yb, s.Xp, s.yp, 12, np.random.default_rng(3))
        again = attack.plant(s.Xb, s.yb, s.Xp, s.yp, 12, np.random.default_rng(3))
        assert first.X.shape == (12, s.Xb.shape[1]) and first.X.dtype == np.float32, attack.name
        assert len(first.labels) == len(first.kinds) == len(first.old_labels) == len(first.base_rows) == 12
        assert set(first.kinds) <= {"added", "relabeled"}
        for a, b in zip(first, again):
            assert np.array_equal(np.asarray(a), np.asarray(b)), attack.name


def test_parameters_are_listed_and_can_be_overridden(digits_split):
    s = digits_split
    patch = ATTACKS["backdoor_patch_dirty"]
    assert patch.params["trigger"] == "patch" and patch.params["clean_label"] is False
    planted = patch.plant(s.Xb, s.yb, s.Xp, s.yp, 5, np.random.default_rng(0), columns=(0, 1), value=99.0)
    assert (planted.X[:, :2] == 99.0).all()
    assert set(planted.labels) == {np.unique(s.yb)[0]}
    on_grid = planted.on_grid(0, 16)
    assert (on_grid.X[:, :2] == 16).all() and np.array_equal(on_grid.X, np.rint(on_grid.X))
    with pytest.raises(TypeError, match="no parameter"):
        patch.plant(s.Xb, s.yb, s.Xp, s.yp, 5, np.random.default_rng(0), strength=3)
