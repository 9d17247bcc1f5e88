"""What `prov check --format json` and SARIF list of a rule's records (newcomer review 10, finding 19).

The check JSON listed at most 20 records per rule and said nothing; SARIF took a flagged record's
``ruleId`` from those capped lists (20 results under ``detectors.extreme`` where 42 records were
extreme) and dropped waived records. Now ``detectors.extreme`` lists every record it blocks, every
rule says ``records_truncated``, and a waived record is a SARIF result with ``suppressions``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from jsonschema import Draft202012Validator

from support import commit_table, digits_table, validate_sarif

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "check.schema.json").read_text())
N_FAR = 30  # more than the 20 a rule used to list


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def far_records(t: pa.Table) -> pa.Table:
    """``N_FAR`` distinct records far outside the digits (pixels 0..16): every pixel 60 + row number."""
    far = t.slice(1200, N_FAR)
    for name in (c for c in t.schema.names if c.startswith("px")):
        far = far.set_column(
            far.schema.get_field_index(name),
            name,
            pa.array([60 + i for i in range(N_FAR)], far.schema.field(name).type),
        )
    return far


def test_check_json_and_sarif_list_every_extreme_record_and_the_waived_one(prov, workdir, store, keypair):
    t = digits_table()
    commit_table(prov, keypair, "v1", t.slice(0, 1000))
    far = far_records(t)
    commit_table(prov, keypair, "v2", pa.concat_tables([t.slice(0, 1000), t.slice(1000, 60), far]))
    report = json.loads(prov("check", "v2", "--base", "v1", "--format", "json").stdout)
    rules = {x["rule"]: x for x in report["rules"]}
    extreme = rules["detectors.extreme"]
    assert extreme["status"] == "block" and extreme["count"] >= N_FAR, extreme["reason"]
    assert len(extreme["records"]) == extreme["count"] and extreme["records_truncated"] is False  # was 20
    waived = extreme["records"][0]["digest"]
    r = prov("waive", waived[:16], "--version", "v2", "--detector", "combined", "--reason", "checked: a sensor test",
             "--key", keypair.private_path)  # fmt: skip
    assert r.exit_code == 0, r.output

    r = prov("check", "v2", "--base", "v1", "--format", "json", "--out", "check.json")
    report = json.loads(Path("check.json").read_text())
    Draft202012Validator(SCHEMA).validate(report)
    rules = {x["rule"]: x for x in report["rules"]}
    extreme = {rec["digest"] for rec in rules["detectors.extreme"]["records"]}
    assert len(extreme) == rules["detectors.extreme"]["count"] and waived not in extreme
    assert all(
        x["records_truncated"] == (x["status"] != "pass" and len(x["records"]) < x["count"]) for x in rules.values()
    )
    [honoured] = report["waivers"]["honoured"]
    assert (honoured["effect"], honoured["rule"], honoured["location"]["path"]) == (
        "waived",
        "detectors.extreme",
        "v2.parquet",
    )

    assert prov("report", "check.json", "--format", "sarif", "--out", "check.sarif").exit_code == 0
    sarif = json.loads(Path("check.sarif").read_text())
    validate_sarif(sarif)
    results = sarif["runs"][0]["results"]
    per_record = [x for x in results if "recordRow/v1" in x.get("partialFingerprints", {})]
    open_extreme = {
        x["properties"]["digest"] for x in per_record if x["ruleId"] == "detectors.extreme" and "suppressions" not in x
    }
    assert open_extreme == extreme  # every extreme record under its rule, not the first 20
    [suppressed] = [x for x in per_record if "suppressions" in x]
    assert suppressed["properties"]["digest"] == waived
    assert suppressed["ruleId"] == "detectors.extreme"
    assert suppressed["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "checked: a sensor test"}
    ]
