"""Newcomer review 32, finding 1, replayed through the CLI on real Parquet, keys and stores: a version that dropped a
feature column (clinic A's `skin`, 98% missing) could never be checked: `prov check` and `prov diff --detect` exited 2
("the table lacks feature columns; records: skin", a column named where records go). The delta is now scored on the
feature columns both versions have (the base's signed profile narrowed to them, `profiles/shared_columns.py`), and
the dropped column is named in a warning, never in silence."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from provenance.features.base import FeatureError
from provenance.features.numeric import NumericFeaturizer
from support import commit_table, digits_table, flip_label, set_column, validate_output, words

PLANTED = (5, 12, 21)  # rows of the added batch carrying a patch trigger in a corner the base holds at 0


def _base_and_candidate(prov, keypair) -> None:
    """v1: 300 digits; v2: v1's records without column px10, plus 40 new digits, three of them with a trigger."""
    t = digits_table(340)
    commit_table(prov, keypair, "v1", t.slice(0, 300), "--signer", keypair.public_path)
    added = t.slice(300, 40)
    for column in ("px00", "px08", "px16"):
        values = added.column(column).to_pylist()
        for row in PLANTED:
            values[row] = 16
        added = set_column(added, column, values)
    candidate = pa.concat_tables([t.slice(0, 300), added]).drop_columns(["px10"])
    commit_table(prov, keypair, "v2", candidate, "--signer", keypair.public_path)


def test_check_of_a_version_that_dropped_a_feature_column_scores_it_and_warns(prov, workdir, store, keypair):
    _base_and_candidate(prov, keypair)
    r = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path, "--format", "json")
    assert r.exit_code in (0, 1), r.output  # a verdict, not "cannot be scored" (exit 2)
    report = json.loads(r.stdout)
    validate_output("check", report)
    run = next(rule for rule in report["rules"] if rule["rule"] == "detectors.run")
    assert run["status"] == "warn"
    assert run["reason"].endswith(
        "; column 'px10' of v1's profile is not in v2: the delta was scored on the feature columns both versions "
        "have, and no detector scores it (a dropped column adds nothing to train on; to score it, commit v2's data "
        "with it)"
    )
    text = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path)
    assert "column 'px10' of v1's profile is not in v2" in words(text.stdout)


def test_diff_detect_names_the_dropped_column_and_still_finds_a_trigger_in_the_others(prov, workdir, store, keypair):
    _base_and_candidate(prov, keypair)
    r = prov("diff", "v1", "v2", "--detect", "--format", "json", "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    validate_output("diff", report)
    assert report["detection"]["columns_left_out"] == ["px10"]
    flagged = {int(f["locator"]) for f in report["findings"] if f["flagged"]}
    assert {300 + row for row in PLANTED} <= flagged  # the trigger sits in columns both versions have
    text = prov("diff", "v1", "v2", "--detect", "--signer", keypair.public_path).stdout
    assert "warning: column 'px10' of v1's profile is not in v2: the delta was scored on the feature columns" in words(
        text
    )
    assert 300 not in flagged  # a clean added record (the re-keyed base records pair with theirs: not scored)


def test_a_missing_feature_column_is_named_as_a_column_not_as_a_record():
    table = pa.table({"a": [1.0, 2.0], "label": ["x", "y"]})
    with pytest.raises(FeatureError) as caught:
        NumericFeaturizer(columns=["a", "skin"]).featurize(table)
    assert str(caught.value) == "the table lacks feature column 'skin'"
    assert caught.value.records == [] and caught.value.missing_columns == ("skin",)


def _dropped_column_release(prov, keypair, relabeled: tuple[int, ...] = ()) -> dict:
    """Newcomer 32's Pima case on real digits: v1 holds 600 records; v2 drops column px10 (every base record is
    re-keyed), keeps the other columns of every base record, relabels the base rows ``relabeled`` and adds 100 clean
    records. Returns ``prov check v2 --base v1``'s exit code and JSON report."""
    t = digits_table(700)
    commit_table(prov, keypair, "v1", t.slice(0, 600), "--signer", keypair.public_path)
    kept = t.slice(0, 600)
    for row in relabeled:
        kept = flip_label(kept, row)
    candidate = pa.concat_tables([kept, t.slice(600, 100)]).drop_columns(["px10"])
    commit_table(prov, keypair, "v2", candidate, "--signer", keypair.public_path)
    r = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path, "--format", "json")
    report = json.loads(r.stdout)
    validate_output("check", report)
    return {"exit": r.exit_code, "report": report}


