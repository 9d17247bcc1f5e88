"""The combined verdict's reference: what "beyond every reference record" is judged against."""

import numpy as np
import pytest

from provenance.detectors import Delta, run_detectors
from provenance.detectors.base import DetectorResult, Finding
from provenance.detectors.budget import flag_budget
from provenance.detectors.combine import combine, trimmed_reference
from provenance.profiles.reference import build_profile
from support import row_digests


def _two_classes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.choice(["a", "b"], n)
    X = rng.normal(size=(n, 4))
    X[:, 0] += np.where(labels == "a", 1.0, -1.0)
    return X.astype(np.float32), labels


def test_one_odd_batch_in_the_reference_does_not_lower_the_bar():
    T = np.linspace(0.01, 1.0, 100)
    batches = np.repeat(np.arange(10), 10)
    odd = T.copy()
    odd[50:53] = [1e-9, 1e-8, 1e-7]  # three extreme records, all in pseudo-batch 5
    assert trimmed_reference(odd, batches) == (0.01, 90, 5, 1)
    assert trimmed_reference(T, batches) == (T[10], 90, 0, 1)  # batch 0 holds the minimum: left out
    assert trimmed_reference(odd, None) == (1e-9, 100, None, 1)  # without pseudo-batches: the whole reference
    T = np.linspace(0.01, 1.0, 2000)  # 1,800 kept: the bar is their 4th smallest, so three odd ones do not set it
    odd = T.copy()
    odd[[0, 1500, 1700, 1900]] = [1e-9, 1e-8, 1e-7, 1e-6]
    assert trimmed_reference(odd, np.repeat(np.arange(10), 200)) == (T[200], 1800, 0, 4)


def test_an_earlier_odd_batch_in_the_base_does_not_let_a_shifted_delivery_through():
    """Attack review 2, finding 1(a), replayed: the same delivery (all 300 new records moved
    toward the other class on f0) against a clean base and against a base whose rows 500-529
    were shifted on an unrelated feature (an earlier accepted batch). "Beyond every reference
    record" was beyond the most extreme base record, so the odd base took the count from 5
    to 0 and the delivery passed; against the trimmed reference both block on it.

    The shift is 1.5 (it was 1.0, where the beyond count sat at its budget, 3 of at most 3, and
    any change to a detector's scores moved it): with the whole reference as the bar the odd
    base leaves 5 of these records beyond, the trimmed one 18 (the clean base 19), against a
    budget of 7 at the rate measured on the base's own batches."""
    rng = np.random.default_rng(5)
    X, y = _two_classes(rng, 1000)
    Xn, yn = _two_classes(rng, 300)
    Xn[:, 0] += np.where(yn == "a", -1.5, 1.5).astype(np.float32)
    delta = Delta(
        row_digests(Xn), Xn, list(yn), ["vendor"] * 300, ["added"] * 300, [None] * 300,
        np.zeros(300, np.int64), np.zeros(300, np.int64),
    )  # fmt: skip
    beyond = {}
    for name, base in (("clean", X), ("odd", X.copy())):
        if name == "odd":
            base[500:530, 3] += 2.5
        profile = build_profile(base, y, row_digests(base), featurizer="x", positions=np.arange(len(base)))
        verdicts = combine(run_detectors(profile, delta, fpr=0.01), 0.01, profile.sample_batches)
        budget = flag_budget(300, 0.01, 0.001, verdicts.beyond_size, verdicts.reference_batch_sizes,
                             verdicts.reference_batch_flags, verdicts.beyond_rate)  # fmt: skip
        beyond[name] = len(verdicts.beyond_reference)
        assert beyond[name] > budget.beyond, (name, beyond[name], budget.beyond)
    assert beyond["odd"] >= beyond["clean"] - 2


