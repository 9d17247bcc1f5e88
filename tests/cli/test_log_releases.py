"""`prov log` and `prov show` say which versions were released and what a quarantine was cut from (newcomer review 12,
finding 9: a month later nothing said which of 16 versions had been released, blocked or quarantined)."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

from jsonschema import Draft202012Validator

from provenance import keys
from support import vendor_then_crowd_versions

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def validate(name: str, doc: dict) -> None:
    Draft202012Validator(json.loads((SCHEMAS / f"{name}.schema.json").read_text())).validate(doc)


def signed_release(path: str) -> dict:
    """prov's release facts in an attestation file (its payload, read here to compare; prov verifies it)."""
    payload = json.loads(base64.b64decode(json.loads(Path(path).read_text())["payload"]))
    return payload["predicate"]["https://prov.dev/release/v1"]


def test_log_and_show_mark_the_releases_the_pinned_attest_key_signed_and_name_quarantines(
    prov, workdir, keypair, monkeypatch
):
    commits = (("v1.parquet", "v1"), ("v1.parquet", "v2"), ("v3.parquet", "v3"))
    key = vendor_then_crowd_versions(prov, workdir, keypair, monkeypatch, "v3.parquet", commits)
    assert prov("check", "v2", "--base", "v1", "--attest", "--key", key).exit_code == 0
    r = prov("quarantine", "--from", "v3", "--source", "crowd", "--tag", "v4", "--key", key)
    assert r.exit_code == 0 and "v3.v4.parquet as Parquet; committed v4 (parent v3)" in r.stdout, r.output
    r = prov("check", "v4", "--base", "v2", "--attest", "--key", key)
    assert r.exit_code == 0, r.output
    v2, v4 = signed_release("v2.attestation.json"), signed_release("v4.attestation.json")

    log = prov("log").stdout.splitlines()
    released_v2 = f"    released: release {v2['release']} against v1 (passed), valid until {v2['expires'][:10]}"
    assert released_v2 in log and log.index(released_v2) == 1 + next(i for i, x in enumerate(log) if x[:3] == "v2 ")
    assert f"    released: release {v4['release']} against v2 (passed), valid until {v4['expires'][:10]}" in log
    assert "    quarantine of v3 (prov show v4 says what it cut out)" in log
    assert sum("released" in x for x in log) == 2  # v1 (never checked) and v3 (cut from) are not released
    doc = json.loads(prov("log", "--json").stdout)
    validate("log", doc)
    by_tag = {v["tag"]: v for v in doc["versions"]}
    assert by_tag["v4"]["quarantine_of"] == "v3" and by_tag["v2"]["quarantine_of"] is None
    (item,) = by_tag["v2"]["attestations"]
    assert item["verified"] and (item["release"], item["base"], item["decision"]) == (v2["release"], "v1", "pass")
    assert by_tag["v3"]["attestations"] == [] and by_tag["v1"]["attestations"] == []

    shown = prov("show", "v2").stdout.splitlines()
    assert released_v2[2:] in shown
    assert any(
        x.startswith("  not released: no release attestation kept") for x in prov("show", "v3").stdout.split("\n")
    )
    report = json.loads(prov("show", "v4", "--json").stdout)
    validate("show", report)
    assert [a["release"] for a in report["attestations"]] == [v4["release"]]

    # the attestations row is no release: moved onto v3 by whoever writes .prov/, the signed facts still say v2
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("update attestations set version = 'v3' where version = 'v2'")
    assert prov("log").stdout.splitlines() == log
    # under another key's pins, or with nothing pinned, no kept attestation is relied on, and each says why
    keys.generate(workdir / "stranger")
    r = prov("log", "--signer", "stranger.pub")
    assert "released" not in r.stdout and r.stdout.count("not relied on: not signed by a pinned attest key") == 2
    r = prov("log", env={"PROV_SIGNERS": None})
    assert "released" not in r.stdout and r.stdout.count("not relied on: nothing pinned") == 2
    assert "Releases are marked only under keys you pin" in r.stdout
    assert "not relied on: nothing pinned" in prov("show", "v4", env={"PROV_SIGNERS": None}).stdout
