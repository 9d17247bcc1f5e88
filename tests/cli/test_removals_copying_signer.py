"""A trusted source that signs copies of base records it did not deliver does not take their deletion out of
``removals.max_unsigned_removed_rate`` (attack review 7, finding 3, the variant left open).

lab (its own valid key, trusted, never quarantined) signs copies of the base's class-3 records after the base,
which no one had signed; the data writer then deletes class 3. The removal rule counted a record as signed
when any trusted batch carried it now, so the deletion moved to ``lineage.signed_batches_incomplete`` under
lab's batch, which warns by default. "Unsigned" is now judged from the base version's own signed lineage.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from support import digits_table, ok

RULE = "removals.max_unsigned_removed_rate"


def test_a_copying_signer_does_not_take_a_deletion_out_of_the_removal_rule(prov, store, keypair, monkeypatch):
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    rows = digits_table(400)
    vendor = rows.append_column("source", pa.array(["vendor"] * rows.num_rows))
    pq.write_table(vendor, "v1.parquet")
    ok(prov, "-q", "commit", "v1.parquet", "--source-column", "source", "--tag", "v1", "--key", key)

    threes = pc.equal(vendor.column("label"), "3")
    n3 = int(pc.sum(threes).as_py())
    copies = vendor.filter(threes).set_column(vendor.schema.get_field_index("source"), "source", pa.array(["lab"] * n3))
    pq.write_table(copies, "copies.parquet")  # lab signs copies of the base's unsigned class-3 records
    ok(prov, "keys", "generate", "labkey")
    ok(prov, "trust", "add", "lab", "labkey.pub", "--key", key)
    ok(prov, "sign", "copies.parquet", "--source", "lab", "--key", "labkey.key", "--source-column", "source")
    ok(prov, "-q", "add", "copies.parquet", "--source", "lab", "--source-column", "source")
    pq.write_table(vendor.filter(pc.invert(threes)), "no3.parquet")  # the data writer deletes class 3
    ok(prov, "-q", "commit", "no3.parquet", "--source-column", "source", "--tag", "v2", "--parent", "v1", "--key", key)

    Path("strict.toml").write_text('[removals]\nunsigned_removed = "block"\n')
    r = prov("check", "v2", "--base", "v1", "--policy", "strict.toml", "--format", "json")
    assert r.exit_code == 1, r.output  # it exited 0: "no unsigned base records removed"
    rule = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}[RULE]
    assert rule["status"] == "block" and rule["count"] == n3, rule
    assert f"class 3 lost {n3} of its {n3} unsigned base records" in rule["reason"]
