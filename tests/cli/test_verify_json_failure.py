"""``prov verify VERSION --json`` on a version that does not verify: exit 1 and, on standard output, a document a CI
job can read (schemas/verify-version.schema.json's failure shape) naming the records; it printed nothing before."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from support import digits_table, ok, validate_output


def test_a_version_whose_data_changed_prints_a_failed_document_naming_the_record(prov, workdir):
    table = digits_table(300)
    pq.write_table(table, "train.parquet")
    ok(prov, "init")
    ok(prov, "keys", "generate", "maintainer")
    pinned = ("--signer", "maintainer.pub")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v1", "--key", "maintainer.key", *pinned)
    passed = json.loads(ok(prov, "verify", "v1", "--json", *pinned))
    validate_output("verify-version", passed)
    assert passed["data"] == "ok" and "status" not in passed
    first = table.column_names[0]
    column = table.column(first).to_numpy().copy()
    column[7] = column[7] + 1  # one record edited in place after signing
    pq.write_table(table.set_column(0, first, pa.array(column)), "train.parquet")

    r = prov("verify", "v1", "--json", *pinned)
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    validate_output("verify-version", doc)
    assert doc["status"] == "failed" and doc["version"] == "v1"
    assert r.stderr.splitlines()[0] == f"Error: {doc['error']}"  # the same reason as the one line on stderr
    assert [(c["kind"], c["locator"]) for c in doc["changes"]] == [("changed", "7")] and doc["count"] == 1
    assert any("changed row 7" in line for line in doc["details"])


def test_a_version_signed_by_a_key_not_pinned_prints_a_failed_document(prov, workdir):
    pq.write_table(digits_table(120), "train.parquet")
    ok(prov, "init")
    ok(prov, "keys", "generate", "maintainer")
    ok(prov, "keys", "generate", "other")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v1", "--key", "maintainer.key", "--signer", "maintainer.pub")
    r = prov("verify", "v1", "--json", "--signer", "other.pub")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    validate_output("verify-version", doc)
    assert doc["status"] == "failed" and doc["changes"] == [] and r.stderr.splitlines()[0] == f"Error: {doc['error']}"
