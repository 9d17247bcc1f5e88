"""Attack review 27d: fix27e's runner copy (``registry._own_result``: the runner's own ``DetectorResult`` of what a
detector returns; ``plug_in`` from the registration via ``is_built_in``). Real digits, the real built-ins, real
plug-ins registered in the real registry; every attack is something a plug-in defines or returns, never a
monkeypatch of prov.

Findings (strict xfail, the reason names the finding):

- A27d-1: ``is_built_in`` tests ``factory in BUILT_IN_DETECTORS``, which is ``==``: a plug-in class whose metaclass
  says it equals any class is marked built-in, and its zero reference p-values unflag the outliers again (R27a-2
  back). Fix: ``any(factory is cls for cls in BUILT_IN_DETECTORS)`` (identity), and ``type(factory) is
  type(cls)``.
- A27d-2: a plug-in's ``Finding`` subclass whose ``flagged`` property changes after the runner's two reads: the
  runner keeps the plug-in's objects (``list(findings)``), so ``result.flagged`` (the per-detector rule's count and
  the detectors rows' ``flagged``) disagrees with the flags the combined verdict read. Fix: rebuild a plain list
  of ``Finding(str, str, float, bool, str)`` from the one read (``columns(again=True)``), as the arrays are.
- A27d-3: ``threshold`` and ``summary`` are passed through unread: a text threshold reaches ``check --json``'s
  ``detectors[].threshold`` (schema: number or null) and a non-dict summary crashes ``detectors.<name>``'s rule
  (``summary.get``). Fix: ``threshold`` a finite float or None, ``summary`` copied into a plain dict of plain
  values, else the detector's error.
- A27d-5: a ``ColumnFindings`` the plug-in built itself is kept as prov's own, and only its ``changed()`` findings
  are type-checked (none): scores of a float subclass that compares inside [0, 1] and converts to 7, and flags
  ``"false"``, pass the runner; the combined verdict's records then say ``zz_columns`` score 7.0, flagged
  ``'false'`` (the findings schema's [0, 1] number and bool). Fix: keep a ``ColumnFindings`` unchecked only for a
  built-in (``is_built_in``); a plug-in's findings checked as a plain list, or every result's columns copied as
  float64 / bool arrays as the p-values are.
"""

from __future__ import annotations

import numpy as np
import pytest

from provenance.detectors import run_detectors
from provenance.detectors.base import Detector, DetectorResult, Finding
from provenance.detectors.combine import combine
from provenance.detectors.outlier import OutlierDetector
from provenance.detectors.registry import BUILT_IN_DETECTORS
from support import detector_as, digits_with_far_outliers

FPR = 0.01
BUILT_INS = sorted(cls.name for cls in BUILT_IN_DETECTORS)


@pytest.fixture(scope="module")
def digits():
    return digits_with_far_outliers()


def _zero_reference_run(self, profile, delta, fpr):
    """Ones on the delta, zeros on the reference: beside the built-ins as one of them, the outliers pass."""
    n, m = len(delta), len(profile.sample_batches)
    findings = [Finding(h, self.name, 0.0, False, "nothing") for h in delta.hexes]
    return DetectorResult(self.name, "ran", None, 0.5, findings, p_values=np.ones(n), reference_p=np.zeros(m))


def _uniform(name, profile, delta, findings) -> DetectorResult:
    """A result named ``name`` holding ``findings``, with uniform p-values on the delta and on the reference."""
    n, m = len(delta), len(profile.sample_batches)
    rng = np.random.default_rng(3)
    return DetectorResult(
        name, "ran", None, 0.5, findings, p_values=rng.uniform(size=n), reference_p=rng.uniform(size=m)
    )


def _alone(profile, delta, name: str, run) -> DetectorResult:
    """The runner's result of a plug-in named ``name`` whose ``run`` is ``run``, run alone."""
    plug = type("Plug", (Detector,), {"name": name, "families": ("outlier",), "run": run})
    with detector_as(name, plug):
        (result,) = run_detectors(profile, delta, [name], fpr=FPR)
    return result


class EqualsAny(type(Detector)):  # type: ignore[misc]
    """A metaclass: its classes equal every class (and hash as OutlierDetector does)."""

    def __eq__(cls, other):
        return True

    def __hash__(cls):
        return hash(OutlierDetector)


def test_a_plug_in_class_equal_to_any_class_is_not_marked_built_in(digits):
    profile, delta = digits
    alone = combine(run_detectors(profile, delta, BUILT_INS, fpr=FPR), FPR, profile.sample_batches, digests=delta.hexes)
    assert set(delta.hexes[:5]) <= {r.digest for r in alone.flagged}  # the attack's target: flagged alone

    class Posing(Detector, metaclass=EqualsAny):
        name, families = "zz_posing", ("outlier",)
        run = _zero_reference_run

    with detector_as("zz_posing", Posing) as posing:
        beside = run_detectors(profile, delta, [*BUILT_INS, posing], fpr=FPR)
    assert beside[-1].detector == "zz_posing" and beside[-1].status == "ran"
    verdicts = combine(beside, FPR, profile.sample_batches, digests=delta.hexes)
    assert set(delta.hexes[:5]) <= {r.digest for r in verdicts.flagged}  # the consequence first
    assert beside[-1].plug_in is True


