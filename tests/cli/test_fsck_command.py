"""`prov fsck --json` validates against schemas/fsck.schema.json, on a sound store and a damaged one."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path

from jsonschema import Draft202012Validator

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "fsck.schema.json").read_text())


def test_fsck_json_matches_its_schema(prov, workdir, digits_parquet, keypair):
    assert prov("init").exit_code == 0
    assert prov("commit", digits_parquet, "--tag", "v1", "--key", keypair.private_path).exit_code == 0
    (workdir / ".prov" / "objects" / ".tmp-left").write_bytes(b"half")
    sound = prov("fsck", "--json")
    assert sound.exit_code == 0
    report = json.loads(sound.stdout)
    Draft202012Validator(SCHEMA).validate(report)
    assert report["status"] == "ok" and report["warnings"][0]["repairable"] is True

    obj = sorted((workdir / ".prov" / "objects").glob("*.parquet"))[0]
    obj.write_bytes(obj.read_bytes() + b"!")
    damaged = prov("fsck", "--json")
    assert damaged.exit_code == 1
    report = json.loads(damaged.stdout)
    Draft202012Validator(SCHEMA).validate(report)
    assert report["status"] == "failed" and any("was altered" in e["message"] for e in report["errors"])


def test_fsck_reports_a_version_whose_envelope_was_forged_after_this_process_verified_it(
    prov, workdir, digits_parquet, keypair, monkeypatch
):
    """Signature verdicts are remembered for the process (``signing.signature_verifies``), and the in-process
    runner is one process: after a sound fsck verified v1, a ``.prov/`` writer points v1's row at an envelope
    that keeps v1's signature over another statement (another record count). fsck must still say v1 fails."""
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    assert prov("init").exit_code == 0
    assert prov("commit", digits_parquet, "--tag", "v1", "--key", keypair.private_path).exit_code == 0
    assert prov("fsck").exit_code == 0
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        (oid,) = db.execute("select envelope_object from versions where tag = 'v1'").fetchone()
    env = json.loads((workdir / ".prov" / "objects" / f"{oid}.json").read_bytes())
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicate"]["records"] += 1
    data = json.dumps(env | {"payload": base64.b64encode(json.dumps(stmt).encode()).decode()}).encode()
    forged = hashlib.sha256(data).hexdigest()
    (workdir / ".prov" / "objects" / f"{forged}.json").write_bytes(data)
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("update versions set envelope_object = ? where tag = 'v1'", [forged])
    r = prov("fsck", "--json")
    assert r.exit_code == 1, r.output
    errors = [e["message"] for e in json.loads(r.stdout)["errors"] if e["check"] == "version v1"]
    assert any(m.startswith("version v1: signed by key") for m in errors), errors  # its signature fails
