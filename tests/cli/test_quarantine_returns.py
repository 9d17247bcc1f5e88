"""A quarantined source's records may not come back under another name (attack review 6b, finding 1).

``prov quarantine --source crowd`` cut crowd's records in a signed version. A data writer
re-adds the same records (same content digests) in a later candidate, declared as an
unsigned batch of ``scrape`` with ``scrape`` in the data's source column: the quarantine
rule found a quarantined source's records only by batch or source column, so the release
passed. It now also blocks every record a signed source quarantine in the history removed,
recomputed from the signed manifests; a record a trusted signed batch of another source
attests is that source's and passes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provenance.gate.quarantine_history import registered_before
from provenance.store import audit
from support import check_rules, digits_table, ok, with_source

RULE = "lineage.block_quarantined_sources"


def _crowd_quarantined(prov, keypair, monkeypatch) -> tuple[pa.Table, pa.Table, str]:
    """v1: 400 vendor and 60 crowd records (by the data's source column); v2: v1 quarantined of crowd.
    Returns the vendor rows (with their source column), crowd's rows (without one) and the maintainer's key."""
    rows = digits_table(460)
    vendor, crowd = with_source(rows.slice(0, 400), "vendor"), rows.slice(400, 60)
    pq.write_table(pa.concat_tables([vendor, with_source(crowd, "crowd")]), Path("a.parquet"))
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    ok(prov, "-q", "commit", "a.parquet", "--source-column", "source", "--tag", "v1", "--key", key)
    out = ok(prov, "quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key)
    assert "60 records removed" in out, out
    return vendor, crowd, key


def test_quarantined_records_back_under_another_source_block(prov, store, keypair, monkeypatch):
    vendor, crowd, key = _crowd_quarantined(prov, keypair, monkeypatch)
    assert check_rules(prov, "v2", "v1")[RULE]["status"] == "pass"

    # the writer puts crowd's very rows back, tagged scrape, and declares them an unsigned batch of scrape
    scrape = with_source(crowd, "scrape")
    pq.write_table(scrape, Path("scrape.parquet"))
    pq.write_table(pa.concat_tables([vendor, scrape]), Path("b.parquet"))
    ok(prov, "-q", "add", "scrape.parquet", "--source", "scrape", "--source-column", "source", "--unsigned")
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    rule = check_rules(prov, "v3", "v2")[RULE]
    assert rule["status"] == "block" and rule["count"] == 60, rule  # passed (count 0) before the fix
    assert "60 of them removed by a signed `prov quarantine --source`" in rule["reason"]
    assert {r["source"] for r in rule["records"]} == {"scrape"}
    assert {r["detail"] for r in rule["records"]} == {"removed by v2, the signed quarantine of source crowd from v1"}

    # also against a base from before the quarantine: the quarantine is in the candidate's signed history
    rule = check_rules(prov, "v3", "v1")[RULE]
    assert rule["status"] == "block" and rule["count"] == 60, rule

    # it is the one rule that blocks: before the fix the release passed (exit 0) and could be attested
    r = prov("check", "v3", "--base", "v2", "--format", "json")
    assert r.exit_code == 1 and [x["rule"] for x in json.loads(r.stdout)["rules"] if x["status"] == "block"] == [RULE]


def _trusted_batch(prov, key: str, table: pa.Table, name: str, source: str) -> None:
    """``source`` (a new key the maintainer trusts) signs ``table`` at source as ``name``.parquet; it is registered."""
    pq.write_table(table, Path(f"{name}.parquet"))
    ok(prov, "keys", "generate", f"{source}key")
    ok(prov, "sign", f"{name}.parquet", "--source", source, "--key", f"{source}key.key", "--source-column", "source")
    ok(prov, "trust", "add", source, f"{source}key.pub", "--key", key)
    ok(prov, "-q", "add", f"{name}.parquet", "--source", source, "--source-column", "source")


def test_a_second_trusted_source_signing_removed_records_after_the_quarantine_does_not_bring_them_back(
    prov, store, keypair, monkeypatch
):
    """Attack review 7b, finding 1: lab, a second source with its own valid key, signs 20 of crowd's quarantined
    records after the quarantine; the rule let a removed record back when a trusted source not quarantined
    attested it, so the release passed. Only batches registered before the quarantine (by the audit log its
    signed head fixes) vouch for a removed record now."""
    vendor, crowd, key = _crowd_quarantined(prov, keypair, monkeypatch)
    back = with_source(crowd.slice(0, 20), "lab")
    _trusted_batch(prov, key, back, "lab", "lab")
    pq.write_table(pa.concat_tables([vendor, back]), Path("b.parquet"))
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    rule = check_rules(prov, "v3", "v2")[RULE]
    assert rule["status"] == "block" and rule["count"] == 20, rule  # passed (count 0) before the fix
    assert {r["source"] for r in rule["records"]} == {"lab"}
    assert {r["detail"] for r in rule["records"]} == {
        "removed by v2, the signed quarantine of source crowd from v1; signed by a batch registered after it"
    }
    r = prov("check", "v3", "--base", "v2", "--format", "json")
    assert r.exit_code == 1 and [x["rule"] for x in json.loads(r.stdout)["rules"] if x["status"] == "block"] == [RULE]

    # what a `.prov/` writer can reorder: the log, re-chained with lab's registration before the quarantine.
    # The quarantine signed the head it was made on, which is then in no intact chain: no batch counts as before
    log, head = _log_and_head(store, "v2")
    (lab,) = [e for e in log if e["action"] == "batch.add"]
    assert lab["subject"] not in registered_before(log, head)
    at = next(i for i, e in enumerate(log) if e["action"] == "quarantine")
    moved = [e for e in log if e is not lab]
    moved.insert(at, lab)
    prev = "0" * 64
    for seq, entry in enumerate(moved, 1):
        entry.update(seq=seq, prev_hash=prev)
        entry["hash"] = prev = hashlib.sha256(audit.entry_bytes(entry)).hexdigest()
    assert registered_before(moved, head) == frozenset()


def _log_and_head(store, tag: str) -> tuple[list[dict], str]:
    """The store's audit entries, and the audit-log head version ``tag`` signed."""
    from provenance.version_facts import verified_statement

    return audit.entries(store.db), verified_statement(store, store.version(tag))["predicate"]["auditLogHead"]


def test_a_removed_record_a_source_signed_before_the_quarantine_may_come_back(prov, store, keypair, monkeypatch):
    """The honest case the exemption is for: the vendor signed 20 records before the quarantine; crowd's copies of
    them with flipped labels were cut with crowd (a flipped copy of another source's record is the quarantined
    source's). The vendor's own records, with the labels it signed, come back and pass."""
    rows = digits_table(480)
    vendor, crowd = with_source(rows.slice(0, 400), "vendor"), rows.slice(400, 60)
    own = with_source(rows.slice(460, 20), "vendor")
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    _trusted_batch(prov, key, pa.concat_tables([vendor, own]), "vendor", "vendor")
    flipped = own.set_column(own.schema.get_field_index("label"), "label", pa.array(["x"] * 20))
    crowd_rows = pa.concat_tables([with_source(crowd, "crowd"), with_source(flipped.drop(["source"]), "crowd")])
    pq.write_table(pa.concat_tables([vendor, crowd_rows]), Path("a.parquet"))
    ok(prov, "-q", "commit", "a.parquet", "--source-column", "source", "--tag", "v1", "--key", key)
    out = ok(prov, "quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key)
    assert "80 records removed" in out, out
    pq.write_table(pa.concat_tables([vendor, own]), Path("b.parquet"))
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    rule = check_rules(prov, "v3", "v2")[RULE]
    assert rule["status"] == "pass" and rule["count"] == 0, rule
    assert [e["subject"] for e in audit.entries(store.db) if e["action"] == "batch.add"] == list(
        registered_before(*_log_and_head(store, "v2"))
    )


def test_records_a_source_quarantine_kept_do_not_block_it(prov, store, keypair, monkeypatch):
    """Attack review 7, finding 5: a data writer tags 6 of the vendor's signed records `crowd` in the unhashed source
    column; `prov quarantine --source crowd` keeps them as the vendor's (its batch was registered before), but the
    rule read the column and blocked the quarantine version itself. Signed lineage now decides whose they are. A
    batch registered after the quarantine does not vouch that way: records it signs tagged `crowd` still block."""
    rows = digits_table(490)
    vendor, crowd = with_source(rows.slice(0, 400), "vendor"), with_source(rows.slice(400, 60), "crowd")
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    _trusted_batch(prov, key, vendor, "vendor", "vendor")
    retagged = vendor.set_column(
        vendor.schema.get_field_index("source"), "source", pa.array(["crowd"] * 6 + ["vendor"] * 394)
    )
    pq.write_table(pa.concat_tables([retagged, crowd]), Path("a.parquet"))
    ok(prov, "-q", "commit", "a.parquet", "--source-column", "source", "--tag", "v1", "--key", key)
    r = prov("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key)
    assert r.exit_code == 0 and "60 records removed" in r.output and "kept 6 records signed by vendor" in r.output
    rule = check_rules(prov, "v2", "v1")[RULE]
    assert rule["status"] == "pass" and rule["count"] == 0, rule  # blocked 6 before the fix
    assert prov("check", "v2", "--base", "v1").exit_code == 0

    late = with_source(rows.slice(460, 10), "lab")
    _trusted_batch(prov, key, late, "lab", "lab")
    tagged = with_source(late.drop(["source"]), "crowd")
    pq.write_table(pa.concat_tables([retagged, tagged]), Path("b.parquet"))
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    rule = check_rules(prov, "v3", "v2")[RULE]
    assert rule["status"] == "block" and rule["count"] == 10, rule


def test_near_copies_of_quarantined_records_block(prov, store, keypair, monkeypatch):
    """Attack review 7, finding 2: crowd's quarantined records come back as scrape, each nudged by one pixel: new
    content, so the digest match missed them and only the detectors judged them. A delta record closer to a
    removed record than the base's two closest records are to each other is now a copy of it and blocks; honest
    new records are not that close."""
    vendor, crowd, key = _crowd_quarantined(prov, keypair, monkeypatch)
    nudged = crowd.set_column(crowd.schema.get_field_index("px10"), "px10", pc.add(crowd.column("px10"), 1))
    honest = digits_table(520).slice(460, 60)
    scrape = with_source(pa.concat_tables([nudged, honest]), "scrape")
    pq.write_table(scrape, Path("scrape.parquet"))
    pq.write_table(pa.concat_tables([vendor, scrape]), Path("b.parquet"))
    ok(prov, "-q", "add", "scrape.parquet", "--source", "scrape", "--source-column", "source", "--unsigned")
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    rule = check_rules(prov, "v3", "v2")[RULE]
    assert rule["status"] == "block" and rule["count"] == 60, rule  # passed (count 0) before: new digests
    assert "60 of them near copies of records a signed quarantine removed" in rule["reason"], rule
    assert all("removed by v2, the signed quarantine of source crowd from v1" in r["detail"] for r in rule["records"])

    # the removed records are the rows the quarantine kept in the store: the parent's data may go
    # (tests/cli/test_quarantine_near.py: kept rows altered or missing)
    Path("a.parquet").rename("moved.parquet")
    assert check_rules(prov, "v3", "v2")[RULE]["count"] == 60


def test_label_flipped_copies_of_signed_records_go_with_the_source_that_delivered_them(
    prov, store, keypair, monkeypatch
):
    """Attack review 8b, B3 (r3_relabel_returns.py): crowd's delivery held 3 of the vendor's signed records with
    flipped labels. Lineage gives such a row to the vendor (relabeled after source), so `prov quarantine --source
    crowd` kept it; it can only be cut as a row, the signed original staying. Now the quarantine cuts those rows,
    and the rule blocks them when they come back under another name (matched by digest and label)."""
    rows = digits_table(460)
    vendor, crowd = rows.slice(0, 400), rows.slice(400, 60)
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    pq.write_table(vendor, Path("vendor.parquet"))
    ok(prov, "keys", "generate", "vendorkey")
    ok(prov, "sign", "vendor.parquet", "--source", "vendor", "--key", "vendorkey.key")
    ok(prov, "trust", "add", "vendor", "vendorkey.pub", "--key", key)
    ok(prov, "-q", "add", "vendor.parquet", "--source", "vendor")
    own = vendor.slice(0, 3)
    flipped = own.set_column(
        own.schema.get_field_index("label"),
        "label",
        pa.array([str((int(v) + 1) % 10) for v in own["label"].to_pylist()]),
    )
    pq.write_table(pa.concat_tables([crowd, flipped]), Path("crowd.parquet"))
    ok(prov, "-q", "add", "crowd.parquet", "--source", "crowd", "--unsigned")
    pq.write_table(pa.concat_tables([vendor, crowd, flipped]), Path("a.parquet"))
    ok(prov, "-q", "commit", "a.parquet", "--tag", "v1", "--key", key)
    r = prov("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key)
    assert r.exit_code == 0 and "63 records removed, 400 kept" in r.stdout, r.output  # 60, 403 before: they stayed
    assert "cut 3 label-flipped copies of another source's signed records that crowd delivered" in r.stderr, r.output

    pq.write_table(flipped, Path("scrape.parquet"))
    ok(prov, "-q", "add", "scrape.parquet", "--source", "scrape", "--unsigned")
    pq.write_table(pa.concat_tables([vendor, flipped]), Path("b.parquet"))
    ok(prov, "-q", "commit", "b.parquet", "--tag", "v3", "--parent", "v2", "--key", key)
    rule = check_rules(prov, "v3", "v2")[RULE]
    assert rule["status"] == "block" and rule["count"] == 3, rule
    assert "3 of them removed by a signed `prov quarantine --source`" in rule["reason"], rule
    assert all("removed by v2, the signed quarantine of source crowd" in r["detail"] for r in rule["records"]), rule


def test_quarantines_are_ordered_by_their_signed_time_not_a_writable_row(prov, store, keypair, monkeypatch):
    """Reread: the quarantines a check judges by were sorted by the versions rows' audit_seq, which whoever writes
    `.prov/` can edit; they are ordered by each quarantine's signed createdAt, then the audit log."""
    from provenance.gate.quarantine_history import VersionDigests, signed_quarantines
    from provenance.store import Store
    from provenance.trust.pins import Pins

    vendor, crowd, key = _crowd_quarantined(prov, keypair, monkeypatch)
    scrape = with_source(digits_table(500).slice(460, 40), "scrape")
    pq.write_table(pa.concat_tables([vendor, scrape]), Path("c.parquet"))
    ok(prov, "-q", "commit", "c.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    ok(prov, "-q", "quarantine", "--from", "v3", "--source", "scrape", "--tag", "v4", "--key", key)
    store.db.execute("update versions set audit_seq = -1 where tag = 'v4'")
    store.db.conn.commit()
    pinned = Store.open(store.root, pins=Pins.load([keypair.public_path]))
    found = signed_quarantines(pinned, ["v4"], VersionDigests(pinned))
    assert [q.tag for q in found] == ["v2", "v4"]  # ["v4", "v2"] before


def test_a_removed_record_signed_again_after_the_quarantine_is_not_missing_from_the_next_release(
    prov, store, keypair, monkeypatch
):
    """Reread: the missing-signed-records rules counted a record a source quarantine removed as deliberately removed
    unless any trusted batch of another source signed it, whenever registered; a batch registered after the
    quarantine that re-delivers removed records (which lineage.block_quarantined_sources keeps out) made every
    release lacking them "incomplete". Only batches registered before the quarantine count, as for what lets a
    removed record back."""
    vendor, crowd, key = _crowd_quarantined(prov, keypair, monkeypatch)
    _trusted_batch(prov, key, with_source(crowd.slice(0, 20), "lab"), "lab", "lab")
    pq.write_table(pa.concat_tables([vendor, with_source(digits_table(500).slice(460, 40), "vendor")]), "b.parquet")
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    rule = check_rules(prov, "v3", "v2")["lineage.signed_batches_incomplete"]
    assert rule["status"] == "pass", rule  # warned before: lab's 20 records missing
