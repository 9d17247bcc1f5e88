"""`prov verify` fails closed with nothing pinned (README Known gaps, "verify with nothing pinned").

The attacker can write the data folder and `.prov/` and holds only their own key: they poison a
version's data and re-sign the version with their key, which `prov commit` registers in the
store. A job that runs `prov verify v3` and reads the exit code must not be told "ok".
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

import provenance
from provenance.errors import InputError
from support import one_line, relabel, store_fingerprint

PINNED = ("--signer", "maintainer.pub")
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def resign_v3_with_the_attackers_key(prov) -> None:
    """Poison v3's data in place, drop v3's rows with sqlite3 and commit the poison as v3 with attacker.key."""
    relabel("v3.parquet", range(40), "v3.parquet")
    db = sqlite3.connect(".prov/prov.db")
    with db:
        db.execute("delete from versions where tag = 'v3'")
        db.execute("delete from version_lineage where tag = 'v3'")
        db.execute("delete from profiles where version = 'v3'")
    db.close()
    r = prov(
        "commit",
        "v3.parquet",
        "--tag",
        "v3",
        "--parent",
        "v2",
        "--key",
        "attacker.key",
        "--signer",
        "attacker.pub",
        "--signer",
        "maintainer.pub",
    )
    assert r.exit_code == 0, r.output  # the store now caches the attacker's key as a committer


def test_a_version_re_signed_by_a_store_writer_does_not_verify(prov, template_trust, workdir):
    resign_v3_with_the_attackers_key(prov)
    before = store_fingerprint(workdir / ".prov")
    r = prov("verify", "v3")
    assert r.exit_code == 2, r.output  # it used to exit 0: the attacker's key was found in the store
    line = one_line(r)
    assert "prov verify v3: nothing is pinned" in line and "--signer KEY.pub" in line and "--store-keys" in line
    assert r.stdout == "" and store_fingerprint(workdir / ".prov") == before
    r = prov("verify", "v3", *PINNED)
    assert r.exit_code == 1 and "not among the keys you pinned" in one_line(r)
    r = prov("verify", "v3", "--no-data", env={"PROV_SIGNERS": "maintainer.pub"})
    assert r.exit_code == 1 and "not among the keys you pinned" in one_line(r)
    r = prov("verify", "v2", *PINNED, "--json")  # the honest version still verifies
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["trust_decision"] is True and "trust_note" not in report
    Draft202012Validator(json.loads((SCHEMAS / "verify-version.schema.json").read_text())).validate(report)


def test_a_re_signed_version_does_not_export(prov, template_trust, workdir):
    """`prov export v3 --out F` hands v3's records to training: unpinned it exported the poison with exit 0."""
    resign_v3_with_the_attackers_key(prov)
    before = store_fingerprint(workdir / ".prov")
    r = prov("export", "v3", "--out", "train.parquet")
    assert r.exit_code == 2, r.output  # it used to exit 0: "Exported v3: ... as signed", 40 labels flipped
    assert "prov export v3: nothing is pinned" in one_line(r) and "--signer KEY.pub" in one_line(r)
    assert r.stdout == "" and not Path("train.parquet").exists()
    assert store_fingerprint(workdir / ".prov") == before
    r = prov("export", "v3", "--out", "train.parquet", *PINNED)
    assert r.exit_code == 1 and "not among the keys you pinned" in one_line(r) and not Path("train.parquet").exists()
    r = prov("export", "v2", "--out", "train.parquet", env={"PROV_SIGNERS": "maintainer.pub"})
    assert r.exit_code == 0, r.output  # the honest version still exports
    from provenance.export import export_version
    from provenance.store import Store

    with pytest.raises(InputError, match="nothing is pinned"):  # the library fails closed too
        export_version(Store.open(workdir), "v2", "lib.parquet")
    assert not Path("lib.parquet").exists()


