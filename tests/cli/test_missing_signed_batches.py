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
from support import rule_verdicts, store_fingerprint

PINNED = ("--signer", "maintainer.pub")
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
RULE = "lineage.unattributed_beside_signed"


def _ok(prov, *args: str) -> str:
    r = prov(*args)
    assert r.exit_code == 0, f"prov {' '.join(args)}: {r.output}"
    return r.stdout


def _nudged(table: pa.Table, flips: int) -> pa.Table:
    """``table`` with one pixel of every row changed and the first ``flips`` labels flipped (an edit in transit)."""
    pixels = [v + 1 for v in table.column("px10").to_pylist()]
    labels = table.column("label").to_pylist()
    labels[:flips] = [str((int(x) + 5) % 10) for x in labels[:flips]]
    table = table.set_column(
        table.schema.get_field_index("px10"), "px10", pa.array(pixels, table.schema.field("px10").type)
    )
    return table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))


def _rule(prov, new: str, base: str) -> dict:
    r = prov("check", new, "--base", base, "--policy", "policy.toml", "--format", "json", *PINNED)
    assert r.exit_code in (0, 1), r.output
    return {x["rule"]: x for x in json.loads(r.stdout)["rules"]}[RULE]


def _second_delivery(prov) -> str:
    """The vendor signs a new batch (40 records not in any version), the maintainer registers it; returns its id."""
    crowd = pq.read_table("crowd-batch.parquet").slice(0, 40)
    pixels = [v + 7 for v in crowd.column("px20").to_pylist()]
    pq.write_table(
        crowd.set_column(
            crowd.schema.get_field_index("px20"), "px20", pa.array(pixels, crowd.schema.field("px20").type)
        ),
        "vendor2.parquet",
    )
    _ok(prov, "sign", "vendor2.parquet", "--source", "vendor", "--key", "vendor.key")
    out = _ok(prov, "add", "vendor2.parquet", "--source", "vendor", "--json", *PINNED)
    return json.loads(out)["batch"]


