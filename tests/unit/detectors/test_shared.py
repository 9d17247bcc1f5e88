from dataclasses import replace

import numpy as np

from provenance.detectors.registry import get_detector
from provenance.detectors.shared import delta_labels, typical_distance


def test_the_typical_distance_is_the_median_or_over_positive_distances_when_most_records_have_twins():
    assert typical_distance(np.array([0.0, 1.0, 2.0, np.inf])) == 1.0  # the plain median of the finite ones
    assert typical_distance(np.array([0.0, 0.0, 0.0, 1.0, 3.0])) == 2.0  # median 0: over the positive ones
    assert typical_distance(np.zeros(4)) == 1.0
    assert typical_distance(np.zeros(0)) == 1.0


def test_a_sample_record_is_named_by_its_digest_prefix_label_and_distance(digits_split):
    # explanations name base records this way (written once per profile, then per distance)
    profile = digits_split.profile
    for index in (0, 1, len(profile.sample_digests) // 2, len(profile.sample_digests) - 1):
        digest = profile.sample_digests[index].tobytes().hex()[:12]
        label = profile.classes[profile.sample_labels[index]]
        for distance in (0.0, 1.005, 12.3456):
            assert profile.describe_sample(index, distance) == f"{digest} (label {label}, d={distance:.2f})"


def test_a_detectors_score_and_flag_columns_say_what_its_findings_say(digits_split):
    # the combined verdict and the stored findings object read each detector's columns, not its
    # findings: build_result hands over the lists it built the findings from, other detectors'
    # columns are read from the findings, and a result given another findings list is read again
    rng = np.random.default_rng(3)
    rows = rng.choice(len(digits_split.Xp), 30, replace=False)
    flipped = (digits_split.yp[rows] + rng.integers(1, 10, size=30)) % 10
    delta = digits_split.delta(digits_split.Xp[rows] + 0.01, flipped)
    for name in ("knn_label", "volume"):
        result = get_detector(name).run(digits_split.profile, delta, fpr=0.01)
        scores, flags = result.columns()
        assert scores == [float(f.score) for f in result.findings]
        assert flags == [bool(f.flagged) for f in result.findings]
        assert all(type(s) is float for s in scores) and all(type(f) is bool for f in flags)
    knn = get_detector("knn_label").run(digits_split.profile, delta, fpr=0.01)
    assert any(knn.columns()[1])  # planted flips: the flags column is not trivially all False
    knn.findings = [replace(f, flagged=not f.flagged) for f in reversed(knn.findings)]
    assert knn.columns() == ([f.score for f in knn.findings], [f.flagged for f in knn.findings])


def test_the_delta_label_indexes_are_looked_up_once_and_every_caller_gets_its_own_copy(digits_split):
    profile = digits_split.profile
    delta = digits_split.delta(digits_split.Xp[:3], ["3", "not a base class", "7"])
    first = delta_labels(profile, delta)
    assert first.tolist() == profile.label_indexes(delta.labels).tolist()
    assert first[-2] == -1  # a label the base never had
    first[:] = 99  # a detector changing its own copy changes no other detector's
    assert delta_labels(profile, delta).tolist() == profile.label_indexes(delta.labels).tolist()


def test_findings_made_when_read_are_the_findings_the_detector_would_have_listed(digits_split):
    # build_result keeps a detector's findings as columns and makes a Finding when it is read
    # (ColumnFindings): every finding, read any way, is the one a list built up front held, with
    # the detector's own explanation for flagged and high-scoring records and the short text otherwise
    from provenance.detectors.base import ColumnFindings, Finding
    from provenance.detectors.shared import DETAILED_FROM

    rng = np.random.default_rng(5)
    rows = rng.choice(len(digits_split.Xp), 40, replace=False)
    flipped = (digits_split.yp[rows] + rng.integers(1, 10, size=40)) % 10
    flipped[:20] = digits_split.yp[rows[:20]]  # half keep their label: some pass, some are flagged
    delta = digits_split.delta(digits_split.Xp[rows] + 0.01, flipped)
    result = get_detector("knn_label").run(digits_split.profile, delta, fpr=0.01)
    findings = result.findings
    assert isinstance(findings, ColumnFindings)
    scores, flags = result.columns()
    assert any(flags) and not all(flags)
    short = f"flagged above {result.threshold:.3f}"
    listed = list(findings)
    assert len(listed) == len(findings) == len(delta)
    for i, f in enumerate(listed):
        assert type(f) is Finding
        assert (f.digest, f.detector, f.score, f.flagged) == (delta.hex(i), "knn_label", scores[i], flags[i])
        if f.flagged or f.score >= DETAILED_FROM:
            assert "nearest base records" in f.explanation  # the detector's own explanation
        else:
            assert f.explanation == f"within the base's range: score {f.score:.3f}, {short}"
    assert findings[0] is listed[0] and findings[-1] is listed[-1]  # read twice: the same object
    assert findings[3:7] == listed[3:7] and findings == listed and listed == list(findings)
    assert result.flagged == [f for f in listed if f.flagged]
    assert result.digests() == [f.digest for f in listed]
    try:
        findings[len(delta)]
    except IndexError:
        pass
    else:
        raise AssertionError("an index past the end must raise IndexError, as a list does")


def test_an_explanation_read_without_its_finding_is_the_findings_explanation(digits_split):
    # session 29 (perf29): the combined verdict reads one detector's explanation for each delta record through
    # ColumnFindings.explanation, which makes no Finding; the text is the finding's, made or not, changed in
    # place or written, and the findings read later are the same objects and texts as before
    from provenance.detectors.base import ColumnFindings, Finding

    rng = np.random.default_rng(6)
    rows = rng.choice(len(digits_split.Xp), 30, replace=False)
    labels = (digits_split.yp[rows] + (np.arange(30) % 2)) % 10  # half relabeled: detailed and short texts
    delta = digits_split.delta(digits_split.Xp[rows] + 0.01, labels)
    fresh = get_detector("knn_label").run(digits_split.profile, delta, fpr=0.01).findings
    result = get_detector("knn_label").run(digits_split.profile, delta, fpr=0.01)
    findings = result.findings
    assert isinstance(findings, ColumnFindings)
    texts = [findings.explanation(i) for i in range(len(findings))]
    assert findings.explanation(-1) == texts[-1]
    assert not findings._made_at  # nothing made by reading the texts
    assert texts == [f.explanation for f in fresh] and len(set(texts)) > 2
    findings[4].explanation = "set in place"  # made, then changed as a plug-in may change a finding
    assert findings.explanation(4) == "set in place" and findings._made_at == [4]
    findings[5] = Finding(delta.hex(5), "knn_label", 0.5, False, "written")  # the first write: a plain list
    assert findings.explanation(5) == "written" and findings.explanation(6) == texts[6]
    try:
        findings.explanation(len(delta))
    except IndexError:
        pass
    else:
        raise AssertionError("an index past the end must raise IndexError, as reading the finding does")


def test_sample_records_named_together_read_as_named_one_by_one(digits_split):
    profile = digits_split.profile
    idx, dist = [3, -1, 0, 7], [0.5, float("inf"), 1.25, 0.125]
    assert profile.describe_samples(idx, dist) == [profile.describe_sample(i, d) for i, d in zip(idx, dist) if i >= 0]
