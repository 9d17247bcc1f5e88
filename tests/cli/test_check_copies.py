"""Exact copies of records the version already holds, counted by the gate's copies rule (newcomer
review 11, finding 13: a third of the base delivered again passed all 25 rules, `prov check` exit 0),
replayed through `prov commit` + `prov check` on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from support import commit_and_check, commit_table, digits_table, spam7_table, validate_output

NO_DETECTORS = "[detectors]\nenabled = false\n"  # the copies rule reads the diff alone: a quicker check


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def rules_of(report: dict) -> dict[str, dict]:
    return {r["rule"]: r for r in report["rules"]}


def test_a_third_of_the_base_delivered_again_blocks_and_the_headline_says_so(prov, workdir, store, keypair):
    """The newcomer's replay: 900 digits, then the same 900 plus exact copies of 300 of them. Every other
    rule passes (the per-record copy test expects one more row of each at this growth); the copies rule
    blocks, and the check's words lead with the count."""
    base = digits_table(900)
    candidate = pa.concat_tables([base, base.take(list(range(0, 900, 3)))])
    code, report = commit_and_check(prov, keypair, base, candidate)
    rules = rules_of(report)
    copies = rules["copies.max_copies_rate"]
    assert code == 1 and [r for r, x in rules.items() if x["status"] != "pass"] == ["copies.max_copies_rate"], [
        (r, x["reason"]) for r, x in rules.items() if x["status"] != "pass"
    ]
    s = copies["statistic"]
    assert (s["copies_of_base"], s["copies_of_new"], s["rows_added"], s["base_repeated_rows"]) == (300, 0, 300, 0)
    # the base repeats nothing: every copy is beyond its repetition, but for the 9 re-deliveries min_copies allows
    assert (copies["count"], copies["allowed"], s["allowed"], s["excess"]) == (291, 0, 9, 291)
    # all 300 rows added are copies: no unique row, so the total's test expects none either
    assert s["total"] == {"copies": 300, "unique_rows": 0, "expected": 0.0, "rate": 0.0, "quantile": 0}
    validate_output("check", report)
    assert len(copies["records"]) == 20
    assert copies["reason"].startswith(
        "300 exact copies of base records added (100% of the 300 rows added), 291 more than the base's repetition "
        "explains: 300 copies of records the base holds once (or new ones) where at most 9 are expected (about 0 "
    ), copies["reason"]
    assert "300 base records gain 300 extra rows" in copies["reason"]  # 300 of them, one copy each
    text = prov("check", "cand", "--base", "base")
    head = " ".join(text.stdout.split("Policy default")[0].split())  # the lines above the policy, unwrapped
    assert text.exit_code == 1 and head.startswith(
        "prov check cand --base base: BLOCKED by 1 of 29 rules: copies.max_copies_rate "
        "300 exact copies of base records added, 291 more than a delivery of 300 rows repeats the base's "
        "records (copies.max_copies_rate)."
    ), text.stdout

    # a vendor known to re-deliver: the policy warns instead, or raises the rate
    Path("warn.toml").write_text('[copies]\ncopies_added = "warn"\n')
    warned = prov("check", "cand", "--base", "base", "--policy", "warn.toml", "--format", "json")
    assert warned.exit_code == 0 and json.loads(warned.stdout)["decision"] == "warned"
    assert rules_of(json.loads(warned.stdout))["copies.max_copies_rate"]["status"] == "warn"
    Path("raised.toml").write_text("[copies]\nmax_copies_rate = 1.0\n")
    raised = prov("check", "cand", "--base", "base", "--policy", "raised.toml", "--format", "json")
    assert raised.exit_code == 0 and json.loads(raised.stdout)["decision"] == "pass", raised.stdout


def check_without_detectors(prov, keypair, base: pa.Table, candidate: pa.Table) -> dict:
    """Commit ``base`` and ``candidate`` (tags base, cand) and check with the detectors off; the copies rule's result."""
    for tag, table in (("base", base), ("cand", candidate)):
        commit_table(prov, keypair, tag, table)
    Path("policy.toml").write_text(NO_DETECTORS)
    r = prov("check", "cand", "--base", "base", "--policy", "policy.toml", "--format", "json")
    report = json.loads(r.stdout)
    assert r.exit_code == {"blocked": 1}.get(report["decision"], 0), r.output
    return rules_of(report)["copies.max_copies_rate"]


