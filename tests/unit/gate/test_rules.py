"""Every rule of the release policy, blocking and passing, on real stores (see conftest.py)."""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.detectors.registry import available_detectors
from provenance.gate import class_mix, detection, relabel_rate, rules, rules_lineage
from support import crashing_detector

N_CROWD = 150
RELABELED_BASE = 30


def only(rule, ctx):
    results = rule.evaluate(ctx)
    assert len(results) == 1 and results[0].rule == rule.name
    return results[0]


# --- integrity -------------------------------------------------------------------------


def test_verify_signatures_passes_an_untouched_store_and_blocks_a_rewritten_audit_log(gate_world, copy_world):
    assert only(rules.VerifySignatures(), gate_world.context("clean")).status == "pass"
    world = copy_world()
    con = sqlite3.connect(world.root / ".prov" / "prov.db")
    con.execute("update audit set detail = '{}' where seq = (select min(seq) from audit where action = 'trust.add')")
    con.commit()
    con.close()
    result = only(rules.VerifySignatures(), world.context("clean"))
    assert result.status == "block" and "audit" in result.reason


def test_verify_data_blocks_a_record_changed_after_commit_and_names_it(gate_world, copy_world):
    assert only(rules.VerifyData(), gate_world.context("clean")).status == "pass"
    world = copy_world()
    t = pq.read_table(world.root / "clean.parquet")
    px = t.column("px33").to_pylist()
    px[5] = 16 - px[5]
    pq.write_table(t.set_column(t.schema.get_field_index("px33"), "px33", pa.array(px)), world.root / "clean.parquet")
    result = only(rules.VerifyData(), world.context("clean"))
    assert result.status == "block" and result.count >= 1 and result.records
    assert "no longer matches its signed manifest" in result.reason


# --- lineage ---------------------------------------------------------------------------


def test_max_relabeled_after_source_names_the_record_its_vendor_signed_otherwise(gate_world):
    blocked = only(rules_lineage.MaxRelabeledAfterSource(0), gate_world.context("relabeled"))
    assert blocked.status == "block" and blocked.count == 1
    record = blocked.records[0]
    assert record["source"] == "vendor" and record["signed_label"] != record["label"]
    assert only(rules_lineage.MaxRelabeledAfterSource(1), gate_world.context("relabeled")).status == "pass"
    assert only(rules_lineage.MaxRelabeledAfterSource(0), gate_world.context("clean")).status == "pass"


def test_max_unattributed_counts_records_no_signed_batch_carries(gate_world):
    ctx = gate_world.context("clean")  # v1's records were committed without a signed batch
    blocked = only(rules_lineage.MaxUnattributed(10), ctx)
    assert blocked.status == "block" and blocked.count == gate_world.n_base and len(blocked.records) == 20
    assert only(rules_lineage.MaxUnattributed(gate_world.n_base), ctx).status == "pass"
    unbounded = only(rules_lineage.MaxUnattributed(None), ctx)
    assert unbounded.status == "pass" and unbounded.count == gate_world.n_base and "no bound set" in unbounded.reason


def test_max_unattributed_fraction_bounds_the_share_of_the_version(gate_world):
    ctx = gate_world.context("clean")  # 60% unattributed
    assert only(rules_lineage.MaxUnattributedFraction(0.5), ctx).status == "block"
    assert only(rules_lineage.MaxUnattributedFraction(0.7), ctx).status == "pass"


def test_max_unsigned_additions_names_the_unsigned_records_not_the_signed_ones(gate_world):
    blocked = only(rules_lineage.MaxUnsignedAdditions(0), gate_world.context("crowd"))
    assert blocked.status == "block" and blocked.count == N_CROWD
    assert blocked.records and {r["source"] for r in blocked.records} == {"crowd"}
    assert only(rules_lineage.MaxUnsignedAdditions(N_CROWD), gate_world.context("crowd")).status == "pass"
    assert (
        only(rules_lineage.MaxUnsignedAdditions(0), gate_world.context("clean")).status == "pass"
    )  # the vendor signed


