"""Near copies of records a signed quarantine removed are judged against each quarantine on its own (attack review 8, A4).

A trusted source with its own valid key signs, after a quarantine, records that quarantine removed with one
pixel nudged (new content, so only ``lineage.block_quarantined_sources``' near-copy check sees them). The
check blocked them, until any later ``--source`` quarantine was made after their batch was registered: the
"registered before the quarantine" exemption was applied across all quarantines at once, and to findings
quarantines too, so the release passed (exit 0, attestable). It is now decided per quarantine, and never by
a batch for a ``--findings`` quarantine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from support import check_rules, digits_table, ok, vendor_and_crowd_v1, with_source

RULE = "lineage.block_quarantined_sources"


def _nudged(table: pa.Table) -> pa.Table:
    return table.set_column(table.schema.get_field_index("px10"), "px10", pc.add(table.column("px10"), 1))


def _signed_batch(prov, table: pa.Table, name: str, source: str, key: str, *options: str) -> None:
    """``source``'s key signs ``table`` as ``name``.parquet; the maintainer registers it (after what came before)."""
    pq.write_table(table, Path(f"{name}.parquet"))
    ok(prov, "sign", f"{name}.parquet", "--source", source, "--key", key, *options)
    ok(prov, "-q", "add", f"{name}.parquet", "--source", source, *options)


def _blocks_near_copies(prov, new: str, base: str, n: int, removed_by: str, *options: str) -> None:
    rule = check_rules(prov, new, base, *options)[RULE]
    assert rule["status"] == "block" and rule["count"] == n, rule
    assert f"{n} of them near copies of records a signed quarantine removed" in rule["reason"], rule
    assert all(removed_by in r["detail"] for r in rule["records"]), rule["records"]


