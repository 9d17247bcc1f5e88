"""Attack review 26i: the reference_p / reference_raw length check (d140b55) and combine with no detector ran
(c3cfe16), replayed on real data with the built-in detectors."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from provenance.detectors import Delta, run_detectors
from provenance.detectors.combine import combine
from provenance.profiles.reference import build_profile
from support import row_digests


def _run(Xb, yb, Xd, yd):
    profile = build_profile(Xb, yb, row_digests(Xb), featurizer="x", positions=np.arange(len(Xb)))
    n = len(Xd)
    delta = Delta(row_digests(Xd), Xd, list(yd), ["vendor"] * n, ["added"] * n, [None] * n)
    return profile, delta, run_detectors(profile, delta)


def _digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), np.array([str(v) for v in y])


@pytest.mark.parametrize(
    "case",
    ["one_record_delta", "one_class_base", "small_base", "constant_columns"],
)
def test_built_in_detectors_never_trip_the_reference_length_check_on_clean_data(case):
    X, y = _digits()
    Xb, yb, Xd, yd = X[:1200], y[:1200], X[1200:1300], y[1200:1300]
    if case == "one_record_delta":
        Xd, yd = Xd[:1], yd[:1]
    elif case == "one_class_base":
        Xb, yb = X[y == "3"][:150], y[y == "3"][:150]
        Xd, yd = X[y == "3"][150:], y[y == "3"][150:]
    elif case == "small_base":
        Xb, yb, Xd, yd = X[:40], y[:40], X[40:45], y[40:45]
    elif case == "constant_columns":
        Xb, Xd = Xb.copy(), Xd.copy()
        Xb[:, :10] = 0.0
        Xd[:, :10] = 0.0
    _, _, results = _run(Xb, yb, Xd, yd)
    tripped = [(r.name, r.detail) for r in results if r.status == "error" and "reference" in str(r.detail)]
    assert tripped == []


def test_combine_with_every_detector_errored_gives_no_verdicts_and_is_an_error():
    X, y = _digits()
    profile = build_profile(X[:600], y[:600], row_digests(X[:600]), featurizer="x", positions=np.arange(600))
    n = 20
    Xd = X[600:620]
    delta = Delta(row_digests(Xd), Xd, list(y[600:620]), ["vendor"] * n, ["added"] * n, [None] * n)
    results = run_detectors(profile, delta)
    for r in results:  # every detector errored (as the registry records a crash)
        r.status, r.detail, r.findings = "error", "RuntimeError: replay", []
    verdicts = combine(results, 0.01, digests=list(delta.hexes))
    assert verdicts.records == []  # no record scored: nothing reads as passed or flagged


def _poisoned_delta(X, y):
    Xd, yd = X[1200:1300].copy(), y[1200:1300].copy()
    Xd[:5] = 16.0  # five far outliers the built-ins flag
    return Xd, yd


@pytest.mark.parametrize(
    "reference",
    ["all_nan", "zeros"],
)
def test_a_plug_in_with_valid_shaped_p_values_does_not_unflag_the_built_ins_records(reference):
    """R26i-1: a plug-in's reference_p of the right length, every value in [0, 1] (all 0.0, an unfilled
    np.zeros), passed _check_p_values; the combined reference T became 0 for every reference record, so every
    delta record's combined p was 1 and the records the built-ins flag read as not flagged (prov check's
    detectors.combined, stored findings, quarantine --findings). Fixed: a plug-in is calibrated on its own
    reference alone, beside the built-ins (combine.beside_plug_ins)."""
    from provenance.detectors.base import DetectorResult
    from provenance.detectors.registry import _detectors, register_detector

    X, y = _digits()
    Xd, yd = _poisoned_delta(X, y)
    profile, delta, base_results = _run(X[:1200], y[:1200], Xd, yd)
    before = {v.digest for v in combine(base_results, 0.01, digests=list(delta.hexes)).flagged}
    assert before  # the built-ins flag the outliers

    class Quiet:
        name = "zz_quiet"

        def run(self, profile, delta, fpr):
            clean = run_detectors(profile, delta, ["outlier"])[0]  # real findings in delta order, all made clean
            m = len(profile.sample_batches)
            findings = [type(f)(**{**f.__dict__, "score": 0.0, "flagged": False}) for f in clean.findings]
            ref = np.full(m, np.nan) if reference == "all_nan" else np.zeros(m)
            return DetectorResult(
                self.name,
                "ran",
                None,
                1.0,
                findings,
                p_values=np.ones(len(delta)),
                reference_p=ref,
                reference_raw=ref.copy(),
            )

    register_detector("zz_quiet", Quiet)
    try:
        results = run_detectors(profile, delta)
    finally:
        _detectors.pop("zz_quiet")
    quiet = next(r for r in results if r.detector == "zz_quiet")
    assert quiet.status == "ran"  # the registry's checks accept it
    after = {v.digest for v in combine(results, 0.01, digests=list(delta.hexes)).flagged}
    assert before <= after
