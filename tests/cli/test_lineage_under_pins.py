"""`prov sources`, `prov show` and `prov diff` judge lineage under the pins, as `prov check` does
(README Known gaps: "sources and diff show lineage as committed").

In the trust world (``support.build_trust_world``) v2 holds the vendor's 600 signed records,
attested when v2 was committed. The vendor's key is then revoked (stolen): for every reader
its batch attests nothing, and each says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from jsonschema import Draft202012Validator

from provenance import keys
from provenance.lineage.classify import counts, trusted_lineage
from provenance.store import Store
from provenance.trust.pins import Pins
from support import N_VENDOR

PINNED = ("--signer", "maintainer.pub")
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
HEAVY = ("numpy", "pyarrow")


def validate(name: str, document: dict) -> None:
    Draft202012Validator(json.loads((SCHEMAS / f"{name}.schema.json").read_text())).validate(document)


def vendor_row(prov, *args: str) -> tuple[dict, dict]:
    r = prov("sources", "--version", "v2", "--json", *PINNED, *args)
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    validate("sources", info)
    return info, next(s for s in info["sources"] if s["source"] == "vendor")


def revoke_vendor(prov) -> str:
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    r = prov("trust", "revoke", "vendor", "--key-id", vendor[:16], "--reason", "stolen", "--yes")
    assert r.exit_code == 0, r.output
    return vendor


def test_sources_and_show_stop_calling_a_revoked_keys_records_attested(prov, template_trust, workdir):
    n_vendor = template_trust.facts["n_vendor"]
    _, before = vendor_row(prov)
    assert (before["attested"], before["unattributed"], before["not_trusted"]) == (n_vendor, 0, [])
    vendor = revoke_vendor(prov)

    info, after = vendor_row(prov)
    assert (after["attested"], after["unattributed"]) == (0, n_vendor)  # was still n_vendor attested
    [lost] = after["not_trusted"]
    assert lost["records"] == n_vendor and lost["batch"].startswith("vendor@")
    assert f"signed by key {vendor[:16]} of vendor, which was revoked at" in lost["reason"]
    assert info["lineage_not_trusted"] == [{**lost, "source": "vendor"}]
    r = prov("sources", "--version", "v2", *PINNED)
    assert f"under your pins, {n_vendor} records of batch {lost['batch']} (vendor) no longer attested" in r.stdout

    r = prov("show", "v2", "--json", *PINNED)
    shown = json.loads(r.stdout)
    validate("show", shown)
    assert shown["lineage_signed"]["attested"] == n_vendor
    assert (shown["attested"], shown["lineage_not_trusted"]) == (0, info["lineage_not_trusted"])
    text = prov("show", "v2", *PINNED).stdout
    assert f"attested: 0 (signed: {n_vendor})" in text and "which was revoked at" in text

    # what prov check relies on (GateContext.lineage) is the same judgement
    store = Store.open(workdir)
    store.pins = Pins.load(["maintainer.pub"])
    gate = counts(trusted_lineage(store, "v2"))
    assert {k: shown[k] for k in gate} == gate


def test_a_trust_entry_no_pinned_key_signed_attests_nothing(prov, committed):
    """``committed``: the vendor's trust entry was added to the store unsigned and v1 committed with
    nothing pinned, so v1 signed the vendor's records as attested. A reader pinning the owner's key
    never vouched for the vendor's key: as for prov check, those records are not attested."""
    r = prov("sources", "--version", "v1", "--json", "--signer", "owner.pub")
    assert r.exit_code == 0, r.output
    vendor = next(s for s in json.loads(r.stdout)["sources"] if s["source"] == "vendor")
    assert (vendor["attested"], vendor["unattributed"]) == (0, N_VENDOR)
    [lost] = vendor["not_trusted"]
    assert lost["records"] == N_VENDOR and "source 'vendor' has no trusted keys" in lost["reason"]
    shown = json.loads(prov("show", "v1", "--json", "--signer", "owner.pub").stdout)
    assert (shown["lineage_signed"]["attested"], shown["attested"]) == (N_VENDOR, 0)


