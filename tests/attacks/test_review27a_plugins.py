"""Attack review 27a: session 27's detection side (fix27a: plug-ins calibrated apart and marked by exact type,
a result must carry the name it ran under, detectors.run an error when none ran; perf27: counts from flags,
Detection.columns kept). Real digits, the real built-ins, real plug-ins registered in the real registry.

A plug-in is code in the process: the bounds reference.md claims are on what it *returns* (its result object,
names and arrays), so every attack here is a return value, not a monkeypatch."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.datasets import load_digits

from provenance.detectors import Delta, run_detectors
from provenance.detectors.base import DetectorResult, Finding
from provenance.detectors.combine import combine
from provenance.detectors.extreme import batch_label_support
from provenance.detectors.outlier import OutlierDetector
from provenance.detectors.registry import BUILT_IN_DETECTORS
from provenance.detectors.relabel_scan import profile_null, scan_delta, scan_relabels
from provenance.gate.context import DetectionRun
from provenance.profiles.reference import build_profile
from support import crashing_spectral, detector_as, masking_plug_in, row_digests, zero_reference_plug_in

FPR = 0.01
BUILT_INS = sorted(cls.name for cls in BUILT_IN_DETECTORS)


@pytest.fixture(scope="module")
def digits():
    """1,200 digits as the base; a delivery of 100 new records whose first five are far outliers, then five
    base 3s relabeled to 8 (a relabel flood the scan blocks)."""
    X, y = load_digits(return_X_y=True)
    X, y = X.astype(np.float32), np.array([str(v) for v in y])
    profile = build_profile(X[:1200], y[:1200], row_digests(X[:1200]), featurizer="x", positions=np.arange(1200))
    threes = X[:1200][y[:1200] == "3"][:5]
    Xd = np.vstack([X[1200:1300], threes])
    Xd[:5] = 16.0
    labels = [*y[1200:1300], *["8"] * 5]
    kinds = ["added"] * 100 + ["relabeled"] * 5
    delta = Delta(row_digests(Xd), Xd, labels, ["vendor"] * 105, kinds, [None] * 100 + ["3"] * 5)
    return profile, delta, run_detectors(profile, delta, fpr=FPR)


def _uniform_plug_in(delta: Delta, m: int, reference_raw: np.ndarray | None) -> DetectorResult:
    """An honest-looking plug-in: uniform p-values on the delta and on its reference, and raw scores."""
    p = np.random.default_rng(1).uniform(size=len(delta))
    findings = [Finding(h, "zz_plug", float(1 - v), bool(v <= FPR), "") for h, v in zip(delta.hexes, p)]
    result = DetectorResult(
        "zz_plug",
        "ran",
        None,
        0.5,
        findings,
        p_values=p,
        reference_p=np.random.default_rng(2).uniform(size=m),
        reference_raw=reference_raw,
    )
    result.plug_in = True  # as the runner marks it
    return result


def test_a_plug_ins_raw_scores_do_not_move_the_relabel_scans_null(digits):
    profile, delta, results = digits
    m = len(profile.sample_batches)
    relabeled = np.array([k == "relabeled" for k in delta.kinds])
    batch_raw = np.asarray(profile.sample_batches, dtype=np.float64)  # each pseudo-batch above the one before
    scans, nulls = {}, {}
    for name, rs in (("alone", results), ("beside", [*results, _uniform_plug_in(delta, m, batch_raw)])):
        verdicts = combine(rs, FPR, profile.sample_batches, batch_label_support(profile, delta), delta.hexes)
        nulls[name] = profile_null(profile, rs, FPR)
        combined = np.array([r.p_value for r in verdicts.records])
        scans[name] = scan_relabels({"combined": combined}, delta.labels, relabeled, nulls[name], 0.001)
    alone = nulls["alone"].p["combined"]
    assert np.mean(alone[np.isfinite(alone)] <= 0.005) < 0.02  # the built-ins' own held-out null is calibrated
    assert scans["alone"].p_value < scans["alone"].bar  # the combined source alone blocks the five relabels
    # beside the plug-in it still does: its null is the built-ins', whatever the plug-in returns as raw scores
    assert scans["beside"].p_value < scans["beside"].bar, scans["beside"]
    np.testing.assert_array_equal(nulls["beside"].p["combined"], alone)


def test_the_relabel_flood_blocks_through_scan_delta_beside_a_plug_in_with_moving_raw_scores(digits):
    """Through ``scan_delta`` (what the gate runs): beside a plug-in whose raw scores once moved the combined
    source's null (R27a-1), the five relabels block through the combined source itself, as without it
    (``knn_label``'s own source, with a null of its own by name, was all that held before the fix)."""
    profile, delta, results = digits
    m = len(profile.sample_batches)
    rs = [*results, _uniform_plug_in(delta, m, np.asarray(profile.sample_batches, dtype=np.float64))]
    verdicts = combine(rs, FPR, profile.sample_batches, batch_label_support(profile, delta), delta.hexes)
    scan = scan_delta(verdicts, rs, delta.labels, delta.kinds, profile_null(profile, rs, FPR), 0.001)
    assert scan.p_value < scan.bar and scan.source == "combined", scan


def test_a_plug_in_cannot_return_a_result_that_clears_its_mark(digits):
    profile, delta, results = digits
    alone = combine(results, FPR, profile.sample_batches, digests=delta.hexes)
    assert set(delta.hexes[:5]) <= {r.digest for r in alone.flagged}
    with detector_as("zz_sly", zero_reference_plug_in("zz_sly")) as sly:
        beside = run_detectors(profile, delta, [*BUILT_INS, sly], fpr=FPR)
    assert beside[-1].detector == "zz_sly" and beside[-1].status == "ran"
    verdicts = combine(beside, FPR, profile.sample_batches, digests=delta.hexes)
    assert set(delta.hexes[:5]) <= {r.digest for r in verdicts.flagged}
    assert beside[-1].plug_in is True


def test_a_plug_in_cannot_answer_for_a_crashed_built_in_with_a_name_equal_to_any(digits):
    profile, delta, _ = digits
    with detector_as("spectral", crashing_spectral()), detector_as("aa_mask", masking_plug_in("aa_mask")) as mask:
        results = run_detectors(profile, delta, [mask, "spectral"], fpr=FPR)
    found = DetectionRun((mask, "spectral"), FPR, SimpleNamespace(results=results)).result("spectral")  # type: ignore[arg-type]
    assert found is not None
    assert found.status == "error" and "out of memory" in str(found.error)  # what detectors.spectral reads


def test_a_plug_in_that_gave_no_evidence_is_not_named_as_the_strongest(digits):
    profile, delta, results = digits
    m, n = len(profile.sample_batches), len(delta)
    findings = [Finding(h, "zz_plug", 1.0, False, "raw p 0") for h in delta.hexes]
    plug = DetectorResult("zz_plug", "ran", None, 0.5, findings, p_values=np.zeros(n), reference_p=np.zeros(m))
    plug.plug_in = True
    verdicts = combine([*results, plug], FPR, profile.sample_batches, digests=delta.hexes)
    alone = combine(results, FPR, profile.sample_batches, digests=delta.hexes)
    share = 7.0 / 8.0  # the built-ins' weight 7 beside one plug-in
    # its own evidence is nothing: every record's p-value is the built-ins' over their share
    assert [r.p_value for r in verdicts.records] == pytest.approx([min(1.0, r.p_value / share) for r in alone.records])
    named_first = [r for r in verdicts.records if "strongest evidence: zz_plug (p = 0)" in r.explanation]
    assert len(named_first) == 0, f"{len(named_first)} of {len(verdicts.records)}"


def _built_in_with_its_own_run():
    """A factory returning an instance of a built-in type whose ``run`` is the plug-in's (an instance attribute)."""
    detector = OutlierDetector()

    def run(profile, delta, fpr):
        n, m = len(delta), len(profile.sample_batches)
        findings = [Finding(h, "zz_dressed", 0.0, False, "nothing") for h in delta.hexes]
        return DetectorResult("zz_dressed", "ran", None, 0.5, findings, p_values=np.ones(n), reference_p=np.zeros(m))

    detector.run = run  # type: ignore[method-assign]
    return detector


def test_a_plug_in_factory_cannot_dress_as_a_built_in_instance(digits):
    profile, delta, _ = digits
    with detector_as("zz_dressed", _built_in_with_its_own_run) as dressed:
        beside = run_detectors(profile, delta, [*BUILT_INS, dressed], fpr=FPR)
    assert beside[-1].detector == "zz_dressed" and beside[-1].status == "ran"
    verdicts = combine(beside, FPR, profile.sample_batches, digests=delta.hexes)
    assert set(delta.hexes[:5]) <= {r.digest for r in verdicts.flagged}
    assert beside[-1].plug_in is True
