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
from support import commit_table, digits_table, set_column, validate_output, words

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
    assert 300 not in flagged  # a clean added record  (the re-keyed base records are scored as changed records)


def test_a_missing_feature_column_is_named_as_a_column_not_as_a_record():
    table = pa.table({"a": [1.0, 2.0], "label": ["x", "y"]})
    with pytest.raises(FeatureError) as caught:
        NumericFeaturizer(columns=["a", "skin"]).featurize(table)
    assert str(caught.value) == "the table lacks feature column 'skin'"
    assert caught.value.records == [] and caught.value.missing_columns == ("skin",)
