"""Attack review 19b: replays of what still breaks after fix19a/b/c, in the trust world (``support.build_trust_world``)
with real stores edited by sqlite3 as a ``.prov/`` writer does (no key).

Each test asserts what a user relies on and failed before fix19g; its comment names the finding of
/work/notes/report-attack19b.md. The racing replays hold whichever side gets the lock first: since fix20a the state
is kept before the command's lock is released, so the racing writer always finds it there (what it found is asserted).
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from provenance import keys, signing
from provenance.errors import VerificationError
from provenance.store import Store
from provenance.store import checkpoints as cps
from provenance.trust import rowless
from provenance.trust.pins import Pins
from support import plant_checkpoint_copy

PINNED = ("--signer", "maintainer.pub")
PROV = str(Path(sys.executable).parent / "prov")

RACER = textwrap.dedent("""
    # A .prov/ writer: takes the store's own lock file (.prov/lock) blocking, so the kernel wakes it the moment a
    # prov write lets go (prov polls the lock without blocking); the first time it holds the lock with its target in
    # the store, it erases it with sqlite3 and stops. Target "revocation": the trust.revoke entry, the checkpoints
    # over it and the rows' revocation columns; else a version's tag (support.erase_last_version). Before it erases,
    # it records in the JSON file argv[5] what it found then: whether the kept state argv[4] (a file the command
    # writes) was already there, the treeSize it signs, and the size of the log it is about to cut.
    import base64, fcntl, json, sqlite3, sys, time
    from pathlib import Path

    folder, target = Path(sys.argv[1]), sys.argv[2]
    sys.path.insert(0, sys.argv[3])
    from support import erase_last_version

    def record(db):
        kept = folder / sys.argv[4]
        signed = None
        if kept.exists():
            statement = json.loads(base64.b64decode(json.loads(kept.read_bytes())["payload"]))
            signed = statement["predicate"]["treeSize"]
        (size,) = db.execute("select max(seq) from audit").fetchone()
        seen = {"kept": kept.exists(), "treeSize": signed, "logSize": size}
        (folder / sys.argv[5]).write_text(json.dumps(seen))

    store = folder / ".prov"
    (folder / "racing").touch()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with open(store / "lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            db = sqlite3.connect(store / "prov.db", timeout=30)
            if target == "revocation":
                row = db.execute("select seq from audit where action = 'trust.revoke'").fetchone()
                if row is not None:
                    record(db)
                    db.execute("delete from audit where seq >= ?", [row[0]])
                    db.execute("delete from checkpoints where size >= ?", [row[0]])
                    db.execute("update trust set revoked_at = NULL, revoked_reason = NULL where source = 'vendor'")
                    db.commit()
                    sys.exit(0)
            elif db.execute("select 1 from versions where tag = ?", [target]).fetchone() is not None:
                record(db)
                db.close()
                erase_last_version(store / "prov.db", target)
                sys.exit(0)
            db.close()
        time.sleep(0.002)
    sys.exit("the target never came")
""")


def _race(workdir: Path, target: str, args: list[str], kept: str) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``prov *args`` as a process while :data:`RACER` waits on the store's lock to erase ``target``; returns
    the command's result once the writer has erased it, and what the writer found when it first held the lock with
    ``target`` in the store (``{"kept", "treeSize", "logSize"}``: whether ``kept`` was there then, the log size it
    signs, the log's size then)."""
    tests = str(Path(__file__).parents[1])
    racer = subprocess.Popen([sys.executable, "-c", RACER, str(workdir), target, tests, kept, "racer-saw.json"])
    try:
        deadline = time.monotonic() + 120
        while not (workdir / "racing").exists():  # the event: the writer is waiting on the lock before the command
            assert racer.poll() is None and time.monotonic() < deadline, "the racing writer never started"
            time.sleep(0.01)
        run = subprocess.run([PROV, *args], cwd=workdir, capture_output=True, text=True, timeout=300)
        assert racer.wait(timeout=300) == 0, f"the writer never erased {target}"
    finally:
        if racer.poll() is None:
            racer.kill()
    return run, json.loads((workdir / "racer-saw.json").read_text())


def _erase_revocation(db_path: Path, source: str) -> None:
    """What a ``.prov/`` writer does with sqlite3 to make ``source``'s revocation never have happened: the
    ``trust.revoke`` entry (the log's last, so nothing is re-chained), the checkpoints over it, and the rows'
    revocation columns. The log stays consistent with itself."""
    db = sqlite3.connect(db_path)
    (seq,) = db.execute("select seq from audit where action = 'trust.revoke' and subject = ?", [source]).fetchone()
    (last,) = db.execute("select max(seq) from audit").fetchone()
    assert seq == last, "the revocation is not the log's last entry"
    db.execute("delete from audit where seq = ?", [seq])
    db.execute("delete from checkpoints where size >= ?", [seq])
    db.execute("update trust set revoked_at = NULL, revoked_reason = NULL where source = ?", [source])
    db.commit()
    db.close()


# F19b-1: `prov trust revoke --checkpoint-key K --out F` (and `prov keys revoke --out`) write their kept state in a
# second write after the revocation's (checkpoints.keep_checkpoint -> checkpoint_now), with the lock free between
# them, and nothing checks that the log signed then still holds the revocation: the window fix19b closed for
# `commit/quarantine --checkpoint-out` (holds=) is open here. A cut in it is signed and kept as "the log state after
# the revocation", and that file then vouches for the log without it (audit verify, check pass; vendor counted again).
def test_a_revocation_cut_before_its_kept_state_is_signed_is_not_kept(prov, template_trust, workdir):
    # the steps of `prov trust revoke vendor --yes --checkpoint-key maintainer.key --out kept.cp`, in its order
    signer = cps.CheckpointKey.load("maintainer.key")
    store = Store.open(pins=Pins.load(["maintainer.pub"]))
    kept = cps.kept_checkpoint_path(store, "kept.cp", "vendor")
    rowless.revoke(store, "vendor", None, "key stolen", signer)  # the revocation's write (and its own checkpoint)
    # a .prov/ writer cuts it: since fix20a the state is kept under the revocation's lock, so only one that ignores
    # the lock (sqlite3 on prov.db, as here) gets in before the keeping; that is still caught
    _erase_revocation(workdir / ".prov" / "prov.db", "vendor")
    with pytest.raises(VerificationError):  # the state kept must hold the revocation this command wrote
        cps.keep_checkpoint(store, signer, kept)
    # today the file is written, and `prov audit verify --checkpoint kept.cp` passes on the log without the revocation
    assert not kept.exists(), "a kept state hiding the revocation was written"
    assert prov("audit", "verify", *PINNED).exit_code == 0  # nothing else shows the cut


# F19b-1 as a real attacker runs it (no library stepping): a process waiting on prov's own .prov/lock got the lock
# between the revocation's write and the keep write in most runs (6 of 6 on an idle machine, 10 of 15 at a load
# average of 5 on 2 cores), since prov polls the lock (LOCK_NB, then 50 ms sleeps) and a blocked flock is woken at
# once; fix19g only caught it (exit 1, no file). Fixed (fix20a): the state is kept inside the revocation's write,
# before its lock is released, so whenever the writer holds the lock with the revocation in the store, kept.cp is
# already there and signs the log with it. Whoever gets the lock first, the outcome below is the same.
def test_trust_revoke_out_keeps_its_state_before_a_racing_writer_gets_the_lock(prov, template_trust, workdir):
    revoke, saw = _race(
        workdir,
        "revocation",
        ["trust", "revoke", "vendor", "--reason", "key stolen", "--yes"]
        + ["--checkpoint-key", "maintainer.key", "--out", "kept.cp", *PINNED],
        "kept.cp",
    )
    assert saw["kept"], f"the writer got the lock before the state after the revocation was kept: {saw}"
    assert saw["treeSize"] == saw["logSize"], saw  # the kept state is the log with the revocation, as the writer saw it
    assert revoke.returncode == 0, revoke.stdout + revoke.stderr
    assert "wrote the signed log state after the revocation to kept.cp" in revoke.stdout
    r = prov("audit", "verify", "--checkpoint", "kept.cp", *PINNED)
    assert r.exit_code == 1, f"kept.cp does not catch the cut revocation: {r.output}"


def _plant_dressed_copy(prov_dir: Path) -> None:
    """As a ``.prov/`` writer (or a pushed commit's .prov/): the stored checkpoint covering the whole log, copied with
    a field of the writer's own and a signature entry that verifies under no key, stored as a new object under its
    hash with a ``checkpoints`` row naming it (newest)."""

    def dress(env: dict) -> dict:
        env["note"] = "reviewed by the security team: older kept states may be deleted"
        env["signatures"].insert(0, {"keyid": "attacker", "sig": base64.b64encode(os.urandom(64)).decode()})
        return env

    plant_checkpoint_copy(prov_dir, dress)


# F19b-2: `prov audit checkpoint --out F` (the CI keep-log-state job; also --checkpoint-out and revoke --out) writes
# out the bytes of a stored checkpoint that covers the log (log_state_now reuses `covering`'s object) as they are in
# .prov/objects/: a .prov/ writer's copy of the maintainer's genuine checkpoint, dressed with unsigned fields and a
# signature entry of its own, becomes the artifact every later run trusts. The signed payload is genuine (nothing
# verifies differently in prov), but the kept file is no longer prov's own envelope: unsigned text rides in it (up
# to the 64 MiB envelope limit), and a DSSE verifier that requires every signature to verify rejects it.
def test_audit_checkpoint_out_writes_prov_s_own_envelope_not_a_stored_copy(prov, template_trust, workdir):
    _plant_dressed_copy(workdir / ".prov")
    r = prov("audit", "checkpoint", "--key", "maintainer.key", "--out", "ci.cp", *PINNED)
    assert r.exit_code == 0, r.output
    env = json.loads(Path("ci.cp").read_bytes())
    assert set(env) == {"payload", "payloadType", "signatures"}, f"unsigned fields kept: {sorted(env)}"
    public = keys.load_public("maintainer.pub")
    message = signing.pae(env["payloadType"], base64.b64decode(env["payload"]))
    for s in env["signatures"]:  # each one prov's, verifying under the key that signed the state
        assert s["keyid"] == keys.key_id(public), f"a signature entry of someone else's: {s['keyid']!r}"
        public.verify(base64.b64decode(s["sig"]), message)


# F19b-3: fix19b's second window on the real CLI. `prov commit` read the version it just wrote back from the live
# store (commit_defaults._retype_note, when records are unattributed) before --checkpoint-out was written; a writer
# who erased it then (the same lock race) got `Error: n2: no such version in .prov; known: ...`, exit 2 (bad
# input), not "committed n2, but ...". Fixed (fix19g) by keeping the state before anything is read back; since
# fix20a the state is kept inside the commit's write, before its lock is released, so the writer always comes
# after it: n2.cp keeps n2, the command succeeds (the read-back passes over a vanished version) and n2.cp catches
# the erasure.
def test_commit_keeps_its_checkpoint_out_before_a_racing_writer_erases_the_version(prov, template_trust, workdir):
    r = prov("commit", "v3.parquet", "--tag", "n1", "--parent", "v3q", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 0, r.output
    assert prov("audit", "checkpoint", "--key", "maintainer.key", "--out", "n1.cp", *PINNED).exit_code == 0
    run, saw = _race(
        workdir,
        "n2",
        ["commit", "v3.parquet", "--tag", "n2", "--parent", "n1", "--key", "maintainer.key", *PINNED]
        + ["--checkpoint", "n1.cp", "--checkpoint-out", "n2.cp"],
        "n2.cp",
    )
    assert saw["kept"] and saw["treeSize"] == saw["logSize"], saw  # kept, over the log with n2, before the writer ran
    assert run.returncode == 0, run.stdout + run.stderr
    assert prov("audit", "verify", "--checkpoint", "n2.cp", *PINNED).exit_code == 1