def test_a_clean_column_drop_pairs_every_base_record_with_itself_and_does_not_block(prov, workdir, store, keypair):
    got = _dropped_column_release(prov, keypair)
    assert got["exit"] == 0, got["report"]  # pass or warn: the base records are the same minus a column
    r = prov("diff", "v1", "v2", "--detect", "--format", "json", "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    summary = report["summary"]
    assert summary["rekeyed_by"] == "content"
    assert summary["rekeyed"] == 600 and summary["rekeyed_relabeled"] == 0
    assert report["detection"]["scored"] == 100  # only the added records: no base record is its own near-copy
    assert all(int(f["locator"]) >= 600 for f in report["findings"] if f.get("locator") is not None)


def test_a_column_drop_does_not_hide_five_relabeled_base_records(prov, workdir, store, keypair):
    got = _dropped_column_release(prov, keypair, relabeled=(3, 50, 120, 333, 501))
    assert got["exit"] == 1, got["report"]
    blocked = {rule["rule"] for rule in got["report"]["rules"] if rule["status"] not in ("pass", "warn", "skip")}
    assert "detectors.relabels" in blocked, got["report"]["rules"]
    r = prov("diff", "v1", "v2", "--format", "json", "--signer", keypair.public_path)
    summary = json.loads(r.stdout)["summary"]
    assert summary["rekeyed_by"] == "content" and summary["rekeyed_relabeled"] == 5


@pytest.mark.parametrize("relabel", [False, True])
def test_a_copy_of_a_base_record_stays_a_copy_and_under_another_label_a_relabel(prov, workdir, store, keypair, relabel):
    """A poisoner cannot hide an added record by making it equal a base record on the shared columns: the base
    record pairs once, and the copy counts as a copy beyond the base's, or, under another label, as a relabel."""
    t = digits_table(300)
    commit_table(prov, keypair, "v1", t, "--signer", keypair.public_path)
    copy = flip_label(t.slice(7, 1), 0) if relabel else t.slice(7, 1)
    candidate = pa.concat_tables([t, copy]).drop_columns(["px10"])
    commit_table(prov, keypair, "v2", candidate, "--signer", keypair.public_path)
    r = prov("diff", "v1", "v2", "--format", "json", "--signer", keypair.public_path)
    summary = json.loads(r.stdout)["summary"]
    assert summary["rekeyed_by"] == "content" and summary["rekeyed"] == 300
    assert summary["removed"] == 0
    assert (summary["rekeyed_relabeled"], summary["duplicates_added"]) == ((1, 1) if relabel else (0, 1))


def test_a_base_whose_data_is_gone_pairs_the_dropped_column_by_locator_and_says_why(prov, workdir, store, keypair):
    t = digits_table(300)
    commit_table(prov, keypair, "v1", t, "--signer", keypair.public_path)
    commit_table(prov, keypair, "v2", t.drop_columns(["px10"]), "--signer", keypair.public_path)
    (workdir / "v1.parquet").unlink()  # the base's records cannot be read again: paired as before, by row
    r = prov("diff", "v1", "v2", "--format", "json", "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)["summary"]
    assert summary["rekeyed_by"] == "locator" and summary["rekeyed"] == 300
    assert summary["rekeyed_note"].startswith("the records of v1 could not be read again (")