def test_forbidden_sources_block_their_records(gate_world):
    blocked = only(rules_lineage.ForbiddenSources(["crowd"]), gate_world.context("crowd"))
    assert blocked.status == "block" and blocked.count == N_CROWD and blocked.records[0]["source"] == "crowd"
    assert only(rules_lineage.ForbiddenSources(["crowd"]), gate_world.context("clean")).status == "pass"
    assert rules_lineage.ForbiddenSources.from_settings({"lineage": {"forbidden_sources": []}}) is None


def test_a_quarantined_source_may_not_come_back(gate_world):
    blocked = only(rules_lineage.BlockQuarantinedSources(), gate_world.context("crowd"))
    assert blocked.status == "block" and blocked.count == N_CROWD and "quarantined" in blocked.reason
    assert only(rules_lineage.BlockQuarantinedSources(), gate_world.context("crowd-q")).status == "pass"


def test_no_quarantine_no_block(profileless):
    result = only(rules_lineage.BlockQuarantinedSources(), profileless.context("s2", "s1"))
    assert result.status == "pass" and result.reason == "no source has been quarantined"


# --- relabels and class mix ------------------------------------------------------------


def test_max_relabel_rate_per_source_blocks_the_source_above_it(gate_world):
    ctx = gate_world.context("relabeled")  # 30 of v1's 1,078 records relabeled: 2.8%
    blocked = only(relabel_rate.MaxRelabelRatePerSource(0.01), ctx)
    assert blocked.status == "block" and blocked.count == RELABELED_BASE and "allowed 1.0%" in blocked.reason
    assert len(blocked.records) == 20
    assert only(relabel_rate.MaxRelabelRatePerSource(0.05), ctx).status == "pass"


def test_max_relabels_bounds_relabels_from_all_sources(gate_world):
    blocked = only(rules.MaxRelabels(5), gate_world.context("relabeled"))
    assert blocked.status == "block" and blocked.count == RELABELED_BASE
    assert only(rules.MaxRelabels(RELABELED_BASE), gate_world.context("relabeled")).status == "pass"


def test_class_mix_blocks_a_flood_of_one_class_not_a_faithful_sample(gate_world):
    blocked = only(class_mix.MinClassMixPValue(1e-6), gate_world.context("crowd"))
    assert blocked.status == "block" and blocked.statistic["p_value"] < 1e-6
    assert blocked.statistic["test"].startswith("chi-square test of homogeneity")
    assert only(class_mix.MinClassMixPValue(1e-6), gate_world.context("clean")).status == "pass"
    assert only(class_mix.MinClassMixPValue(0.0), gate_world.context("crowd")).status == "pass"


# --- detectors -------------------------------------------------------------------------


def test_detectors_run_passes_and_reports_what_was_scored(gate_world):
    result = only(detection.DetectorsRun(["knn_label"], 0.01), gate_world.context("clean"))
    assert result.status == "pass" and "1 detector scored" in result.reason


def test_detectors_run_blocks_when_the_delta_is_not_the_signed_records(copy_world):
    world = copy_world()
    t = pq.read_table(world.root / "clean.parquet")
    px = t.column("px20").to_pylist()
    px[world.n_base + 1] = 16 - px[world.n_base + 1]  # an added record, changed after commit
    pq.write_table(t.set_column(t.schema.get_field_index("px20"), "px20", pa.array(px)), world.root / "clean.parquet")
    result = only(detection.DetectorsRun(["knn_label"], 0.01), world.context("clean"))
    assert result.status == "block" and result.reason.startswith("detectors refused the delta")


def test_detectors_run_is_an_error_without_a_reference_profile(profileless):
    result = only(detection.DetectorsRun(["knn_label"], 0.01), profileless.context("s2", "s1"))
    assert result.status == "error" and "no reference profile" in result.reason


