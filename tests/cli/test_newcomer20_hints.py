"""Newcomer review 20: what a maintainer keeping log states and pinning the store id is told next, on a real store.

The trust world (``support.build_trust_world``): versions v1 .. v3q committed by ``maintainer``, a vendor whose
key signed a registered batch. Each test follows a step the README describes and checks the line that says what
to do next: the store id is findable after ``prov init``'s output is gone, a wrong pin is not blamed on the keys,
and a kept log state is said to be for the next signing command too.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
PINNED = ("--signer", "maintainer.pub")
WRONG_ID = "0" * 32


def _words(r) -> str:
    """The command's whole output with line wrapping undone."""
    return " ".join((r.stdout + r.stderr).split())


def _meta_id(folder: Path) -> str:
    (value,) = (
        sqlite3.connect(folder / ".prov" / "prov.db")
        .execute("select value from meta where key = 'store_id'")
        .fetchone()
    )
    return value


def test_audit_verify_names_the_store_id_to_pin(prov, template_trust, workdir):
    """prov init prints the id once; prov audit verify names it again, read from the signed history."""
    sid = _meta_id(workdir)
    r = prov("audit", "verify", *PINNED)
    assert r.exit_code == 0, r.output
    assert f"store id {sid} (signed by v1, audit entry" in _words(r)
    assert "pin it where checks and commits run: PROV_STORE_ID or --store-id" in _words(r)
    doc = json.loads(prov("audit", "verify", *PINNED, "--json").stdout)
    Draft202012Validator(json.loads((SCHEMAS / "audit-verify.schema.json").read_text())).validate(doc)
    assert doc["store_id"]["id"] == sid and doc["store_id"]["version"] == "v1"
    # the id shown works as a pin: the gate under it decides as without one
    pinned = prov("check", "v3q", "--base", "v2", "--no-save", "--store-id", sid, *PINNED)
    unpinned = prov("check", "v3q", "--base", "v2", "--no-save", *PINNED)
    assert pinned.exit_code == unpinned.exit_code
    assert pinned.stdout.splitlines()[0] == unpinned.stdout.splitlines()[0]


def test_audit_verify_of_a_store_no_version_signs_an_id_names_none(prov, workdir):
    prov("keys", "generate", "maintainer")
    assert prov("init").exit_code == 0
    doc = json.loads(prov("audit", "verify", *PINNED, "--json").stdout)
    assert doc["store_id"] is None
    assert "store id" not in prov("audit", "verify", *PINNED).stdout


def test_init_says_where_to_find_the_id_again_in_whole_sentences(prov, workdir):
    r = prov("init")
    text = _words(r)
    assert "so no .prov/ writer can make them sign for another project; prov audit verify names it again" in text


def test_a_wrong_store_id_pin_leads_to_the_id_not_to_the_keys(prov, template_trust, workdir):
    """The block is integrity.verify_signatures, but pinning more keys cannot help: the step names the id."""
    r = prov("check", "v3q", "--base", "v2", "--no-save", "--store-id", WRONG_ID, *PINNED)
    text = _words(r)
    assert r.exit_code == 1 and "integrity.verify_signatures" in text
    assert "not the store id you pinned" in text
    assert "see the id this store's signed history names: prov audit verify" in text
    assert "pin the keys that signed it" not in text


def test_a_kept_log_state_is_said_to_be_for_the_next_commit(prov, template_trust, workdir):
    """The README gives each run's commit the state the previous one kept; the commit's own line says so."""
    r = prov("commit", "v3.parquet", "--tag", "v4", "--key", "maintainer.key", *PINNED, "--checkpoint-out", "v4.json")
    assert r.exit_code == 0, r.output
    assert "keep it outside .prov/ and pass it with --checkpoint to the next prov commit and to prov check" in (
        _words(r)
    )


def test_a_revocations_kept_state_is_said_to_be_for_the_next_signing_commands(prov, template_trust, workdir):
    r = prov(
        "trust", "revoke", "vendor", "--reason", "stolen", "--yes",
        "--checkpoint-key", "maintainer.key", "--out", "revoked.json", *PINNED,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    text = _words(r)
    assert (
        "pass it with --checkpoint to the next prov commit (and add, trust, keys, waive, withdraw, audit checkpoint)"
        in (text)
    )
    # and the next commit given it says the log extends it
    r = prov("commit", "v3.parquet", "--tag", "v4", "--key", "maintainer.key", *PINNED, "--checkpoint", "revoked.json")
    assert r.exit_code == 0 and "the audit log extends revoked.json" in _words(r)
    # and says why the vendor's signed records count as unattributed in it, as prov show does
    n_vendor = template_trust.facts["n_vendor"]
    every = sum(template_trust.facts[k] for k in ("n_base", "n_vendor", "n_crowd"))  # v3.parquet: all of them
    assert f"lineage: 0 attested, 0 relabeled after source, {every} unattributed" in _words(r)
    assert f"{n_vendor} records of batch vendor@" in _words(r) and "which was revoked at" in _words(r)


def test_a_revoked_maintainer_keys_recovery_hint_names_a_new_store_as_the_readme_does(prov, template_trust, workdir):
    """keys revoke said to re-commit 'under a new tag with another key'; in this store that commit fails."""
    assert prov("keys", "generate", "m2").exit_code == 0
    both = ("--signer", "maintainer.pub", "--signer", "m2.pub")
    maintainer = json.loads(prov("keys", "list", "--json").stdout)["keys"][0]["keyid"][:16]
    r = prov("keys", "revoke", maintainer, "--reason", "stolen", "--checkpoint-key", "m2.key", *both)
    assert r.exit_code == 2 and "committing their data again with another key into a new store" in _words(r)
    r = prov("keys", "revoke", maintainer, "--reason", "stolen", "--checkpoint-key", "m2.key", "--yes", *both)
    assert r.exit_code == 0, r.output
    assert "with another key verifiers pin, into a new store (prov init in a fresh checkout)" in _words(r)
    # what the old hint said to do, in this store: refused, as the hint now says
    r = prov("commit", "v3.parquet", "--tag", "v4", "--key", "m2.key", "--signer", "m2.pub")
    assert r.exit_code == 1 and "does not verify" in _words(r)


def test_the_revocations_out_help_is_read_whole_in_80_columns(prov, workdir):
    """--out's default was one 45-character word rich cut at the column's edge ('prov-revocation-SUBJECT.checkpo…')."""
    for group in ("keys", "trust"):
        r = prov(group, "revoke", "--help", env={"COLUMNS": "80"})
        assert r.exit_code == 0 and "…" not in r.stdout, r.stdout
        assert "prov-revocation-" in _words(r)
