"""A plug-in detector beside the built-ins in the combined verdict (attack review 26i, R26i-1): whatever it
returns as its reference p-values weakens its own evidence only, never the built-ins', and the verdict stays
calibrated at the policy's rate."""

from types import SimpleNamespace

import numpy as np
import pytest

from provenance.detectors import Delta, run_detectors
from provenance.detectors.base import DetectorResult, Finding, built_ins_and_plug_ins
from provenance.detectors.combine import combine, combined_p_values, weight_of
from provenance.detectors.outlier import OutlierDetector
from provenance.detectors.registry import _detectors, register_detector
from support import digits_with_far_outliers

FPR = 0.01


@pytest.fixture(scope="module")
def digits_run():
    """The built-ins on 1,200 digits and a delivery of 100 whose first five records are far outliers."""
    profile, delta = digits_with_far_outliers()
    return profile, delta, run_detectors(profile, delta, fpr=FPR)


def _plug_in(delta: Delta, p: np.ndarray, reference_p: np.ndarray) -> DetectorResult:
    findings = [Finding(h, "zz_plug", float(1 - v), bool(v <= FPR), "") for h, v in zip(delta.hexes, p)]
    result = DetectorResult("zz_plug", "ran", None, 0.5, findings, p_values=p, reference_p=reference_p)
    result.plug_in = True
    return result


def _built_in_reference_T(results: list[DetectorResult]) -> np.ndarray:
    """The built-ins' statistic on each reference record (every built-in here weighs 1 but knn_label)."""
    scored = [r for r in results if r.status == "ran" and r.reference_p is not None]
    R = np.column_stack([np.asarray(r.reference_p) / (2.0 if r.detector == "knn_label" else 1.0) for r in scored])
    return np.nanmin(np.where(np.isfinite(R), R, np.inf), axis=1)


def _reference_variants(results: list[DetectorResult], batches: np.ndarray) -> dict[str, np.ndarray]:
    """Reference p-values a plug-in may return: each valid in shape and range."""
    m = len(batches)
    normal_first = np.argsort(-_built_in_reference_T(results), kind="stable")  # the built-ins' most normal first
    ranks = np.empty(m)
    ranks[normal_first] = (np.arange(m) + 1.0) / (m + 1.0)  # uniform, its smallest where the built-ins see nothing
    one_batch = np.ones(m)
    one_batch[batches == batches[0]] = 0.0  # every low value in one pseudo-batch (the budget's spread)
    return {
        "honest_null": np.random.default_rng(3).uniform(size=m),
        "zeros": np.zeros(m),
        "ones": np.ones(m),
        "all_nan": np.full(m, np.nan),
        "uniform_on_the_built_ins_normal_records": ranks,
        "zeros_in_one_batch": one_batch,
    }


def test_a_plug_ins_reference_p_values_never_weaken_the_built_ins_evidence(digits_run):
    profile, delta, results = digits_run
    batches = profile.sample_batches
    alone = combine(results, FPR, batches, digests=delta.hexes)
    assert {r.digest for r in alone.flagged} >= set(delta.hexes[:5])  # the built-ins flag the outliers
    variants = _reference_variants(results, batches)
    verdicts = {
        name: combine([*results, _plug_in(delta, np.ones(len(delta)), ref)], FPR, batches, digests=delta.hexes)
        for name, ref in variants.items()
    }
    baseline = verdicts["honest_null"]
    weight = sum(weight_of(r) for r in results if r.status == "ran" and r.reference_p is not None)
    share = weight / (weight + 1.0)  # the built-ins' share of the rate beside one plug-in
    for name, v in verdicts.items():
        # the built-ins' evidence: their own p-value over their fixed share, whatever the plug-in returned
        assert [r.p_value for r in v.records] == pytest.approx([min(1.0, r.p_value / share) for r in alone.records])
        # and everything the gate's budget reads is the built-ins' alone
        for field in ("threshold", "reference_size", "reference_batch_sizes", "reference_batch_flags", "beyond_p",
                      "beyond_size", "beyond_rate", "far_p", "far_rate", "far_rho"):  # fmt: skip
            assert getattr(v, field) == getattr(baseline, field), (name, field)
        assert {r.digest for r in v.flagged} == {r.digest for r in alone.records if r.p_value <= FPR * share}, name
        assert set(delta.hexes[:5]) <= {r.digest for r in v.flagged}, name


def test_a_plug_in_without_usable_p_values_leaves_the_verdict_as_the_built_ins_give_it(digits_run):
    """Byte for byte: a plug-in that gives no reference p-values (or errs) costs the built-ins nothing."""
    profile, delta, results = digits_run
    alone = combine(results, FPR, profile.sample_batches, digests=delta.hexes)
    listed = _plug_in(delta, np.ones(len(delta)), np.zeros(len(profile.sample_batches)))
    listed.reference_p = None
    errored = DetectorResult("zz_broken", "error", "RuntimeError: replay", None, [], plug_in=True)
    beside = combine([*results, listed, errored], FPR, profile.sample_batches, digests=delta.hexes)
    assert [r.to_dict() for r in beside.records] == [
        {**r.to_dict(), "detectors": [*r.detectors, {"detector": "zz_plug", "score": 0.0, "flagged": False}]}
        for r in alone.records
    ]
    assert beside.summary() == alone.summary()