def test_a_new_signed_batch_edited_and_declared_unsigned_blocks_until_a_maintainer_withdraws_it(
    prov, template_trust, workdir
):
    """Review 5 finding 1: the attacker edits every record of a signed delivery registered after the base and
    declares the edited rows `prov add --unsigned`; the whole signed batch is missing and the gate passed.
    It now blocks, its message no longer says declaring the rows is the way through, a withdrawal signed
    by the attacker's own key changes nothing, and the maintainer's signed withdrawal is the way out."""
    batch = _second_delivery(prov)
    pq.write_table(_nudged(pq.read_table("vendor2.parquet"), flips=2), "edited.parquet")
    _ok(prov, "add", "edited.parquet", "--source", "crowd2", "--unsigned", *PINNED)  # the attacker's declaration
    pq.write_table(pa.concat_tables([pq.read_table("v3.parquet"), pq.read_table("edited.parquet")]), "v4.parquet")
    _ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    rule = _rule(prov, "v4", "v3")
    assert rule["status"] == "block" and rule["count"] == 40, rule
    assert f"batch {batch} of vendor: 40 of its 40 signed records missing" in rule["reason"]
    assert "does not help here" in rule["reason"] and "prov withdraw" in rule["reason"]
    assert "register intended additions" not in rule["reason"]
    # the attacker withdraws the batch with their own key, under pins of their choosing: not honoured
    _ok(prov, "withdraw", batch, "--reason", "not shipped", "--key", "attacker.key", "--signer", "attacker.pub")
    assert _rule(prov, "v4", "v3")["status"] == "block"
    r = prov("withdraw", batch, "--reason", "not shipped", "--key", "attacker.key", *PINNED)
    assert r.exit_code == 2 and "not trusted for role commit" in r.stderr and r.stderr.count("\n") == 1
    # the maintainer's own signed withdrawal accounts for the batch
    out = _ok(
        prov, "withdraw", batch, "--reason", "the delivery is held back", "--key", "maintainer.key", "--json", *PINNED
    )
    withdrawal = json.loads(out)
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

    held = _second_delivery(prov)
    _ok(prov, "withdraw", held, "--reason", "held back", "--key", "maintainer.key", *PINNED)
    db = sqlite3.connect(".prov/prov.db")
    first = db.execute("select subject from audit where action = 'batch.add' order by seq").fetchone()[0]
    oid = json.loads(db.execute("select detail from audit where action = 'batch.withdraw'").fetchone()[0])["object"]
    db.close()
    v3, n_base = pq.read_table("v3.parquet"), template_trust.facts["n_base"]
    edited = _nudged(v3.slice(n_base, 6), flips=2)  # 6 records of the vendor's first batch, in the base v3
    pq.write_table(edited, "edited.parquet")
    _ok(prov, "add", "edited.parquet", "--source", "crowd2", "--unsigned", *PINNED)
    pq.write_table(pa.concat_tables([v3.slice(0, n_base), v3.slice(n_base + 6), edited]), "v4.parquet")
    _ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    store = Store.open()
    with store.write():
        store.audit("batch.withdraw", first, {"object": oid, "keyid": "0" * 64, "reason": "planted"})
    store.close()
    rule = _rule(prov, "v4", "v3")
    assert rule["status"] == "block" and f"batch {first} of vendor: 6 of its" in rule["reason"], rule
    assert held not in rule["reason"]  # the genuine withdrawal still holds for its own batch
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
    findings file the maintainer quarantines from. Only records a stored detector run of the version flagged
    may be cut: the quarantine exits 2 naming the file and the count, and the store is unchanged."""
    _ok(prov, "diff", "v2", "v3", "--detect", "--format", "json", "--out", "d3.json", *PINNED)
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
        f"tampered.json: 3 of its {flagged + 3} flagged digests were not flagged by a stored detector run of v3 against v2"
        in r.stderr
    )
    assert store_fingerprint(workdir) == before and not Path("v3.v4.parquet").exists()
    # a file of records not in v3 at all says so; a version no run scored says how to make one
    Path("stray.json").write_text(json.dumps({"findings": [{"digest": "ab" * 32, "flagged": True}]}))
    r = prov(
        "quarantine", "--from", "v3", "--findings", "stray.json", "--tag", "v4", "--key", "maintainer.key", *PINNED
    )
    assert r.exit_code == 2 and "(1 of them are not records of v3 at all)" in r.stderr, r.output
    r = prov(
        "quarantine", "--from", "v3q", "--findings", "stray.json", "--tag", "v4", "--key", "maintainer.key", *PINNED
    )
    assert r.exit_code == 2 and "stray.json: no detector run of v3q is stored" in r.stderr, r.output
    # the file as prov wrote it quarantines, and the signed facts name the run
    out = _ok(
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
    assert json.loads(out)["removed"] == flagged and len(json.loads(out)["reason"]["runs"]) == 1
    assert not _digests("v4") & {bytes.fromhex(d) for d in _flagged("d3.json")}


def test_signed_records_a_findings_quarantine_removed_count_only_if_added_in_the_delta(prov, template_trust, workdir):
    """Review 3 finding 5 (the honest case): flagged signed records of a new vendor batch cut by
    `prov quarantine --findings` do not block a declared crowd batch released beside it. Review 5 finding 4
    (the attack, by a `.prov/` writer who plants flags for clean signed base records in the stored run so the
    quarantine accepts them): base records a findings quarantine removed still count as missing, so their
    edited copies declared `prov add --unsigned` block."""
    _ok(prov, "diff", "v1", "v2", "--detect", "--format", "json", "--out", "d2.json", *PINNED)
    flagged = _flagged("d2.json")
    assert flagged  # the vendor's batch is the v1 -> v2 delta
    _ok(prov, "quarantine", "--from", "v2", "--findings", "d2.json", "--tag", "v2q", "--out", "v2q.parquet",
        "--key", "maintainer.key", *PINNED)  # fmt: skip
    crowd = pq.read_table("crowd-batch.parquet")
    pq.write_table(pa.concat_tables([pq.read_table("v2q.parquet"), crowd]), "v3c.parquet")
    _ok(prov, "commit", "v3c.parquet", "--tag", "v3c", "--parent", "v2q", "--key", "maintainer.key", *PINNED)
    assert _rule(prov, "v3c", "v1")["status"] == "pass"
    # the attack: 6 clean vendor records of the base v2 planted as flagged in v3's stored run
    _ok(prov, "diff", "v2", "v3", "--detect", "--format", "json", "--out", "d3.json", *PINNED)
    base_vendor = sorted(_digests("v2") - _digests("v1"))
    planted = [d.hex() for d in base_vendor if d.hex() not in flagged][:6]
    db = sqlite3.connect(".prov/prov.db")
    run = db.execute("select run from detector_runs where version = 'v3' limit 1").fetchone()[0]
    db.executemany(
        "insert into findings (run, version, base, position, digest, label, detector, score, flagged, explanation) "
        "values (?, 'v3', 'v2', ?, ?, '0', 'combined', 0.99, 1, 'planted')",
        [(run, 10_000 + i, d) for i, d in enumerate(planted)],
    )
    db.commit()
    db.close()
    report = json.loads(Path("d3.json").read_text())
    report["findings"] += [{"digest": d, "flagged": True} for d in planted]
    Path("d3.json").write_text(json.dumps(report))
    _ok(prov, "quarantine", "--from", "v3", "--findings", "d3.json", "--tag", "v3q2", "--out", "v3q2.parquet",
        "--key", "maintainer.key", *PINNED)  # fmt: skip
    v3 = pq.read_table("v3.parquet")
    from provenance.encoding import table_digests  # noqa: PLC0415 - only this test needs the row digests

    rows = [
        i
        for i, d in enumerate(table_digests(v3, sorted(c for c in v3.schema.names if c != "label")))
        if d.hex() in planted
    ]
    assert len(rows) == 6
    pq.write_table(_nudged(v3.take(rows), flips=2), "edited.parquet")
    _ok(prov, "add", "edited.parquet", "--source", "crowd2", "--unsigned", *PINNED)
    pq.write_table(pa.concat_tables([pq.read_table("v3q2.parquet"), pq.read_table("edited.parquet")]), "v4.parquet")
    _ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v3q2", "--key", "maintainer.key", *PINNED)
    rule = _rule(prov, "v4", "v2")
    assert rule["status"] == "block" and "6 signed records of v2 went missing" in rule["reason"], rule
    assert (
        rule_verdicts(prov("check", "v4", "--base", "v2", "--policy", "policy.toml", *PINNED).stdout)[RULE] == "blocked"
    )


def test_withdrawing_every_signed_batch_still_blocks_records_of_no_batch(prov, template_trust, workdir):
    """A withdrawal accounts for its batch's missing records only: the store's sources still sign their
    batches, so an added record that no registered batch carries still blocks."""
    db = sqlite3.connect(".prov/prov.db")
    (vendor,) = db.execute(
        "select subject from audit where action = 'batch.add' and subject like 'vendor@%'"
    ).fetchone()
    db.close()
    _ok(prov, "withdraw", vendor, "--reason", "superseded", "--key", "maintainer.key", *PINNED)
    stray = _nudged(pq.read_table("crowd-batch.parquet").slice(0, 10), flips=0)
    pq.write_table(pa.concat_tables([pq.read_table("v3.parquet"), stray]), "v4.parquet")
    _ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    rule = _rule(prov, "v4", "v3")
    assert rule["status"] == "block" and rule["count"] == 10, rule
    assert "where sources sign their batches (1 trusted signed batches, none missing records)" in rule["reason"]