def test_copies_of_new_records_count_too(prov, workdir, store, keypair):
    """150 new records, each delivered twice: 150 copies of new records in 300 rows added."""
    t = digits_table()
    base, new = t.slice(0, 900), t.slice(900, 150)
    copies = check_without_detectors(prov, keypair, base, pa.concat_tables([base, new, new]))
    assert copies["status"] == "block", copies
    assert (copies["statistic"]["copies_of_base"], copies["statistic"]["copies_of_new"]) == (0, 150)
    assert copies["statistic"]["headline"] == "150 exact copies of new records added"


@pytest.mark.parametrize("base_repeats", [0, 90])
def test_the_base_own_repetition_is_allowed_for(prov, workdir, store, keypair, base_repeats):
    """300 new records and 30 copies of base records held once. Where the base never repeats a record, 30
    copies are 21 over the 9 min_copies allows; where 90 of its 900 rows repeat one (data that repeats:
    rounded readings), a delivery may repeat records held once about as often (Good-Turing: twice the
    share of records held twice, 66 of 330 rows expected)."""
    t = digits_table()
    distinct = t.slice(0, 900 - base_repeats)
    base = pa.concat_tables([distinct, distinct.take(pa.array(range(base_repeats), pa.int64()))])
    candidate = pa.concat_tables([base, t.slice(900, 300), base.take(list(range(100, 130)))])
    copies = check_without_detectors(prov, keypair, base, candidate)
    s = copies["statistic"]
    assert s["copies_of_base"] == 30 and s["base_repeated_rows"] == base_repeats
    assert s["base_repeated_records"] == base_repeats
    held_once = s["classes"][0]
    assert (held_once["held"], held_once["copies"], held_once["expected"]) == ("1", 30, 66.0 if base_repeats else 0)
    assert (copies["status"], copies["count"]) == (("block", 21) if base_repeats == 0 else ("pass", 0)), copies


def test_one_record_held_many_times_does_not_open_the_allowance_to_every_record(prov, workdir, store, keypair):
    """Attack review 12, C12-2: a base that holds one record 150 times (an empty record, an accepted flood)
    counted as 149 repeated rows, which lifted the allowance to 215 copies of ANY base record, so 210
    copies of 210 distinct base records (a re-delivery) passed. The allowance counts repeated records:
    that record's rows are expected to bring copies of records held about as often (its class), and the
    re-delivery of records held once blocks as it does on a base without it."""
    t = digits_table()
    distinct = t.slice(0, 900)
    base = pa.concat_tables([distinct, distinct.take(pa.array([0] * 149, pa.int64()))])
    candidate = pa.concat_tables([base, distinct.take(list(range(100, 310)))])
    copies = check_without_detectors(prov, keypair, base, candidate)
    s = copies["statistic"]
    assert (s["base_repeated_rows"], s["base_repeated_records"], s["copies_of_base"]) == (149, 1, 210), s
    assert copies["status"] == "block" and copies["count"] == 210 - 9, copies
    assert [(c["held"], c["copies"], c["quantile"]) for c in s["classes"]][:2] == [("1", 210, 0), ("2", 0, 0)], s


def test_the_reason_counts_base_records_and_their_extra_rows_apart(prov, workdir, store, keypair):
    """30 copies of 10 base records (3 each): the reason said "30 of the base's 900 rows now count twice or
    more", rows where it meant copies; it now names the 10 records and their 30 extra rows."""
    base = digits_table(900)
    candidate = pa.concat_tables([base, *[base.take(list(range(100, 110)))] * 3])
    copies = check_without_detectors(prov, keypair, base, candidate)
    assert copies["status"] == "block" and copies["count"] == 30 - 9, copies
    assert "; 10 base records gain 30 extra rows:" in copies["reason"], copies["reason"]