def test_a_built_in_subclass_or_a_built_in_under_another_name_is_a_plug_in(digits):
    """Held: the registration decides, by identity of the class and its name."""
    profile, delta = digits

    class Sub(OutlierDetector):
        run = _zero_reference_run

    with detector_as("outlier", Sub):
        (sub,) = run_detectors(profile, delta, ["outlier"], fpr=FPR)
    assert sub.status == "ran" and sub.plug_in is True
    with detector_as("zz_outlier", OutlierDetector) as other:
        (renamed,) = run_detectors(profile, delta, [other], fpr=FPR)
    # the built-in's own result names it "outlier": refused as another's name, and marked a plug-in either way
    assert renamed.status == "error" and renamed.plug_in is True


class Shifty(Finding):
    """A finding whose ``flagged`` reads False twice (the runner's type check and its column read), then True."""

    @property
    def flagged(self):
        self.reads = getattr(self, "reads", 0) + 1
        return self.reads > 2

    @flagged.setter
    def flagged(self, value):
        pass


def _shifty_run(self, profile, delta, fpr):
    return _uniform(self.name, profile, delta, [Shifty(h, self.name, 0.0, False, "nothing") for h in delta.hexes])


def test_a_plug_ins_findings_answer_the_same_after_the_runner(digits):
    profile, delta = digits

    result = _alone(profile, delta, "zz_shifty", _shifty_run)
    assert result.status == "ran"
    _, flags = result.columns()
    assert sum(flags) == 0  # what the combined verdict reads
    assert len(result.flagged) == sum(flags), f"{len(result.flagged)} flagged by the rule's count"


def _texty_run(self, profile, delta, fpr):
    result = _uniform(self.name, profile, delta, [Finding(h, self.name, 0.0, False, "") for h in delta.hexes])
    result.threshold = "0.5 (calibrated)"
    result.summary = ["note"]
    return result


def test_a_plug_ins_threshold_and_summary_are_checked(digits):
    profile, delta = digits

    result = _alone(profile, delta, "zz_texty", _texty_run)
    if result.status == "ran":
        assert result.threshold is None or type(result.threshold) is float
        assert type(result.summary) is dict
    else:
        assert "threshold" in str(result.error) or "summary" in str(result.error)


class Lying(float):
    """A score that compares as inside [0, 1] and converts to 7 (attack review 26f, R26f-4's kind)."""

    def __ge__(self, other):
        return True

    def __le__(self, other):
        return True

    def __float__(self):
        return 7.0


def _own_columns_run(self, profile, delta, fpr):
    from provenance.detectors.base import ColumnFindings

    n = len(delta)
    return _uniform(
        self.name, profile, delta, ColumnFindings(list(delta.hexes), self.name, [Lying(0.5)] * n, ["false"] * n, {}, "")
    )


def test_a_plug_ins_own_column_findings_are_checked_as_a_list(digits):
    profile, delta = digits

    result = _alone(profile, delta, "zz_columns", _own_columns_run)
    if result.status == "ran":
        scores, flags = result.columns()
        assert all(type(s) is float and 0.0 <= s <= 1.0 for s in scores), {type(s).__name__ for s in scores}
        assert all(type(f) is bool for f in flags) and len(result.flagged) == sum(flags)
    else:
        assert "not numbers" in str(result.error) or "not bools" in str(result.error), result.error


def _raw_batch_index_run(self, profile, delta, fpr):
    """R27a-1's plug-in (``_uniform_plug_in``): uniform p-values, raw reference scores each sample record's
    pseudo-batch."""
    from test_review27a_plugins import _uniform_plug_in

    return _uniform_plug_in(delta, len(profile.sample_batches), np.asarray(profile.sample_batches, dtype=np.float64))


def test_a_plug_in_equal_to_any_class_does_not_move_the_relabel_scans_null():
    from test_review27a_plugins import FPR as FPR_27A
    from test_review27a_plugins import digits as relabel_world

    from provenance.detectors.extreme import batch_label_support
    from provenance.detectors.relabel_scan import profile_null, scan_delta

    profile, delta, _ = relabel_world.__wrapped__()

    class PosingRaw(Detector, metaclass=EqualsAny):
        name, families = "zz_plug", ("outlier",)
        run = _raw_batch_index_run

    with detector_as("zz_plug", PosingRaw) as posing:
        rs = run_detectors(profile, delta, [*BUILT_INS, posing], fpr=FPR_27A)
    verdicts = combine(rs, FPR_27A, profile.sample_batches, batch_label_support(profile, delta), delta.hexes)
    scan = scan_delta(verdicts, rs, delta.labels, delta.kinds, profile_null(profile, rs, FPR_27A), 0.001)
    assert scan.p_value < scan.bar and scan.source == "combined", scan
