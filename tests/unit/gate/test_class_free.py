"""gate.class_free: which built-in detectors a listed new class's added records are judged without (attack review
31a, A31a-3). A built-in detector added later must be placed on one side: one that reads the record's label against
its class's base records excuses nothing it should not, one that reads content alone keeps judging them."""

from __future__ import annotations

from provenance.detectors.registry import BUILT_IN_DETECTORS
from provenance.gate.class_free import CLASS_CONDITIONAL, CLASS_FREE


def test_every_built_in_detector_is_placed_once():
    names = sorted(cls.name for cls in BUILT_IN_DETECTORS)
    assert sorted(CLASS_CONDITIONAL + CLASS_FREE) == names
    assert not set(CLASS_CONDITIONAL) & set(CLASS_FREE)


def test_the_detectors_that_cover_outliers_and_floods_keep_judging_a_new_class():
    # the families that need no class to be seen: a record far from every base record, copies, a source spike
    families = {cls.name: set(cls.families) for cls in BUILT_IN_DETECTORS}
    assert {"outlier", "dos_flood"} <= set().union(*(families[n] for n in CLASS_FREE))
    assert "knn_label" in CLASS_CONDITIONAL and "outlier" in CLASS_FREE
