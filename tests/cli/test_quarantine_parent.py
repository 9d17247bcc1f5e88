"""A candidate cut from a version before a source quarantine still meets the quarantine (attack review 7, finding 1).

v1 (the last release) holds crowd's 60 flipped records; v2 is the signed ``prov quarantine
--source crowd`` of v1. A ``.prov/`` writer bumped ``versions.audit_seq`` of v1 so that the
maintainer's next plain ``prov commit`` took v1 as parent, then put the row back (the audit
log was never touched). crowd's records came back as ``scrape``; the quarantine rule walked
only the signed ancestry of the candidate and the base, never saw v2, and the release passed.
Now the default parent comes from the hash-chained audit log, and the rule takes every
source quarantine whose signature verifies under the pins, wherever it sits (a side branch
cut with ``--parent v1`` blocks too); a checkpointed quarantine whose version is gone fails closed.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from provenance.errors import VerificationError
from provenance.gate.quarantine_history import VersionDigests, source_quarantines
from provenance.trust.pins import Pins
from support import digits_table, ok, one_line, store_fingerprint, with_source

RULE = "lineage.block_quarantined_sources"


def _flipped(table: pa.Table) -> pa.Table:
    labels = pc.cast(pc.add(pc.cast(table.column("label"), pa.int64()), 1), pa.string())
    labels = pc.utf8_slice_codeunits(pc.binary_join_element_wise(pa.scalar("0"), labels, ""), -1)  # (y + 1) % 10
    return table.set_column(table.schema.get_field_index("label"), "label", labels)


def _quarantined_then_back(prov, keypair, monkeypatch) -> str:
    """v1: 400 vendor and 60 flipped crowd records; v2: v1 quarantined of crowd; then b.parquet, crowd's
    rows back as an unsigned batch of scrape, is written and added. Returns the maintainer's key."""
    rows = digits_table(460)
    vendor, crowd = with_source(rows.slice(0, 400), "vendor"), _flipped(rows.slice(400, 60))
    pq.write_table(pa.concat_tables([vendor, with_source(crowd, "crowd")]), Path("a.parquet"))
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    ok(prov, "-q", "commit", "a.parquet", "--source-column", "source", "--tag", "v1", "--key", key)
    ok(prov, "-q", "quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key)
    scrape = with_source(crowd, "scrape")
    pq.write_table(scrape, Path("scrape.parquet"))
    pq.write_table(pa.concat_tables([vendor, scrape]), Path("b.parquet"))
    ok(prov, "-q", "add", "scrape.parquet", "--source", "scrape", "--source-column", "source", "--unsigned")
    return key


def _sql(statement: str) -> None:
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute(statement)
    db.close()


def _blocked_by_quarantine(prov) -> None:
    r = prov("check", "v3", "--base", "v1", "--format", "json")
    rules = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    assert r.exit_code == 1 and rules[RULE]["status"] == "block" and rules[RULE]["count"] == 60, rules[RULE]
    assert {x["detail"] for x in rules[RULE]["records"]} == {
        "removed by v2, the signed quarantine of source crowd from v1"
    }


def test_audit_seq_steering_the_default_parent_past_a_quarantine_blocks(prov, store, keypair, monkeypatch):
    key = _quarantined_then_back(prov, keypair, monkeypatch)
    (seq,) = sqlite3.connect(".prov/prov.db").execute("select audit_seq from versions where tag = 'v1'").fetchone()
    _sql("update versions set audit_seq = (select max(audit_seq) + 1 from versions) where tag = 'v1'")
    out = ok(prov, "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--key", key)
    assert "parent v2," in out, out  # was "parent v1": the writable row chose it
    _sql(f"update versions set audit_seq = {seq} where tag = 'v1'")
    _blocked_by_quarantine(prov)  # exit 0, rule count 0, before the fix


def test_a_side_branch_from_before_the_quarantine_blocks_and_warns(prov, store, keypair, monkeypatch):
    key = _quarantined_then_back(prov, keypair, monkeypatch)
    r = prov("commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v1", "--key", key)
    assert r.exit_code == 0, r.output
    _blocked_by_quarantine(prov)  # the quarantine v2 is in neither v3's nor v1's signed ancestry: passed before
    # one prefix, no markdown (newcomer review 9, finding 10: "Note: warning: ... `prov check` ...")
    assert "Note: parent v1 is not the newest version (v2); 'prov check' still applies" in r.stderr, r.stderr
    assert "Note: warning:" not in r.stderr and "`" not in r.stderr
    # with the newest as parent there is nothing to warn about
    r = prov("commit", "b.parquet", "--source-column", "source", "--tag", "v4", "--parent", "v3", "--key", key)
    assert r.exit_code == 0 and "not the newest version" not in r.stderr, r.output


def test_a_checkpointed_quarantine_whose_version_is_gone_fails_closed(prov, store, keypair, monkeypatch):
    key = _quarantined_then_back(prov, keypair, monkeypatch)
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v1", "--key", key)
    _sql("delete from versions where tag = 'v2'")  # a .prov/ writer drops the quarantine version's row
    r = prov("check", "v3", "--base", "v1", "--format", "json")
    assert r.exit_code == 1, r.output  # integrity.verify_signatures: v2's commit entry has no version
    # the quarantine history itself fails closed too (it silently had no quarantine before)
    store.pins = Pins.load([keypair.public_path])
    with pytest.raises(VerificationError, match="v2: a signed audit checkpoint covers its quarantine"):
        source_quarantines(store, ["v3", "v1"], VersionDigests(store))


@pytest.mark.parametrize(
    "hide", ["delete from versions where tag = 'v2'", "update versions set tag = 'v2x' where tag = 'v2'"]
)
def test_a_hidden_newest_version_fails_the_default_parent_closed(prov, store, keypair, monkeypatch, hide):
    """Attack review 7b, finding 4: a ``.prov/`` writer hides the quarantine v2's row (deleted or renamed)
    while the maintainer runs a plain ``prov commit``; the newest commit entry then had no row,
    and the parent silently became v1. Now the commit fails closed naming v2, and writes nothing."""
    key = _quarantined_then_back(prov, keypair, monkeypatch)
    _sql(hide)
    before = store_fingerprint(Path("."))
    r = prov("commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--key", key)
    assert r.exit_code == 1, r.output  # exit 0 with "parent v1" before the fix
    assert one_line(r).startswith("Error: version v2: the newest commit in the audit log"), r.output
    assert "--parent" in one_line(r), r.output
    assert store_fingerprint(Path(".")) == before
    # an explicit --parent is the maintainer's choice: it commits, warning that v2 is the newest version
    r = prov("commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v1", "--key", key)
    assert r.exit_code == 0 and "parent v1 is not the newest version (v2)" in r.stderr, r.output


def test_a_newest_version_that_does_not_verify_fails_the_default_parent_closed(prov, store, keypair, monkeypatch):
    key = _quarantined_then_back(prov, keypair, monkeypatch)
    # v2's row now points at v1's envelope: the row is there, its signature no longer matches it
    _sql(
        "update versions set envelope_object = (select envelope_object from versions where tag = 'v1') where tag = 'v2'"
    )
    r = prov("commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--key", key)
    assert r.exit_code == 1, r.output  # exit 0 with "parent v2" before: the default parent was never verified
    assert one_line(r).startswith("Error: version v2: the newest commit in the audit log"), r.output


def _drop_the_checkpoint_over_v2() -> None:
    """A ``.prov/`` writer deletes the checkpoint the quarantine signed at its end, the only signature over
    v2's commit entry (v2's own signed head is the log just before it): that entry becomes pending."""
    _sql("delete from checkpoints where size = (select max(size) from checkpoints)")


def test_a_quarantine_whose_checkpoint_is_deleted_is_still_the_default_parent(prov, store, keypair, monkeypatch):
    """The quarantine's entries pending, the commit is refused (the checkpoint it signs would cover them: attack
    review 26e, A26e-5), never made on v1; once the maintainer signs the log knowingly, v2 is the parent."""
    key = _quarantined_then_back(prov, keypair, monkeypatch)
    _drop_the_checkpoint_over_v2()
    before = store_fingerprint(Path("."))
    r = prov("commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--key", key)
    assert r.exit_code == 1 and "version v2's commit entry" in one_line(r), r.output
    assert store_fingerprint(Path(".")) == before
    ok(prov, "audit", "checkpoint", "--key", key)
    out = ok(prov, "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--key", key)
    assert "parent v2," in out, out  # "parent v1" before: the default was the newest *covered* commit entry


def test_a_deleted_checkpoint_and_row_fail_the_default_parent_closed(prov, store, keypair, monkeypatch):
    key = _quarantined_then_back(prov, keypair, monkeypatch)
    _drop_the_checkpoint_over_v2()
    _sql("delete from versions where tag = 'v2'")
    r = prov("commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--key", key)
    assert r.exit_code == 1, r.output  # exit 0 with "parent v1" before
    assert one_line(r).startswith("Error: version v2: the newest commit in the audit log (entry"), r.output


def test_a_planted_copy_of_an_old_commit_entry_fails_the_default_parent_closed(prov, store, keypair, monkeypatch):
    """A ``.prov/`` writer appends, correctly chained, a copy of v1's commit entry: the newest commit entry
    then names v1, whose row verifies. A version is committed once, so the copy fails closed."""
    key = _quarantined_then_back(prov, keypair, monkeypatch)
    from provenance.store import Store

    writer = Store.open()  # prov's own code, as any .prov/ writer may run it
    (detail,) = writer.db.execute("select detail from audit where action = 'commit' and subject = 'v1'").fetchone()
    with writer.write():
        writer.audit("commit", "v1", json.loads(detail))
    writer.close()
    r = prov("commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--key", key)
    assert r.exit_code == 1, r.output
    line = one_line(r)
    assert line.startswith("Error: version v1: the newest commit in the audit log") and "one was planted" in line


def test_a_named_parent_whose_row_was_altered_is_refused(prov, store, keypair, monkeypatch):
    """``--parent v2`` chained to whatever v2's row said: with its Merkle root altered, the new version signed a
    parent root v2 never had (its history then failed every check, long after the commit said it was fine)."""
    key = _quarantined_then_back(prov, keypair, monkeypatch)
    _sql("update versions set merkle_root = '" + "ab" * 32 + "' where tag = 'v2'")
    before = store_fingerprint(Path("."))
    r = prov("commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    assert r.exit_code == 1, r.output  # exit 0 before
    assert (
        one_line(r)
        == "Error: version v2: the parent does not verify: signed Merkle root differs from the version record"
    )
    assert store_fingerprint(Path(".")) == before
