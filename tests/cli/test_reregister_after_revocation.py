"""Re-attesting a source's records after its key was revoked (README "Revoking a stolen source key, step by step").

In the trust world (the vendor's 600 records signed with ``vendor.key`` in v2 and v3), the vendor's key is stolen
and revoked. The vendor signs its genuine batch again with a new key the maintainer trusts; ``prov add`` registers
it again as ``vendor@ROOT12.2`` and the next commit attests the records by it, while the revoked registration
attests nothing and keeps its revocation in the reports. Each attacker is replayed: the thief's stolen key, a
``.prov/`` writer with sqlite3 (a planted registration, an out-of-order one), a retired key's batch.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import jsonschema

from provenance.store import audit
from support import one_line, store_fingerprint

PINNED = ("--signer", "maintainer.pub")
KEY = ("--key", "maintainer.key")
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _revoke_and_trust_a_new_key(prov) -> None:
    for args in (
        ("trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", "--checkpoint-key", "maintainer.key"),
        ("trust", "add", "vendor", "vendor-2.pub", *KEY),
    ):
        if args[0] == "trust" and args[1] == "add":
            assert prov("keys", "generate", "vendor-2").exit_code == 0
        r = prov(*args, *PINNED)
        assert r.exit_code == 0, r.output


def _sign(prov, key: str, out: str) -> None:
    r = prov("sign", "vendor-batch.parquet", "--source", "vendor", "--key", key, "--out", out)
    assert r.exit_code == 0, r.output


def _vendor_first(folder: Path) -> str:
    with sqlite3.connect(folder / ".prov" / "prov.db") as db:
        (batch,) = db.execute(
            "select subject from audit where action = 'batch.add' and subject like 'vendor@%'"
        ).fetchone()
    return str(batch)


def _show(prov, tag: str) -> dict:
    r = prov("show", tag, "--json", *PINNED)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_the_new_key_registers_the_batch_again_and_the_next_commit_attests_it(prov, template_trust, workdir):
    first = _vendor_first(workdir)
    _revoke_and_trust_a_new_key(prov)
    assert _show(prov, "v2")["attested"] == 0  # the revoked signature attests nothing
    _sign(prov, "vendor-2.key", "again.prov.json")
    r = prov("add", "vendor-batch.parquet", "--source", "vendor", "--envelope", "again.prov.json", "--json", *PINNED)
    assert r.exit_code == 0, r.output
    added = json.loads(r.stdout)
    jsonschema.validate(added, json.loads((SCHEMAS / "add.schema.json").read_text()))
    assert added["batch"] == f"{first}.2" and added["signed"] and added["earlier_registrations"] == [first]
    assert added["records"] == template_trust.facts["n_vendor"]

    r = prov("commit", "v2.parquet", "--tag", "v4", *KEY, *PINNED)
    assert r.exit_code == 0, r.output
    v4 = _show(prov, "v4")
    assert v4["attested"] == template_trust.facts["n_vendor"] and not v4["lineage_not_trusted"], v4
    # prov sources still names the revoked registration, with its revocation, and counts v4's records attested
    r = prov("sources", "--version", "v4", "--json", *PINNED)
    listed = json.loads(r.stdout)
    jsonschema.validate(listed, json.loads((SCHEMAS / "sources.schema.json").read_text()))
    [revoked] = listed["batches_not_attesting"]
    assert revoked["batch"] == first and "revoked" in revoked["reason"] and f"{first}.2" in revoked["reason"]
    [vendor] = [s for s in listed["sources"] if s["source"] == "vendor"]
    assert vendor["attested"] == template_trust.facts["n_vendor"] and not vendor["not_trusted"]
    # the records registered again are the same delivery: counted once (newcomer review 21: 800 of 400)
    assert (vendor["batches"], vendor["records"]) == (1, template_trust.facts["n_vendor"]), vendor
    said = " ".join(prov("sources", "--version", "v4", *PINNED).stdout.split())
    assert f"under your pins, batch {first} (vendor) attests nothing: signed by key" in said, said
    # v2 relied on the revoked signature: it stays unattested, and says where the records are attested now
    v2 = _show(prov, "v2")
    assert v2["attested"] == 0
    [item] = v2["lineage_not_trusted"]
    assert item["batch"] == first and "revoked" in item["reason"]
    assert f"registered again as batch {first}.2" in item["reason"]
    # the new registration is a batch like any other: a maintainer can withdraw it, the log verifies
    r = prov("withdraw", f"{first}.2", "--reason", "superseded", *KEY, *PINNED)
    assert r.exit_code == 0, r.output
    sources = json.loads(prov("sources", "--json", *PINNED).stdout)
    assert [w["status"] for w in sources["withdrawals"] if w["batch"] == f"{first}.2"] == ["withdrawn"]
    assert prov("audit", "verify", *PINNED).exit_code == 0
    r = prov("fsck", *PINNED)
    assert r.exit_code == 0, r.output


def test_the_stolen_key_cannot_register_the_batch_again(prov, template_trust, workdir):
    _revoke_and_trust_a_new_key(prov)
    _sign(prov, "vendor.key", "stolen.prov.json")  # the thief holds vendor.key
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "vendor-batch.parquet", "--source", "vendor", "--envelope", "stolen.prov.json", *PINNED)
    assert r.exit_code == 1 and "revoked" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_a_batch_a_registration_still_attests_is_refused(prov, template_trust, workdir):
    """No revocation: the vendor's key only rotated (a retired key's batch registered before its end stays
    attested), so signing it again with the new key registers nothing."""
    first = _vendor_first(workdir)
    assert prov("keys", "generate", "vendor-2").exit_code == 0
    assert prov("trust", "add", "vendor", "vendor-2.pub", *KEY, *PINNED).exit_code == 0
    _sign(prov, "vendor-2.key", "again.prov.json")
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "vendor-batch.parquet", "--source", "vendor", "--envelope", "again.prov.json", *PINNED)
    said = one_line(r)
    assert r.exit_code == 2 and f"already registered as batch {first} (signed" in said, r.output
    assert "still attested under your pins" in said
    assert store_fingerprint(workdir / ".prov") == before


def test_adding_the_same_batch_again_says_nothing_is_added(prov, template_trust, workdir):
    """Newcomer review 24: a second `prov add` of the vendor's batch, with nothing revoked or rotated, ended
    `so there is nothing to sign again` beside a note on retired keys, to a user who had just run add twice."""
    first = _vendor_first(workdir)
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "vendor-batch.parquet", "--source", "vendor", *PINNED)
    said = one_line(r)
    assert r.exit_code == 2 and f"already registered as batch {first} (signed" in said, r.output
    keyid = json.loads((workdir / "vendor-batch.parquet.prov.json").read_text())["signatures"][0]["keyid"]
    assert said.endswith(
        f"still attested under your pins (signed by key {keyid[:16]}), so nothing is added: a batch is registered "
        "once, and again only when no registration attests it any more (its key revoked; a retired or expired "
        "key's batch registered before its end still attests)"
    ), said
    assert store_fingerprint(workdir / ".prov") == before


def test_a_pending_earlier_registration_is_refused(prov, template_trust, workdir):
    """The registration .2 no maintainer's signature covers yet (it may have been planted): a third is refused."""
    first = _vendor_first(workdir)
    _revoke_and_trust_a_new_key(prov)
    _sign(prov, "vendor-2.key", "again.prov.json")
    r = prov("add", "vendor-batch.parquet", "--source", "vendor", "--envelope", "again.prov.json", *PINNED)
    assert r.exit_code == 0, r.output
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "vendor-batch.parquet", "--source", "vendor", "--envelope", "again.prov.json", *PINNED)
    said = one_line(r)
    assert r.exit_code == 2 and f"already registered as batch {first}.2 by audit entry" in said, r.output
    assert "(pending)" in said
    assert store_fingerprint(workdir / ".prov") == before