@pytest.mark.parametrize(("odd_batches", "odd"), [((9,), 6), ((8, 9), 2), ((8, 9), 6)])
def test_odd_base_records_in_two_batches_do_not_disarm_the_beyond_count(odd_batches, odd):
    """Attack review 9, D1 (its numeric replay): three detectors' raw scores on a reference of 2,000
    in ten pseudo-batches, and a delivery of 200 with six records far beyond every clean one. The bar
    was the smallest statistic outside the batch holding the smallest, so one odd base record in each
    of two batches (a waived one and one that rode in under the flag budget) set it past the six:
    beyond 0, pass. The bar is a low order statistic now; every case blocks on the count."""
    from provenance.detectors.calibration import Calibration

    fpr, rng = 0.05, np.random.default_rng(0)
    batches = np.repeat(np.arange(10), 200)
    reference = rng.standard_normal((2000, 3))
    for b in odd_batches:
        reference[np.flatnonzero(batches == b)[: odd // len(odd_batches)], 0] = 6.0
    delta = rng.standard_normal((200, 3))
    delta[:6, 0] = 6.0
    results = []
    for d in range(3):
        calibration = Calibration(reference[:, d], fpr)
        p = calibration.p_values(delta[:, d])
        findings = [Finding(f"{i:064x}", f"d{d}", float(1 - v), bool(v <= fpr), "") for i, v in enumerate(p)]
        results.append(
            DetectorResult(f"d{d}", "ran", None, 0.5, findings, p_values=p,
                           reference_p=calibration.p_values(reference[:, d]), reference_raw=reference[:, d])
        )  # fmt: skip
    verdicts = combine(results, fpr, batches)
    budget = flag_budget(200, fpr, 0.01, verdicts.beyond_size, verdicts.reference_batch_sizes,
                         verdicts.reference_batch_flags, verdicts.beyond_rate)  # fmt: skip
    assert len(verdicts.flagged) <= budget.flags  # the flag budget alone lets the delivery through
    assert len(verdicts.beyond_reference) == 6 > budget.beyond


def _result(name: str, p: np.ndarray, reference_p: np.ndarray) -> DetectorResult:
    findings = [Finding(f"{i:064x}", name, float(1 - v), bool(v <= 0.01), "") for i, v in enumerate(p)]
    return DetectorResult(name, "ran", None, 0.99, findings, p_values=p, reference_p=reference_p)


def test_a_label_contradiction_weighs_twice_and_the_verdict_stays_calibrated():
    """Weighted min-p (DETECTOR_WEIGHTS): knn_label's p-value counts double against the
    five detectors that read features only. A record whose sole evidence is a label
    contradiction at p = x is flagged where the same p from one feature detector is not;
    records exchangeable with the reference are still flagged at the policy's rate."""
    rng = np.random.default_rng(11)
    names = ["collision", "duplicates", "gradient", "knn_label", "outlier", "spectral"]
    m, n = 4000, 20000
    reference = {d: rng.uniform(size=m) for d in names}
    delta = {d: rng.uniform(size=n) for d in names}
    clean = combine([_result(d, delta[d], reference[d]) for d in names], 0.01)
    assert 0.008 <= len(clean.flagged) / n <= 0.012
    x = clean.threshold * 1.5  # above the bar on its own, below it once doubled
    for d, expect in (("knn_label", True), ("outlier", False)):
        p = {k: np.full(1, 0.5) for k in names}
        p[d] = np.full(1, x)
        one = combine([_result(k, p[k], reference[k]) for k in names], 0.01)
        assert one.records[0].flagged is expect, d


def test_the_strongest_evidence_named_first_is_the_detector_that_set_the_statistic():
    """knn_label at p 0.002 (weighted 0.001) decides over outlier at 0.0015: the flagged
    record's explanation names knn_label first, each detector with its own p-value."""
    rng = np.random.default_rng(2)
    names = ["knn_label", "outlier", "spectral"]
    reference = {d: rng.uniform(size=2000) for d in names}
    p = {"knn_label": np.array([0.002]), "outlier": np.array([0.0015]), "spectral": np.array([0.9])}
    verdict = combine([_result(d, p[d], reference[d]) for d in names], 0.01).records[0]
    assert verdict.flagged
    evidence = verdict.explanation.split("strongest evidence: ", 1)[1]
    assert evidence.startswith("knn_label (p = 0.002)") and "outlier (p = 0.0015)" in evidence


def test_the_budget_does_not_swing_on_one_reference_record_moving_between_pseudo_batches():
    """Session 9 measured the budget of one clean digits batch falling from 12 flags to 8 when
    one reference record moved between pseudo-batches. Here a reference of 500 records in ten
    pseudo-batches puts its four most extreme in batches 0, 0, 5, 7, or 0, 1, 5, 7. Counted at
    fpr 0.01 (the four), the first looks like drift and a 300-record delta was allowed 19 flags,
    the second 13. Counted where the reference holds 20 records (DISPERSION_RECORDS), one
    record is one of 20: the same budget."""
    m = 500
    reference_p = (np.arange(m) + 0.5) / m  # record i is the i-th most extreme

    def batches(first: list[int]) -> np.ndarray:
        b = np.arange(m) % 10
        for i, target in enumerate(first):  # record i into batch `target`, swapped with a mild record of it
            j = np.flatnonzero((b == target) & (np.arange(m) > 100))[i]
            b[i], b[j] = target, b[i]
        return b

    budgets = []
    for first in ([0, 0, 5, 7], [0, 1, 5, 7]):
        verdicts = combine([_result("outlier", np.full(300, 0.5), reference_p)], 0.01, batches(first))
        assert verdicts.dispersion_level == 20 / m
        budgets.append(
            flag_budget(
                300,
                0.01,
                0.001,
                verdicts.beyond_size,
                verdicts.reference_batch_sizes,
                verdicts.reference_batch_flags,
                calibration_size=verdicts.reference_size,
            )  # fmt: skip
        )
    assert budgets[0].flags == budgets[1].flags == 13
    assert budgets[0].rho == budgets[1].rho


def test_rounded_scores_are_pythons_round_bit_for_bit():
    """The verdicts' per-detector scores are rounded in one vectorised pass: the same doubles as
    ``round(x, 6)``, exact binary halves (round half to even) and their neighbours included."""
    from provenance.detectors.combine import rounded

    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.random(20_000),
            rng.random(1_000) * 1e-6,
            np.arange(0, 1, 2.0**-10),  # 0.0078125 (= 7812.5e-6) and every other exact half
            np.arange(0, 1, 1e-6)[::97],
            [0.0, -0.0, 1.0, 0.5, 5e-7, 0.1234565, 0.9999995, 1e-300, 3e15, -2.5e-6],
        ]
    )
    values = np.concatenate([values, np.nextafter(values, 2.0), np.nextafter(values, -2.0)])
    want = [round(float(v), 6) for v in values]
    got = rounded(values, 6)
    assert np.array(got).tobytes() == np.array(want).tobytes()
    assert rounded([float("nan"), float("inf")], 6)[1] == float("inf")


