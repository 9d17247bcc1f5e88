"""`prov audit verify` against signed checkpoints, with the store edited as an attacker would (sqlite3)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from provenance import keys
from support import attest_rotation_roots, digits_table, store_fingerprint

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.fixture
def project(prov, workdir, keypair):
    """v1 committed by alice (a checkpoint), a vendor trusted and a crowd batch added with alice's
    checkpoint key, then one more batch added with no key: pending."""
    pq.write_table(digits_table(150), workdir / "d.parquet")
    pq.write_table(digits_table(30, seed=2), workdir / "crowd.parquet")
    pq.write_table(digits_table(20, seed=3), workdir / "late.parquet")
    keys.generate(workdir / "vendor")
    for args in (
        ["init"],
        ["commit", "d.parquet", "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path],
        ["trust", "add", "vendor", "vendor.pub", "--unsigned", "--checkpoint-key", keypair.private_path],
        ["add", "crowd.parquet", "--source", "crowd", "--unsigned", "--checkpoint-key", keypair.private_path],
        ["add", "late.parquet", "--source", "late", "--unsigned"],
    ):
        r = prov(*args)
        assert r.exit_code == 0, (args, r.output)
    return workdir


def db(workdir: Path) -> sqlite3.Connection:
    return sqlite3.connect(workdir / ".prov" / "prov.db", isolation_level=None)


def one_line(r, code: int) -> str:
    assert r.exit_code == code, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_audit_verify_shows_checkpoints_and_pending_entries(prov, project, keypair):
    r = prov("audit", "verify", "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    assert "3 signed checkpoints (consecutive ones consistent, RFC 9162)" in r.stdout
    assert "1 entry PENDING after checkpoint" in r.stdout and "batch.add late@" in r.stdout
    assert "only against keys found in the store" not in r.stdout
    doc = json.loads(prov("audit", "verify", "--signer", keypair.public_path, "--json").stdout)
    Draft202012Validator(json.loads((SCHEMAS / "audit-verify.schema.json").read_text())).validate(doc)
    assert (
        doc["pinned"] and doc["signed"] == doc["entries"] - 1 and [p["action"] for p in doc["pending"]] == ["batch.add"]
    )
    # no pin: it still checks, against the store's keys, and says so
    r = prov("audit", "verify", env={"PROV_SIGNERS": ""})
    assert r.exit_code == 2 and "nothing is pinned" in r.stderr  # no pin: exit 2 (attack review 7, finding 4)
    r = prov("audit", "verify", "--store-keys", env={"PROV_SIGNERS": ""})
    assert r.exit_code == 0 and "NOT a trust decision: signatures checked only against keys found in .prov/" in r.stdout
    # PROV_SIGNERS pins like --signer
    r = prov("audit", "verify", env={"PROV_SIGNERS": str(keypair.public_path)})
    assert r.exit_code == 0 and "only against keys found" not in r.stdout


def test_a_rechained_log_no_longer_matches_its_signed_checkpoints(prov, project, keypair):
    """Issue 12: the log was chained but not signed, so recomputing the chain rewrote history.
    Here the attacker swaps the vendor's trusted key in the trust.add entry and re-chains."""
    con = db(project)
    rows = con.execute("select seq, ts, action, subject, detail, prev_hash from audit order by seq").fetchall()
    target = next(i for i, r in enumerate(rows) if r[2] == "trust.add")
    prev = con.execute("select hash from audit where seq = ?", [rows[target][0] - 1]).fetchone()[0]
    for i, (seq, ts, action, subject, detail, _) in enumerate(rows[target:]):
        if i == 0:
            detail = json.dumps({**json.loads(detail), "keyid": "ab" * 32}, sort_keys=True, separators=(",", ":"))
        body = json.dumps([seq, ts, action, subject, detail, prev], separators=(",", ":"), ensure_ascii=False)
        h = hashlib.sha256(body.encode()).hexdigest()
        con.execute("update audit set detail = ?, prev_hash = ?, hash = ? where seq = ?", [detail, prev, h, seq])
        prev = h
    con.close()
    line = one_line(prov("audit", "verify", "--signer", keypair.public_path), 1)
    assert (
        "audit log is broken: the first" in line
        and "the log lost or changed entries it covered" in line
        and ".prov/objects/" in line
    )
    r = prov("fsck")
    assert r.exit_code == 1 and "the log lost or changed entries it covered" in r.output


