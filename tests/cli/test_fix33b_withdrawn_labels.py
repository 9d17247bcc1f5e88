"""fix33b (attack review 32d, A32d-3, the gate's side): records registered in a withdrawn signed batch's place are
paired with that batch's signed records by value under the batch's signed column types, and a label that differs
from the one the source signed counts on ``lineage.max_relabeled_after_source``.

The clinic signs its 2024 batch with ``bp`` double (NaN gaps); the shipped file holds it as int64, gaps filled, with
14 of its 70 labels flipped (``test_attack32d_replays._clinic_2024_flipped``). Following the type-conflict advice of
session 32 before fix32j (withdraw the batch, register the file as one's own ``--unsigned``, commit), the check
passed every rule. Through the real CLI, keys and store."""

from __future__ import annotations

import json

from test_attack32d_replays import FLIPPED, _clinic_2024_flipped
from test_newcomer32_type_conflicts import PINS, _ok

from support import validate_output

RULE = "lineage.max_relabeled_after_source"
GAPS = [i for i in range(70) if i % 7 == 0]  # the 2024 rows whose bp the shipped file filled: other content


def _withdrawn_and_registered_unsigned(prov) -> dict:
    """The old advice followed word for word; ``prov check v3 --base v1``'s JSON report, its exit code added."""
    batch, _ = _clinic_2024_flipped(prov, gaps=True)
    _ok(prov, "withdraw", batch, "--reason", "gaps filled with the median", "--key", "m.key", *PINS)
    _ok(prov, "add", "a2024-filled.parquet", "--source", "clinicA-filled", "--unsigned", *PINS)
    _ok(prov, "commit", "train.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    r = prov("check", "v3", "--base", "v1", *PINS, "--no-save", "--format", "json")
    assert r.exit_code in (0, 1), r.output
    validate_output("check", json.loads(r.stdout))
    return json.loads(r.stdout) | {"exit_code": r.exit_code}


def test_labels_flipped_in_a_withdrawn_batchs_place_count_as_relabeled_after_source(prov, workdir, store):
    report = _withdrawn_and_registered_unsigned(prov)
    rule = next(x for x in report["rules"] if x["rule"] == RULE)
    assert report["exit_code"] == 1 and rule["status"] == "block", rule
    paired = [i for i in FLIPPED if i not in GAPS]  # a filled gap changed the record's content: it pairs with none
    assert rule["count"] == len(paired) == 12, rule
    record = rule["records"][0]
    assert record["source"] == "clinicA" and record["signed_label"] != record["label"], record
    assert "withdrawn batch" in record["detail"], record


def test_control_the_same_records_under_their_signed_labels_are_no_relabel(prov, workdir, store):
    # the filled file as the clinic labelled it, registered --unsigned in the withdrawn batch's place: every record
    # pairs with the batch under its signed label, so nothing counts and the check passes
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_newcomer32_type_conflicts import _clinic

    batch, _ = _clinic_2024_flipped(prov, gaps=True)
    filled = pq.read_table("a2024-filled-by-clinic.parquet")
    pq.write_table(pa.concat_tables([_clinic(200, 1, gaps=False), filled]), "train.parquet")
    _ok(prov, "withdraw", batch, "--reason", "gaps filled with the median", "--key", "m.key", *PINS)
    _ok(prov, "add", "a2024-filled-by-clinic.parquet", "--source", "clinicA-filled", "--unsigned", *PINS)
    _ok(prov, "commit", "train.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    r = prov("check", "v3", "--base", "v1", *PINS, "--no-save", "--format", "json")
    report = json.loads(r.stdout)
    rule = next(x for x in report["rules"] if x["rule"] == RULE)
    assert rule["status"] == "pass" and rule["count"] == 0, rule
    assert r.exit_code == 0, [x["rule"] for x in report["rules"] if x["status"] == "block"]


def test_the_flipped_records_signed_by_another_trusted_source_count_too(prov, workdir, store):
    # a second trusted source signs the filled file with the flips: attested by it, yet the clinic signed the content
    # under the other labels; only the clinic's own signature of the records is its correction
    batch, _ = _clinic_2024_flipped(prov, gaps=True)
    _ok(prov, "withdraw", batch, "--reason", "gaps filled with the median", "--key", "m.key", *PINS)
    _ok(prov, "keys", "generate", "crowd")
    _ok(prov, "trust", "add", "crowd", "crowd.pub", "--key", "m.key", *PINS)
    _ok(prov, "sign", "a2024-filled.parquet", "--source", "crowd", "--key", "crowd.key")
    _ok(prov, "add", "a2024-filled.parquet", "--source", "crowd", *PINS)
    _ok(prov, "commit", "train.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    r = prov("check", "v3", "--base", "v1", *PINS, "--no-save", "--format", "json")
    rule = next(x for x in json.loads(r.stdout)["rules"] if x["rule"] == RULE)
    assert r.exit_code == 1 and rule["status"] == "block" and rule["count"] == 12, rule