def most_repeated(table: pa.Table) -> tuple[int, int]:
    """``(index, rows)``: the first row of the record ``table`` holds most often, and how many rows it has."""
    keys = [tuple(r.values()) for r in table.to_pylist()]
    counts: dict[tuple, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    top = max(counts, key=lambda k: counts[k])
    return keys.index(top), counts[top]


def test_a_clean_batch_of_data_that_repeats_passes_the_copies_rule(prov, workdir, store, keypair):
    """spam7 repeats its common e-mails in every batch (the first 2,000 rows hold 44 rows of one record): 400
    more rows bring over 100 copies of base records, a third of the batch. The old allowance (one share for all
    copies, counted on records held twice) blocked 12 of 12 such clean random batches
    (bench/results/gate-pass-rate-random-spam7-12-seed1.md before session 22); per class of how often the base
    holds each copied record, each class at the base's own rate, the rule passes."""
    base = spam7_table(slice(0, 2000))
    copies = check_without_detectors(prov, keypair, base, pa.concat_tables([base, spam7_table(slice(2000, 2400))]))
    s = copies["statistic"]
    assert copies["status"] == "pass" and copies["count"] == 0 and s["excess"] == 0, copies
    assert s["copies_of_base"] > 100 and len(s["classes"]) >= 6, s
    assert all(c["copies"] <= c["quantile"] + (s["allowed"] if not c["class"] else 0) for c in s["classes"]), s


def test_a_five_percent_flood_of_the_most_repeated_record_blocks(prov, workdir, store, keypair):
    """The same clean batch with 20 rows (5%) more, copies of the record the base repeats most (44 rows of
    2,000, so about 9 copies are expected in 420 rows): an attacker who hides in the base's own repetition.
    Its class (records held 33-64 times) goes over its quantile and the rule blocks; the slack for
    re-delivery applies only to records held once."""
    base = spam7_table(slice(0, 2000))
    top, held = most_repeated(base)
    assert held == 44
    flood = base.take([top] * 20)
    copies = check_without_detectors(
        prov, keypair, base, pa.concat_tables([base, spam7_table(slice(2000, 2400)), flood])
    )
    assert copies["status"] == "block" and copies["count"] > 0, copies
    assert "copies of records the base holds 33-64 times where at most" in copies["reason"], copies["reason"]


def test_a_five_percent_flood_of_one_new_record_on_data_that_repeats_blocks(prov, workdir, store, keypair):
    """dos_exact_duplicates on spam7: one new record sent 20 times. Its 19 extra rows fit the copies of records
    held once that the base's repetition explains, but not the per-record copy test (a new record gains about
    0.2 extra rows here): `detectors.extreme` blocks it."""
    base = spam7_table(slice(0, 2000))
    batch = spam7_table(slice(2000, 2400))
    held = {tuple(r.values()) for r in base.to_pylist()}
    new = batch.take([next(i for i, r in enumerate(batch.to_pylist()) if tuple(r.values()) not in held)])
    code, report = commit_and_check(prov, keypair, base, pa.concat_tables([base, batch, new, *[new] * 19]))
    blocking = [r["rule"] for r in report["rules"] if r["status"] == "block"]
    assert code == 1 and "detectors.extreme" in blocking, blocking
    extreme = rules_of(report)["detectors.extreme"]
    assert "extra exact copies added" in json.dumps(extreme["records"]), extreme


def test_a_clean_batch_of_data_that_repeats_passes_the_whole_default_gate(prov, workdir, store, keypair):
    """The same clean spam7 batch through every default rule. spam7 holds some feature rows under both labels
    (the same word counts in spam and in plain e-mail): such a content is two delta records with one digest.
    `duplicates` counted the other label's record as a near copy on top of the distance-0 neighbour it already
    is, which the base's own twins never get, so 54 of 365 clean records were "beyond every reference record"
    and `detectors.combined` and `detectors.relabels` blocked. Counted once, the batch passes."""
    base = spam7_table(slice(0, 2000))
    code, report = commit_and_check(prov, keypair, base, pa.concat_tables([base, spam7_table(slice(2000, 2400))]))
    assert code == 0 and report["decision"] == "pass", [
        (r["rule"], r["reason"]) for r in report["rules"] if r["status"] != "pass"
    ]
    shared = [f for f in report["findings"] if "exact copies elsewhere in the delta" in f["explanation"]]
    assert len(report["findings"]) <= 10 and not shared, [f["explanation"] for f in report["findings"]]