def test_a_bad_checkpoint_key_is_refused_before_anything_is_read(prov, project):
    before = store_fingerprint(project / ".prov")
    pq.write_table(digits_table(10, seed=9), project / "more.parquet")
    r = prov("add", "more.parquet", "--source", "more", "--unsigned", "--checkpoint-key", "missing.key")
    line = one_line(r, 2)
    assert "missing.key" in line
    r = prov("add", "more.parquet", "--source", "more", "--unsigned", "--checkpoint-key", "vendor.pub")
    assert "vendor.pub" in one_line(r, 2)
    assert store_fingerprint(project / ".prov") == before


def verify_json(prov, *pins, env: dict | None = None) -> dict:
    r = prov("audit", "verify", *pins, "--json", env=env)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    Draft202012Validator(json.loads((SCHEMAS / "audit-verify.schema.json").read_text())).validate(doc)
    return doc


def rechain(con: sqlite3.Connection, first: int, edit=None) -> None:
    """Re-chain the audit log from entry ``first`` on, after ``edit(detail) -> detail`` on that entry,
    as whoever can write ``.prov/`` can: every chain hash is recomputed, so only a signed head notices."""
    rows = con.execute("select seq, ts, action, subject, detail from audit where seq >= ? order by seq", [first])
    prev = con.execute("select hash from audit where seq = ?", [first - 1]).fetchone()[0]
    for seq, ts, action, subject, detail in rows.fetchall():
        if seq == first and edit is not None:
            detail = edit(detail)
        body = json.dumps([seq, ts, action, subject, detail, prev], separators=(",", ":"), ensure_ascii=False)
        h = hashlib.sha256(body.encode()).hexdigest()
        con.execute("update audit set detail = ?, prev_hash = ?, hash = ? where seq = ?", [detail, prev, h, seq])
        prev = h


def test_a_checkpoint_by_a_key_nobody_pinned_is_not_relied_on(prov, project, keypair):
    """Review 3 finding 6, newcomer 3 item 2: one checkpoint by a key the verifier did not pin (a
    reviewer's waive key, a key a root rotated out, or anyone's own key with write access to .prov/)
    used to fail every later `audit verify` and `check` (exit 1). It is no evidence either way: now it
    is listed and not used, and the entries only it covers stay pending."""
    pins = ("--signer", keypair.public_path)
    before = verify_json(prov, *pins)
    mallory = keys.generate(project / "mallory")
    r = prov("audit", "checkpoint", "--key", mallory.private_path)  # write access to .prov/ and a key of one's own
    assert r.exit_code == 0, r.output
    fingerprint = store_fingerprint(project / ".prov")
    r = prov("audit", "verify", *pins)
    assert r.exit_code == 0, r.output
    assert f"not relied on: signed by key {mallory.keyid[:16]}, which the verifier did not pin" in r.stdout
    doc = verify_json(prov, *pins)
    (ignored,) = doc["not_relied_on"]
    assert ignored["keyid"] == mallory.keyid and ignored["size"] == doc["entries"]
    assert [c["object"] for c in doc["checkpoints"]] == [c["object"] for c in before["checkpoints"]]
    # it covers nothing: the late batch and mallory's key registration are pending, as before it
    assert doc["signed"] == before["signed"] and doc["signed_by"] == before["signed_by"]
    assert [e["action"] for e in doc["pending"]] == ["batch.add", "key.register"]
    assert store_fingerprint(project / ".prov") == fingerprint


