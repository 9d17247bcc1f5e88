"""An unsigned batch of a source whose key was revoked or retired, replayed in the trust world
(``support.build_trust_world``: the vendor signs with ``vendor.key``, its only key).

Newcomer review 12, finding 11: ``prov add thief --source vendorB --unsigned`` for a vendor whose only key
was revoked registered the batch without a word, while a vendor with a live key got "Warning: 'vendorA'
signs its batches". And a source whose only key was retired (``prov trust retire``) or expired no longer
counted as one that signs its batches, so its unsigned batch passed ``lineage.unsigned_from_signing_sources``:
the downgrade a holder of the old key takes once ``prov add`` refuses what that key signs after its window.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys
from support import new_records, vendor_registered_at

PINNED = ("--signer", "maintainer.pub")


def test_an_unsigned_batch_of_a_source_whose_key_was_revoked_is_warned_about(prov, template_trust, workdir):
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    r = prov("trust", "revoke", "vendor", "--key-id", vendor[:16], "--reason", "laptop stolen", "--yes")
    assert r.exit_code == 0, r.output
    new_records("thief.parquet")
    r = prov("add", "thief.parquet", "--source", "vendor", "--unsigned", *PINNED)
    assert r.exit_code == 0, r.output
    [warning] = [line for line in r.stderr.splitlines() if line.startswith("Warning: ")]  # was none
    assert f"'vendor' signs its batches, and its key {vendor[:16]} was revoked at " in warning, warning
    assert "the source must re-sign with a new key (`prov trust add vendor NEW.pub" in warning


def test_an_unsigned_batch_of_a_source_whose_only_key_was_retired_blocks(prov, template_trust, workdir):
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    at = vendor_registered_at(workdir)  # in the past: the key has expired when the thief adds
    r = prov("trust", "retire", "vendor", "--key-id", vendor[:16], "--at", at, "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 0, r.output
    new_records("thief.parquet")
    r = prov("add", "thief.parquet", "--source", "vendor", "--unsigned", *PINNED)
    assert r.exit_code == 0 and f"its key {vendor[:16]} is " in r.stderr, r.output
    v4 = pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("thief.parquet")])
    pq.write_table(v4, "v4.parquet")
    r = prov("commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 0, r.output
    r = prov("check", "v4", "--base", "v2", "--format", "json", *PINNED)
    rules = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    rule = rules["lineage.unsigned_from_signing_sources"]
    assert r.exit_code == 1 and rule["status"] == "block", rule  # was "pass": vendor no longer "signed"
    assert "40 added records from unsigned batches of sources that sign their batches (vendor)" in rule["reason"]


def test_deleting_a_signing_sources_trust_rows_does_not_lift_the_rule(prov, template_trust, workdir):
    """Attack review 14, A14-3: whoever writes .prov/ deletes the vendor's `trust` and `trust_statements` rows
    (a cache); its unsigned batch passed `lineage.unsigned_from_signing_sources`. Which sources sign comes
    from the hash-chained `trust.add` entry and the signed statement it names, verified under the pins."""
    import sqlite3

    new_records("thief.parquet")
    r = prov("add", "thief.parquet", "--source", "vendor", "--unsigned", *PINNED)
    assert r.exit_code == 0, r.output
    pq.write_table(pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("thief.parquet")]), "v4.parquet")
    r = prov("commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 0, r.output
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("delete from trust where source = 'vendor'")
        db.execute("delete from trust_statements where source = 'vendor'")
    r = prov("check", "v4", "--base", "v2", "--no-save", "--format", "json", *PINNED)
    rule = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}["lineage.unsigned_from_signing_sources"]
    assert r.exit_code == 1 and rule["status"] == "block", rule  # was "pass"
    assert "40 added records from unsigned batches of sources that sign their batches (vendor)" in rule["reason"]