def test_audit_verify_with_nothing_pinned_decides_nothing(prov, template_trust, workdir):
    """`prov audit verify` said "Audit log ok" (exit 0) for a store a .prov/ writer re-signed with their key."""
    resign_v3_with_the_attackers_key(prov)
    before = store_fingerprint(workdir / ".prov")
    r = prov("audit", "verify")
    assert r.exit_code == 2, r.output  # it used to exit 0 with "Audit log ok"
    assert "prov audit verify: nothing is pinned" in one_line(r) and "--store-keys" in one_line(r)
    assert r.stdout == "" and store_fingerprint(workdir / ".prov") == before
    assert prov("audit", "verify", *PINNED).exit_code == 1  # the attacker's key is not trusted
    r = prov("audit", "verify", "--store-keys")  # whatever the keys: v3's row was deleted and v3 committed again
    assert r.exit_code == 1 and "version v3 is committed by 2 audit entries" in one_line(r)  # (exit 0 before 15b)
    r = prov("audit", "verify", "--store-keys", *PINNED)
    assert r.exit_code == 2 and "--store-keys checks against the store's keys instead" in one_line(r)


def test_status_of_a_re_signed_version_is_no_trust_statement(prov, template_trust, workdir):
    """`prov status` is a display: unpinned, "unchanged since v3" must not read as a trust statement."""
    resign_v3_with_the_attackers_key(prov)
    r = prov("status", "v3.parquet", "--version", "v3")
    assert r.exit_code == 0 and "unchanged since v3" in r.stdout
    assert "NOT a trust decision: nothing pinned" in r.stdout  # it used to read as plain "unchanged since v3"
    r = prov("status", "v3.parquet", "--version", "v3", *PINNED)
    assert r.exit_code == 1 and "not among the keys you pinned" in one_line(r)


def test_show_of_a_re_signed_version_never_says_signature_ok_unpinned(prov, template_trust, workdir):
    """`prov show` is a display (exit 0 either way), but unpinned it said "signature ok (keys found in the store
    only ...)" and `"signature": "ok"` of the attacker's re-signed v3; now it says it is NOT a trust decision."""
    resign_v3_with_the_attackers_key(prov)
    r = prov("show", "v3")
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0]
    assert first == (
        "Version v3 (parent v2), 1797 records; "
        "NOT a trust decision: nothing pinned, so the version was checked only against keys found in .prov/"
    ), first
    assert "signature ok" not in r.stdout
    report = json.loads(prov("show", "v3", "--json").stdout)
    Draft202012Validator(json.loads((SCHEMAS / "show.schema.json").read_text())).validate(report)
    assert report["signature"] == "store keys only" and report["trust_decision"] is False  # "ok" before
    assert report["trust_note"].startswith("not a trust decision")
    r = prov("show", "v3", *PINNED)
    assert r.exit_code == 1 and "not among the keys you pinned" in one_line(r)
    r = prov("show", "v2", *PINNED)
    assert (
        r.exit_code == 0
        and r.stdout.startswith("Version v2 (parent v1), ")
        and "; signature ok\n  checked against pinned key(s) " in r.stdout
    )
    report = json.loads(prov("show", "v2", "--json", *PINNED).stdout)
    assert report["signature"] == "ok" and report["trust_decision"] is True and "trust_note" not in report


def test_store_keys_is_an_explicit_check_that_decides_nothing(prov, template_trust, workdir):
    resign_v3_with_the_attackers_key(prov)
    r = prov("verify", "v3", "--store-keys")
    assert r.exit_code == 0, r.output  # the store is consistent with itself, and that is all it says
    assert (
        "Version v3: signature checked only against keys found in .prov/: NOT a trust decision, manifest ok" in r.stdout
    )
    assert "signature ok" not in r.stdout
    assert "not a trust decision: nothing was pinned" in r.stdout
    r = prov("verify", "v3", "--store-keys", "--json")
    report = json.loads(r.stdout)
    Draft202012Validator(json.loads((SCHEMAS / "verify-version.schema.json").read_text())).validate(report)
    assert report["trust_decision"] is False and report["trust"]["checked_against"] == "store"
    assert report["trust_note"].startswith("not a trust decision")
    r = prov("verify", "v3", "--store-keys", *PINNED)
    assert r.exit_code == 2 and "--store-keys checks against the store's keys instead of pinned ones" in one_line(r)
    r = prov("verify", "v3", "--store-keys", "--attestation", "v2.attestation.json")
    assert r.exit_code == 2 and one_line(r) == (
        "Error: prov verify v3 --attestation v2.attestation.json: nothing is pinned; pass --signer KEY.pub, "
        "set PROV_SIGNERS, or give --root FILE"
    )