def test_each_verdicts_detector_list_is_every_detectors_score_and_flag_of_that_record(digits_split):
    # combine makes a verdict's detectors list from the detectors' columns when it is read (a report
    # lists the flagged records only): each list is the one the columns give, rounded as before, and
    # read twice it is the same list; the verdict's dict is JSON as before
    import json

    from provenance.detectors.combine import RecordVerdict, rounded

    rng = np.random.default_rng(7)
    rows = rng.choice(len(digits_split.Xp), 30, replace=False)
    flipped = (digits_split.yp[rows] + rng.integers(0, 2, size=30)) % 10
    delta = digits_split.delta(digits_split.Xp[rows] + 0.01, flipped)
    results = run_detectors(digits_split.profile, delta, fpr=0.01)
    verdicts = combine(results, 0.01)
    columns = [(r.detector, rounded(r.columns()[0], 6), r.columns()[1]) for r in results if r.status == "ran"]
    assert len(verdicts.records) == len(delta)
    for i, v in enumerate(verdicts.records):
        assert isinstance(v, RecordVerdict)
        expected = [{"detector": name, "score": scores[i], "flagged": flags[i]} for name, scores, flags in columns]
        assert v.detectors == expected and v.detectors is v.detectors
        assert json.loads(json.dumps(v.to_dict()))["detectors"] == expected
    with pytest.raises(AttributeError):
        verdicts.records[0].no_such_field  # noqa: B018
