"""The gate as a whole: the policy's rules composed, evaluated and reported as one decision."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from provenance.errors import InputError
from provenance.gate import gate, policy
from provenance.gate.base import AllOf

CHECK_SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "schemas" / "check.schema.json").read_text())


def settings(**sections) -> policy.Policy:
    values = policy.defaults()
    for section, overrides in sections.items():
        values[section].update(overrides)
    return policy.Policy(values, "test.toml")


def test_the_default_policy_rules_in_report_order():
    names = policy.rule_set(settings(detectors={"enabled": False})).name
    assert names == (
        "requires(integrity.verify_signatures, all_of(integrity.verify_data, lineage.max_relabeled_after_source, "
        "lineage.max_conflicting_signed_labels, "
        "lineage.max_unattributed, lineage.max_unsigned_additions, lineage.unsigned_from_signing_sources, "
        "lineage.unattributed_beside_signed, lineage.signed_batches_incomplete, "
        "lineage.block_quarantined_sources, removals.max_unsigned_removed_rate, copies.max_copies_rate, "
        "relabels.max_relabel_rate_per_source, relabels.max_relabels, relabels.max_relabels_of_others_records, "
        "class_mix.min_p_value))"
    )


def test_an_empty_rule_set_is_could_not_evaluate(gate_world):
    result = gate.evaluate(gate_world.context("clean"), AllOf([]), policy.default_policy())
    assert result.decision == "error" and result.exit_code == 3
    assert [(r.rule, r.status) for r in result.rules] == [("policy", "error")]
    Draft202012Validator(CHECK_SCHEMA).validate(result.to_dict())


def test_a_relabeled_version_is_blocked_by_the_lineage_and_relabel_rules(gate_world):
    pol = settings(detectors={"enabled": False}, integrity={"verify_data": False})
    result = gate.check(gate_world.store(), "relabeled", "v1", pol)
    assert result.decision == "blocked" and result.exit_code == 1
    blocked = {r.rule for r in result.rules if r.status == "block"}
    assert blocked == {"lineage.max_relabeled_after_source"}
    assert result.summary["relabeled"] == 30 and result.detectors == [] and result.findings == []
    report = result.to_dict()
    assert report["policy"] == {"path": "test.toml", "digest": pol.digest}
    Draft202012Validator(CHECK_SCHEMA).validate(report)


def test_when_signatures_fail_nothing_else_is_evaluated(copy_world):
    world = copy_world()
    con = sqlite3.connect(world.root / ".prov" / "prov.db")
    con.execute("update audit set subject = 'someone' where action = 'trust.add'")
    con.commit()
    con.close()
    result = gate.check(world.store(), "clean", "v1")
    assert result.decision == "blocked"
    assert [(r.rule, r.status) for r in result.rules] == [("integrity.verify_signatures", "block")]
    assert result.summary == {} and result.waivers == {"honoured": [], "ignored": []}


def test_detector_rows_and_findings_come_with_the_combined_budget(gate_world):
    pol = settings(detectors={"run": ["outlier", "knn_label"]}, integrity={"verify_data": False})
    result = gate.check(gate_world.store(), "outlier", "v1", pol)
    rows = {row["detector"]: row for row in result.detectors}
    assert set(rows) == {"outlier", "knn_label", "combined"} and rows["knn_label"]["allowed"] is None
    combined = next(r for r in result.rules if r.rule == "detectors.combined")
    assert rows["combined"]["allowed"] == combined.statistic["allowed"]
    assert rows["combined"]["flagged"] == len(result.findings) > 0
    extreme = next(r for r in result.rules if r.rule == "detectors.extreme")
    assert extreme.status == "block" and result.decision == "blocked"
    Draft202012Validator(CHECK_SCHEMA).validate(result.to_dict())


def test_bad_arguments_are_input_errors_before_anything_is_evaluated(gate_world, tmp_path):
    store = gate_world.store()
    with pytest.raises(InputError, match="the base must be another version"):
        gate.check(store, "clean", "clean")
    with pytest.raises(InputError):
        gate.check(store, "clean", "no-such-version")
    (tmp_path / "waivers.json").write_text("not json")
    with pytest.raises(InputError, match="cannot read waivers"):
        gate.check(store, "clean", "v1", waiver_files=[str(tmp_path / "waivers.json")])
