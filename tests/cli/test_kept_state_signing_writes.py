"""``--checkpoint PREV`` on the signing writes that make no version: ``prov trust add``, ``trust retire``, ``waive``,
``withdraw`` (README Known gaps, left from attack reviews 18-19) and ``add``, replayed in the trust world with sqlite3.

Each signs over the log it extends (a trust entry, a retirement, a waiver, a withdrawal, each with its checkpoint),
so one written onto a log a ``.prov/`` writer cut back vouches for the cut. The replay: the maintainer revokes the
vendor's stolen key and keeps the log state after it outside ``.prov/`` (``--checkpoint-key --out``); the writer
rolls the revocation back with sqlite3 (``support.roll_back_log``); each command given the kept state refuses (exit
1, ``prov.db`` byte for byte as it was), as ``prov commit --checkpoint`` does. The same check runs again inside each
write, after ``BEGIN IMMEDIATE`` (``kept_log.KeptLog.require_held``): the library seam is driven with the cut made
after the early check.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from provenance import keys
from provenance.errors import VerificationError
from provenance.gate.waivers import create_waiver
from provenance.kept_log import KeptLog
from provenance.lineage.register import add_batch
from provenance.lineage.withdraw import withdraw_batch
from provenance.sources.interface import DatasetSpec
from provenance.store import Store
from provenance.store.checkpoints import CheckpointKey
from provenance.trust import rowless
from provenance.trust import source_keys as trustlib
from provenance.trust.pins import Pins
from provenance.version_facts import load_manifest
from support import new_records, one_line, roll_back_log, store_fingerprint

PINNED = ("--signer", "maintainer.pub")
KEY = ("--key", "maintainer.key")


def _crowd_batch(folder: Path) -> str:
    with sqlite3.connect(folder / ".prov" / "prov.db") as db:
        [batch] = db.execute(
            "select subject from audit where action = 'batch.add' and subject like 'crowd@%'"
        ).fetchone()
    return str(batch)


def _a_digest(folder: Path) -> str:
    store = Store.open(folder)
    try:
        return bytes(load_manifest(store, store.version("v3")).table.column("digest")[0].as_py()).hex()
    finally:
        store.close()


def _vendor_keyid() -> str:
    return keys.key_id(keys.load_public("vendor.pub"))


def _revoke_then_roll_back(prov, folder: Path) -> None:
    """The revocation kept outside the store in ``revoked.cp``, then undone by the ``.prov/`` writer."""
    db = folder / ".prov" / "prov.db"
    shutil.copy2(db, folder / "before-revoke.db")
    r = prov("trust", "revoke", "vendor", "--reason", "key stolen", "--yes", "--checkpoint-key", "maintainer.key",
             "--out", "revoked.cp", *PINNED)  # fmt: skip
    assert r.exit_code == 0 and Path("revoked.cp").exists(), r.output
    roll_back_log(db, folder / "before-revoke.db")
    assert prov("audit", "verify", "--checkpoint", "revoked.cp", *PINNED).exit_code == 1  # the cut, as CI sees it


def _commands(folder: Path) -> dict[str, tuple[str, ...]]:
    return {
        "trust add": ("trust", "add", "mirror", "attacker.pub", *KEY),
        "trust retire": (
            "trust",
            "retire",
            "vendor",
            "--key-id",
            _vendor_keyid()[:16],
            *KEY,
            "--checkpoint-key",
            "maintainer.key",
        ),  # fmt: skip
        "waive": ("waive", _a_digest(folder), "--version", "v3", "--detector", "combined", "--reason", "ok", *KEY),
        "withdraw": ("withdraw", _crowd_batch(folder), "--reason", "not shipped", *KEY),
        "add": _new_batch(folder),
    }


def _new_batch(folder: Path) -> tuple[str, ...]:
    """``prov add`` of a new unsigned batch (``support.new_records``) with its checkpoint: it too writes onto the
    log (a ``batch.add`` entry the next commit signs over), so it takes ``--checkpoint PREV``."""
    new_records(str(folder / "new-batch.parquet"))
    return ("add", "new-batch.parquet", "--source", "crowd", "--unsigned", "--checkpoint-key", "maintainer.key")


def test_each_signing_write_refuses_a_log_that_lost_the_kept_state(prov, template_trust, workdir):
    commands = _commands(workdir)
    _revoke_then_roll_back(prov, workdir)
    before = store_fingerprint(workdir / ".prov")
    for name, args in commands.items():
        r = prov(*args, *PINNED, "--checkpoint", "revoked.cp")
        assert r.exit_code == 1, f"{name} signed onto the cut log: {r.output}"
        said = one_line(r)
        assert "revoked.cp" in said and "so nothing was written" in said, f"{name}: {said}"
        assert "prov audit verify --checkpoint revoked.cp" in said, f"{name}: {said}"
        assert store_fingerprint(workdir / ".prov") == before, f"{name} changed the store"


def test_each_signing_write_extends_a_kept_state_the_log_holds(prov, template_trust, workdir):
    """The same commands on a log that holds the kept state: written, and the output says the log extends it."""
    commands = _commands(workdir)
    r = prov("audit", "checkpoint", *KEY, "--out", "kept.cp", *PINNED)
    assert r.exit_code == 0, r.output
    for name, args in commands.items():
        r = prov(*args, *PINNED, "--checkpoint", "kept.cp")
        assert r.exit_code == 0, f"{name}: {r.output}"
        assert "the audit log extends kept.cp" in " ".join(r.stdout.split()), f"{name}: {r.output}"


def _writes(folder: Path) -> dict[str, Callable[[Store, KeptLog], object]]:
    """Each library call the command makes, given the kept state checked before the cut."""
    digest, batch = _a_digest(folder), _crowd_batch(folder)
    new_records(str(folder / "new-batch.parquet"))

    def retire(store: Store, kept: KeptLog) -> object:
        [target] = [k for k in store.pins.source_keys(store, "vendor") if k.keyid == _vendor_keyid()]
        return rowless.retire(store, target, "maintainer.key", None, CheckpointKey.load("maintainer.key"), kept)

    return {
        "trust entry": lambda s, k: trustlib.add_key(s, "mirror", "attacker.pub", signer="maintainer.key", kept_log=k),
        "retirement": retire,
        "waiver": lambda s, k: create_waiver(s, "v3", digest, "combined", "ok", "maintainer.key", None, k),
        "withdrawal": lambda s, k: withdraw_batch(s, batch, "maintainer.key", "not shipped", k),
        "batch registration": lambda s, k: add_batch(
            s, DatasetSpec(str(folder / "new-batch.parquet")), "crowd", unsigned=True, kept_log=k
        ),
    }


@pytest.mark.parametrize("what", ["trust entry", "retirement", "waiver", "withdrawal", "batch registration"])
def test_the_kept_state_is_checked_again_inside_the_write(prov, template_trust, workdir, what):
    """Cut after the early check (the lock free): the write itself refuses and leaves the store as the cut left it."""
    write = _writes(workdir)[what]
    db = workdir / ".prov" / "prov.db"
    shutil.copy2(db, workdir / "before-revoke.db")
    r = prov("trust", "revoke", "vendor", "--reason", "key stolen", "--yes", "--checkpoint-key", "maintainer.key",
             "--out", "revoked.cp", *PINNED)  # fmt: skip
    assert r.exit_code == 0, r.output
    store = Store.open(workdir, pins=Pins.load("maintainer.pub"))
    try:
        kept = KeptLog.held(store, ["revoked.cp"], what)  # the log holds it now
        roll_back_log(db, workdir / "before-revoke.db")  # the .prov/ writer, once the check is done
        before = store_fingerprint(workdir / ".prov")
        with pytest.raises(VerificationError, match=f"while this {what} was being prepared, so nothing was written"):
            write(store, kept)
        assert store_fingerprint(workdir / ".prov") == before
    finally:
        store.close()
