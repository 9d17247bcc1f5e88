"""A source cut out with ``prov quarantine --source`` by the data's source column may not come back
through that column (newcomer review 6, item 1): the gate's quarantine and forbidden-source rules
count a record's source column as the version signed it, not only its registered batch."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from support import digits_table


def _with_sources(table: pa.Table, sources: list[str]) -> pa.Table:
    return table.append_column("source", pa.array(sources, pa.string()))


def test_a_quarantined_source_column_coming_back_blocks(prov, store, keypair, monkeypatch):
    rows = digits_table(460)
    crowd, scraper = rows.slice(0, 400), rows.slice(400, 60)
    base = _with_sources(crowd, ["crowd"] * 400)
    grown = pa.concat_tables([base, _with_sources(scraper, ["scraper"] * 60)])
    pq.write_table(base, Path("a.parquet"))
    pq.write_table(grown, Path("b.parquet"))
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    for data, tag in (("a.parquet", "v1"), ("b.parquet", "v2")):
        r = prov("-q", "commit", data, "--source-column", "source", "--tag", tag, "--key", key)
        assert r.exit_code == 0, r.output
    r = prov("quarantine", "--from", "v2", "--source", "scraper", "--tag", "v3", "--key", key)
    assert r.exit_code == 0 and "60 records removed" in r.output, r.output
    r = prov("check", "v3", "--base", "v1")
    assert r.exit_code == 0, r.output  # the quarantined version itself is clean

    # the scraper's rows come back in the next version's data, under their own source column
    r = prov("-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v4", "--parent", "v3", "--key", key)
    assert r.exit_code == 0, r.output
    r = prov("check", "v4", "--base", "v3", "--format", "json")
    assert r.exit_code == 1, r.output
    rule = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}["lineage.block_quarantined_sources"]
    assert rule["status"] == "block" and rule["count"] == 60
    assert {rec["source"] for rec in rule["records"]} == {"scraper"}

    # the same through a policy's forbidden_sources, on a version that was never quarantined
    Path("policy.toml").write_text('[lineage]\nforbidden_sources = ["scraper"]\n')
    r = prov("check", "v2", "--base", "v1", "--policy", "policy.toml", "--format", "json")
    assert r.exit_code == 1, r.output
    rule = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}["lineage.forbidden_sources"]
    assert rule["status"] == "block" and rule["count"] == 60
