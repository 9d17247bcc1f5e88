"""fix20a: the log state a command keeps outside ``.prov/`` (``prov trust revoke --out``, ``prov keys revoke --out``,
``prov commit``/``prov quarantine --checkpoint-out``) is written inside the command's own write, once it has committed
and before ``.prov/lock`` is released (``Store.write(keep=...)``), in the trust world (``support.build_trust_world``)
with real stores, keys and processes. The racing replays of attack review 19b (tests/cli/test_attack19b_replays.py)
assert what a writer waiting on the lock finds; these assert the mechanism and what a failure after the commit says.

Also: a hard link into ``.prov/`` given as a kept state (``--checkpoint FILE``, ``--release-state FILE``) is refused
as a file inside the store is (a symbolic link was already).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provenance import keys
from provenance.cli._trust import revocation_keeper
from provenance.errors import InputError
from provenance.store import Store
from provenance.store import checkpoints as cps
from provenance.trust import rowless
from provenance.trust.maintainer_keys import revoke_key
from provenance.trust.pins import Pins
from support import gated_featurizer, one_line

PINNED = ("--signer", "maintainer.pub")
PROV = str(Path(sys.executable).parent / "prov")

# Another process tries .prov/lock without waiting: exit 3 when it is held, 0 when it took it.
TRY_LOCK = (
    "import fcntl, sys\n"
    "with open(sys.argv[1], 'a+b') as fh:\n"
    "    try:\n"
    "        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "    except BlockingIOError:\n"
    "        sys.exit(3)\n"
)


def _lock_is_held(store_dir: Path) -> bool:
    r = subprocess.run([sys.executable, "-c", TRY_LOCK, str(store_dir / "lock")], timeout=60)
    assert r.returncode in (0, 3), r
    return r.returncode == 3


def _committed_entries(store_dir: Path) -> list[str]:
    """The audit log's actions as another connection sees them: what has committed."""
    with sqlite3.connect(store_dir / "prov.db") as db:
        return [a for (a,) in db.execute("select action from audit order by seq")]


def test_keep_runs_after_the_commit_with_the_lock_still_held(template_trust, workdir):
    """Store.write(keep=...): by the time keep runs, another connection sees the write committed, and another
    process cannot take .prov/lock; once the write returns it can. This is what lets no .prov/ writer waiting on the
    lock cut the log between a revocation and the state kept after it (F19b-1)."""
    prov_dir = workdir / ".prov"
    seen: dict = {}

    def keep(store: Store) -> None:
        seen["store"] = store
        seen["committed"] = _committed_entries(prov_dir)[-1]
        seen["held"] = _lock_is_held(prov_dir)

    store = Store.open(workdir)
    try:
        with store.write(keep=keep) as s:
            s.audit("note", "fix20a", {"why": "a keep test"})
            assert "note" not in _committed_entries(prov_dir)  # not committed while the block runs
    finally:
        store.close()
    assert seen == {"store": store, "committed": "note", "held": True}
    assert not _lock_is_held(prov_dir)  # released after keep


def test_a_keep_that_fails_leaves_the_write_made_and_the_lock_free(template_trust, workdir):
    """What keep raises propagates once the lock is released; the write it follows stands (it committed)."""
    prov_dir = workdir / ".prov"

    def keep(store: Store) -> None:
        raise InputError("kept.cp: cannot write (No space left on device)")

    store = Store.open(workdir)
    try:
        with pytest.raises(InputError, match="No space left"):
            with store.write(keep=keep) as s:
                s.audit("note", "fix20a", {"why": "a failing keep"})
    finally:
        store.close()
    assert _committed_entries(prov_dir)[-1] == "note"
    assert not _lock_is_held(prov_dir)


def test_trust_revoke_out_is_kept_inside_the_revocation_s_write(template_trust, workdir):
    """The library path `prov trust revoke --out` takes: the keeper runs in the revocation's write, so when
    rowless.revoke returns the file is there, signed over the log with the revocation last, and a cut made the
    moment the lock is free fails against it."""
    signer = cps.CheckpointKey.load("maintainer.key")
    store = Store.open(pins=Pins.load(["maintainer.pub"]))
    try:
        rowless.revoke(
            store,
            "vendor",
            None,
            "key stolen",
            signer,
            revocation_keeper(signer, Path("kept.cp"), "v", "prov trust list"),
        )
        size, _ = store.audit_head()
    finally:
        store.close()
    kept = cps.checkpoint_from_file("kept.cp", {keys.key_id(signer.private.public_key()): signer.private.public_key()})
    assert kept.size == size
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        assert db.execute("select action from audit where seq = ?", [size]).fetchone() == ("trust.revoke",)


