"""fix19g: what attack review 19b's fixes promise beyond its replays (tests/cli/test_attack19b_replays.py), in the
trust world (``support.build_trust_world``) with real stores edited by sqlite3 as a ``.prov/`` writer does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from provenance import keys
from provenance.cli._trust import keep_after_revocation
from provenance.errors import VerificationError
from provenance.store import Store
from provenance.store import checkpoints as cps
from provenance.trust.maintainer_keys import revoke_key
from provenance.trust.pins import Pins
from support import store_fingerprint

PINNED = ("--signer", "maintainer.pub")


def test_keys_revoke_out_keeps_no_state_once_its_revocation_is_cut(prov, template_trust, workdir):
    """`prov keys revoke K --checkpoint-key M --out F` (F19b-1, the code trust revoke shares): the revocation's write
    is cut before the state after it is kept. The user is told the key was revoked and the state not kept, with the
    way on (restore, revoke again); no file is written and the store is left as the writer left it."""
    signer = cps.CheckpointKey.load("maintainer.key")
    store = Store.open(pins=Pins.load(["maintainer.pub"]))
    cps.checkpoint_now(store, cps.CheckpointKey.load("attacker.key"))  # registers the key to revoke
    attacker = keys.key_id(keys.load_public("attacker.pub"))
    revoke_key(store, attacker, "left the project", signer)  # the revocation's write, signed by the maintainer
    db = sqlite3.connect(workdir / ".prov" / "prov.db")  # the lock is free: a .prov/ writer cuts the revocation
    (seq,) = db.execute("select seq from audit where action = 'key.revoke'").fetchone()
    assert db.execute("select max(seq) from audit").fetchone() == (seq,)
    db.execute("delete from audit where seq = ?", [seq])
    db.execute("delete from checkpoints where size >= ?", [seq])
    db.execute("update keys set revoked_at = NULL where keyid = ?", [attacker])
    db.commit()
    db.close()
    cut = store_fingerprint(workdir / ".prov")

    with pytest.raises(VerificationError) as caught:
        keep_after_revocation(store, signer, Path("kept.cp"), f"key {attacker[:16]} (attacker)")
    said = str(caught.value)
    assert said.startswith(f"revoked key {attacker[:16]} (attacker), but the log state after it cannot be kept ("), said
    assert "nothing was written to kept.cp" in said and "revoke again" in said, said
    assert not Path("kept.cp").exists()
    assert store_fingerprint(workdir / ".prov") == cut  # the keep wrote nothing to the store either


def test_trust_revoke_out_keeps_the_checkpoint_its_own_write_signed(prov, template_trust, workdir):
    """With no one in the gap, `prov trust revoke --out` keeps the very envelope the revocation's write signed and
    stored (byte for byte: prov's own serialisation, F19b-2), and that state vouches for the log with the revocation."""
    r = prov(
        "trust", "revoke", "vendor", "--reason", "key stolen", "--yes", "--checkpoint-key", "maintainer.key",
        "--out", "kept.cp", *PINNED,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "wrote the signed log state after the revocation to kept.cp" in r.output
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    (size,) = db.execute("select max(seq) from audit").fetchone()
    assert db.execute("select action from audit where seq = ?", [size]).fetchone() == ("trust.revoke",)
    objects = [o for (o,) in db.execute("select object from checkpoints where size = ?", [size])]
    db.close()
    assert len(objects) == 1  # signed in the revocation's write; keeping it stored nothing more
    assert Path("kept.cp").read_bytes() == (workdir / ".prov" / "objects" / f"{objects[0]}.json").read_bytes()
    assert prov("audit", "verify", "--checkpoint", "kept.cp", *PINNED).exit_code == 0
