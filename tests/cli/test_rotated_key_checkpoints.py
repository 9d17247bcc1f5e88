"""A checkpoint signed by a key that only an earlier root trusted (rotated out) can at most fail to add coverage.

Attack review 5, finding 5: a thief holding the attest key that root v2 rotated out, with write
access to ``.prov/``, signs a checkpoint over a copy of the store with one extra entry and plants
its object and row (sqlite3). It used to fail ``prov audit verify`` and every ``prov check`` under
the new root (exit 1, "entries removed"). Now it is a warning that names the key and the way out.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from provenance import keys
from provenance.store import audit
from support import attest_rotation_roots, digits_table

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CHAIN = {"PROV_SIGNERS": "rootk.pub", "PROV_ROOT": "root1.json:root2.json"}


@pytest.fixture
def rotated(prov, workdir):
    """Root v1 gives attest to att1, root v2 to att2; v1 and v2 committed and v2 attested under root v1."""
    attest_rotation_roots(prov, workdir)
    pq.write_table(digits_table(150), workdir / "d.parquet")
    pq.write_table(digits_table(160), workdir / "e.parquet")
    v1 = {"PROV_SIGNERS": "rootk.pub", "PROV_ROOT": "root1.json"}
    for args in (
        ["init"],
        ["commit", "d.parquet", "--tag", "v1", "--key", "maint.key"],
        ["commit", "e.parquet", "--tag", "v2", "--key", "maint.key"],
        ["check", "v2", "--base", "v1", "--attest", "--key", "att1.key"],
    ):
        r = prov(*args, env=v1)
        assert r.exit_code == 0, (args, r.output)
    return workdir


def plant_checkpoint_of_another_log(prov, workdir: Path, key: str, monkeypatch, rewrite: bool = False) -> str:
    """The thief's way: copy the store, append one entry to the copy (or with ``rewrite``, change the
    last entry and re-hash it, keeping the size), sign a checkpoint over it with ``key``, then copy the
    checkpoint's object and row into the real store. Returns the object id."""
    fake = workdir / "fake"
    shutil.rmtree(fake, ignore_errors=True)
    shutil.copytree(workdir / ".prov", fake / ".prov")
    con = sqlite3.connect(fake / ".prov" / "prov.db")
    if rewrite:
        (last,) = audit.entries(con)[-1:]
        last["detail"] = json.dumps({"note": "not in the real log"})
        digest = hashlib.sha256(audit.entry_bytes(last)).hexdigest()
        con.execute("update audit set detail = ?, hash = ? where seq = ?", [last["detail"], digest, last["seq"]])
        con.execute("delete from checkpoints")
    else:
        audit.append(con, "batch.add", "vendorA@000000000000", {"note": "not in the real log"})
    con.commit()
    con.close()
    monkeypatch.chdir(fake)
    r = prov("audit", "checkpoint", "--key", workdir / key, "--json")
    monkeypatch.chdir(workdir)
    assert r.exit_code == 0, r.output
    oid = json.loads(r.stdout)["object"]
    shutil.copy(fake / ".prov" / "objects" / f"{oid}.json", workdir / ".prov" / "objects" / f"{oid}.json")
    src, dst = sqlite3.connect(fake / ".prov" / "prov.db"), sqlite3.connect(workdir / ".prov" / "prov.db")
    row = src.execute("select * from checkpoints where object = ?", [oid]).fetchone()
    dst.execute(f"insert into checkpoints values ({','.join('?' * len(row))})", row)
    dst.commit()
    src.close()
    dst.close()
    return oid


