"""The runner's own result (attack review 27a, R27a-2, R27a-3, R27a-5): ``run_detectors`` reads what a detector
returns once into a ``DetectorResult`` of its own, and the combined verdict reads that, never the detector's
object again. Real digits, the real built-ins, plug-ins registered in the real registry."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.detectors import run_detectors
from provenance.detectors.base import ColumnFindings, Detector, DetectorResult, Finding
from provenance.detectors.combine import combine
from provenance.detectors.registry import BUILT_IN_DETECTORS
from support import detector_as, digits_with_far_outliers

FPR = 0.01
BUILT_INS = sorted(cls.name for cls in BUILT_IN_DETECTORS)


@pytest.fixture(scope="module")
def digits():
    return digits_with_far_outliers()


class _Flickering(DetectorResult):
    """A result whose ``p_values`` read as ones once (the runner's copy), then NaN: any later read is NaN."""

    @property  # type: ignore[override]
    def p_values(self):
        self._reads = getattr(self, "_reads", 0) + 1
        return self._p if self._reads == 1 or self._p is None else np.full(len(self._p), np.nan)

    @p_values.setter
    def p_values(self, value):
        self._p = value


class _ListOfFindings(list):
    """A findings list of another type than prov's own."""


def _plug_in(result_type=DetectorResult, status="ran", findings_type=list, error=None):
    class Plug(Detector):
        name, families = "zz_plug", ("outlier",)

        def run(self, profile, delta, fpr):
            n, m = len(delta), len(profile.sample_batches)
            findings = findings_type(Finding(h, self.name, 0.0, False, "nothing") for h in delta.hexes)
            p = [np.float32(1.0)] * n  # not float64, not an array: the runner's copy is both
            reference = np.linspace(0.0, 1.0, m)
            return result_type(self.name, status, error, 0.5, findings, p_values=p, reference_p=reference)

    return Plug


def test_the_runners_result_is_its_own_copy_of_what_the_detector_returned(digits):
    profile, delta = digits
    with detector_as("zz_plug", _plug_in(_Flickering, findings_type=_ListOfFindings)) as plug:
        results = run_detectors(profile, delta, [*BUILT_INS, plug], fpr=FPR)
    mine = results[-1]
    assert (mine.detector, mine.status, mine.plug_in) == ("zz_plug", "ran", True)
    assert type(mine) is DetectorResult and type(mine.detector) is str and type(mine.findings) is list
    assert mine.p_values.dtype == np.float64 and (mine.p_values == 1.0).all()  # what was checked, read once
    assert not any(r.plug_in for r in results[:-1])
    assert {type(r.findings) for r in results[:-1]} <= {ColumnFindings, list}  # prov's own types, kept
    verdicts = combine(results, FPR, profile.sample_batches, digests=delta.hexes)
    assert set(delta.hexes[:5]) <= {r.digest for r in verdicts.flagged}
    assert all(np.isfinite(r.p_value) for r in verdicts.records)


def test_a_status_that_only_compares_equal_to_ran_is_an_error(digits):
    """A ``str`` subclass equal to "ran" (and to "error") is not a status the gate can read."""

    class Either(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    profile, delta = digits
    with detector_as("zz_plug", _plug_in(status=Either("ran"))) as plug:
        (result,) = run_detectors(profile, delta, [plug], fpr=FPR)
    assert result.status == "error" and "returned status 'ran', not 'ran'" in str(result.error)
    assert type(result.status) is str and result.plug_in


def test_a_detector_reporting_its_own_error_keeps_its_message(digits):
    profile, delta = digits
    with detector_as("zz_plug", _plug_in(status="error", error="the model file is missing")) as plug:
        (result,) = run_detectors(profile, delta, [plug], fpr=FPR)
    assert result.status == "error" and "reported an error: the model file is missing" in str(result.error)


def test_a_built_in_class_registered_under_another_name_is_a_plug_in(digits):
    """The mark is the registration's: the built-in class under its own name only (and its result must carry
    the name it ran under, so it errs as well)."""
    from provenance.detectors.outlier import OutlierDetector

    profile, delta = digits
    with detector_as("zz_outlier", OutlierDetector) as renamed:
        (result,) = run_detectors(profile, delta, [renamed], fpr=FPR)
    assert result.plug_in and result.status == "error"
    assert "returned a result named 'outlier', not 'zz_outlier'" in str(result.error)
