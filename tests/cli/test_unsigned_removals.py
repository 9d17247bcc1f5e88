"""Removals of unsigned base records are bounded (README Known gaps: "Removals of unsigned records are
bounded by no rule"): a data writer who deletes one class's unsigned records from the next version
(to bias a model) passed every rule; only the diff's removed count showed it.
``removals.max_unsigned_removed_rate`` warns by default, blocks under ``unsigned_removed = "block"``,
and does not count what a signed ``prov quarantine`` removed on purpose."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from support import check_rules, digits_table, ok

RULE = "removals.max_unsigned_removed_rate"


def _commit(prov, table: pa.Table, tag: str, key: str, *options: str) -> None:
    pq.write_table(table, Path(f"{tag}.parquet"))
    ok(prov, "-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", key, *options)


def test_deleting_a_class_of_unsigned_records_warns(prov, store, keypair, monkeypatch):
    rows = digits_table(600)
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    _commit(prov, rows, "v1", key)
    threes = pc.equal(rows.column("label"), "3")
    n3 = int(pc.sum(threes).as_py())
    _commit(prov, rows.filter(pc.invert(threes)), "v2", key, "--parent", "v1")  # every 3 deleted, nothing added

    r = prov("check", "v2", "--base", "v1", "--format", "json")
    assert r.exit_code == 0, r.output  # warned, not blocked: the decision says so (before: "pass", no such rule)
    report = json.loads(r.stdout)
    assert report["decision"] == "warned", [(x["rule"], x["status"]) for x in report["rules"]]
    rule = {x["rule"]: x for x in report["rules"]}[RULE]
    assert rule["status"] == "warn" and rule["count"] == n3, rule
    assert f"class 3 lost {n3} of its {n3} unsigned base records (100.0%)" in rule["reason"]
    assert {x["label"] for x in rule["records"]} == {"3"} and len(rule["records"]) == 20

    Path("block.toml").write_text('[removals]\nunsigned_removed = "block"\n')
    assert check_rules(prov, "v2", "v1", "--policy", "block.toml")[RULE]["status"] == "block"
    Path("off.toml").write_text('[removals]\nunsigned_removed = "off"\n')
    assert RULE not in check_rules(prov, "v2", "v1", "--policy", "off.toml")
    Path("loose.toml").write_text("[removals]\nmax_unsigned_removed_rate = 1.0\n")
    assert check_rules(prov, "v2", "v1", "--policy", "loose.toml")[RULE]["status"] == "pass"

    # an ordinary clean delta (a few records dropped, some added) stays quiet
    more = digits_table(700).slice(600, 100)
    _commit(prov, pa.concat_tables([rows.slice(8), more]), "v3", key, "--parent", "v1")
    rule = check_rules(prov, "v3", "v1")[RULE]
    assert rule["status"] == "pass" and rule["count"] == 8, rule


def test_a_signed_quarantine_removal_is_not_counted(prov, store, keypair, monkeypatch):
    rows = digits_table(600)
    threes = pc.equal(rows.column("label"), "3").to_pylist()
    sourced = rows.append_column("source", pa.array(["crowd" if t else "vendor" for t in threes]))
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    _commit(prov, sourced, "v1", key, "--source-column", "source")
    ok(prov, "quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key)
    rule = check_rules(prov, "v2", "v1")[RULE]
    assert rule["status"] == "pass" and rule["count"] == 0, rule
