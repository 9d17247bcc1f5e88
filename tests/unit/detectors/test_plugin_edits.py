"""Attack review 25c's replays: a detector plug-in that changes a built-in detector's findings.

Session 25 kept a detector's findings as columns (``ColumnFindings``) and each verdict's detector list
made when read; the review found that a real plug-in editing the findings list in place crashed (F1),
that flags it flipped in place were ignored (F2), that a plain list's scores given as text were turned
into numbers (F3) and that a verdict was not the dataclass it stood for (F4). Each plug-in here is a
real installed module (``tests/data/editing_detectors.py``, found through its ``prov.detectors`` entry
point), run through the registry on the digits split.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import pytest

from provenance.detectors import run_detectors
from provenance.detectors.base import ColumnFindings
from provenance.detectors.combine import RecordVerdict, combine
from provenance.detectors.findings import findings_document, findings_object_bytes, flagged_count
from support import plugin_distribution

PLUGINS = Path(__file__).resolve().parents[2] / "data" / "editing_detectors.py"
ENTRY_POINTS = {
    name: f"editing_detectors:{cls}"
    for name, cls in (
        ("reviewed_outliers", "ReviewedOutliers"),
        ("relisted_outliers", "RelistedOutliers"),
        ("scores_as_text", "ScoresAsText"),
        ("score_set_as_text", "ScoreSetAsText"),
    )
}
MARKED = (0, 2, 5)  # editing_detectors.MARKED_POSITIONS


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The plug-ins installed as a distribution on ``sys.path``, as pip would."""
    site = plugin_distribution(
        tmp_path / "site", "editing_detectors", PLUGINS.read_text(), ENTRY_POINTS, "prov.detectors"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield
    import sys

    sys.modules.pop("editing_detectors", None)


def _run(digits_split, names):
    return {r.detector: r for r in run_detectors(digits_split.profile, digits_split.delta(), names=names, fpr=0.01)}


def test_a_plugin_that_edits_a_builtins_findings_list_runs_as_on_a_list(installed, digits_split):
    # F1: setting an item, appending, deleting and replacing the whole list raised TypeError (status error,
    # the gate's exit 3); now the list takes every write and the result is what the plug-in left
    results = _run(digits_split, ["outlier", "relisted_outliers"])
    edited, builtin = results["relisted_outliers"], results["outlier"]
    assert edited.status == "ran", edited.error
    assert len(edited.findings) == len(builtin.findings)
    assert {f.detector for f in edited.findings} == {"relisted_outliers"}
    first = edited.findings[0]
    assert first.flagged and first.explanation == "marked by the team's review"
    assert edited.flagged[0] is first and edited.columns()[1][0] is True
    assert edited.digests() == builtin.digests()
    assert edited.columns()[0] == builtin.columns()[0]  # the scores it kept


def test_flags_a_plugin_flips_in_place_are_the_ones_every_reader_sees(installed, digits_split):
    # F2: a finding's flag set in place was ignored by `flagged`, `columns()`, the combined verdict's
    # per-detector list and the stored findings object, all read from the columns built before
    results = _run(digits_split, ["outlier", "reviewed_outliers"])
    reviewed, builtin = results["reviewed_outliers"], results["outlier"]
    assert reviewed.status == "ran", reviewed.error
    assert not any(builtin.columns()[1][i] for i in MARKED)  # the built-in alone flags none of them
    flagged_at = {i for i, flag in enumerate(reviewed.columns()[1]) if flag}
    assert set(MARKED) <= flagged_at
    assert flagged_at == set(MARKED) | {i for i, flag in enumerate(builtin.columns()[1]) if flag}
    assert [f.digest for f in reviewed.flagged] == [reviewed.findings[i].digest for i in sorted(flagged_at)]
    verdicts = combine(list(results.values()), 0.01)
    for i in MARKED:
        entry = next(d for d in verdicts.records[i].detectors if d["detector"] == "reviewed_outliers")
        assert entry["flagged"] is True
    document = findings_document("run", "v1", "v2", [], list(results.values()), None, verdicts)
    data, _ = findings_object_bytes("run", "v1", "v2", [], list(results.values()), None, verdicts)
    stored = json.loads(data)
    for doc in (document, stored):
        at = {f["position"]: f for f in doc["findings"]}
        for i in MARKED:
            assert {"detector": "reviewed_outliers", "flagged": True, "score": reviewed.columns()[0][i]} in at[i][
                "detectors"
            ]


def test_the_counts_of_flagged_records_stored_and_reported_are_len_flagged_after_every_edit(installed, digits_split):
    # the stored run's and the diff report's per-detector "flagged" count the flags without making the
    # findings (detectors.findings.flagged_count): flags flipped in place (reviewed_outliers), a list a
    # plug-in wrote to (relisted_outliers) and a built-in's columns each count as ``len(flagged)`` does
    results = _run(digits_split, ["outlier", "reviewed_outliers", "relisted_outliers"])
    assert flagged_count(results["reviewed_outliers"]) > flagged_count(results["outlier"]) > 0
    for result in results.values():
        assert result.status == "ran", result.error
        assert flagged_count(result) == len(result.flagged)
    # a plug-in's findings, flipped in place on the built-in's columns it ran, are the runner's plain Findings of
    # the values it read once (attack review 27d, A27d-2/5); a built-in's own columns edited in place still count
    reviewed, builtin = results["reviewed_outliers"], results["outlier"]
    assert type(reviewed.findings) is list and flagged_count(reviewed) > flagged_count(builtin)
    assert isinstance(builtin.findings, ColumnFindings)
    for result in (reviewed, builtin):
        result.findings[1].flagged = not result.findings[1].flagged  # one more flip, after a reader made them
        assert flagged_count(result) == len(result.flagged)
    assert builtin.findings.changed()


@pytest.mark.parametrize("name", ["scores_as_text", "score_set_as_text"])
def test_scores_that_are_not_numbers_are_the_detectors_error_never_read_as_numbers(installed, digits_split, name):
    # F3: "0.5" was float()-ed and the detector counted as ran; now it is its error (the gate's exit 3)
    result = _run(digits_split, [name])[name]
    assert result.status == "error" and result.findings == []
    assert result.error.startswith("RuntimeError: returned scores that are not numbers for records ")
    assert digits_split.delta().hex(1 if name == "score_set_as_text" else 0)[:12] in result.error


def test_a_verdict_is_the_dataclass_it_is_equal_replaceable_and_reads_its_list(digits_split):
    # F4: a verdict made by combine was a subclass: never == a RecordVerdict of the same values, and
    # dataclasses.replace raised TypeError (its __init__ took columns, not a detectors list)
    results = run_detectors(digits_split.profile, digits_split.delta(), names=["knn_label", "outlier"], fpr=0.01)
    verdict = combine(results, 0.01).records[3]
    assert type(verdict) is RecordVerdict
    plain = RecordVerdict(**{f.name: getattr(verdict, f.name) for f in dataclasses.fields(RecordVerdict)})
    assert plain == verdict and verdict == plain
    assert plain.detectors == verdict.detectors and verdict.detectors is verdict.detectors
    flipped = dataclasses.replace(verdict, flagged=not verdict.flagged)
    assert flipped != verdict and flipped.detectors == verdict.detectors
    assert dataclasses.asdict(verdict)["detectors"] == verdict.detectors
    assert repr(verdict) == repr(plain)


def test_a_builtins_findings_take_every_list_write_and_read_back_what_was_written(digits_split):
    # every way a plug-in may change a list, on the findings as build_result hands them over, against
    # a plain list given the same writes
    from provenance.detectors.base import ColumnFindings, Finding
    from provenance.detectors.registry import get_detector

    def fresh():
        return get_detector("outlier").run(digits_split.profile, digits_split.delta(), 0.01)

    extra = Finding("ab" * 32, "outlier", 0.25, True, "added by hand")
    writes = [
        lambda x: x.append(extra),
        lambda x: x.insert(-1, extra),
        lambda x: x.extend([extra, extra]),
        lambda x: x.pop(),
        lambda x: x.pop(0),
        lambda x: x.remove(x[3]),
        lambda x: x.reverse(),
        lambda x: x.sort(key=lambda f: f.digest),
        lambda x: x.__setitem__(slice(2, 4), [extra]),
        lambda x: x.__delitem__(-1),
        lambda x: x.__iadd__([extra]),
        lambda x: x.clear(),
    ]
    for write in writes:
        result = fresh()
        assert isinstance(result.findings, ColumnFindings)
        plain = list(fresh().findings)
        write(result.findings)
        write(plain)
        assert result.findings == plain and list(result.findings) == plain and len(result.findings) == len(plain)
        assert result.columns() == ([f.score for f in plain], [f.flagged for f in plain])
        assert result.digests() == [f.digest for f in plain]
        assert result.flagged == [f for f in plain if f.flagged]
    findings = fresh().findings
    assert findings.copy() == list(findings) and findings + [extra] == [*findings, extra]
    assert [extra] + findings == [extra, *findings]
    assert findings != tuple(findings)  # as a list: never equal to a tuple
    assert findings[-1] is findings[len(findings) - 1]
    with pytest.raises(IndexError):
        findings[len(findings)]
    with pytest.raises(IndexError):
        findings[-len(findings) - 1]
