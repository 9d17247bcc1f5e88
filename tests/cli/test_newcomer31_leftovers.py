"""Newcomer review 31's leftovers: `prov log` / `prov show` say what the last check here decided (an unsigned record,
said as one), and ``prov -q init`` prints only the store id (session 32, ux32)."""

from __future__ import annotations

import json
import sqlite3
import warnings

import pyarrow.parquet as pq
import pytest

import provenance as prov_api
from provenance.loader.unreleased import UnreleasedVersionWarning
from provenance.store import Store
from support import digits_table, validate_output, vendor_then_crowd_versions, with_source

V1_V2_V3 = (("v1.parquet", "v1"), ("v2.parquet", "v2"), ("v1.parquet", "v3"))  # v2 adds crowd's; v3 is v1 again


def test_log_and_show_say_the_last_check_blocked_as_an_unsigned_record_never_a_release(
    prov, workdir, keypair, monkeypatch
):
    vendor_then_crowd_versions(prov, workdir, keypair, monkeypatch, "v2.parquet", V1_V2_V3)
    assert prov("check", "v2", "--base", "v1", "--no-save").exit_code == 1
    assert "last check here" not in prov("log").stdout  # --no-save leaves the store as it was: nothing recorded

    blocked = prov("check", "v2", "--base", "v1", "--format", "json")
    assert blocked.exit_code == 1, blocked.output
    rules = [r["rule"] for r in json.loads(blocked.stdout)["rules"] if r["status"] == "block"]
    assert prov("check", "v3", "--base", "v1").exit_code == 0

    log = prov("log").stdout.splitlines()
    at = {x[:3]: i for i, x in enumerate(log) if x[:3] in ("v1 ", "v2 ", "v3 ")}
    assert log[at["v2 "] + 1] == "    last check here: blocked against v1 (unsigned record in .prov)", log
    assert log[at["v3 "] + 1] == "    last check here: passed against v1 (unsigned record in .prov)", log
    assert not any("released" in x for x in log)  # a check that passed is no release: no attestation was signed
    assert not any("last check" in x for x in log[at["v1 "] : at["v2 "]])  # v1 was never checked

    shown = prov("show", "v2").stdout.splitlines()
    (line,) = [x for x in shown if "last check here" in x]
    assert line.startswith(f"  last check here: blocked by {', '.join(rules[:3])} against v1, "), line
    assert any(x.startswith("  not released: ") for x in shown)

    doc = json.loads(prov("log", "--json").stdout)
    validate_output("log", doc)
    by_tag = {v["tag"]: v for v in doc["versions"]}
    assert by_tag["v1"]["last_check"] is None
    last = by_tag["v2"]["last_check"]
    assert (last["decision"], last["base"], last["blocking"], last["trust_decision"]) == ("blocked", "v1", rules, False)
    assert by_tag["v3"]["last_check"]["decision"] == "pass" and by_tag["v3"]["attestations"] == []
    report = json.loads(prov("show", "v2", "--json").stdout)
    validate_output("show", report)
    assert report["last_check"] == last

    # a later check replaces what is shown; a planted entry of another shape is skipped, not shown or crashed on
    with sqlite3.connect(".prov/prov.db") as db:
        prev, seq = db.execute("select hash, seq from audit order by seq desc limit 1").fetchone()
        db.execute(
            "insert into audit (seq, ts, action, subject, detail, prev_hash, hash) values (?, ?, 'check', 'v2', ?, ?, ?)",
            [seq + 1, "2030-01-01T00:00:00.000000+00:00", '{"decision": "released", "base": "v1"}', prev, "0" * 64],
        )
    assert json.loads(prov("show", "v2", "--json").stdout)["last_check"] == last
    assert "released" not in prov("show", "v2").stdout.replace("not released", "")


def test_fsck_and_the_audit_line_know_check_entries(prov, workdir, keypair, monkeypatch):
    Store.init(workdir).close()
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    pq.write_table(with_source(digits_table(300), "vendor"), "v1.parquet")
    for tag in ("v1", "v2"):
        assert prov("-q", "commit", "v1.parquet", "--tag", tag, "--key", keypair.private_path).exit_code == 0
    assert prov("check", "v2", "--base", "v1").exit_code == 0
    fsck = prov("fsck")
    assert fsck.exit_code == 0 and "'check'" not in fsck.output, fsck.output
    audit = [x for x in prov("show", "v2").stdout.splitlines() if x.startswith("  audit log: ")]
    assert audit and "1 check run" in audit[0] and "nothing relies on" in audit[0], audit


def test_load_of_a_version_no_release_names_warns_and_names_a_blocked_check(prov, workdir, keypair, monkeypatch):
    """Newcomer review 31: ``provenance.load`` of an unreleased version without an attestation was silent (as
    documented). It still loads (the signature is what load checks), with a warning a job can filter."""
    key = vendor_then_crowd_versions(prov, workdir, keypair, monkeypatch, "v2.parquet", V1_V2_V3)
    assert prov("check", "v2", "--base", "v1").exit_code == 1
    pins = str(keypair.public_path)
    with pytest.warns(UnreleasedVersionWarning) as caught:
        data = prov_api.load("v2", store=workdir, pins=pins)
    (warned,) = caught
    assert str(warned.message) == (
        "version v2 loaded without a release attestation: its signature and records are checked, not that prov check "
        "passed it; the last check run here blocked it (unsigned record in .prov). Give attestation=FILE (prov check "
        "v2 --base B --attest writes one) to load a release only"
    )
    assert warned.filename == __file__ and data.to_table().num_rows == 600  # the job's line; it still loads
    with pytest.warns(
        UnreleasedVersionWarning, match=r"^version v3 loaded without a release attestation: .* passed it\. "
    ):
        prov_api.load("v3", store=workdir, pins=pins)  # never checked: nothing said of a check
    assert prov("check", "v3", "--base", "v1", "--attest", "--key", key).exit_code == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # released (its attestation kept in the store verifies): nothing to say
        prov_api.load("v3", store=workdir, pins=pins)
        prov_api.load("v3", store=workdir, pins=pins, attestation="v3.attestation.json")