def test_a_checkpoint_naming_a_pinned_key_it_was_not_signed_by_fails(prov, project, keypair):
    """Still fails closed: an envelope by another key that claims the pinned key's id, or a row that does."""
    mallory = keys.generate(project / "mallory")
    assert prov("audit", "checkpoint", "--key", mallory.private_path).exit_code == 0
    con = db(project)
    oid = con.execute("select object from checkpoints where keyid = ?", [mallory.keyid]).fetchone()[0]
    con.execute("update checkpoints set keyid = ? where object = ?", [keypair.keyid, oid])  # the row lies
    line = one_line(prov("audit", "verify", "--signer", keypair.public_path), 1)
    assert f"names key {keypair.keyid[:16]}, but the checkpoint does not verify under it (forged)" in line
    env = json.loads((project / ".prov" / "objects" / f"{oid}.json").read_bytes())
    env["signatures"][0]["keyid"] = keypair.keyid  # the envelope lies
    data = json.dumps(env).encode()
    forged = hashlib.sha256(data).hexdigest()
    (project / ".prov" / "objects" / f"{forged}.json").write_bytes(data)
    con.execute("update checkpoints set object = ? where object = ?", [forged, oid])
    con.close()
    line = one_line(prov("audit", "verify", "--signer", keypair.public_path), 1)
    assert f"signature by key {keypair.keyid[:16]} does not verify under any trusted key" in line


def test_a_planted_checkpoint_over_a_rewritten_log_gains_nothing(prov, project, keypair):
    """The attacker swaps the vendor's key in the trust.add entry, re-chains the log and signs a checkpoint
    of their own over it: the maintainer's checkpoints still catch the rewrite. Deleting those too (rows
    nobody signs) only takes coverage back to the version's signed head: the rewritten entries are then
    pending, relied on by no check, and a checkpoint kept outside the store catches it."""
    pins = ("--signer", keypair.public_path)
    assert prov("audit", "checkpoint", "--key", keypair.private_path, "--out", "kept.json").exit_code == 0
    con = db(project)
    seq = con.execute("select seq from audit where action = 'trust.add'").fetchone()[0]
    rechain(
        con, seq, lambda d: json.dumps({**json.loads(d), "keyid": "ab" * 32}, sort_keys=True, separators=(",", ":"))
    )
    mallory = keys.generate(project / "mallory")
    assert prov("audit", "checkpoint", "--key", mallory.private_path).exit_code == 0
    line = one_line(prov("audit", "verify", *pins), 1)
    assert "the log lost or changed entries it covered" in line
    con.execute("delete from checkpoints where keyid = ?", [keypair.keyid])
    con.close()
    doc = verify_json(prov, *pins)
    # v1 signed the head before its own commit entry: nothing from trust.add on is relied on
    assert doc["signed"] < seq and "trust.add" in [e["action"] for e in doc["pending"]]
    assert [c["keyid"] for c in doc["not_relied_on"]] == [mallory.keyid] and doc["checkpoints"] == []
    line = one_line(prov("audit", "verify", *pins, "--checkpoint", "kept.json"), 1)
    assert "the log lost or changed entries it covered" in line


def test_a_malformed_checkpoint_is_exit_2_naming_its_file(prov, project, keypair):
    junk = b'{"payloadType": "application/vnd.in-toto+json", "payload": 3, "signatures": []}'
    oid = hashlib.sha256(junk).hexdigest()
    (project / ".prov" / "objects" / f"{oid}.json").write_bytes(junk)
    con = db(project)
    con.execute(
        "insert into checkpoints (object, size, root, head, keyid, created_at) values (?, 1, ?, ?, ?, ?)",
        [oid, "00" * 32, "00" * 32, keypair.keyid, "2026-01-01T00:00:00+00:00"],
    )
    con.close()
    before = store_fingerprint(project / ".prov")
    line = one_line(prov("audit", "verify", "--signer", keypair.public_path), 2)
    assert f"{oid}.json: envelope field 'payload' is missing or not a str" in line
    assert store_fingerprint(project / ".prov") == before
    # a kept checkpoint file that is not one: exit 2 naming it
    (project / "kept.json").write_text("[]")
    line = one_line(prov("audit", "verify", "--signer", keypair.public_path, "--checkpoint", "kept.json"), 2)
    assert (
        "kept.json: not a log state kept by prov commit --checkpoint-out / prov audit checkpoint (it looks like a JSON "
        "list, not an object)" in line
    )


