"""Review 24b, item 1: no maintainer's signature over a log ``prov audit verify`` calls broken, replayed for real
(``.prov/prov.db`` edited with sqlite3, the maintainer's real key). Each test failed on the code before its fix."""

from __future__ import annotations

import sqlite3

import pytest

from provenance import keys
from support import store_fingerprint

PINNED = ("--signer", "maintainer.pub")
KEY = ("--key", "maintainer.key")
KEPT = "kept.checkpoint.json"


def edit_last_entry(workdir) -> str:
    """As a ``.prov/`` writer with sqlite3: change the newest entry's subject and recompute nothing (its chain hash no
    longer matches). Returns the words ``prov audit verify`` names it by."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        seq, action, subject = db.execute("select seq, action, subject from audit order by seq desc").fetchone()
        db.execute("update audit set subject = ? where seq = ?", [subject + "x", seq])
    return f"entry {seq} ({action} {subject}x) was edited"


def key_id(path: str) -> str:
    return keys.key_id(keys.load_public(path))


def batch_of(workdir, source: str) -> str:
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        return db.execute("select batch from batches where source = ?", [source]).fetchone()[0]


SIGNING_PATHS = {
    "audit checkpoint": ("audit", "checkpoint", *KEY),
    "audit checkpoint --out": ("audit", "checkpoint", *KEY, "--out", KEPT),
    "commit": ("commit", "v3.parquet", "--tag", "v4", *KEY),
    "commit --checkpoint-out": ("commit", "v3.parquet", "--tag", "v4", *KEY, "--checkpoint-out", KEPT),
    "quarantine": ("quarantine", "--from", "v3", "--source", "crowd", "--tag", "v3q2", *KEY),
    "trust add --checkpoint-key": ("trust", "add", "other", "attacker.pub", *KEY, "--checkpoint-key", "maintainer.key"),
    "trust retire --checkpoint-key": (
        "trust",
        "retire",
        "vendor",
        "--key-id",
        "VENDOR",
        *KEY,
        "--checkpoint-key",
        "maintainer.key",
    ),  # fmt: skip,
    "add --checkpoint-key": (
        "add",
        "v1.parquet",
        "--source",
        "late",
        "--unsigned",
        "--checkpoint-key",
        "maintainer.key",
    ),
    "withdraw": ("withdraw", "CROWD", "--reason", "held back", *KEY),
}  # prov check --attest and prov waive sign in the same way; a check over a broken log does not pass, so it attests nothing


@pytest.mark.parametrize("path", list(SIGNING_PATHS))
def test_nothing_signs_a_checkpoint_over_a_log_audit_verify_calls_broken(prov, template_trust, workdir, path):
    """Review 24b, item 1: ``prov audit checkpoint --key K`` signed a checkpoint over a log whose entry a ``.prov/``
    writer edited (``prov audit verify``: exit 1, broken), so a maintainer's signature vouched for the tampered
    log; so did every write that ends by signing one. Each now refuses: exit 1 naming the first broken entry, the
    store byte for byte as it was and no file kept. (Revocations: the next test.)"""
    names = {
        "CROWD": batch_of(workdir, "crowd"),
        "VENDOR": key_id("vendor.pub"),
        "MAINTAINER": key_id("maintainer.pub"),
    }
    args = tuple(names.get(a, a) for a in SIGNING_PATHS[path])
    broken = edit_last_entry(workdir)
    r = prov("audit", "verify", *PINNED)
    assert r.exit_code == 1 and broken in r.output, r.output
    before = store_fingerprint(workdir / ".prov")
    r = prov(*args, *PINNED)
    assert r.exit_code == 1, r.output
    assert broken in r.stderr and "prov signs no log state over a broken log" in r.stderr, r.stderr
    assert store_fingerprint(workdir / ".prov") == before
    assert not (workdir / KEPT).exists() and not list(workdir.glob("prov-revocation-*"))


REVOKE_VENDOR = ("trust", "revoke", "vendor", "--reason", "stolen", "--yes")
REVOCATIONS = {
    "trust revoke --checkpoint-key --out": (
        (*REVOKE_VENDOR, "--checkpoint-key", "maintainer.key", "--out", KEPT),
        None,
    ),
    "trust revoke, PROV_KEY": (REVOKE_VENDOR, "maintainer.key"),
    "keys revoke --checkpoint-key": (
        ("keys", "revoke", "MAINTAINER", "--yes", "--checkpoint-key", "maintainer.key", "--out", KEPT),
        None,
    ),
}


@pytest.mark.parametrize("path", list(REVOCATIONS))
def test_a_revocation_over_a_broken_log_is_made_pending_and_signed_by_nothing(prov, template_trust, workdir, path):
    """A revocation given a checkpoint key is the one signing write that still happens over a broken log: a
    ``.prov/`` writer who breaks the log for a moment must not stop it (attack review 22c's seq-0 plants). Its
    checkpoint is not signed and no state kept: exit 1 saying it was revoked, is pending, and naming the break."""
    args, env_key = REVOCATIONS[path]
    args = tuple(key_id("maintainer.pub") if a == "MAINTAINER" else a for a in args)
    broken = edit_last_entry(workdir)
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        checkpoints = db.execute("select count(*) from checkpoints").fetchone()
        entries = db.execute("select count(*) from audit").fetchone()[0]
    r = prov(*args, *PINNED, env={"PROV_KEY": env_key} if env_key else None)
    assert r.exit_code == 1, r.output
    assert "revoked" in r.stderr and broken in r.stderr and "prov signs no log state" in r.stderr, r.stderr
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        assert db.execute("select count(*) from checkpoints").fetchone() == checkpoints
        actions = [a for (a,) in db.execute("select action from audit where seq > ?", [entries])]
    assert actions == ["key.revoke" if args[0] == "keys" else "trust.revoke"]  # made; no checkpoint signs it
    assert not (workdir / KEPT).exists() and not list(workdir.glob("prov-revocation-*"))
