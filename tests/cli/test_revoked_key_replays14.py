"""Attack review 14, A14-1 and A14-4, replayed on a real store with real keys and sqlite3 edits.

A14-1: a ``.prov/`` writer un-revoked the attest key ``ops`` (its ``keys`` row and its ``key.revoke``
entry, leaving the checkpoint over the revocation); ``prov verify --attestation`` refused the ops
attestation, while ``prov log`` / ``prov show`` marked it "released" and ``prov show`` said "all N entries
signed" over a log a newer checkpoint says lost an entry.

A14-4: the checkpoint over a source-key revocation was signed by a second pinned maintainer key; a
``.prov/`` writer dropped the revocation, re-chained the log and revoked that key in the store (a pending
``prov keys revoke``): the checkpoint that no longer matched was passed over as "not pinned", and
``verify --attestation --fail-on-revoked`` and ``audit verify`` passed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3

import pytest

from provenance.store import audit
from support import validate_output

BROKEN_MARK = (
    "not relied on: the store's audit log does not match its signed checkpoints and versions (prov audit verify)"
)


def one_line(text: str) -> str:
    return " ".join(text.split())  # the landing train's terminal wraps at 80 columns


def ok(prov, *args):
    r = prov(*args)
    assert r.exit_code == 0, f"prov {' '.join(map(str, args))}: {r.output}"
    return r


@pytest.fixture
def two_maintainers(prov, template_trust, workdir, monkeypatch) -> str:
    """The trust world with a second maintainer key, ``ops``, pinned beside ``maintainer``; returns ops's key id."""
    keyid = json.loads(ok(prov, "keys", "generate", "ops", "--json").stdout)["keyid"]
    monkeypatch.setenv("PROV_SIGNERS", os.pathsep.join(["maintainer.pub", "ops.pub"]))
    return keyid


def test_log_and_show_mark_no_release_on_a_log_that_lost_the_attest_keys_revocation(prov, two_maintainers):
    ops = two_maintainers
    ok(prov, "check", "v2", "--base", "v1", "--policy", "policy.toml", "--attest", "--key", "ops.key",
       "--attest-out", "ops.attestation.json")  # fmt: skip
    ok(prov, "keys", "revoke", ops[:12], "--reason", "stolen laptop", "--checkpoint-key", "maintainer.key", "--yes")
    # the honest store: the maintainer's release is marked, the revoked key's is not; the log verifies
    log = one_line(prov("log").stdout)
    assert log.count("released: release ") == 1 and "not signed by a pinned attest key" in log, log
    assert "audit log: all " in one_line(prov("show", "v2").stdout)
    assert prov("audit", "verify").exit_code == 0
    assert prov("verify", "v2", "--attestation", "ops.attestation.json", "--no-data").exit_code == 1

    with sqlite3.connect(".prov/prov.db") as db:  # the .prov/ writer un-revokes ops; the checkpoint stays
        db.execute("update keys set revoked_at = null where keyid = ?", [ops])
        db.execute("delete from audit where action = 'key.revoke'")
        (entries,) = db.execute("select count(*) from audit").fetchone()

    r = prov("verify", "v2", "--attestation", "ops.attestation.json", "--no-data")
    assert r.exit_code == 1 and "does not match its signed checkpoints" in one_line(r.stderr), r.output
    assert prov("audit", "verify").exit_code == 1
    log = one_line(prov("log").stdout)
    assert "released: release" not in log and log.count(BROKEN_MARK) == 2, (
        log
    )  # the maintainer's too: nothing rests on it
    shown = one_line(prov("show", "v2").stdout)
    assert "released: release" not in shown and "not released: no release attestation kept" in shown
    assert f"covers {entries + 1} entries but the log has {entries}" in shown, shown
    assert "audit log: BROKEN: checkpoint " in shown and "audit log: all" not in shown
    doc = json.loads(prov("show", "v2", "--json").stdout)
    validate_output("show", doc)
    assert f"but the log has {entries}" in doc["audit"]["broken"]
    assert [a["verified"] for a in doc["attestations"]] == [False, False]


