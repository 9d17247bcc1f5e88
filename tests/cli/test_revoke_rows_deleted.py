"""Attack review 16, F2, replayed in the trust world (``support.build_trust_world``: the maintainer trusts
``vendor.pub`` with a signed entry, audit entry 1; v2 is v1 plus the vendor's 600 signed records).

Whoever writes ``.prov/`` deletes the vendor's ``trust`` and ``trust_statements`` rows with sqlite3 and writes one
unrelated altered object (``.prov/objects/<sha256("x")>.json`` holding ``y``), and vendor.key is stolen. The gate
reads the key's trust from the signed audit log, but ``prov trust revoke`` refused ("run prov fsck --repair
first"), ``prov fsck --repair`` restored nothing while the stray object stood, and ``prov trust list`` said "No
trusted keys": the thief's batches passed as attested. Revoking now needs no repair, --repair restores the rows
whatever else is wrong, and the listing shows the key.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys
from support import new_records, ok, one_line, second_vendor_delivery, store_fingerprint, validate_output

PINNED = ("--signer", "maintainer.pub")


def _plant(workdir, stray: bool = True) -> None:
    """F2's plant: the vendor's trust rows deleted, and (``stray``) one unrelated altered object written."""
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("delete from trust where source = 'vendor'")
        db.execute("delete from trust_statements where source = 'vendor'")
    if stray:
        (workdir / ".prov" / "objects" / f"{hashlib.sha256(b'x').hexdigest()}.json").write_bytes(b"y")


def _trust_rows() -> tuple[list, list]:
    with sqlite3.connect(".prov/prov.db") as db:
        trust = db.execute("select * from trust where source = 'vendor' order by keyid").fetchall()
        cached = db.execute("select keyid, object, signer from trust_statements where source = 'vendor'").fetchall()
    return trust, cached


def _kid() -> str:
    return keys.key_id(keys.load_public("vendor.pub"))


def test_revoke_needs_no_repair_and_the_thiefs_batch_stops_being_attested(prov, template_trust, workdir):
    """The thief registered a batch signed with the stolen key before anyone noticed (the gate counted the key
    from the log); the maintainer revokes it with the rows gone and the stray object there (was: exit 2, "run
    prov fsck --repair", which restored nothing). The revocation writes the rows back, revoked, in its own write;
    a check of a version holding the thief's records then blocks, and a new batch of the key is refused."""
    _plant(workdir)
    thief = second_vendor_delivery(prov)  # accepted: the key is trusted from the log
    r = prov("trust", "revoke", "vendor", "--reason", "key stolen", "--yes", *PINNED)
    assert r.exit_code == 0, r.output  # was 2: "no trust rows ... run `prov fsck --repair` ... then revoke"
    assert f"Revoked key {_kid()[:16]} of source 'vendor'" in r.stdout, r.stdout
    [row], [cached] = _trust_rows()  # written back from the signed entry, revoked
    assert row[1] == _kid() and row[-2] is not None and row[-1] == "key stolen", row
    assert cached[0] == _kid(), cached
    listed = ok(prov, "trust", "list", *PINNED)
    assert "revoked" in listed and "rows missing" not in listed, listed
    # a version with the thief's records: they are no longer attested, and the check blocks
    pq.write_table(pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("vendor2.parquet")]), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--key", "maintainer.key", *PINNED)
    r = prov("check", "v4", "--base", "v2", "--no-save", "--format", "json", *PINNED)
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    vendor = next(s for s in doc["sources"] if s["source"] == "vendor")
    assert doc["decision"] == "blocked" and vendor["attested_added"] == 0, (doc["decision"], vendor, thief)
    # and a batch the thief signs now is refused at registration
    new_records("thief.parquet")
    ok(prov, "sign", "thief.parquet", "--source", "vendor", "--key", "vendor.key")
    r = prov("add", "thief.parquet", "--source", "vendor", *PINNED)
    assert r.exit_code != 0 and "revoked" in one_line(r), r.output
    # only the stray object is left for fsck to name
    r = prov("fsck", *PINNED)
    errors = [line for line in r.stdout.splitlines() if line.startswith("error:")]
    assert r.exit_code == 1 and len(errors) == 1 and "was altered" in errors[0], r.output