def _crowd_quarantined_then_lab_signs_near_copies(
    prov, keypair, monkeypatch, v1: pa.Table, crowd: pa.Table
) -> pa.Table:
    """v1 (``v1`` plus ``crowd`` tagged crowd) is committed and crowd quarantined as v2; then lab, a trusted
    source with its own key, signs one-pixel copies of 3 of crowd's removed records (registered after v2)."""
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    pq.write_table(pa.concat_tables([v1, with_source(crowd, "crowd")]), Path("a.parquet"))
    ok(prov, "-q", "commit", "a.parquet", "--source-column", "source", "--tag", "v1", "--key", key)
    ok(prov, "-q", "quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key)
    ok(prov, "keys", "generate", "lab")
    ok(prov, "trust", "add", "lab", "lab.pub", "--key", key)
    near = with_source(_nudged(crowd.slice(0, 3)), "lab")
    _signed_batch(prov, near, "lab", "lab", "lab.key", "--source-column", "source")
    return near


def _lab_near_copies_block_on_base(prov, keypair, monkeypatch, vendor: pa.Table, crowd: pa.Table) -> None:
    """With ``vendor`` (tagged) as the base's other records: crowd quarantined (v2), lab's one-pixel copies of 3
    of crowd's records committed on top (v3); the near-copy check blocks all three."""
    key = str(keypair.private_path)
    near = _crowd_quarantined_then_lab_signs_near_copies(prov, keypair, monkeypatch, vendor, crowd)
    pq.write_table(pa.concat_tables([vendor, near]), Path("b.parquet"))
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    _blocks_near_copies(prov, "v3", "v2", 3, "removed by v2, the signed quarantine of source crowd from v1")


def test_a_later_source_quarantine_does_not_let_back_near_copies_of_an_earlier_ones_records(
    prov, store, keypair, monkeypatch
):
    """a4c_source_to_source.py: lab signs near copies of 3 of crowd's records after v2 cut crowd; a later
    quarantine of scrape (v2s), made after lab's batch was registered, let them pass."""
    rows = digits_table(500)
    vendor, crowd, scrape = (with_source(rows.slice(0, 400), "vendor"), rows.slice(400, 60),
                             with_source(rows.slice(460, 40), "scrape"))  # fmt: skip
    key = str(keypair.private_path)
    near = _crowd_quarantined_then_lab_signs_near_copies(
        prov, keypair, monkeypatch, pa.concat_tables([vendor, scrape]), crowd
    )
    pq.write_table(pa.concat_tables([vendor, scrape, near]), Path("c.parquet"))
    ok(prov, "-q", "commit", "c.parquet", "--source-column", "source", "--tag", "v3c", "--parent", "v2", "--key", key)
    _blocks_near_copies(prov, "v3c", "v2", 3, "removed by v2, the signed quarantine of source crowd from v1")

    ok(prov, "-q", "quarantine", "--from", "v2", "--source", "scrape", "--tag", "v2s", "--key", key)
    pq.write_table(pa.concat_tables([vendor, near]), Path("b.parquet"))
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2s", "--key", key)
    _blocks_near_copies(prov, "v3", "v2s", 3, "removed by v2, the signed quarantine of source crowd")  # passed before


def test_no_batch_lets_back_a_near_copy_of_a_record_a_findings_quarantine_cut(
    prov, template_trust, workdir, monkeypatch
):
    """a4b_small_release_passes.py: the vendor signs a near copy of a record v2q (--findings) cut; once crowd is
    quarantined (v4q) after the vendor's batch was registered, the release passed and was attested."""
    monkeypatch.setenv("PROV_SIGNERS", str(workdir / "maintainer.pub"))
    ok(prov, "diff", "v1", "v2", "--detect", "--format", "json", "--out", "d2.json")
    ok(prov, "-q", "quarantine", "--from", "v2", "--findings", "d2.json", "--tag", "v2q", "--out", "v2q.parquet",
       "--key", "maintainer.key")  # fmt: skip
    flagged = [int(x["locator"]) for x in json.loads(Path("d2.json").read_text())["findings"] if x["flagged"]]
    near = _nudged(pq.read_table("v2.parquet").take(flagged[:1]))
    _signed_batch(prov, near, "vendor3", "vendor", "vendor.key")
    kept = pq.read_table("v2q.parquet")
    pq.write_table(pa.concat_tables([kept, near]), Path("v4c.parquet"))
    ok(prov, "-q", "commit", "v4c.parquet", "--tag", "v4c", "--parent", "v2q", "--key", "maintainer.key")
    findings = "removed by v2q, the signed quarantine of the records the detectors flagged in v2"
    _blocks_near_copies(prov, "v4c", "v2q", 1, findings)

    # crowd comes in on top of v2q and is quarantined: its quarantine is made after vendor3 was registered
    pq.write_table(pa.concat_tables([kept, pq.read_table("crowd-batch.parquet")]), Path("v4.parquet"))
    ok(prov, "-q", "commit", "v4.parquet", "--tag", "v4", "--parent", "v2q", "--key", "maintainer.key")
    ok(prov, "-q", "quarantine", "--from", "v4", "--source", "crowd", "--tag", "v4q", "--out", "v4q.parquet",
       "--key", "maintainer.key")  # fmt: skip
    pq.write_table(pa.concat_tables([pq.read_table("v4q.parquet"), near]), Path("v5.parquet"))
    ok(prov, "-q", "commit", "v5.parquet", "--tag", "v5", "--parent", "v4q", "--key", "maintainer.key")
    _blocks_near_copies(prov, "v5", "v4q", 1, findings)  # passed (count 0) before
    r = prov("check", "v5", "--base", "v4q", "--attest", "--key", "maintainer.key", "--base-unreleased")
    assert r.exit_code == 1, r.output
    assert not Path("v5.attestation.json").exists()


def _removed_rows_object(store) -> Path:
    """The object ``prov quarantine`` kept v2's removed rows in (its id is in the signed quarantine facts)."""
    (detail,) = store.db.execute("select detail from audit where action = 'quarantine' and subject = 'v2'").fetchone()
    return store.objects.path(json.loads(detail)["removedRecords"])


def test_near_copies_are_judged_after_the_quarantined_versions_data_file_changed(prov, store, keypair, monkeypatch):
    """Attack review 8, A1: the removed records were re-read on every check from the quarantine's parent's data, so
    rewriting that working file with the next release (the ordinary workflow) blocked every later check as
    tampering (exit 1), and deleting it made every check an error (exit 3). The quarantine now keeps the removed
    rows in the store, trusted only through digests recomputed from the signed manifests."""
    rows, vendor, crowd, key = vendor_and_crowd_v1(prov, keypair, monkeypatch, 540)
    ok(prov, "-q", "quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--out", "v2.parquet",
       "--key", key)  # fmt: skip
    scrape = with_source(_nudged(crowd.slice(0, 5)), "scrape")
    pq.write_table(pa.concat_tables([vendor, scrape]), Path("b.parquet"))
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    removed_by = "removed by v2, the signed quarantine of source crowd from v1"
    _blocks_near_copies(prov, "v3", "v2", 5, removed_by)

    # the next release is written over the working file v1 was committed from: its new records are no copies
    pq.write_table(pa.concat_tables([vendor, with_source(rows.slice(460, 80), "vendor")]), Path("a.parquet"))
    ok(prov, "-q", "commit", "a.parquet", "--source-column", "source", "--tag", "v4", "--parent", "v2", "--key", key)
    rule = check_rules(prov, "v4", "v2")[RULE]
    assert rule["status"] == "pass", rule  # blocked before: "not the signed ones", v1's rows no longer in the file
    _blocks_near_copies(prov, "v3", "v2", 5, removed_by)  # near copies are still judged, from the kept rows
    Path("a.parquet").unlink()
    _blocks_near_copies(prov, "v3", "v2", 5, removed_by)  # exit 3 before

    # v5: v4 (whose data is gone too; a base's data is not re-read) plus the near copies, so that the kept rows
    # are read by the near-copy check itself, not only by the signature rule of a check whose base is v2
    pq.write_table(pa.concat_tables([vendor, with_source(rows.slice(460, 80), "vendor"), scrape]), Path("c.parquet"))
    ok(prov, "-q", "commit", "c.parquet", "--source-column", "source", "--tag", "v5", "--parent", "v4", "--key", key)
    _blocks_near_copies(prov, "v5", "v4", 5, removed_by)

    # the kept rows are trusted only as the signed digests say: other bytes under the object's name block
    kept = _removed_rows_object(store)
    original = kept.read_bytes()
    kept.write_bytes(Path("v2.parquet").read_bytes())
    r = prov("check", "v5", "--base", "v4", "--format", "json")
    rule = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}[RULE]
    assert r.exit_code == 1 and rule["status"] == "block" and kept.name[:16] in rule["reason"], rule
    assert "was altered" in rule["reason"], rule
    r = prov("verify", "v2")
    assert r.exit_code == 1 and "was altered" in r.output and kept.name[:16] in r.output, r.output

    # attack review 8b, B4: deleted, only `prov fsck` noticed; v1's data is gone too, so the check cannot be made
    kept.unlink()
    restore = f"restore {kept} from a copy of the store"
    r = prov("check", "v5", "--base", "v4", "--format", "json")
    rule = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}[RULE]
    assert r.exit_code == 3 and rule["status"] == "error", rule
    assert "the data v1 signed, which changed or is gone" in rule["reason"] and restore in rule["reason"], rule
    r = prov("verify", "v2")  # was exit 0, "signature ok ... data ok"
    assert r.exit_code == 1 and "is missing from the store" in r.output and restore in r.output.replace("\n", ""), r
    r = prov("check", "v3", "--base", "v2", "--format", "json")
    rule = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}["integrity.verify_signatures"]
    assert r.exit_code == 1 and rule["status"] == "block" and "is missing from the store" in rule["reason"], rule

    # with v1's data back the removed records are read from it, and the rule says what the store lost
    pq.write_table(pa.concat_tables([vendor, with_source(crowd, "crowd")]), Path("a.parquet"))
    rule = check_rules(prov, "v5", "v4")[RULE]
    assert rule["status"] == "block" and rule["count"] == 5, rule
    assert f"{restore} (`prov fsck` lists it); read from v1's data instead" in rule["reason"], rule
    kept.write_bytes(original)
    assert "unreferenced" not in prov("fsck").output
    assert prov("verify", "v2").exit_code == 0