def test_show_stays_light_while_every_signed_batch_still_verifies(template_trust, workdir):
    """Judging needs envelopes and signatures only; the lineage object is read only after a revocation, or to
    name the batches that attest a version's records (``prov show V --batches``)."""
    code = (
        "import sys, atexit\n"
        f"atexit.register(lambda: print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr))\n"
        "sys.argv = ['prov', 'show', 'v2', '--signer', 'maintainer.pub']\n"
        "from provenance.cli import main\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines()[-1:] in ([], [""]), out.stderr


def test_diff_judges_the_candidates_lineage_after_a_revocation(prov, template_trust, workdir):
    n_vendor = template_trust.facts["n_vendor"]

    def diff() -> dict:
        r = prov("diff", "v1", "v2", "--format", "json", *PINNED)
        assert r.exit_code == 0, r.output
        report = json.loads(r.stdout)
        validate("diff", report)
        return report

    before = diff()
    vendor = next(r for r in before["by_source"] if r["source"] == "vendor")
    assert (vendor["attested_added"], before["lineage"]["not_trusted"]) == (n_vendor, {"base": [], "new": []})
    keyid = revoke_vendor(prov)

    after = diff()  # it used to say what v2 signed: 600 attested
    vendor = next(r for r in after["by_source"] if r["source"] == "vendor")
    assert (vendor["attested_added"], vendor["unattributed_added"]) == (0, n_vendor)
    assert (after["summary"]["attested_added"], after["lineage"]["new"]["attested"]) == (0, 0)
    assert vendor["named_by"] == ["signed batch"]  # it came in a signed batch; the key is what is no longer trusted
    [lost] = after["lineage"]["not_trusted"]["new"]
    assert lost["records"] == n_vendor and f"signed by key {keyid[:16]} of vendor, which was revoked" in lost["reason"]
    assert after["new"]["lineage_not_trusted"] == [lost]
    text = " ".join(prov("diff", "v1", "v2", *PINNED).stdout.split())  # wrapped to the terminal's width
    assert (
        f"lineage of v2 under your pins: {n_vendor} records of batch {lost['batch']} (vendor) no longer attested"
        in text
    )


def test_check_and_lineage_say_a_revoked_keys_records_are_no_longer_attested(prov, template_trust, workdir):
    """Newcomer review 10, finding 8: after `prov trust revoke`, `prov check` and `prov lineage` showed the
    vendor's records as attested (check's Sources row "vendor (signed batch)", lineage "attested" in every
    version) while `prov sources` said they were not. The gate's rules already judged them under the pins
    (the candidate's 600 vendor records count as unattributed additions and block); now every report says so."""
    n_vendor = template_trust.facts["n_vendor"]
    keyid = revoke_vendor(prov)
    revoked = f"signed by key {keyid[:16]} of vendor, which was revoked at"

    r = prov("check", "v2", "--base", "v1", "--format", "json", *PINNED)
    assert r.exit_code == 1, r.output  # fails closed: a revoked source's batch attests nothing
    report = json.loads(r.stdout)
    validate("check", report)
    [lost] = report["lineage_not_trusted"]
    assert (lost["source"], lost["records"]) == ("vendor", n_vendor) and revoked in lost["reason"]
    rules = {x["rule"]: x for x in report["rules"]}
    assert rules["lineage.unsigned_from_signing_sources"]["status"] == "block"
    assert rules["lineage.max_unsigned_additions"]["count"] == n_vendor
    vendor = next(s for s in report["sources"] if s["source"] == "vendor")
    assert (vendor["not_attested"], vendor["attested_added"]) == (n_vendor, 0)

    text = " ".join(prov("check", "v2", "--base", "v1", *PINNED).stdout.split())
    assert f"under your pins, {n_vendor} records of batch {lost['batch']} (vendor) no longer attested" in text
    assert "vendor (key revoked)" in text  # the Sources row, was "vendor (signed batch)", then "(key not trusted)"
    md = prov("check", "v2", "--base", "v1", "--format", "md", *PINNED).stdout
    assert f"Under your pins, {n_vendor} records of batch {lost['batch']} (vendor) no longer attested" in md

    digest = next(r for r in rules["lineage.unsigned_from_signing_sources"]["records"])["digest"]
    r = prov("lineage", digest[:16], "--json", *PINNED)
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    validate("lineage", info)
    v2 = next(v for v in info["versions"] if v["version"] == "v2")
    assert (v2["status"], v2["signed_status"]) == ("unattributed", "attested") and revoked in v2["not_trusted"]
    text = prov("lineage", digest[:16], *PINNED).stdout
    assert "v2           label" in text and "unattributed under your pins (signed as attested)" in text
    assert f"its batch no longer attests it: {revoked}" in text


def test_a_release_attested_before_a_revocation_warns_the_training_job(prov, template_trust, workdir):
    """Newcomer review 12, finding 3: after the vendor's key was revoked, ``prov verify --attestation`` and
    ``provenance.load(attestation=...)`` passed v2's release silently, though 600 of its records are no longer
    attested (``prov show`` says so; the gate would block it now)."""
    import warnings

    import pytest

    import provenance as prov_api
    from provenance.errors import VerificationError

    n_vendor = template_trust.facts["n_vendor"]
    released = ("verify", "v2", "--attestation", "v2.attestation.json", "--no-data", *PINNED)
    r = prov(*released)
    assert r.exit_code == 0 and "Warning" not in r.stderr, r.output  # before the revocation: nothing to say
    vendor = revoke_vendor(prov)
    r = prov(*released)
    assert r.exit_code == 0, r.output  # the default warns: what the key signed while valid stays valid
    [warning] = [line for line in r.stderr.splitlines() if line.startswith("Warning: ")]
    assert (
        f"release 2 (v2) holds records no longer attested under your pins: {n_vendor} records of batch vendor@"
        in warning
    )
    assert f"signed by key {vendor[:16]} of vendor, which was revoked at" in warning and "stolen" in warning
    report = json.loads(prov(*released, "--json").stdout)
    validate("verify-version", report)
    [lost] = report["attestation"]["lineage_not_trusted"]
    assert lost["records"] == n_vendor and lost["source"] == "vendor"
    r = prov(*released, "--fail-on-revoked", "--release-state", "state.json")
    assert r.exit_code == 1 and "no longer attested" in r.stderr, r.output
    assert not Path("state.json").exists()  # refused before the job's state recorded the release

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prov_api.load("v2", pins="maintainer.pub", store=workdir, attestation="v2.attestation.json")
    [warned] = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert f"{n_vendor} records of batch vendor@" in str(warned.message) and warned.filename == __file__
    with pytest.raises(VerificationError, match="no longer attested under your pins"):
        prov_api.load(
            "v2", pins="maintainer.pub", store=workdir, attestation="v2.attestation.json", fail_on_revoked=True
        )


def test_a_version_committed_after_a_revocation_names_the_revoked_batch(prov, template_trust, workdir):
    """Newcomer review 12, finding 4: a version committed after the vendor's key was revoked signed the vendor's
    records unattributed, and its check named the vendor "signed and unsigned batches" with no revocation line."""
    n_vendor = template_trust.facts["n_vendor"]
    vendor = revoke_vendor(prov)
    r = prov("commit", "v2.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 0, r.output
    r = prov("check", "v4", "--base", "v2", "--format", "json", *PINNED)
    report = json.loads(r.stdout)
    validate("check", report)
    [lost] = report["lineage_not_trusted"]
    assert (
        lost["records"] == n_vendor and f"signed by key {vendor[:16]} of vendor, which was revoked at" in lost["reason"]
    )
    row = next(s for s in report["sources"] if s["source"] == "vendor")
    assert row["not_attested"] == n_vendor and row["key_revoked"] is True
    text = prov("check", "v4", "--base", "v2", *PINNED, env={"COLUMNS": "200"}).stdout
    assert "vendor (key revoked)" in text and "signed and unsigned" not in text
    assert f"under your pins, {n_vendor} records of batch {lost['batch']} (vendor) no longer attested" in text
    r = prov("sources", "--version", "v4", *PINNED, env={"COLUMNS": "200"})
    assert f"{n_vendor} records of batch {lost['batch']} (vendor) no longer attested" in r.stdout


def test_a_revocation_removed_from_the_store_fails_the_training_jobs_verify(prov, template_trust, workdir):
    """Attack review 13, V13-1: the vendor's key was revoked with a checkpoint covering it; a ``.prov/`` writer
    then cleared the revocation's row and deleted its audit entry. ``prov verify --attestation
    --fail-on-revoked`` exited 0 with no warning and ``load(fail_on_revoked=True)`` loaded, though the store's
    own signed checkpoint no longer matched its log (``prov audit verify`` and the gate saw it). Now both fail."""
    import sqlite3

    import pytest

    import provenance as prov_api
    from provenance.errors import VerificationError

    vendor = keys.key_id(keys.load_public("vendor.pub"))
    r = prov("trust", "revoke", "vendor", "--key-id", vendor[:16], "--reason", "stolen", "--yes",
             "--checkpoint-key", "maintainer.key", *PINNED)  # fmt: skip
    assert r.exit_code == 0, r.output
    db = sqlite3.connect(".prov/prov.db")
    db.execute("update trust set revoked_at = null, revoked_reason = null")
    assert db.execute("delete from audit where action = 'trust.revoke'").rowcount == 1
    db.commit()
    db.close()
    released = ("verify", "v2", "--attestation", "v2.attestation.json", "--no-data", *PINNED)
    for extra in ((), ("--fail-on-revoked",)):
        r = prov(*released, *extra)
        assert r.exit_code == 1 and "does not match its signed checkpoints" in r.stderr, r.output
    with pytest.raises(VerificationError, match="does not match its signed checkpoints"):
        prov_api.load(
            "v2", pins="maintainer.pub", store=workdir, attestation="v2.attestation.json", fail_on_revoked=True
        )


def test_after_a_revocation_every_part_of_the_check_names_the_source_alike(prov, template_trust, workdir):
    """fix12a's leftover of newcomer review 12, finding 4: after the vendor's key was revoked and a thief's unsigned
    batch of 'vendor' came in, the Sources row read "vendor (key revoked)" while the relabel rule's reason said
    "source vendor (signed and unsigned batches)" and the JSON named_by ["signed batch", "unsigned batch"]."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from support import new_records

    vendor = keys.key_id(keys.load_public("vendor.pub"))
    assert prov("trust", "revoke", "vendor", "--key-id", vendor[:16], "--reason", "stolen", "--yes").exit_code == 0
    new_records("thief.parquet")
    assert prov("add", "thief.parquet", "--source", "vendor", "--unsigned", *PINNED).exit_code == 0
    pq.write_table(pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("thief.parquet")]), "v4.parquet")
    r = prov("commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 0, r.output
    report = json.loads(prov("check", "v4", "--base", "v2", "--format", "json", *PINNED).stdout)
    validate("check", report)
    row = next(s for s in report["sources"] if s["source"] == "vendor")
    assert "key revoked" in row["named_by"] and row["key_revoked"] is True  # was ["signed batch", "unsigned batch"]
    text = prov("check", "v4", "--base", "v2", *PINNED, env={"COLUMNS": "200"}).stdout
    assert "signed and unsigned" not in text and "(source vendor (key revoked))" in text, text
