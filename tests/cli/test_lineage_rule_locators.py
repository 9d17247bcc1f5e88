"""Newcomer review 12, finding 6: a lineage rule named the records it blocks by digest only, so a reviewer
could not find the row (or, in a tree, the file to move back). Each listed record now carries its
locator and location, read from the signed manifest, and the text report says where it is."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from support import ok

PINNED = ("--signer", "maintainer.pub")


def test_a_relabel_after_source_is_named_with_its_row(prov, template_trust, workdir):
    v2 = pq.read_table("v2.parquet")
    labels = v2.column("label").to_pylist()
    rows = [1000, 1003]  # two of the vendor's signed records (v2 = v1's 1000 + the vendor's 600)
    for i in rows:
        labels[i] = str((int(labels[i]) + 1) % 10)
    pq.write_table(v2.set_column(v2.column_names.index("label"), "label", pa.array(labels)), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    r = prov("check", "v4", "--base", "v2", "--policy", "policy.toml", "--format", "json", *PINNED)
    rule = next(x for x in json.loads(r.stdout)["rules"] if x["rule"] == "lineage.max_relabeled_after_source")
    assert rule["status"] == "block" and rule["count"] == 2, rule
    assert sorted(rec["location"]["row"] for rec in rule["records"]) == rows  # was: no locator at all
    assert all(rec["location"]["path"] == "v4.parquet" and rec["locator"] for rec in rule["records"])
    text = prov("check", "v4", "--base", "v2", "--policy", "policy.toml", *PINNED).stdout
    assert all(f"at row {i}" in " ".join(text.split()) for i in rows), text
