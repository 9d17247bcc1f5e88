"""Attack review 26f: scores of odd types a plug-in sets on a built-in's findings, against F3's check
(registry._check_result), the combined verdict and the stored findings object."""

from __future__ import annotations

import ast
import importlib
import json
import re
import sys
from pathlib import Path

import pytest

from provenance.detectors import run_detectors
from provenance.detectors.combine import combine
from provenance.detectors.findings import findings_document, findings_object_bytes
from support import plugin_distribution

PLUGINS = Path(__file__).resolve().parents[2] / "data" / "review26f_detectors.py"
KINDS = ast.literal_eval(re.search(r"^ODD_KINDS = (\(.*?\))$", PLUGINS.read_text(), re.M | re.S)[1])


@pytest.fixture
def installed(tmp_path, monkeypatch):
    entry = {f"odd_{k}": f"review26f_detectors:OddScore_{k}" for k in KINDS}
    site = plugin_distribution(tmp_path / "site", "review26f_detectors", PLUGINS.read_text(), entry, "prov.detectors")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield
    sys.modules.pop("review26f_detectors", None)


def _run(digits_split, kind):
    results = run_detectors(digits_split.profile, digits_split.delta(), names=["outlier", f"odd_{kind}"], fpr=0.01)
    return results, next(r for r in results if r.detector == f"odd_{kind}")


def _stored_entry(results, name):
    """Record 3's entry of detector ``name`` in the combined verdict and in the stored findings object."""
    verdicts = combine(results, 0.01)
    entry = next(d for d in verdicts.records[3].detectors if d["detector"] == name)
    data, _ = findings_object_bytes("run", "v1", "v2", [], results, None, verdicts)
    stored = [
        d for f in json.loads(data)["findings"] if f["position"] == 3 for d in f["detectors"] if d["detector"] == name
    ]
    assert findings_document("run", "v1", "v2", [], results, None, verdicts)  # the reference path builds too
    return entry, stored[0], data


@pytest.mark.parametrize("kind", ["float32_nan", "inf", "nan", "huge_int", "decimal", "bool_np"])
def test_a_score_that_is_not_a_number_in_range_is_the_detectors_error(installed, digits_split, kind):
    # held: F3's check makes each of these the plug-in's error (status error, the gate's exit 3)
    _, odd = _run(digits_split, kind)
    assert odd.status == "error" and odd.error, (kind, odd.status)


@pytest.mark.parametrize("kind", ["true", "float32", "fraction"])
def test_a_real_number_in_range_is_read_as_its_float(installed, digits_split, kind):
    # held: numbers of other types in [0, 1] are read as floats everywhere (True as 1.0: a Real, as documented)
    results, odd = _run(digits_split, kind)
    assert odd.status == "ran"
    entry, stored, _ = _stored_entry(results, odd.detector)
    assert type(entry["score"]) is float and stored["score"] == float(odd.findings[3].score)


def test_a_negative_zero_score_is_stored_as_zero(installed, digits_split):
    # R26f-4: a score of -0.0 was written "-0.0" in the stored findings object
    results, odd = _run(digits_split, "neg_zero")
    _, _, data = _stored_entry(results, odd.detector)
    assert b'"score":-0.0' not in data


@pytest.mark.parametrize("kind", ["decimal_equal", "array0d_equal"])
def test_a_non_number_equal_to_the_column_is_refused_too(installed, digits_split, kind):
    # R26f-4: changed() compared with ==, so a non-number equal to the column's value was never checked
    _, odd = _run(digits_split, kind)
    assert odd.status == "error"


def test_a_float_subclass_is_refused(installed, digits_split):
    # R26f-4: a float subclass whose __float__ lies was read as 0.0; only exact number types pass now
    _, odd = _run(digits_split, "lying")
    assert odd.status == "error" and "not numbers" in str(odd.error)