def test_keys_revoke_out_that_cannot_be_written_after_the_commit_says_the_revocation_stands(
    prov, template_trust, workdir
):
    """A file that appeared at --out after the command checked it (the write is exclusive, never a replacement):
    the revocation is committed, the existing file is left as it was, and the one line says both and the way on
    (exit 2, as a file already there was before)."""
    signer = cps.CheckpointKey.load("maintainer.key")
    store = Store.open(pins=Pins.load(["maintainer.pub"]))
    cps.checkpoint_now(store, cps.CheckpointKey.load("attacker.key"))  # registers the key to revoke
    attacker = keys.key_id(keys.load_public("attacker.pub"))
    Path("kept.cp").write_text("someone else's file\n")
    try:
        with pytest.raises(InputError) as caught:
            revoke_key(
                store,
                attacker,
                "left",
                signer,
                revocation_keeper(signer, Path("kept.cp"), "key A (attacker)", "prov keys list"),
            )
    finally:
        store.close()
    said = str(caught.value)
    assert said.startswith("revoked key A (attacker), but the log state after it was not kept (kept.cp: already "), said
    assert "the revocation stands" in said and "prov audit checkpoint --key KEY.key --out FILE" in said, said
    # the state is kept by hand only once the revocation is seen in the log (attack review 20, A20-4)
    assert said.index("check that prov keys list still shows it revoked") < said.index("prov audit checkpoint"), said
    assert Path("kept.cp").read_text() == "someone else's file\n"
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        assert db.execute("select revoked_at is not null from keys where keyid = ?", [attacker]).fetchone() == (1,)
    r = prov("keys", "list", "--json")
    assert r.exit_code == 0 and attacker in r.stdout


def test_quarantine_whose_checkpoint_out_fails_after_the_commit_keeps_its_copy(prov, template_trust, workdir):
    """The state is kept inside the commit's write, but a failure there is raised only after the quarantine has
    its copy in place (KeptLog.finish): the version is committed, so its data file stays, and the one line says
    the version was committed and how to write the state (exit 2). The file placed at --checkpoint-out while the
    data was profiled (the lock free then) is no checkpoint, so prov does not replace it."""
    gated_featurizer(workdir / "site")
    gate = workdir / "gate"
    gate.mkdir()
    env = os.environ | {"PYTHONPATH": str(workdir / "site"), "PROV_TEST_GATE": str(gate), "PROV_WORKERS": "1"}
    (gate / "go").touch()
    args = [PROV, "commit", "v3.parquet", "--tag", "n1", "--key", "maintainer.key", *PINNED, "--featurizer", "gated"]
    r = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (gate / "go").unlink()
    (gate / "featurising").unlink()
    run = subprocess.Popen(
        [PROV, "quarantine", "--from", "n1", "--source", "crowd", "--tag", "n2q", "--key", "maintainer.key"]
        + [*PINNED, "--checkpoint-out", "n2q.cp"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (gate / "featurising").exists():  # the event: past the early checks of --checkpoint-out
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the quarantine never reached its profile stage"
            time.sleep(0.02)
        Path("n2q.cp").write_text("notes, not a checkpoint\n")
    finally:
        (gate / "go").touch()
    out, err = run.communicate(timeout=300)
    assert run.returncode == 2, out + err
    lines = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and lines[0].startswith("Error: committed n2q, but the checkpoint was not written ("), err
    assert lines[0].endswith("write it with prov audit checkpoint --key KEY.key --out n2q.cp"), lines[0]
    assert Path("n2q.cp").read_text() == "notes, not a checkpoint\n"
    copies = [p.name for p in workdir.glob("*n2q*.parquet")]
    assert len(copies) == 1, copies  # the committed version's data is left in place
    assert prov("verify", "n2q", *PINNED).exit_code == 0


def test_a_hard_link_into_the_store_is_refused_as_a_kept_state(prov, template_trust, workdir):
    """`--checkpoint FILE` and `--release-state FILE` that are hard links to a file in .prov/ (the same inode: a
    .prov/ writer writes into it, or swaps an older state in under a link it made) are refused as a file inside the
    store is: exit 2, one line naming the file it links to, nothing read or written."""
    assert prov("audit", "checkpoint", "--key", "maintainer.key", "--out", "kept.cp", *PINNED).exit_code == 0
    Path(".prov/kept.cp").write_bytes(Path("kept.cp").read_bytes())
    os.link(".prov/kept.cp", "linked.cp")
    before = (workdir / ".prov" / "prov.db").read_bytes()
    for command in (("audit", "verify"), ("check", "v3q", "--base", "v2", "--no-save")):
        r = prov(*command, *PINNED, "--checkpoint", "linked.cp")
        line = one_line(r)
        assert r.exit_code == 2, (command, r.output)
        assert line.startswith("Error: --checkpoint linked.cp: is inside the store ("), line
        assert "; it is a hard link to " in line and "kept.cp" in line, line
    assert prov("audit", "verify", *PINNED, "--checkpoint", "kept.cp").exit_code == 0  # the copy outside is taken
    verify = ("verify", "v2", "--attestation", "v2.attestation.json", "--no-data", *PINNED)
    assert prov(*verify, "--release-state", "job.json").exit_code == 0
    os.link("job.json", ".prov/job.json")  # the job's state, with a second name inside .prov/
    job = Path("job.json").read_bytes()
    r = prov(*verify, "--release-state", "job.json")
    assert r.exit_code == 2 and "--release-state job.json: is inside the store (" in one_line(r), r.output
    assert "; it is a hard link to " in one_line(r)
    assert Path("job.json").read_bytes() == job
    assert (workdir / ".prov" / "prov.db").read_bytes() == before
