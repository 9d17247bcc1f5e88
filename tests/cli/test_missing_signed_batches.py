"""Signed records that go missing beside unsigned additions, replayed for real (attack review 5, findings 1 and 4).

The attacker writes the maintainer's working tree (data, findings files, and ``.prov/``)
and holds only their own key; the maintainer and CI pin ``maintainer.pub``. A missing
signed record is accounted for only by a signed act: a quarantine version that removed it
for a reason the gate can recompute, or a maintainer's signed ``prov withdraw`` of its batch.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from jsonschema import Draft202012Validator

from provenance import signing
from support import check_rules, nudged, ok, second_vendor_delivery, store_fingerprint

PINNED = ("--signer", "maintainer.pub")
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
RULE = "lineage.unattributed_beside_signed"


def _rule(prov, new: str, base: str) -> dict:
    return check_rules(prov, new, base, "--policy", "policy.toml", *PINNED)[RULE]


def test_a_new_signed_batch_edited_and_declared_unsigned_blocks_until_a_maintainer_withdraws_it(
    prov, template_trust, workdir
):
    """Review 5 finding 1: the attacker edits every record of a signed delivery registered after the base and
    declares the edited rows `prov add --unsigned`; the whole signed batch is missing and the gate passed.
    It now blocks, its message no longer says declaring the rows is the way through, a withdrawal signed
    by the attacker's own key changes nothing, and the maintainer's signed withdrawal is the way out."""
    batch = second_vendor_delivery(prov)
    pq.write_table(nudged(pq.read_table("vendor2.parquet"), flips=2), "edited.parquet")
    ok(prov, "add", "edited.parquet", "--source", "crowd2", "--unsigned", *PINNED)  # the attacker's declaration
    pq.write_table(pa.concat_tables([pq.read_table("v3.parquet"), pq.read_table("edited.parquet")]), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    rule = _rule(prov, "v4", "v3")
    assert rule["status"] == "block" and rule["count"] == 40, rule
    assert f"batch {batch} of vendor: 40 of its 40 signed records missing" in rule["reason"]
    assert "does not help here" in rule["reason"] and "prov withdraw" in rule["reason"]
    assert "register intended additions" not in rule["reason"]
    # the attacker withdraws the batch with their own key, under pins of their choosing: not honoured (under those
    # pins every commit entry is pending, which a withdrawal refuses to sign over, so they sign the log first)
    ok(prov, "audit", "checkpoint", "--key", "attacker.key", "--signer", "attacker.pub")
    ok(prov, "withdraw", batch, "--reason", "not shipped", "--key", "attacker.key", "--signer", "attacker.pub")
    assert _rule(prov, "v4", "v3")["status"] == "block"
    r = prov("withdraw", batch, "--reason", "not shipped", "--key", "attacker.key", *PINNED)
    assert r.exit_code == 2 and "not among the keys you pinned" in r.stderr and r.stderr.count("\n") == 1
    # the maintainer's own signed withdrawal accounts for the batch
    out = ok(
        prov, "withdraw", batch, "--reason", "the delivery is held back", "--key", "maintainer.key", "--json", *PINNED
    )
    withdrawal = json.loads(out)
    Draft202012Validator(json.loads((SCHEMAS / "withdraw.schema.json").read_text())).validate(withdrawal)
    assert withdrawal["batch"] == batch and withdrawal["reason"] == "the delivery is held back"
    statement = signing.unverified_statement(
        json.loads(Path(f".prov/objects/{withdrawal['withdrawal']}.json").read_text())
    )
    Draft202012Validator(json.loads((SCHEMAS / "batch-withdrawal.schema.json").read_text())).validate(statement)
    rule = _rule(prov, "v4", "v3")
    assert rule["status"] == "pass" and f"signed as withdrawn (prov withdraw: {batch})" in rule["reason"], rule
    r = prov("withdraw", batch, "--reason", "again", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 2 and "already withdrawn" in r.stderr
    for command in (("audit", "verify"), ("fsck",)):
        assert prov(*command, *PINNED).exit_code == 0, command


def test_a_withdrawal_entry_pointed_at_another_batch_is_no_withdrawal(prov, template_trust, workdir):
    """A `.prov/` writer appends a correctly chained `batch.withdraw` entry that names the vendor batch they
    edited and the maintainer's genuine withdrawal object of another batch: the signed batch id does not
    match the entry, so the gate still blocks; deleting a genuine withdrawal's object takes the way out away."""
    from provenance.store import Store

    held = second_vendor_delivery(prov)
    ok(prov, "withdraw", held, "--reason", "held back", "--key", "maintainer.key", *PINNED)
    db = sqlite3.connect(".prov/prov.db")
    first = db.execute("select subject from audit where action = 'batch.add' order by seq").fetchone()[0]
    oid = json.loads(db.execute("select detail from audit where action = 'batch.withdraw'").fetchone()[0])["object"]
    db.close()
    v3, n_base = pq.read_table("v3.parquet"), template_trust.facts["n_base"]
    edited = nudged(v3.slice(n_base, 6), flips=2)  # 6 records of the vendor's first batch, in the base v3
    pq.write_table(edited, "edited.parquet")
    ok(prov, "add", "edited.parquet", "--source", "crowd2", "--unsigned", *PINNED)
    pq.write_table(pa.concat_tables([v3.slice(0, n_base), v3.slice(n_base + 6), edited]), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    store = Store.open()
    with store.write():
        store.audit("batch.withdraw", first, {"object": oid, "keyid": "0" * 64, "reason": "planted"})
    store.close()
    ok(prov, "audit", "checkpoint", "--key", "maintainer.key")  # covered: not refused merely as pending
    rule = _rule(prov, "v4", "v3")
    assert rule["status"] == "block" and f"batch {first} of vendor: 6 of its" in rule["reason"], rule
    assert f"the withdrawal of {first} is not relied on: it withdraws batch {held}, not {first}" in rule["reason"]
    assert f"batch {held} of vendor" not in rule["reason"]  # the genuine withdrawal still holds for its own batch
    Path(f".prov/objects/{oid}.json").unlink()
    rule = _rule(prov, "v4", "v3")
    assert rule["status"] == "block" and f"batch {held} of vendor: 40 of its 40" in rule["reason"], rule


def _flagged(path: str) -> list[str]:
    return [f["digest"] for f in json.loads(Path(path).read_text())["findings"] if f["flagged"]]


def _digests(tag: str) -> set[bytes]:
    from provenance.store import Store
    from provenance.version_facts import load_manifest

    store = Store.open()
    try:
        return set(load_manifest(store, store.version(tag)).table.column("digest").to_pylist())
    finally:
        store.close()


def test_a_findings_file_with_extra_digests_is_refused(prov, template_trust, workdir):
    """Review 5 finding 4: whoever writes the working tree appends digests of clean signed base records to the
    findings file the maintainer quarantines from. The quarantine re-runs the detectors on the signed versions
    and cuts only what they flag: it exits 2 naming the file and the count, and the store is unchanged."""
    ok(prov, "diff", "v2", "v3", "--detect", "--format", "json", "--out", "d3.json", *PINNED)
    report = json.loads(Path("d3.json").read_text())
    flagged = len(_flagged("d3.json"))
    vendor = sorted(_digests("v2") - _digests("v1"))[:3]
    report["findings"] += [{"digest": d.hex(), "flagged": True} for d in vendor]
    Path("tampered.json").write_text(json.dumps(report))
    before = store_fingerprint(workdir)
    r = prov(
        "quarantine", "--from", "v3", "--findings", "tampered.json", "--tag", "v4", "--key", "maintainer.key", *PINNED
    )
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert (
        f"tampered.json: 3 of its {flagged + 3} flagged digests are not flagged when prov re-runs the detectors on "
        "v3 against v2 at fpr 0.01" in r.stderr
    )
    assert store_fingerprint(workdir) == before and not Path("v3.v4.parquet").exists()
    # a file of records not in v3 at all says so; a file that names no base asks for one
    Path("stray.json").write_text(json.dumps({"base": "v2", "findings": [{"digest": "ab" * 32, "flagged": True}]}))
    r = prov(
        "quarantine", "--from", "v3", "--findings", "stray.json", "--tag", "v4", "--key", "maintainer.key", *PINNED
    )
    assert r.exit_code == 2 and "(1 of them are not records of v3 at all)" in r.stderr, r.output
    Path("bare.json").write_text(json.dumps([{"digest": "ab" * 32, "flagged": True}]))
    r = prov("quarantine", "--from", "v3", "--findings", "bare.json", "--tag", "v4", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 2 and "bare.json: names no base version; pass --base BASE" in r.stderr, r.output
    # a rate the file claims is never taken from it; another --base than the file's is refused
    report = json.loads(Path("d3.json").read_text())
    report["detection"]["fpr"] = 0.4
    Path("rate.json").write_text(json.dumps(report))
    r = prov("quarantine", "--from", "v3", "--findings", "rate.json", "--tag", "v4", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 2 and "combined at fpr 0.4" in r.stderr and "never the file's" in r.stderr, r.output
    r = prov("quarantine", "--from", "v3", "--findings", "d3.json", "--base", "v1", "--tag", "v4",
             "--key", "maintainer.key", *PINNED)  # fmt: skip
    assert r.exit_code == 2 and "d3.json: its findings are of v3 against v2, not against --base v1" in r.stderr
    after = store_fingerprint(workdir)
    assert {k: v for k, v in after.items() if k.startswith(".prov")} == {
        k: v for k, v in before.items() if k.startswith(".prov")
    }
    # the file as prov wrote it quarantines, and the signed facts say what the re-run used
    out = ok(
        prov,
        "quarantine",
        "--from",
        "v3",
        "--findings",
        "d3.json",
        "--tag",
        "v4",
        "--key",
        "maintainer.key",
        "--json",
        *PINNED,
    )
    result = json.loads(out)
    assert result["removed"] == flagged and result["notes"] == []  # deterministic: the stored run agrees
    detection = result["reason"]["detection"]
    assert (detection["base"], detection["version"], detection["fpr"], detection["flagged"]) == (
        "v2",
        "v3",
        0.01,
        flagged,
    )
    assert "combined" not in detection["detectors"] and "knn_label" in detection["detectors"]
    assert not _digests("v4") & {bytes.fromhex(d) for d in _flagged("d3.json")}
    shown = json.loads(ok(prov, "show", "v4", "--json", *PINNED))["quarantine"]  # prov show names it a quarantine
    assert (shown["from"], shown["source"], shown["findings"], shown["removed"]) == ("v3", None, "d3.json", flagged)
    assert f"quarantine of v3: the records flagged in d3.json cut out, {flagged} records removed" in ok(
        prov, "show", "v4", *PINNED
    )
    from provenance.store import Store  # noqa: PLC0415 - the signed facts, read back through the library
    from provenance.version_facts import verified_statement  # noqa: PLC0415

    store = Store.open()
    try:
        facts = verified_statement(store, store.version("v4"))["predicate"]["quarantine"]
        assert facts["detection"] == detection and facts["detection"]["baseRoot"] == store.version("v2")["merkle_root"]
    finally:
        store.close()


def _plant_flags(version: str, base: str, digests: list[str]) -> None:
    """A `.prov/` writer adds combined-verdict flags for ``digests`` to ``version``'s stored detector run."""
    db = sqlite3.connect(".prov/prov.db")
    run = db.execute(
        "select run from detector_runs where version = ? and base = ? limit 1", [version, base]
    ).fetchone()[0]
    db.executemany(
        "insert into findings (run, version, base, position, digest, label, detector, score, flagged, explanation) "
        "values (?, ?, ?, ?, ?, '0', 'combined', 0.99, 1, 'planted')",
        [(run, version, base, 10_000 + i, d) for i, d in enumerate(digests)],
    )
    db.commit()
    db.close()


def test_flags_planted_in_the_stored_run_cut_nothing(prov, template_trust, workdir):
    """README Known gaps, "Flags planted in the store" (review 5 finding 4 by a `.prov/` writer): flags for 6
    clean signed base records planted in v3's stored detector run with sqlite3, and the same digests in the
    findings file. The quarantine re-runs the detectors instead of reading the stored run: refused, store
    unchanged. The untampered file then quarantines, and the planted run is named as disagreeing."""
    ok(prov, "diff", "v2", "v3", "--detect", "--format", "json", "--out", "d3.json", *PINNED)
    flagged = _flagged("d3.json")
    planted = [d.hex() for d in sorted(_digests("v2") - _digests("v1")) if d.hex() not in flagged][:6]
    _plant_flags("v3", "v2", planted)
    report = json.loads(Path("d3.json").read_text())
    report["findings"] += [{"digest": d, "flagged": True} for d in planted]
    Path("tampered.json").write_text(json.dumps(report))
    before = store_fingerprint(workdir)
    r = prov("quarantine", "--from", "v3", "--findings", "tampered.json", "--tag", "v3q2", "--out", "v3q2.parquet",
             "--key", "maintainer.key", *PINNED)  # fmt: skip
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert f"tampered.json: 6 of its {len(flagged) + 6} flagged digests are not flagged" in r.stderr
    assert store_fingerprint(workdir) == before and not Path("v3q2.parquet").exists()
    r = prov("quarantine", "--from", "v3", "--findings", "d3.json", "--tag", "v3q2", "--out", "v3q2.parquet",
             "--key", "maintainer.key", *PINNED)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "stored detector run" in r.stderr and "flags 6 records the re-run does not and misses 0" in r.stderr
    assert f"{len(flagged)} records removed" in r.stdout


def test_signed_records_a_findings_quarantine_removed_count_only_if_added_in_the_delta(prov, template_trust, workdir):
    """Review 3 finding 5 (the honest case): flagged signed records of a new vendor batch cut by
    `prov quarantine --findings` do not block a declared crowd batch released beside it. The gate's side of
    review 5 finding 4: records a findings quarantine removed count as removed on purpose only if the check's
    base does not hold them. Here the quarantine is of v3 against v1, so it cuts flagged vendor records the
    check's base v2 holds; their edited copies, declared `prov add --unsigned`, block against v2."""
    ok(prov, "diff", "v1", "v2", "--detect", "--format", "json", "--out", "d2.json", *PINNED)
    flagged = _flagged("d2.json")
    assert flagged  # the vendor's batch is the v1 -> v2 delta
    ok(prov, "quarantine", "--from", "v2", "--findings", "d2.json", "--tag", "v2q", "--out", "v2q.parquet",
        "--key", "maintainer.key", *PINNED)  # fmt: skip
    crowd = pq.read_table("crowd-batch.parquet")
    pq.write_table(pa.concat_tables([pq.read_table("v2q.parquet"), crowd]), "v3c.parquet")
    ok(prov, "commit", "v3c.parquet", "--tag", "v3c", "--parent", "v2q", "--key", "maintainer.key", *PINNED)
    assert _rule(prov, "v3c", "v1")["status"] == "pass"
    # v3 against v1: the flagged vendor records of v2 are flagged again in this wider delta
    ok(prov, "diff", "v1", "v3", "--detect", "--format", "json", "--out", "d31.json", *PINNED)
    vendor = {d.hex() for d in _digests("v2") - _digests("v1")}
    cut = [d for d in _flagged("d31.json") if d in vendor]
    assert cut
    ok(prov, "quarantine", "--from", "v3", "--findings", "d31.json", "--tag", "v3q2", "--out", "v3q2.parquet",
        "--key", "maintainer.key", *PINNED)  # fmt: skip
    v3 = pq.read_table("v3.parquet")
    from provenance.encoding import table_digests  # noqa: PLC0415 - only this test needs the row digests

    digests = table_digests(v3, sorted(c for c in v3.schema.names if c != "label"))
    rows = [i for i, d in enumerate(digests) if d.hex() in cut][:6]
    pq.write_table(nudged(v3.take(rows), flips=min(2, len(rows))), "edited.parquet")
    ok(prov, "add", "edited.parquet", "--source", "crowd2", "--unsigned", *PINNED)
    pq.write_table(pa.concat_tables([pq.read_table("v3q2.parquet"), pq.read_table("edited.parquet")]), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v3q2", "--key", "maintainer.key", *PINNED)
    rule = _rule(prov, "v4", "v2")
    assert rule["status"] == "block" and f"{len(cut)} signed records of v2 went missing" in rule["reason"], rule


def test_withdrawing_every_signed_batch_still_blocks_records_of_no_batch(prov, template_trust, workdir):
    """A withdrawal accounts for its batch's missing records only: the store's sources still sign their
    batches, so an added record that no registered batch carries still blocks."""
    db = sqlite3.connect(".prov/prov.db")
    (vendor,) = db.execute(
        "select subject from audit where action = 'batch.add' and subject like 'vendor@%'"
    ).fetchone()
    db.close()
    ok(prov, "withdraw", vendor, "--reason", "superseded", "--key", "maintainer.key", *PINNED)
    stray = nudged(pq.read_table("crowd-batch.parquet").slice(0, 10), flips=0)
    pq.write_table(pa.concat_tables([pq.read_table("v3.parquet"), stray]), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    rule = _rule(prov, "v4", "v3")
    assert rule["status"] == "block" and rule["count"] == 10, rule
    assert "where sources sign their batches (1 trusted signed batch, none missing records)" in rule["reason"]


def _race(monkeypatch, edit: str) -> None:
    """Replay attack review 6 finding 6's ``.prov/`` writer: right after the integrity rule has verified the store,
    another connection runs ``edit`` on ``.prov/prov.db`` (a hook between rules, as the reviewer's race.py does)."""
    from provenance.gate import rules

    verify = rules.VerifySignatures.check

    def check_then_edit(self, ctx):
        out = verify(self, ctx)
        db = sqlite3.connect(".prov/prov.db", isolation_level=None)
        db.execute(edit)
        db.close()
        return out

    monkeypatch.setattr(rules.VerifySignatures, "check", check_then_edit)


def test_evidence_hidden_while_the_check_runs_changes_nothing_it_decides_on(prov, template_trust, workdir, monkeypatch):
    """Review 6 finding 6 (b): the signed batch's ``batch.add`` entry is hidden (its action renamed) between the
    integrity rule and the lineage rules; ``prov check --attest`` passed and attested the blocked version.
    The check now decides on the state it verified, so it blocks and writes no attestation."""
    batch = second_vendor_delivery(prov)
    pq.write_table(nudged(pq.read_table("vendor2.parquet"), flips=2), "edited.parquet")
    ok(prov, "add", "edited.parquet", "--source", "crowd2", "--unsigned", *PINNED)
    pq.write_table(pa.concat_tables([pq.read_table("v3.parquet"), pq.read_table("edited.parquet")]), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    _race(monkeypatch, f"update audit set action = 'batch.ad0' where action = 'batch.add' and subject = '{batch}'")
    args = ("check", "v4", "--base", "v3", "--policy", "policy.toml", "--format", "json")
    r = prov(*args, "--attest", "--key", "maintainer.key", "--attest-out", "v4.att.json", "--base-unreleased", *PINNED)
    assert r.exit_code == 1, r.output
    assert {x["rule"]: x for x in json.loads(r.stdout)["rules"]}[RULE]["status"] == "block"
    assert not Path("v4.att.json").exists()
