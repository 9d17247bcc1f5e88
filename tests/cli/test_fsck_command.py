"""`prov fsck --json` validates against schemas/fsck.schema.json, on a sound store and a damaged one."""

from __future__ import annotations

import json
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