def test_the_combined_verdict_blocks_beyond_its_budget_naming_the_records(gate_world):
    ctx = gate_world.context("outlier")
    blocked = only(detection.CombinedFlagBudget(["outlier", "knn_label"], 0.01, 0.001, max_flagged=0), ctx)
    assert blocked.status == "block" and blocked.count > 0 and blocked.statistic["allowed"] == 0
    assert all(r["detector"] == "combined" and 0 <= r["score"] <= 1 for r in blocked.records)
    scores = [r["score"] for r in blocked.records]
    assert scores == sorted(scores, reverse=True)


def test_a_clean_delta_stays_within_the_combined_budget(gate_world):
    rule = detection.CombinedFlagBudget(["outlier", "knn_label"], 0.01, 0.001)
    result = only(rule, gate_world.context("clean"))
    assert result.status == "pass" and result.count <= result.statistic["allowed"]
    assert result.statistic["p_value"] > 0.001 and result.statistic["beyond_p_value"] > 0.001
    assert result.statistic["beyond_reference"] <= result.statistic["beyond_allowed"]


def test_the_combined_budget_allows_for_the_drift_between_the_bases_own_batches(gate_world):
    from provenance.detectors.budget import flag_budget

    ctx = gate_world.context("clean")
    result = only(detection.CombinedFlagBudget(["outlier", "knn_label"], 0.01, 0.001), ctx)
    verdicts = ctx.detection_run.detection.verdicts
    assert len(verdicts.reference_batch_sizes) == len(verdicts.reference_batch_flags) > 1
    expected = flag_budget(
        len(verdicts.records),
        0.01,
        0.001,
        verdicts.reference_size,
        verdicts.reference_batch_sizes,
        verdicts.reference_batch_flags,
    )
    assert result.statistic["allowed"] == expected.flags and result.statistic["rho"] == expected.rho
    assert result.statistic["test"] == ("beta-binomial" if expected.rho > 0 else "binomial")
    # "beyond" is judged against the reference without its most extreme pseudo-batch
    assert 0 < result.statistic["beyond_reference_size"] == verdicts.beyond_size < verdicts.reference_size
    left_out = result.statistic["beyond_left_out_batch"]
    assert left_out == verdicts.beyond_left_out and 0 <= left_out < len(verdicts.reference_batch_sizes)
    assert f"pseudo-batch {left_out + 1} of" in result.reason


def test_a_record_far_outside_the_base_blocks_whatever_the_budget(gate_world):
    rule = detection.ExtremeRecords(available_detectors(), 0.01, 0.01)
    blocked = only(rule, gate_world.context("outlier"))
    assert blocked.status == "block" and blocked.count >= 1
    assert all(r["extreme_p"] <= blocked.statistic["p_threshold"] for r in blocked.records)
    assert only(rule, gate_world.context("clean")).status == "pass"


def test_each_required_detector_must_run(gate_world):
    ran = only(detection.DetectorRan("knn_label", ["knn_label"], 0.01), gate_world.context("clean"))
    assert ran.status == "pass" and "; flags alone " in ran.reason
    with crashing_detector("out of memory") as name:
        result = only(detection.DetectorRan(name, [name], 0.01), gate_world.context("clean"))
    assert result.status == "error" and "out of memory" in result.reason
    missing = detection.DetectorRan("not-installed", [], 0.01, installed=False)
    result = only(missing, gate_world.context("clean"))
    assert result.status == "error" and "required by the policy but not installed" in result.reason


@pytest.mark.parametrize("enabled", [True, False])
def test_the_detector_rules_follow_enabled_and_run(enabled):
    built = detection.rules({"detectors": {"enabled": enabled, "run": ["knn_label", "not-installed"]}})
    if not enabled:
        assert built is None
    else:
        assert built.name == (
            "all_of(detectors.not-installed, after_run(detectors.run, all_of(detectors.knn_label), "
            "all_of(detectors.combined, detectors.extreme, detectors.drift, detectors.scaling, detectors.relabels)))"
        )
        off = detection.rules({"detectors": {"run": ["knn_label"], "relabel_scan": False}})
        assert "detectors.relabels" not in off.name  # [detectors] relabel_scan = false leaves the rule out