def test_check_verify_and_export_refuse_nothing_pinned_in_one_message(prov, template_trust, workdir):
    """Newcomer review 7 leftovers: with nothing pinned `prov check` said "prov check needs a pinned
    signer: ..." while verify, audit verify and export said why a key in .prov/ proves nothing and how
    to pin. One refusal now (Pins.require_trust_decision), naming the command and its target; only
    the commands with --store-keys add that escape. Newcomer review 8, finding 8: it was 300 characters;
    the reason is said with -v."""
    before = store_fingerprint(workdir / ".prov")
    why = "nothing is pinned; pass --signer KEY.pub, set PROV_SIGNERS, or give --root FILE"
    escape = "; --store-keys checks the store's own keys instead (no trust decision)"
    said = {
        ("check", "v3", "--base", "v2"): f"prov check v3: {why}",
        ("check", "v3", "--base", "v2", "--attest", "--key", "maintainer.key"): f"prov check v3: {why}",
        ("verify", "v3"): f"prov verify v3: {why}{escape}",
        ("audit", "verify"): f"prov audit verify: {why}{escape}",
        ("export", "v3", "--out", "out.parquet"): f"prov export v3: {why}",
    }
    for args, line in said.items():
        r = prov(*args)
        assert r.exit_code == 2 and one_line(r) == f"Error: {line}", (args, r.output)
    r = prov("-v", "check", "v3", "--base", "v2")
    assert r.exit_code == 2 and r.stderr.splitlines()[1] == (
        "  a key found in .prov/ proves nothing: whoever can write the store can plant one, so a check that "
        "decides trusts only the keys you name (PROV_SIGNERS=A.pub:B.pub pins several)"
    )
    assert store_fingerprint(workdir / ".prov") == before


def test_a_batch_a_store_writer_vouches_for_does_not_verify(prov, template_trust, workdir):
    """`prov verify DATA`: the attacker signs poisoned records as "vendor" and plants a trust entry for their key."""
    pq.write_table(pq.read_table("vendor-batch.parquet").slice(0, 50), "mine.parquet")
    relabel("mine.parquet", range(20), "mine.parquet")
    assert prov("sign", "mine.parquet", "--source", "vendor", "--key", "attacker.key").exit_code == 0
    r = prov("trust", "add", "vendor", "attacker.pub", "--unsigned")
    assert r.exit_code == 0, r.output  # an entry no pinned key signed: a cache row like any other
    before = store_fingerprint(workdir / ".prov")
    r = prov("verify", "mine.parquet")
    assert r.exit_code == 2 and "prov verify mine.parquet: nothing is pinned" in one_line(r)
    assert store_fingerprint(workdir / ".prov") == before
    r = prov("verify", "mine.parquet", *PINNED)
    assert r.exit_code == 1, r.output
    r = prov("verify", "vendor-batch.parquet", *PINNED, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["trust_decision"] is True
    r = prov("verify", "mine.parquet", "--store-keys")
    assert r.exit_code == 0 and "NOT a trust decision" in r.stdout


def test_the_library_fails_closed_too(template_trust, workdir):
    with pytest.raises(InputError, match="nothing is pinned"):
        provenance.verify(workdir, "v2", read_data=False)
    report = provenance.verify(workdir, "v2", read_data=False, store_keys=True)
    assert report["trust_decision"] is False
    pins = provenance.Pins.load(["maintainer.pub"])
    assert provenance.verify(workdir, "v2", read_data=False, pins=pins)["trust_decision"] is True