def _plant(folder: Path, subject: str, detail: dict) -> None:
    """A ``.prov/`` writer with sqlite3: a ``batch.add`` entry, chained like prov's (audit.append), and its row."""
    with sqlite3.connect(folder / ".prov" / "prov.db") as db:
        audit.append(db, "batch.add", subject, detail)


def _first_detail(folder: Path, first: str) -> dict:
    with sqlite3.connect(folder / ".prov" / "prov.db") as db:
        (detail,) = db.execute(
            "select detail from audit where action = 'batch.add' and subject = ?", [first]
        ).fetchone()
    return json.loads(detail)


def test_a_planted_registration_of_the_revoked_envelope_attests_nothing(prov, template_trust, workdir):
    """The .prov/ writer registers the revoked batch again by hand, naming its old envelope: lineage judges the
    envelope, not the entry, so the next commit still counts the vendor's records unattributed."""
    first = _vendor_first(workdir)
    _revoke_and_trust_a_new_key(prov)
    _plant(workdir, f"{first}.2", _first_detail(workdir, first) | {"earlier_registrations": [first]})
    r = prov("commit", "v2.parquet", "--tag", "v4", *KEY, *PINNED)
    assert r.exit_code == 0, r.output
    v4 = _show(prov, "v4")
    assert v4["attested"] == 0 and v4["unattributed"] >= template_trust.facts["n_vendor"], v4
    assert {item["batch"] for item in v4["lineage_not_trusted"]} <= {first, f"{first}.2"}