def test_a_kept_checkpoint_catches_a_truncated_log(prov, project, keypair):
    r = prov("audit", "checkpoint", "--key", keypair.private_path, "--out", "kept.json", "--json")
    assert r.exit_code == 0, r.output
    Draft202012Validator(json.loads((SCHEMAS / "audit-checkpoint-result.schema.json").read_text())).validate(
        json.loads(r.stdout)
    )
    con = db(project)
    con.execute("delete from audit where seq = (select max(seq) from audit)")
    con.execute("delete from checkpoints where size = (select max(size) from checkpoints)")
    con.execute("delete from batches where batch like 'late@%'")
    con.close()
    assert prov("audit", "verify", "--signer", keypair.public_path).exit_code == 0  # consistent with itself
    line = one_line(prov("audit", "verify", "--signer", keypair.public_path, "--checkpoint", "kept.json"), 1)
    assert "audit log is broken: checkpoint" in line and "the log lost or changed entries it covered" in line


def test_show_and_diff_show_pending_entries(prov, project, keypair):
    r = prov("show", "v1")
    assert r.exit_code == 0 and "audit log: 1 of" in r.stdout and "entries pending (after checkpoint" in r.stdout
    info = json.loads(prov("show", "v1", "--json").stdout)
    assert [e["action"] for e in info["audit"]["pending"]] == ["batch.add"] and not info["audit"]["pinned"]
    pq.write_table(digits_table(160), project / "d.parquet")
    assert (
        prov(
            "commit", "d.parquet", "--tag", "v2", "--key", keypair.private_path, "--signer", keypair.public_path
        ).exit_code
        == 0
    )
    doc = json.loads(prov("diff", "v1", "v2", "--format", "json").stdout)
    Draft202012Validator(json.loads((SCHEMAS / "diff.schema.json").read_text())).validate(doc)
    assert doc["audit"]["pending"] == [] and doc["audit"]["by"].startswith("checkpoint ")  # the commit signed one
    assert "audit log: all" in prov("diff", "v1", "v2").stdout