def test_near_copies_are_judged_in_a_base_whose_images_repeat_under_several_labels(prov, store, keypair, monkeypatch):
    """attack review 8b, B1 (r2_twins_base_silent.py): 12 of the vendor's images also under three other labels
    (annotators disagreeing) put exact feature twins in over 1% of the base's sample, which switched the
    near-copy comparison off, and the rule passed saying nothing of it."""
    rows = digits_table(500)
    vendor, crowd = rows.slice(0, 400), rows.slice(400, 60)
    first = vendor.slice(0, 12)
    relabel = [[str((int(v) + k) % 10) for v in first["label"].to_pylist()] for k in (1, 2, 3)]
    again = [first.set_column(first.schema.get_field_index("label"), "label", pa.array(r)) for r in relabel]
    vendor = with_source(pa.concat_tables([vendor, *again]), "vendor")
    _lab_near_copies_block_on_base(prov, keypair, monkeypatch, vendor, crowd)


def test_planted_near_twins_do_not_shrink_the_near_copy_radius(prov, store, keypair, monkeypatch):
    """attack review 8c, F2: the vendor's delivery (unsigned, trusted by nobody) holds near twins of 30 of its own
    images (its highest-variance pixel +1), 60 of the base's 430 sample records, which put the tight radius at
    their scale: the tight-pair radius's floor was capped at the 5% quantile of the base's first-neighbour
    distances. One-pixel copies of the quarantined crowd's records then passed (0 of 3)."""
    import numpy as np

    rows = digits_table(500)
    vendor, crowd = rows.slice(0, 400), rows.slice(400, 60)
    pixels = np.stack([np.asarray(vendor.column(f"px{i:02d}")) for i in range(64)], 1)
    column = f"px{int(np.argmax(pixels.std(0))):02d}"
    first = vendor.slice(0, 30)
    twins = first.set_column(first.schema.get_field_index(column), column, pc.add(first.column(column), 1))
    vendor = with_source(pa.concat_tables([vendor, twins]), "vendor")
    _lab_near_copies_block_on_base(prov, keypair, monkeypatch, vendor, crowd)


