"""Attack review 26f: detector plug-ins (real installed modules, tests/data/review26f_detectors.py) against
the combined verdict, the reports and the stored findings, after fix26a made a built-in's findings a list a
plug-in may write (``sort`` among the writes) and F3's check (registry._check_result) the detector's error
for a score that is not a number.

v1: 1,000 digits; v2: 200 more, rows 1000..1007 relabeled (test_diff_detect.build_two_versions)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from test_diff_detect import build_two_versions

from support import build_template, plugin_distribution, validate_output

PLUGINS = Path(__file__).resolve().parents[1] / "data" / "review26f_detectors.py"
CLASSES = {
    "aa_sorted_outliers": "SortedOutliers",
    "zz_sorted_outliers": "SortedOutliersLate",
    "nan_p_outliers": "NanPValues",
    "short_p_outliers": "ShortPValues",
    "flag_as_text": "FlagAsText",
}
RELABELED = set(range(1000, 1008))  # the poisoned rows of v2.parquet


@pytest.fixture(scope="session")
def template_r26f_versions(tmp_path_factory):
    return build_template(tmp_path_factory, "r26f_versions", build_two_versions)


@pytest.fixture
def install(template_r26f_versions, workdir, tmp_path_factory, monkeypatch):
    """``install(*names)``: those plug-ins (only) installed on ``sys.path`` as pip would."""

    def installing(*names: str) -> None:
        entry = {name: f"review26f_detectors:{CLASSES[name]}" for name in names}
        site = plugin_distribution(
            tmp_path_factory.mktemp("site"), "review26f_detectors", PLUGINS.read_text(), entry, "prov.detectors"
        )
        monkeypatch.syspath_prepend(str(site))
        importlib.invalidate_caches()

    yield installing
    sys.modules.pop("review26f_detectors", None)


def _checking(prov, *run: str):
    """``prov check v2 --base v1 --format json`` with a policy that runs ``run``."""
    Path("policy.toml").write_text(f"[detectors]\nfpr = 0.01\nrun = {json.dumps(list(run))}\n")
    return prov("check", "v2", "--base", "v1", "--signer", "alice.pub", "--policy", "policy.toml", "--format", "json")


def _check(prov, *run: str) -> dict:
    r = _checking(prov, *run)
    assert r.exit_code in (0, 1), r.output
    checked = json.loads(r.stdout)
    validate_output("check", checked)
    return checked


def _flagged_rows(checked: dict) -> dict[str, int]:
    """Each flagged record's digest and the v2.parquet row the report places it at."""
    return {f["digest"]: int(f["locator"]) for f in checked["findings"]}


def _labels(checked: dict) -> dict[str, str]:
    """Each flagged record's digest and the label the report gives it."""
    return {f["digest"]: f["label"] for f in checked["findings"]}


def _errored(prov, name: str, *run: str) -> str:
    """The error ``prov check`` reports for detector ``name`` (the gate's exit 3, its JSON still valid)."""
    r = _checking(prov, *run, name)
    assert r.exit_code == 3, r.output
    checked = json.loads(r.stdout)
    validate_output("check", checked)
    row = next(d for d in checked["detectors"] if d["detector"] == name)
    assert row["status"] == "error", row
    return row["error"]


def test_a_plugin_sorting_its_findings_is_its_error_not_other_records_flagged(prov, install):
    # R26f-1: the verdicts took their digests from the first detector by name, so a plug-in named before the
    # built-ins that sorts its findings (a write fix26a supports) named clean records flagged, poisoned passed
    install("aa_sorted_outliers")
    plain = _flagged_rows(_check(prov, "knn_label", "outlier"))
    assert set(RELABELED) <= set(plain.values())  # the poisoned records are flagged by the built-ins
    assert "out of delta order" in _errored(prov, "aa_sorted_outliers", "knn_label", "outlier")


def test_a_late_plugin_sorting_its_findings_is_its_error(prov, install):
    # R26f-1: named after the built-ins, its scores and flags were listed against other records
    install("zz_sorted_outliers")
    assert "out of delta order" in _errored(prov, "zz_sorted_outliers", "knn_label", "outlier")


def test_a_plugin_with_nan_p_values_is_its_error_not_every_record_passed(prov, install):
    # R26f-2: NaN p-values made the combined statistic NaN (np.min) and passed every record, the relabeled too
    install("nan_p_outliers")
    assert "p_values that are not p-values" in _errored(prov, "nan_p_outliers", "knn_label", "outlier")


def test_a_plugin_with_short_p_values_is_its_error(prov, install):
    # R26f-3: one p-value short crashed combine (internal error) instead of being the detector's error
    install("short_p_outliers")
    r = _checking(prov, "knn_label", "outlier", "short_p_outliers")
    assert r.exit_code == 3  # fails closed: held today
    assert "internal error" not in r.output and "short_p_outliers" in r.output


def test_a_flag_given_as_text_is_the_detectors_error(prov, install):
    # R26f-4: a flag must be a bool; the text "false" (truthy) is the plug-in's error, the gate's exit 3
    install("flag_as_text")
    r = _checking(prov, "knn_label", "outlier", "flag_as_text")
    assert r.exit_code == 3, r.output
    assert "flag_as_text" in r.output and "not bools" in r.output