def test_a_store_made_before_checkpoints_still_verifies_and_gets_the_table_with_its_first_one(prov, project, keypair):
    con = db(project)
    con.execute("drop table checkpoints")
    con.close()
    r = prov("audit", "verify", "--signer", keypair.public_path, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # v1 was the first commit: the head it signed is the empty log's, so every entry is pending
    assert doc["checkpoints"] == [] and doc["signed_by"] is None and len(doc["pending"]) == doc["entries"]
    assert prov("fsck").exit_code == 0 and prov("show", "v1").exit_code == 0
    assert prov("audit", "checkpoint", "--key", keypair.private_path).exit_code == 0
    doc = json.loads(prov("audit", "verify", "--signer", keypair.public_path, "--json").stdout)
    assert len(doc["checkpoints"]) == 1 and doc["pending"] == []


def test_after_a_root_rotates_the_attest_key_out_its_checkpoints_are_checked_not_blocking(prov, workdir):
    """Review 3 finding 6: root v2 replaces attest key att1 (stolen, say) with att2. The checkpoint att1
    signed while root v1 was in force used to block every later check under root v2. Under the chain
    (root v1, root v2) it is checked against root v1's key and covers nothing; a thief's checkpoint with
    att1 over a log rewritten past the honest checkpoints still gains no coverage."""
    attest_rotation_roots(prov, workdir)
    pq.write_table(digits_table(150), workdir / "d.parquet")
    pq.write_table(digits_table(160), workdir / "e.parquet")
    v1 = {"PROV_SIGNERS": "rootk.pub", "PROV_ROOT": "root1.json"}
    chain = {"PROV_SIGNERS": "rootk.pub", "PROV_ROOT": "root1.json:root2.json"}
    for args in (
        ["init"],
        ["commit", "d.parquet", "--tag", "v1", "--key", "maint.key"],
        ["commit", "e.parquet", "--tag", "v2", "--key", "maint.key"],
        ["check", "v2", "--base", "v1", "--attest", "--key", "att1.key"],  # signs a checkpoint with att1
    ):
        r = prov(*args, env=v1)
        assert r.exit_code == 0, (args, r.output)
    att1 = keys.key_id(keys.load_public(workdir / "att1.pub"))

    # the rotation: the same store under (root v1, root v2), or under root v2 alone
    doc = verify_json(prov, env=chain)
    assert {c["keyid"]: c["relied_on"] for c in doc["checkpoints"]}[att1] is False and doc["not_relied_on"] == []
    alone = verify_json(prov, env={**chain, "PROV_ROOT": "root2.json"})
    assert [c["keyid"] for c in alone["not_relied_on"]] == [att1]
    r = prov("check", "v2", "--base", "v1", "--attest", "--key", "att2.key", "--attest-out", "v2b.json", env=chain)
    assert r.exit_code == 0, r.output  # was: BLOCKED by integrity.verify_signatures
    assert prov("verify", "v2", "--attestation", "v2b.json", "--no-data", env=chain).exit_code == 0
    signed = verify_json(prov, env=chain)["signed"]

    # the thief of att1 (with write access to .prov/) rewrites an entry no honest checkpoint covers yet and
    # signs over it: checked against root v1's att1 it matches, but it extends no coverage; and the honest
    # checkpoint att2 signed catches a rewrite of anything it covers
    pq.write_table(digits_table(20, seed=4), workdir / "late.parquet")
    assert prov("add", "late.parquet", "--source", "late", "--unsigned").exit_code == 0
    con = db(workdir)
    last = con.execute("select max(seq) from audit").fetchone()[0]
    rechain(
        con, last, lambda d: json.dumps({**json.loads(d), "source": "vendor"}, sort_keys=True, separators=(",", ":"))
    )
    con.close()
    assert prov("audit", "checkpoint", "--key", "att1.key").exit_code == 0
    doc = verify_json(prov, env=chain)
    assert doc["signed"] == signed == last - 1 and [e["seq"] for e in doc["pending"]] == [last]
    assert doc["checkpoints"][-1]["keyid"] == att1 and doc["checkpoints"][-1]["relied_on"] is False
    con = db(workdir)
    rechain(con, last - 1, lambda d: json.dumps({**json.loads(d), "x": 1}))  # under the honest checkpoint
    con.close()
    line = one_line(prov("audit", "verify", env=chain), 1)
    assert "audit log is broken" in line


def test_the_users_own_detector_runs_are_named_not_called_pending(prov, workdir, keypair):
    """Newcomer review 9, finding 7: a second `prov diff --detect` said "1 of 8 entries pending (...;
    not relied on)", which read as a warning about the store; the entry was the first diff's run."""
    pq.write_table(digits_table(150), workdir / "d.parquet")
    pq.write_table(digits_table(170), workdir / "e.parquet")
    pins = ["--signer", keypair.public_path]
    for args in (
        ["init"],
        ["commit", "d.parquet", "--tag", "v1", "--key", keypair.private_path, *pins],
        ["commit", "e.parquet", "--tag", "v2", "--key", keypair.private_path, *pins],
        ["diff", "v1", "v2", "--detect", *pins],
    ):
        assert prov(*args).exit_code == 0, args
    for runs in ("1 detector run", "2 detector runs"):
        r = prov("diff", "v1", "v2", "--detect", *pins)
        unwrapped = " ".join(r.stdout.split())
        line = "audit log: " + unwrapped.split(" audit log: ", 1)[1].split(" Changes: ")[0]  # the line before Changes
        them = "it" if runs.startswith("1 ") else "them"
        assert line.startswith(f"audit log: {runs} since version v2 (") or line.startswith(
            f"audit log: {runs} since checkpoint "
        )
        assert line.endswith(f"(unsigned; nothing relies on {them})") and "pending" not in line, line
    # any other pending entry is named among the pending ones
    pq.write_table(digits_table(20, seed=3), workdir / "late.parquet")
    assert prov("add", "late.parquet", "--source", "late", "--unsigned").exit_code == 0
    out = " ".join(prov("diff", "v1", "v2", *pins).stdout.split())  # the line wraps at the report's width
    assert "audit log: 4 of 7 entries pending (after checkpoint " in out
    assert ": 3 detector runs, 1 batch added; not relied on until a checkpoint or version signs them)" in out
