"""Exact copies of records the version already holds, counted by the gate's copies rule (newcomer
review 11, finding 13: a third of the base delivered again passed all 25 rules, `prov check` exit 0),
replayed through `prov commit` + `prov check` on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import commit_and_check, digits_table

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
    assert copies["count"] == 300 and copies["allowed"] == 9 and len(copies["records"]) == 20
    assert copies["reason"].startswith("300 exact copies of base records added: 100% of the 300 rows added")
    assert "300 base records gain 300 extra rows" in copies["reason"]  # 300 of them, one copy each
    text = prov("check", "cand", "--base", "base")
    head = " ".join(text.stdout.split("Policy default")[0].split())  # the lines above the policy, unwrapped
    assert text.exit_code == 1 and head.startswith(
        "prov check cand --base base: BLOCKED by 1 of 27 rules: copies.max_copies_rate "
        "300 exact copies of base records added, more than the 9 a delivery of 300 rows may carry "
        "(copies.max_copies_rate)."
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
        pq.write_table(table, f"{tag}.parquet")
        r = prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path)
        assert r.exit_code == 0, r.output
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
    """300 new records and 30 copies of base records. Where the base never repeats a record, 30 copies
    are over the 9 allowed; where 90 of its 900 rows repeat one (data that repeats: rounded readings),
    a delivery may repeat base records about as often (twice that share, plus the rate: 72 of 330)."""
    t = digits_table()
    distinct = t.slice(0, 900 - base_repeats)
    base = pa.concat_tables([distinct, distinct.take(pa.array(range(base_repeats), pa.int64()))])
    candidate = pa.concat_tables([base, t.slice(900, 300), base.take(list(range(100, 130)))])
    copies = check_without_detectors(prov, keypair, base, candidate)
    assert copies["count"] == 30 and copies["statistic"]["base_repeated_rows"] == base_repeats
    assert copies["statistic"]["base_repeated_records"] == base_repeats
    assert (copies["status"], copies["allowed"]) == (("block", 9) if base_repeats == 0 else ("pass", 72)), copies


def test_one_record_held_many_times_does_not_open_the_allowance_to_every_record(prov, workdir, store, keypair):
    """Attack review 12, C12-2: a base that holds one record 150 times (an empty record, an accepted flood)
    counted as 149 repeated rows, which lifted the allowance to 215 copies of ANY base record, so 210
    copies of 210 distinct base records (a re-delivery) passed. The allowance counts repeated records:
    that one record is one, and the re-delivery blocks as it does on a base without it."""
    t = digits_table()
    distinct = t.slice(0, 900)
    base = pa.concat_tables([distinct, distinct.take(pa.array([0] * 149, pa.int64()))])
    candidate = pa.concat_tables([base, distinct.take(list(range(100, 310)))])
    copies = check_without_detectors(prov, keypair, base, candidate)
    s = copies["statistic"]
    assert (s["base_repeated_rows"], s["base_repeated_records"], s["copies_of_base"]) == (149, 1, 210), s
    assert copies["status"] == "block" and copies["allowed"] == 9, copies


def test_the_reason_counts_base_records_and_their_extra_rows_apart(prov, workdir, store, keypair):
    """30 copies of 10 base records (3 each): the reason said "30 of the base's 900 rows now count twice or
    more", rows where it meant copies; it now names the 10 records and their 30 extra rows."""
    base = digits_table(900)
    candidate = pa.concat_tables([base, *[base.take(list(range(100, 110)))] * 3])
    copies = check_without_detectors(prov, keypair, base, candidate)
    assert copies["status"] == "block" and copies["count"] == 30, copies
    assert "; 10 base records gain 30 extra rows:" in copies["reason"], copies["reason"]
