"""Attack review 25c, F1 through the CLI: a detector plug-in that edits a built-in detector's findings list.

Session 25's ColumnFindings refused an item set on a built-in's findings, so a team's plug-in that marked
records by hand turned `prov check` into exit 3 (could not be evaluated), where it ran before. The plug-in
is a real installed module (``tests/data/editing_detectors.py`` through its ``prov.detectors`` entry point).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from test_diff_detect import build_two_versions  # v1: 1,000 digits; v2: 200 more, 8 relabeled

from support import build_template, plugin_distribution, validate_output

PLUGINS = Path(__file__).resolve().parents[1] / "data" / "editing_detectors.py"
ENTRY_POINTS = {
    "relisted_outliers": "editing_detectors:RelistedOutliers",
    "reviewed_outliers": "editing_detectors:ReviewedOutliers",
}


@pytest.fixture(scope="session")
def template_plugin_versions(tmp_path_factory):
    return build_template(tmp_path_factory, "plugin_versions", build_two_versions)


@pytest.fixture
def installed(template_plugin_versions, workdir, tmp_path_factory, monkeypatch):
    """v1 and v2, and the plug-ins installed on ``sys.path`` as pip would."""
    site = plugin_distribution(
        tmp_path_factory.mktemp("site"), "editing_detectors", PLUGINS.read_text(), ENTRY_POINTS, "prov.detectors"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield
    sys.modules.pop("editing_detectors", None)


def test_a_plugin_editing_a_builtins_findings_is_evaluated_not_exit_3(prov, installed):
    Path("policy.toml").write_text(
        '[detectors]\nfpr = 0.01\nrun = ["knn_label", "relisted_outliers", "reviewed_outliers"]\n'
    )
    r = prov("check", "v2", "--base", "v1", "--signer", "alice.pub", "--policy", "policy.toml", "--format", "json")
    assert r.exit_code in (0, 1), r.output  # evaluated (3 was "could not be evaluated": the plug-in crashed)
    checked = json.loads(r.stdout)
    validate_output("check", checked)
    rows = {d["detector"]: d for d in checked["detectors"]}
    assert rows["relisted_outliers"]["status"] == rows["reviewed_outliers"]["status"] == "ran"
    assert rows["relisted_outliers"]["error"] is None and rows["reviewed_outliers"]["scored"] == 200
    r = prov("diff", "v1", "v2", "--detect", "--no-save", "--signer", "alice.pub", "--format", "json")
    assert r.exit_code == 0, r.output  # every installed detector runs, the plug-ins too
    report = json.loads(r.stdout)
    validate_output("diff", report)
    rows = {d["detector"]: d for d in report["detectors"]}
    assert rows["relisted_outliers"]["status"] == rows["reviewed_outliers"]["status"] == "ran"
    # what each plug-in flagged by hand is counted, and listed in each record's evidence
    assert rows["relisted_outliers"]["flagged"] >= 1 and rows["reviewed_outliers"]["flagged"] >= 3
    for name in ("relisted_outliers", "reviewed_outliers"):
        listed = [d for f in report["findings"] for d in f["detectors"] if d["detector"] == name and d["flagged"]]
        assert len(listed) == rows[name]["flagged"], name
    assert rows["outlier"]["flagged"] < rows["reviewed_outliers"]["flagged"] <= rows["outlier"]["flagged"] + 3
