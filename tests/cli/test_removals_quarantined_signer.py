"""A source's signed copies do not hide a deletion from both removal rules (attack review 7, finding 3, script
e_removals_dodge_quarantined_signer.sh, and its variant with a source that is not quarantined).

crowd (its own valid key, trusted, then quarantined but not revoked) signs copies of the base's class-3
vendor records, which no one signed; the data writer then deletes class 3. ``removals.max_unsigned_removed_rate``
counted a record as signed when any batch verifying under the pins carried it, quarantined sources' too, while
``lineage.signed_batches_incomplete`` leaves those batches out: the deletion passed both, even set to "block".
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from support import digits_table, ok

RULE = "removals.max_unsigned_removed_rate"


def _sourced(rows: pa.Table, source: str) -> pa.Table:
    return rows.append_column("source", pa.array([source] * rows.num_rows))


def _class_deletion_blocks(prov, new: str, base: str, n3: int, policy: str) -> None:
    """``prov check NEW --base BASE`` under ``policy`` (TOML text) blocks on the rule: class 3 lost all its ``n3``."""
    Path("strict.toml").write_text(policy)
    r = prov("check", new, "--base", base, "--policy", "strict.toml", "--format", "json")
    assert r.exit_code == 1, r.output
    rule = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}[RULE]
    assert rule["status"] == "block" and rule["count"] == n3, rule
    assert f"class 3 lost {n3} of its {n3} unsigned base records" in rule["reason"]


def _crowd_signed_and_quarantined(prov, key: str, vendor: pa.Table, crowd: pa.Table) -> None:
    """crowd signs ``crowd`` with its own key; v1 = ``vendor`` + it is committed and crowd quarantined as v2."""
    pq.write_table(crowd, "crowd.parquet")
    ok(prov, "sign", "crowd.parquet", "--source", "crowd", "--key", "crowdkey.key", "--source-column", "source")
    ok(prov, "-q", "add", "crowd.parquet", "--source", "crowd", "--source-column", "source")
    pq.write_table(pa.concat_tables([vendor, crowd]), "v1.parquet")
    ok(prov, "-q", "commit", "v1.parquet", "--source-column", "source", "--tag", "v1", "--key", key)
    ok(prov, "quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key)


def test_a_quarantined_signers_copies_do_not_hide_a_deletion(prov, store, keypair, monkeypatch):
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    ok(prov, "keys", "generate", "crowdkey")
    ok(prov, "trust", "add", "crowd", "crowdkey.pub", "--key", key)
    rows = digits_table(460)
    vendor = _sourced(rows.slice(0, 400), "vendor")
    flipped = [str((int(y) + 1) % 10) for y in rows.column("label").to_pylist()[400:]]
    crowd = _sourced(
        rows.slice(400).set_column(rows.schema.get_field_index("label"), "label", pa.array(flipped)), "crowd"
    )
    _crowd_signed_and_quarantined(prov, key, vendor, crowd)

    threes = pc.equal(vendor.column("label"), "3")
    n3 = int(pc.sum(threes).as_py())
    copies = vendor.filter(threes).set_column(
        vendor.schema.get_field_index("source"), "source", pa.array(["crowd"] * n3)
    )
    pq.write_table(copies, "copies.parquet")  # crowd signs copies of the base's unsigned class-3 records
    ok(prov, "sign", "copies.parquet", "--source", "crowd", "--key", "crowdkey.key", "--source-column", "source")
    ok(prov, "-q", "add", "copies.parquet", "--source", "crowd", "--source-column", "source")
    pq.write_table(vendor.filter(pc.invert(threes)), "no3.parquet")  # the data writer deletes class 3
    ok(prov, "-q", "commit", "no3.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)

    # it used to exit 0: "no unsigned base records removed"
    strict = '[removals]\nunsigned_removed = "block"\n[lineage]\nsigned_batches_incomplete = "block"\n'
    _class_deletion_blocks(prov, "v3", "v2", n3, strict)
    r = prov("check", "v3", "--base", "v2", "--format", "json")  # default policy: warned, not a silent pass
    assert r.exit_code == 0 and json.loads(r.stdout)["decision"] == "warned", r.output


def test_a_quarantined_sources_flood_does_not_dilute_a_class_deletion(prov, store, keypair, monkeypatch):
    """Attack review 7b, finding 2 (script a_denominator_dilution.sh): crowd floods class 3 with signed near
    copies and is quarantined; the data writer then deletes every vendor class-3 record. Checked against the
    release that still held the flood, the quarantine's removals left the numerator but not the class total:
    "42 of its 465 (9.0%)", a pass under a blocking policy."""
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    ok(prov, "keys", "generate", "crowdkey")
    ok(prov, "trust", "add", "crowd", "crowdkey.pub", "--key", key)
    rows = digits_table()
    vendor = _sourced(rows.slice(0, 400), "vendor")
    later = rows.slice(400)
    threes = later.filter(pc.equal(later.column("label"), "3"))
    px00 = threes.schema.get_field_index("px00")
    flood = pa.concat_tables([threes.set_column(px00, "px00", pc.add(threes.column("px00"), k + 20)) for k in range(3)])
    crowd = _sourced(flood, "crowd")
    _crowd_signed_and_quarantined(prov, key, vendor, crowd)
    mine = pc.equal(vendor.column("label"), "3")
    n3 = int(pc.sum(mine).as_py())
    assert crowd.num_rows > 9 * n3  # enough to dilute the rate under 10%
    pq.write_table(vendor.filter(pc.invert(mine)), "no3.parquet")  # the data writer deletes vendor's class 3
    ok(prov, "-q", "commit", "no3.parquet", "--source-column", "source", "--tag", "v3", "--key", key)

    # it exited 0: "class 3 lost 42 of its 465 unsigned base records (9.0%)"
    _class_deletion_blocks(prov, "v3", "v1", n3, '[removals]\nunsigned_removed = "block"\n')


def test_a_copying_signer_does_not_take_a_deletion_out_of_the_removal_rule(prov, store, keypair, monkeypatch):
    """The variant left open: lab (its own valid key, trusted, never quarantined) signs copies of the base's
    class-3 records after the base, which no one had signed; the data writer deletes class 3. The rule counted a
    record as signed when any trusted batch carried it now, so the deletion moved to
    ``lineage.signed_batches_incomplete`` under lab's batch, which warns by default. "Unsigned" is now judged from
    the base version's own signed lineage."""
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

    # it exited 0: "no unsigned base records removed"
    _class_deletion_blocks(prov, "v2", "v1", n3, '[removals]\nunsigned_removed = "block"\n')