def _rechain(db: sqlite3.Connection, rows: list[tuple]) -> None:
    """Write ``rows`` (ts, action, subject, detail) as the whole audit log, chain hashes recomputed: no key needed."""
    db.execute("delete from audit")
    prev = audit.GENESIS
    for seq, (ts, action, subject, detail) in enumerate(rows, 1):
        entry = {"seq": seq, "ts": ts, "action": action, "subject": subject, "detail": detail, "prev_hash": prev}
        digest = hashlib.sha256(audit.entry_bytes(entry)).hexdigest()
        db.execute("insert into audit values (?,?,?,?,?,?,?)", (seq, ts, action, subject, detail, prev, digest))
        prev = digest


@pytest.mark.parametrize("revocation", ["pending, appended", "re-chained in before the checkpoint's size"])
def test_a_store_revocation_of_the_pinned_checkpoint_key_does_not_disarm_its_checkpoint(
    prov, two_maintainers, revocation
):
    ops = two_maintainers
    ok(prov, "trust", "revoke", "vendor", "--reason", "stolen", "--checkpoint-key", "ops.key", "--yes")
    kept = "prov-revocation-vendor.checkpoint.json"
    released = ("verify", "v2", "--attestation", "v2.attestation.json", "--no-data", "--fail-on-revoked")
    r = prov(*released)
    assert r.exit_code == 1 and "no longer attested" in one_line(r.stderr), r.output
    (size,) = sqlite3.connect(".prov/prov.db").execute("select max(size) from checkpoints").fetchone()

    with sqlite3.connect(".prov/prov.db") as db:  # the .prov/ writer: no key, sqlite3 and prov itself
        rows = db.execute("select ts, action, subject, detail from audit where action != 'trust.revoke' order by seq")
        rows = rows.fetchall()
        if revocation != "pending, appended":  # the revocation placed inside what ops's checkpoint covered
            revoke = (rows[-1][0], "key.revoke", ops, json.dumps({"revoked_at": rows[-1][0], "reason": "says so"}))
            rows.insert(size - 2, revoke)
        db.execute("update trust set revoked_at = null, revoked_reason = null")
        _rechain(db, rows)
    if revocation == "pending, appended":
        ok(prov, "keys", "revoke", ops[:12], "--reason", "a .prov/ writer says so", "--yes")
    else:
        db = sqlite3.connect(".prov/prov.db")
        db.execute("update keys set revoked_at = ? where keyid = ?", [rows[-1][0], ops])
        db.commit()
        db.close()
    (at,) = sqlite3.connect(".prov/prov.db").execute("select seq from audit where action = 'key.revoke'").fetchone()
    assert (at >= size) == (revocation == "pending, appended")

    pinned_words = f"key {ops[:16]}, which you pin, is revoked in this store at audit entry {at}"
    for args in (released, ("audit", "verify"), ("audit", "verify", "--checkpoint", kept)):
        r = prov(*args)
        said = one_line(r.stderr)
        assert r.exit_code == 1 and pinned_words in said and "did not pin" not in said, (args, r.output)
        assert "stop pinning it" in said
    assert ("so it still holds" in said) == (revocation == "pending, appended")
    assert ("was stolen and signed this after its revocation" in said) == (revocation != "pending, appended")
    shown = one_line(prov("show", "v2").stdout)
    assert "audit log: BROKEN: audit log is broken:" in shown and pinned_words in shown, shown

    # V13b-1 as well: the checkpoint rows deleted; the one kept outside .prov/ (trust14's --checkpoint) still holds
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("delete from checkpoints where keyid = ?", [ops])
    assert prov(*released).exit_code == 0  # the store alone cannot tell (documented: V13b-1)
    for args in ((*released, "--checkpoint", kept), ("audit", "verify", "--checkpoint", kept)):
        r = prov(*args)
        said = one_line(r.stderr)
        assert r.exit_code == 1 and pinned_words in said and "did not pin" not in said, (args, r.output)
