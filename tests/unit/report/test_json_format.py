import json
import math

from provenance.report.json_format import render_diff


def _reference(value):
    """What the report means: the dict with NaN and infinity as null (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _reference(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reference(v) for v in value]
    return value


def _report():
    finding = {
        "digest": "ab" * 32,
        "flagged": True,
        "score": 0.99,
        "explanation": "label 'NaN' is unusual",  # says NaN without being one: still the same text
        "detectors": [{"detector": "outlier", "score": float("nan"), "flagged": False}],
    }
    return {
        "summary": {"added": 2, "removed": 0, "relabeled": 1, "p": float("inf")},
        "changes": {"added": [{"digest": "cd" * 32, "label": "cat", "score": float("-inf")}], "removed": []},
        "findings": [finding, finding | {"digest": "ef" * 32, "flagged": False, "score": 0.1}],
        "detect": True,
    }


def test_diff_json_with_findings_is_the_report_with_nan_as_null_and_one_record_per_line():
    report = _report()
    text = render_diff(report)
    assert json.loads(text) == _reference(report)
    lines = text.splitlines()
    # every listed record and every finding is one line of its own (a reviewer can grep them)
    assert sum('"digest": "' in line for line in lines) == 3
    assert all(line.count('"digest": "') <= 1 for line in lines)
    assert "NaN" not in text.replace("'NaN'", "") and "Infinity" not in text


def test_diff_json_without_listed_records_or_findings_is_indented_json():
    report = {"summary": {"added": 0}, "changes": {}, "findings": [], "detect": False}
    text = render_diff(report)
    assert json.loads(text) == report
    assert text == json.dumps(report, indent=2, sort_keys=True) + "\n"


def test_one_record_is_written_as_json_dumps_writes_it_with_sorted_keys():
    from provenance.report.json_format import _compact, _encode_sorted

    record = {
        "explanation": "étiquette 'chat' ≠ \"dog\"\n\x00",  # escaped as json.dumps escapes (ensure_ascii)
        "score": 0.1 + 0.2,
        "big": 1e300,
        "tiny": -5e-324,
        "count": 2**70,
        "none": None,
        "flags": [True, False],
        "detectors": [{"z": 1, "a": {"y": [], "b": {}}}],
        "p": float("nan"),
    }
    for item in (record, [record, record], "text", 1.5, None):
        assert _encode_sorted(item) == json.dumps(item, sort_keys=True)
    assert _compact(record) == json.dumps(_reference(record), sort_keys=True)