def test_a_plug_ins_own_evidence_flags_what_its_own_reference_calibrates(digits_run):
    """Its p-values ranked among its own reference p-values (conformal), at its share of the rate."""
    profile, delta, results = digits_run
    m, n = len(profile.sample_batches), len(delta)
    reference = (np.arange(m) + 0.5) / m
    p = np.full(n, 0.5)
    p[50] = 1e-6  # below every reference p-value: flagged by the plug-in alone
    p[51] = 0.02  # a clean record's tail: 2% of the reference lies below
    v = combine([*results, _plug_in(delta, p, reference)], FPR, profile.sample_batches, digests=delta.hexes)
    total = sum(weight_of(r) for r in results if r.status == "ran" and r.reference_p is not None) + 1.0
    own = combined_p_values(p, reference)
    assert v.records[50].flagged and v.records[50].p_value == pytest.approx(min(1.0, own[50] * total))
    assert not v.records[51].flagged
    assert f"zz_plug (p = {own[50] * total:.2g})" in v.records[50].explanation  # what it gave (R27a-4)


def test_with_an_honest_plug_in_clean_records_are_flagged_at_the_policys_rate():
    """Records exchangeable with the reference, six built-in columns and two plug-ins (uniform p-values):
    the built-ins at their share and each plug-in at its own stay within the policy's rate in all."""
    rng = np.random.default_rng(17)
    names = ["collision", "duplicates", "gradient", "knn_label", "outlier", "spectral"]
    m, n = 4000, 20000
    results = []
    for name in [*names, "zz_a", "zz_b"]:
        p = rng.uniform(size=n)
        findings = [Finding(f"{i:064x}", name, float(1 - v), bool(v <= FPR), "") for i, v in enumerate(p)]
        result = DetectorResult(name, "ran", None, 0.99, findings, p_values=p, reference_p=rng.uniform(size=m))
        result.plug_in = name.startswith("zz_")
        results.append(result)
    rate = len(combine(results, FPR).flagged) / n
    assert 0.007 <= rate <= 0.012


def test_one_split_of_results_into_built_ins_and_plug_ins_is_the_runners_mark_in_the_given_order(digits_run):
    """``base.built_ins_and_plug_ins`` decides which results are provenance's own for the combined verdict and
    the relabel scan alike: by ``plug_in`` alone (a plug-in named like a built-in is a plug-in), order kept."""
    profile, delta, results = digits_run
    m = len(profile.sample_batches)
    impostor = _plug_in(delta, np.full(len(delta), 0.5), np.full(m, 0.5))
    impostor.detector = "knn_label"
    mixed = [impostor, *results]
    built_ins, plug_ins = built_ins_and_plug_ins(mixed)
    assert [id(r) for r in built_ins] == [id(r) for r in results] and [id(r) for r in plug_ins] == [id(impostor)]
    usable = [r.detector for r in results if r.status == "ran" and r.p_values is not None]
    assert combine(mixed, FPR).combined == [*usable, "knn_label"]  # the built-ins' statistic, the plug-in beside


def test_the_runner_marks_plug_ins_by_type_whatever_they_are_called_or_return(digits_run):
    """A plug-in taking a built-in's name, subclassing one and returning ``plug_in=False`` is still a plug-in;
    a built-in is not one."""
    profile, delta, _ = digits_run

    class Impostor(OutlierDetector):
        name = "knn_label"

        def run(self, profile, delta, fpr):
            result = super().run(profile, delta, fpr)
            result.detector, result.plug_in = "knn_label", False
            return result

    original = _detectors["knn_label"]
    register_detector("knn_label", Impostor, replace=True)
    try:
        results = run_detectors(profile, delta, ["knn_label", "outlier"], fpr=FPR)
    finally:
        register_detector("knn_label", original, replace=True)
    assert [(r.detector, r.status, r.plug_in) for r in results] == [
        ("knn_label", "ran", True),
        ("outlier", "ran", False),
    ]


def test_a_plug_in_cannot_answer_for_another_detector_whose_crash_the_gate_reads_by_name(digits_run):
    """Found fixing R26i-1: the gate finds a detector's result by name (``DetectionRun.result``), so a plug-in
    that ran first and named its result ``spectral`` passed ``detectors.spectral`` while spectral had crashed.
    A result must carry the name the detector ran under: otherwise that plug-in errs."""
    from provenance.detectors.base import Detector
    from provenance.gate.context import DetectionRun

    profile, delta, _ = digits_run

    class Mask(Detector):
        name, families = "aa_mask", ("outlier",)

        def run(self, profile, delta, fpr):
            result = OutlierDetector().run(profile, delta, fpr)
            result.detector = "spectral"
            return result

    class Crashing(Detector):
        name, families = "spectral", ("outlier",)

        def run(self, profile, delta, fpr):
            raise RuntimeError("out of memory")

    original = _detectors["spectral"]
    register_detector("aa_mask", Mask)
    register_detector("spectral", Crashing, replace=True)
    try:
        results = run_detectors(profile, delta, ["aa_mask", "spectral"], fpr=FPR)
    finally:
        register_detector("spectral", original, replace=True)
        _detectors.pop("aa_mask")
    assert [(r.detector, r.status) for r in results] == [("aa_mask", "error"), ("spectral", "error")]
    assert "returned a result named 'spectral', not 'aa_mask'" in str(results[0].error)

    found = DetectionRun(("aa_mask", "spectral"), FPR, SimpleNamespace(results=results)).result("spectral")  # type: ignore[arg-type]
    assert found.status == "error" and "out of memory" in str(found.error)  # what detectors.spectral reads