def test_near_copies_registered_before_a_source_quarantine_block_until_waived(prov, store, keypair, monkeypatch):
    """attack review 8b, B2 (r4_preregistered_near_copies.py): lab, a trusted source colluding with crowd, signs
    one-pixel copies of 3 of crowd's records and the maintainer registers them before quarantining crowd,
    committing them after: they passed, as if the quarantine had kept them, though it never saw them. A near copy
    now comes back only by a reviewer's waiver of its combined verdict."""
    _, vendor, crowd, key = vendor_and_crowd_v1(prov, keypair, monkeypatch)
    ok(prov, "keys", "generate", "lab")
    ok(prov, "trust", "add", "lab", "lab.pub", "--key", key)
    near = with_source(_nudged(crowd.slice(0, 3)), "lab")
    _signed_batch(prov, near, "lab", "lab", "lab.key", "--source-column", "source")
    ok(prov, "-q", "quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key)
    pq.write_table(pa.concat_tables([vendor, near]), Path("b.parquet"))
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    _blocks_near_copies(prov, "v3", "v2", 3, "removed by v2, the signed quarantine of source crowd from v1")
    for record in check_rules(prov, "v3", "v2")[RULE]["records"]:
        ok(prov, "waive", record["digest"], "--version", "v3", "--detector", "combined", "--reason", "reviewed",
           "--key", key)  # fmt: skip
    rule = check_rules(prov, "v3", "v2")[RULE]
    assert rule["status"] == "pass", rule
