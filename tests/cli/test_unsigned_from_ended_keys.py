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
import pytest

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


def _unsigned_batch_in_v4(prov, source: str = "vendor") -> dict:
    """An unsigned batch registered under ``source``, committed as v4 on v2 (with ``vendor``: the A14-3
    setup, the signing vendor's name). Returns the rules of `prov check v4 --base v2` on the honest store."""
    new_records("thief.parquet")
    r = prov("add", "thief.parquet", "--source", source, "--unsigned", *PINNED)
    assert r.exit_code == 0, r.output
    pq.write_table(pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("thief.parquet")]), "v4.parquet")
    r = prov("commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 0, r.output
    return _rules(prov)


def _rules(prov) -> dict:
    r = prov("check", "v4", "--base", "v2", "--no-save", "--format", "json", *PINNED)
    assert r.exit_code in (0, 1), r.output
    return {x["rule"]: x for x in json.loads(r.stdout)["rules"]}


def _statement_file(workdir, source: str):
    import sqlite3

    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        [(oid,)] = db.execute("select object from trust_statements where source = ?", [source]).fetchall()
    [path] = (workdir / ".prov" / "objects").glob(f"{oid}.*")
    return path


def _delete_trust_rows(workdir, source: str) -> None:
    import sqlite3

    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("delete from trust where source = ?", [source])
        db.execute("delete from trust_statements where source = ?", [source])


BLOCKS_VENDOR = "40 added records from unsigned batches of sources that sign their batches (vendor)"


def test_deleting_a_signing_sources_trust_rows_does_not_lift_the_rule(prov, template_trust, workdir):
    """Attack review 14, A14-3: whoever writes .prov/ deletes the vendor's `trust` and `trust_statements` rows
    (a cache); its unsigned batch passed `lineage.unsigned_from_signing_sources`. Which sources sign comes
    from the hash-chained `trust.add` entry and the signed statement it names, verified under the pins."""
    honest = _unsigned_batch_in_v4(prov)
    assert honest["integrity.verify_signatures"]["status"] == "pass", honest["integrity.verify_signatures"]
    _delete_trust_rows(workdir, "vendor")
    rule = _rules(prov)["lineage.unsigned_from_signing_sources"]
    assert rule["status"] == "block", rule  # was "pass"
    assert BLOCKS_VENDOR in rule["reason"]


@pytest.mark.parametrize("damage", ["deleted", "altered"])
def test_deleting_the_signed_trust_statement_too_does_not_lift_the_rule(prov, template_trust, workdir, damage):
    """Attack review 14b, A14b-1 (`a14b_trust_rows_and_object.sh`, MODE=both): the rows deleted and the signed
    statement's object file removed (or its bytes changed). The `trust.add` entry skipped an object that was
    missing or did not verify, so the rule passed, and integrity.verify_signatures passed without a word. The
    entry now counts its source unless its statement verifies and names another source or key."""
    honest = _unsigned_batch_in_v4(prov)
    assert honest["lineage.unsigned_from_signing_sources"]["status"] == "block"
    statement = _statement_file(workdir, "vendor")
    _delete_trust_rows(workdir, "vendor")
    if damage == "deleted":
        statement.unlink()
    else:
        statement.write_bytes(statement.read_bytes() + b"\n")  # the same envelope, but no longer its name's bytes
    rules = _rules(prov)
    rule = rules["lineage.unsigned_from_signing_sources"]
    assert rule["status"] == "block", rule  # was "pass: ... 40 came in declared unsigned batches"
    assert BLOCKS_VENDOR in rule["reason"]
    integrity = rules["integrity.verify_signatures"]  # was "pass", saying nothing of the damage
    reason = " ".join(integrity["reason"].split())
    assert integrity["status"] == "warn", integrity
    assert "(trust.add of 'vendor')" in reason and statement.name.split(".")[0][:16] in reason, reason
    assert ("is missing from the store" if damage == "deleted" else "was altered") in reason, reason


def test_a_trust_entry_without_a_signed_statement_adds_no_signing_source(prov, template_trust, workdir):
    """`prov trust add --unsigned` writes a `trust.add` entry with no statement: verifiers who pin keys ignore
    it, so it must not make its source one that signs (a crowd source's unsigned batches keep passing)."""
    r = prov("trust", "add", "crowd", "attacker.pub", "--unsigned", *PINNED)
    assert r.exit_code == 0, r.output
    rules = _unsigned_batch_in_v4(prov, "crowd")
    assert rules["lineage.unsigned_from_signing_sources"]["status"] == "pass", rules
    assert rules["integrity.verify_signatures"]["status"] == "pass", rules["integrity.verify_signatures"]