def test_revoke_with_nothing_pinned_still_revokes_the_logged_key(prov, template_trust, workdir):
    """Without pins nothing verifies the logged entry, so no row is written back, but the revocation entry is
    logged all the same (a revocation counts wherever it sits): under the pins the key is revoked, and a later
    --repair writes the rows back carrying the revocation."""
    _plant(workdir)
    r = prov("trust", "revoke", "vendor", "--reason", "key stolen", "--yes")
    assert r.exit_code == 0, r.output  # was 2
    assert _trust_rows() == ([], [])
    listed = " ".join(ok(prov, "trust", "list", *PINNED).split())
    assert f"vendor {_kid()[:16]} revoked" in listed and "rows missing (prov fsck --repair)" in listed, listed
    r = prov("fsck", "--repair", *PINNED)
    assert "restored trust rows of key" in r.output, r.output
    [row], _ = _trust_rows()
    assert row[-1] == "key stolen", row


def test_a_failed_revoke_leaves_the_store_as_it_was(prov, template_trust, workdir):
    """Bad input with the rows gone: a key id that names no key exits 2 and writes nothing."""
    _plant(workdir)
    before = store_fingerprint(workdir / ".prov")
    r = prov("trust", "revoke", "vendor", "--key-id", "00000000", "--reason", "x", "--yes", *PINNED)
    assert r.exit_code == 2 and "no key with that id" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_retire_writes_the_deleted_rows_back(prov, template_trust, workdir):
    """`prov trust retire` with the rows gone (was: the window's update touched no row, so the rows stayed
    missing): the rows come back in the same write, with the shortened window and the new signed entry."""
    _plant(workdir)
    args = ("trust", "retire", "vendor", "--key-id", _kid()[:16], "--at", "2999-01-01", "--key", "maintainer.key")
    r = prov(*args, *PINNED)
    assert r.exit_code == 0, r.output
    [row], [cached] = _trust_rows()
    assert row[6].startswith("2999-01-01"), row  # valid_until
    with sqlite3.connect(".prov/prov.db") as db:
        [(detail,)] = db.execute("select detail from audit where action = 'trust.retire'").fetchall()
    assert cached[1] == json.loads(detail)["statement"], cached  # the retirement's signed entry
    r = prov("fsck", *PINNED)
    errors = [line for line in r.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "was altered" in errors[0], r.output


def test_fsck_repair_restores_the_rows_whatever_else_is_wrong(prov, template_trust, workdir):
    """--repair writes the rows back from the verified logged entry though the stray object stays an error (was:
    "nothing removed or kept", the rows left missing); it still removes nothing while an error stands."""
    before = _trust_rows()
    _plant(workdir)
    stray = workdir / ".prov" / "objects" / f"{hashlib.sha256(b'x').hexdigest()}.json"
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 1, r.output
    assert f"restored trust rows of key {_kid()[:16]} for 'vendor', from audit entry 1" in r.stdout, r.output
    assert "nothing removed or kept" in r.stdout and "were restored all the same" in " ".join(r.stdout.split())
    assert _trust_rows() == before
    assert stray.read_bytes() == b"y"  # not removed
    r = prov("fsck", *PINNED)
    errors = [line for line in r.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "was altered" in errors[0], r.output


@pytest.mark.parametrize("json_out", [False, True])
def test_trust_list_shows_a_key_the_gate_counts_from_the_log(prov, template_trust, workdir, json_out):
    """Under pins, the vendor's key (counted by the gate from the log) is listed with its rows missing (was: "No
    trusted keys.")."""
    _plant(workdir, stray=False)
    if json_out:
        doc = json.loads(ok(prov, "trust", "list", "--json", *PINNED))
        validate_output("trust-list", doc)
        [key] = [k for k in doc["keys"] if k["source"] == "vendor"]
        assert (key["keyid"], key["counted"], key["rows_missing"], key["status"]) == (_kid(), True, True, "active")
        return
    out = " ".join(ok(prov, "trust", "list", *PINNED).split())
    assert "No trusted keys" not in out, out
    assert f"vendor {_kid()[:16]} active" in out and "counted, rows missing (prov fsck --repair)" in out, out


def test_fsck_counts_one_batch_in_words(prov, workdir, keypair):
    """Attack review 16, F7: "1 batche"."""
    from support import digits_table

    pq.write_table(digits_table(20), "b.parquet")
    ok(prov, "init")
    ok(prov, "add", "b.parquet", "--source", "crowd", "--unsigned", "--signer", "alice.pub")
    out = ok(prov, "fsck", "--signer", "alice.pub")
    assert "1 batch," in out and "batche" not in out, out