def test_a_rotated_out_keys_checkpoint_of_another_log_warns_and_blocks_nothing(prov, rotated, monkeypatch):
    att1 = keys.key_id(keys.load_public(rotated / "att1.pub"))
    oid = plant_checkpoint_of_another_log(prov, rotated, "att1.key", monkeypatch)

    r = prov("audit", "verify", env=CHAIN)
    assert r.exit_code == 0, r.output  # was: exit 1, "covers N entries but the log has N-1 (entries removed)"
    assert f"WARNING: checkpoint {oid[:12]}" in r.stdout
    assert f"a rotated-out key ({att1[:16]}) signed a checkpoint of another log" in r.stdout
    assert f"revoke it with `prov keys revoke {att1[:16]} --checkpoint-key NEW.key`" in r.stdout
    doc = json.loads(prov("audit", "verify", "--json", env=CHAIN).stdout)
    Draft202012Validator(json.loads((SCHEMAS / "audit-verify.schema.json").read_text())).validate(doc)
    (odd,) = doc["not_relied_on"]
    assert odd["object"] == oid and odd["keyid"] == att1 and odd["warning"] is True
    assert oid not in {c["object"] for c in doc["checkpoints"]}

    r = prov("check", "v2", "--base", "v1", "--format", "json", env=CHAIN)
    assert r.exit_code == 0, r.output  # was: BLOCKED by integrity.verify_signatures
    result = json.loads(r.stdout)
    (integrity,) = [x for x in result["rules"] if x["rule"] == "integrity.verify_signatures"]
    assert integrity["status"] == "warn" and "a rotated-out key" in integrity["reason"]
    assert len(result["rules"]) > 1  # the other rules ran: a warning is no stop
    r = prov("check", "v2", "--base", "v1", env=CHAIN)
    assert r.exit_code == 0 and "a rotated-out key" in " ".join(r.stdout.split())  # the text report wraps
    r = prov("check", "v2", "--base", "v1", "--attest", "--key", "att2.key", "--attest-out", "v2b.json", env=CHAIN)
    assert r.exit_code == 0, r.output
    assert prov("verify", "v2", "--attestation", "v2b.json", "--no-data", env=CHAIN).exit_code == 0

    # the way out the warning names: revoke the old key in the store; the checkpoint is then no one's
    r = prov("keys", "revoke", att1[:16], "--reason", "stolen", "--checkpoint-key", "att2.key", "--yes", env=CHAIN)
    assert r.exit_code == 0, r.output
    doc = json.loads(prov("audit", "verify", "--json", env=CHAIN).stdout)
    assert [c["warning"] for c in doc["not_relied_on"] if c["object"] == oid] == [False]


def test_a_checkpoint_of_another_log_by_a_key_trusted_now_still_fails_and_says_which_is_odd(prov, rotated, monkeypatch):
    r = prov("check", "v2", "--base", "v1", "--attest", "--key", "att2.key", "--attest-out", "v2b.json", env=CHAIN)
    assert r.exit_code == 0, r.output
    oid = plant_checkpoint_of_another_log(prov, rotated, "att2.key", monkeypatch)
    r = prov("audit", "verify", env=CHAIN)
    assert r.exit_code == 1
    assert f"checkpoint {rotated / '.prov' / 'objects' / oid}.json" in r.stderr
    assert "covers" in r.stderr and "either the log lost or changed entries it covered (a rolled-back store" in r.stderr
    assert "or the checkpoint was signed over another log (is key" in r.stderr
    r = prov("check", "v2", "--base", "v1", env=CHAIN)
    assert r.exit_code == 1 and "integrity.verify_signatures" in r.stdout

    con = sqlite3.connect(rotated / ".prov" / "prov.db")
    con.execute("delete from checkpoints where object = ?", [oid])
    con.commit()
    con.close()
    # a checkpoint over a rewritten log of the same size, while the honest checkpoint matches: it is the odd one out
    odd = plant_checkpoint_of_another_log(prov, rotated, "att2.key", monkeypatch, rewrite=True)
    r = prov("audit", "verify", env=CHAIN)
    assert r.exit_code == 1 and f"{odd}.json (signed by key" in r.stderr
    assert "disagrees with checkpoint" in r.stderr and "which matches the log: either the log lost" in r.stderr
    con = sqlite3.connect(rotated / ".prov" / "prov.db")
    con.execute("delete from checkpoints where object = ?", [odd])
    con.commit()
    con.close()

    # under the newest root alone the old key is no one's: its checkpoints are plainly not relied on
    old = plant_checkpoint_of_another_log(prov, rotated, "att1.key", monkeypatch)
    doc = json.loads(prov("audit", "verify", "--json", env={**CHAIN, "PROV_ROOT": "root2.json"}).stdout)
    assert {c["object"]: c["warning"] for c in doc["not_relied_on"]}[old] is False