def test_a_registration_out_of_order_breaks_the_log(prov, template_trust, workdir):
    """prov add numbers registrations in order: a .N with no .N-1 before it was written by hand."""
    first = _vendor_first(workdir)
    _plant(workdir, f"{first}.3", _first_detail(workdir, first))
    r = prov("audit", "verify", *PINNED)
    assert r.exit_code == 1, r.output
    assert re.search(rf"registers batch {re.escape(first)}\.3, but no earlier entry registers {re.escape(first)}\.2",
                     one_line(r)), r.output  # fmt: skip


def test_the_library_registers_it_again_extending_the_kept_state(prov, template_trust, workdir):
    """``provenance.add`` does what ``prov add --checkpoint`` does: on a log that holds the revocation's kept state."""
    import provenance

    first = _vendor_first(workdir)
    r = prov("trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", "--checkpoint-key", "maintainer.key",
             "--out", "revoked.cp", *PINNED)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert prov("keys", "generate", "vendor-2").exit_code == 0
    assert prov("trust", "add", "vendor", "vendor-2.pub", *KEY, "--checkpoint", "revoked.cp", *PINNED).exit_code == 0
    _sign(prov, "vendor-2.key", "again.prov.json")
    added = provenance.add(
        workdir,
        workdir / "vendor-batch.parquet",
        source="vendor",
        envelope=workdir / "again.prov.json",
        pins=[workdir / "maintainer.pub"],
        kept_log_state=workdir / "revoked.cp",
    )
    assert added.batch == f"{first}.2" and added.earlier_registrations == [first] and added.signed


def test_check_blocks_before_and_passes_after_the_batch_is_registered_again(prov, template_trust, workdir):
    """prov check's lineage rules: v2's data committed after the revocation blocks (the vendor signs its batches,
    and its records are attested by nothing); committed after the re-registration, the same data passes. The
    release attested before the revocation still warns, naming the revocation and the new registration."""
    first = _vendor_first(workdir)
    _revoke_and_trust_a_new_key(prov)
    assert prov("commit", "v2.parquet", "--tag", "v4", *KEY, *PINNED).exit_code == 0
    r = prov("check", "v4", "--base", "v1", "--policy", "policy.toml", "--no-save", *PINNED)
    assert r.exit_code == 1 and "BLOCKED by 1 of" in r.stdout and "lineage.unsigned_from_signing_sources" in r.stdout
    _sign(prov, "vendor-2.key", "again.prov.json")
    r = prov("add", "vendor-batch.parquet", "--source", "vendor", "--envelope", "again.prov.json", *PINNED)
    assert r.exit_code == 0, r.output
    assert prov("commit", "v2.parquet", "--tag", "v5", "--parent", "v4", *KEY, *PINNED).exit_code == 0
    r = prov("check", "v5", "--base", "v1", "--policy", "policy.toml", "--no-save", *PINNED)
    assert r.exit_code == 0, r.output
    r = prov("verify", "v2", "--attestation", "v2.attestation.json", *PINNED)
    said = " ".join(r.stderr.split())
    assert r.exit_code == 0 and f"batch {first} (vendor) no longer attested" in said and "revoked" in said, r.output
    assert f"registered again as batch {first}.2" in said
    r = prov("verify", "v2", "--attestation", "v2.attestation.json", "--fail-on-revoked", *PINNED)
    assert r.exit_code == 1, r.output


def test_an_unsigned_registration_is_registered_again_once_its_source_signs_it(prov, template_trust, workdir):
    """The crowd's batch was registered unsigned (it attests nothing); the crowd gets a trusted key and signs the
    same records: registered again as crowd@ROOT12.2, signed. Unsigned again, it is refused as before."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        (first,) = db.execute(
            "select subject from audit where action = 'batch.add' and subject like 'crowd@%'"
        ).fetchone()
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "crowd-batch.parquet", "--source", "crowd", "--unsigned", *PINNED)
    assert r.exit_code == 2 and f"already registered as batch {first} (unsigned" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before
    assert prov("keys", "generate", "crowd").exit_code == 0
    assert (
        prov("trust", "add", "crowd", "crowd.pub", *KEY, "--checkpoint-key", "maintainer.key", *PINNED).exit_code == 0
    )
    r = prov("sign", "crowd-batch.parquet", "--source", "crowd", "--key", "crowd.key", "--out", "crowd.prov.json")
    assert r.exit_code == 0, r.output
    r = prov("add", "crowd-batch.parquet", "--source", "crowd", "--envelope", "crowd.prov.json", "--json", *PINNED)
    assert r.exit_code == 0, r.output
    added = json.loads(r.stdout)
    assert added["batch"] == f"{first}.2" and added["signed"] and added["earlier_registrations"] == [first]
