"""Newcomer review 31, finding 3: an in-place edit of an unsigned record was advised as a new batch to register.

Row 230's body mass edited (5950 -> 6300) and committed: `prov status` named it "changed row 230", but `prov check`
said "1 added record from no registered batch" and advised `prov add BATCH --source S`; registering the edit as an
unsigned batch then passed every rule. The rule still blocks (nothing weakened); it now names the edit, the base
record it replaced, and offers restoring it or having the source sign the corrected batch.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from test_newcomer31_schema_advice import PINS, RULE, _penguins, penguins_v1_v2

from support import validate_output, words


def _edited(table: pa.Table, row: int, mass: int) -> pa.Table:
    i = table.column_names.index("body_mass_g")
    values = table.column("body_mass_g").to_pylist()
    values[row] = mass
    return table.set_column(i, "body_mass_g", pa.array(values, pa.int64()))


def test_an_edit_in_place_is_named_as_one_with_restore_or_sign_as_the_way_out(prov, workdir, store):
    penguins_v1_v2(prov)
    pq.write_table(_edited(_penguins(range(0, 300)), 130, 9999), "train-v3.parquet")
    assert "changed row 130" in words(prov("status", "train-v3.parquet", *PINS).stdout)  # against v2
    assert prov("commit", "train-v3.parquet", "--tag", "v3", "--key", "m.key", *PINS).exit_code == 0

    r = prov("check", "v3", "--base", "v2", *PINS, "--format", "json", "--no-save")
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    validate_output("check", report)
    (rule,) = [x for x in report["rules"] if x["rule"] == RULE]
    assert rule["status"] == "block" and rule["count"] == 1, rule  # still blocked, counted as before
    base = pq.read_table("train.parquet").slice(130, 1)
    (replaced,) = rule["statistic"]["replaced_records"]
    assert rule["statistic"]["replaced"] == 1 and replaced["locator"] == "130" and replaced["base_label"] == "Chinstrap"
    assert replaced["digest"] == rule["records"][0]["digest"] and replaced["base_digest"] != replaced["digest"]
    diff = json.loads(prov("diff", "v2", "v3", "--json", *PINS).stdout)
    assert [c["digest"] for c in diff["changes"]["removed"]] == [replaced["base_digest"]], base
    reason = rule["reason"]
    assert reason.startswith(f"1 record of v2 edited in place (row 130 (base record {replaced['base_digest'][:12]}))")
    assert "an edit, not a new delivery: restore it, or, if the edit is intended, have the source sign" in reason
    assert "prov add --unsigned" not in reason

    text = words(prov("check", "v3", "--base", "v2", *PINS, "--no-save").stdout)
    steps = text.split("To release:")[1].split(" Policy ")[0]
    assert steps.startswith(
        f" - restore the record edited in place (row 130 (base record {replaced['base_digest'][:12]})) as v2 holds "
        "it, then commit again: prov commit DATA --parent v3 --tag NEW --key K"
    ), steps
    assert "have the source sign the corrected batch" in steps and "--unsigned" not in steps

    # the first way out, followed: the record restored, the rule passes
    pq.write_table(_penguins(range(0, 300)), "train-v4.parquet")
    assert prov("commit", "train-v4.parquet", "--tag", "v4", "--key", "m.key", *PINS).exit_code == 0
    (rule,) = [
        x
        for x in json.loads(prov("check", "v4", "--base", "v2", *PINS, "--format", "json", "--no-save").stdout)["rules"]
        if x["rule"] == RULE
    ]
    assert rule["status"] == "pass", rule


def test_a_new_record_beside_no_removal_is_still_an_addition(prov, workdir, store):
    """A record added at a new row (nothing removed there) keeps the register advice: no edit to name."""
    penguins_v1_v2(prov)
    extra = _edited(_penguins(range(0, 1)), 0, 9999)
    pq.write_table(pa.concat_tables([_penguins(range(0, 300)), extra]), "train-v3.parquet")
    assert prov("commit", "train-v3.parquet", "--tag", "v3", "--key", "m.key", *PINS).exit_code == 0
    r = prov("check", "v3", "--base", "v2", *PINS, "--format", "json", "--no-save")
    (rule,) = [x for x in json.loads(r.stdout)["rules"] if x["rule"] == RULE]
    assert rule["status"] == "block" and "replaced" not in (rule.get("statistic") or {}), rule
    assert (  # the envelope form first, --unsigned for records of one's own (attack review 33a, A33a-2)
        "register intended additions with the envelope their source signed (`prov add BATCH --source S`), or, for "
        "records of your own that no source signed, with `prov add --unsigned --source NAME`"
    ) in rule["reason"]
