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
from support import digits_table, store_fingerprint

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
        ["commit", "d.parquet", "--tag", "v1", "--key", keypair.private_path],
        ["trust", "add", "vendor", "vendor.pub", "--checkpoint-key", keypair.private_path],
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
    assert r.exit_code == 0 and "signatures checked only against keys found in the store" in r.stdout
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
    assert "audit log is broken: the first" in line and "(history rewritten)" in line and ".prov/objects/" in line
    r = prov("fsck")
    assert r.exit_code == 1 and "(history rewritten)" in r.output


def test_a_bad_checkpoint_key_is_refused_before_anything_is_read(prov, project):
    before = store_fingerprint(project / ".prov")
    pq.write_table(digits_table(10, seed=9), project / "more.parquet")
    r = prov("add", "more.parquet", "--source", "more", "--unsigned", "--checkpoint-key", "missing.key")
    line = one_line(r, 2)
    assert "missing.key" in line
    r = prov("add", "more.parquet", "--source", "more", "--unsigned", "--checkpoint-key", "vendor.pub")
    assert "vendor.pub" in one_line(r, 2)
    assert store_fingerprint(project / ".prov") == before


def test_a_checkpoint_signed_by_an_unpinned_key_fails(prov, project, keypair):
    mallory = keys.generate(project / "mallory")
    r = prov("audit", "checkpoint", "--key", mallory.private_path)  # write access to .prov/ and a key of one's own
    assert r.exit_code == 0, r.output
    before = store_fingerprint(project / ".prov")
    line = one_line(prov("audit", "verify", "--signer", keypair.public_path), 1)
    assert f"signed by key {mallory.keyid[:16]}, which the verifier does not trust" in line
    assert ".prov/objects/" in line
    assert store_fingerprint(project / ".prov") == before


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
    line = one_line(prov("audit", "verify", "--checkpoint", "kept.json"), 2)
    assert "kept.json: envelope is not a JSON object" in line


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
    assert "audit log is broken: checkpoint" in line and "(entries removed)" in line


def test_show_and_diff_show_pending_entries(prov, project, keypair):
    r = prov("show", "v1")
    assert r.exit_code == 0 and "audit log: 1 of" in r.stdout and "entries pending (after checkpoint" in r.stdout
    info = json.loads(prov("show", "v1", "--json").stdout)
    assert [e["action"] for e in info["audit"]["pending"]] == ["batch.add"] and not info["audit"]["pinned"]
    pq.write_table(digits_table(160), project / "d.parquet")
    assert prov("commit", "d.parquet", "--tag", "v2", "--key", keypair.private_path).exit_code == 0
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
