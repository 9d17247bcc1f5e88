"""Attack review 27d, gate side, on a real store (the gate world: ``relabeled`` flips labels of a signed base,
``crowd`` floods it): A27d-1, a plug-in class whose metaclass says it equals every class, is marked built-in by
``registry.is_built_in`` (``factory in BUILT_IN_DETECTORS`` compares with ``==``) and unblocks
``detectors.combined`` as R27a-2's result subclass did before fix27e. Fix: compare by identity,
``any(factory is cls for cls in BUILT_IN_DETECTORS)``."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.detectors.base import Detector, DetectorResult, Finding
from provenance.detectors.outlier import OutlierDetector
from provenance.detectors.registry import BUILT_IN_DETECTORS
from provenance.gate import detection
from support import detector_as

BUILT_INS = sorted(cls.name for cls in BUILT_IN_DETECTORS)


class _EqualsAny(type(Detector)):  # type: ignore[misc]
    def __eq__(cls, other):
        return True

    def __hash__(cls):
        return hash(OutlierDetector)


class _Posing(Detector, metaclass=_EqualsAny):
    """Ones on the delta, zeros on the reference (R26i-1's plug-in), in a plain result."""

    name, families = "zz_posing", ("outlier",)

    def run(self, profile, delta, fpr):
        n, m = len(delta), len(profile.sample_batches)
        findings = [Finding(h, self.name, 0.0, False, "nothing") for h in delta.hexes]
        return DetectorResult(self.name, "ran", None, 0.5, findings, p_values=np.ones(n), reference_p=np.zeros(m))


def _statuses(world, tag: str, run: list[str]) -> dict[str, str]:
    results = detection.rules({"detectors": {"run": run}}).evaluate(world.context(tag))
    return {r.rule: r.status for r in results}


@pytest.mark.parametrize("tag", ["relabeled", "crowd"])
def test_a_plug_in_class_equal_to_any_class_leaves_detectors_combined_blocking(gate_world, tag):
    assert _statuses(gate_world, tag, BUILT_INS)["detectors.combined"] == "block"
    with detector_as("zz_posing", _Posing):
        beside = _statuses(gate_world, tag, [*BUILT_INS, "zz_posing"])
    assert beside["detectors.zz_posing"] == "pass"
    assert beside["detectors.combined"] == "block", beside


class _ListSummary(Detector):
    """An honest-looking plug-in whose result's ``summary`` is a list, not a dict (A27d-3)."""

    name, families = "zz_listy", ("outlier",)

    def run(self, profile, delta, fpr):
        n, m = len(delta), len(profile.sample_batches)
        findings = [Finding(h, self.name, 0.0, False, "nothing") for h in delta.hexes]
        p, ref = np.random.default_rng(8).uniform(size=n), np.random.default_rng(9).uniform(size=m)
        return DetectorResult(self.name, "ran", None, 0.5, findings, ["note"], p_values=p, reference_p=ref)  # type: ignore[arg-type]


def test_a_plug_ins_summary_of_another_type_is_the_detectors_error(gate_world):
    with detector_as("zz_listy", _ListSummary):
        statuses = _statuses(gate_world, "crowd", [*BUILT_INS, "zz_listy"])
    assert statuses["detectors.zz_listy"] == "error"
    assert statuses["detectors.combined"] == "block"
