"""Attack review 18, replayed in the trust world (``support.build_trust_world``) with real stores edited by sqlite3
and real processes.

F18-2: ``prov commit --checkpoint PREV`` (and ``prov quarantine``) checked the kept log state once, before hashing,
when the store's lock is free by design; a ``.prov/`` writer who erased a version then had the new version signed
onto the cut log and ``--checkpoint-out`` keep a state that hid it. The kept states are now checked again inside the
write that signs the version. The commit waits in a plug-in featuriser until the test says go (the event-driven
gate of ``tests/integration/test_commit_lock.py``): no timing is asserted. ``--checkpoint-out``'s state is kept in
that write too, before its lock is released (fix20a), so a cut once the lock is free comes after it and fails it.

F18-4: ``--checkpoint FILE`` took a file inside ``.prov/`` (or a link to one), where a ``.prov/`` writer swaps in an
older genuine state; ``--checkpoint-out`` already refused to write there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from provenance import versions
from provenance.kept_log import KeptLog
from provenance.sources.interface import DatasetSpec
from provenance.store import Store
from provenance.trust.pins import Pins
from support import erase_last_version, gated_featurizer, one_line, store_fingerprint, succeeded

PINNED = ("--signer", "maintainer.pub")
PROV = str(Path(sys.executable).parent / "prov")


def _gate(workdir: Path) -> tuple[Path, dict[str, str]]:
    """The gated featuriser installed as a real plug-in, its gate folder and the environment a prov process needs."""
    gated_featurizer(workdir / "site")
    gate = workdir / "gate"
    gate.mkdir()
    env = os.environ | {"PYTHONPATH": str(workdir / "site"), "PROV_TEST_GATE": str(gate), "PROV_WORKERS": "1"}
    return gate, env


def _store_state(prov, workdir: Path) -> tuple:
    """What a failed command must leave as it was: the versions, the audit log, the objects, and what ``prov fsck``
    finds (the writer's cut leaves n1's objects unreferenced; nothing more may be found after the command)."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        versions = db.execute("select tag from versions order by tag").fetchall()
        audit = db.execute("select seq, hash from audit order by seq").fetchall()
    objects = sorted(p.name for p in (workdir / ".prov" / "objects").rglob("*") if p.is_file())
    fsck = json.loads(prov("fsck", "--json", *PINNED).stdout)
    return versions, audit, objects, fsck["errors"], fsck["warnings"]


def _cut_while_it_prepares(prov, workdir: Path, gate: Path, env: dict, args: list[str], erased: str):
    """Run ``prov *args`` and, once it is featurising (past its early kept-state check, the lock free), erase
    ``erased`` as a ``.prov/`` writer with sqlite3; returns the finished process's result and the store's state
    just after the cut."""
    run = subprocess.Popen(
        [PROV, *args], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 300
        while not (gate / "featurising").exists():  # the event: the command is past its early check
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the command never reached its profile stage"
            time.sleep(0.02)
        erase_last_version(workdir / ".prov" / "prov.db", erased)
        after_cut = _store_state(prov, workdir)
    finally:
        (gate / "go").touch()
    out, err = run.communicate(timeout=300)
    return run.returncode, out + err, after_cut


# F18-2 (the replay of attack review 18, kept as a regression test)
def test_commit_checkpoint_holds_the_log_at_the_write_not_only_before_the_work(prov, template_trust, workdir):
    succeeded(
        prov, "commit", "v3.parquet", "--tag", "n1", "--key", "maintainer.key", *PINNED, "--checkpoint-out", "n1.cp"
    )
    gate, env = _gate(workdir)
    code, output, after_cut = _cut_while_it_prepares(
        prov,
        workdir,
        gate,
        env,
        ["commit", "v3.parquet", "--tag", "n2", "--parent", "v3", "--key", "maintainer.key", *PINNED]
        + ["--featurizer", "gated", "--checkpoint", "n1.cp", "--checkpoint-out", "n2.cp"],
        erased="n1",
    )
    # the log no longer holds n1.cp when n2 is written: the commit refuses (exit 1, nothing written)
    assert code == 1, f"n2 committed onto the cut log (exit {code}): {output}"
    said = " ".join(output.split())
    assert "n1.cp" in said and "while this version was being prepared, so nothing was committed" in said, output
    assert not Path("n2.cp").exists()
    assert _store_state(prov, workdir) == after_cut  # no version, entry or object of n2 left
    # the writer's cut itself stays caught by the state kept outside the store
    r = prov("audit", "verify", "--checkpoint", "n1.cp", *PINNED)
    assert r.exit_code == 1, r.output


def test_quarantine_checkpoint_holds_the_log_at_the_write_too(prov, template_trust, workdir):
    gate, env = _gate(workdir)
    (gate / "go").touch()  # n1's own commit featurises at once, and its profile names the gated featuriser
    r = subprocess.run(
        [PROV, "commit", "v3.parquet", "--tag", "n1", "--key", "maintainer.key", *PINNED, "--featurizer", "gated"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (gate / "go").unlink()
    (gate / "featurising").unlink()
    # --featurizer: this process has no gated plug-in, and a carried request that builds no featuriser is refused
    # (attack review 28d, A28d-4); n1b's own features do not matter here
    succeeded(
        prov,
        "commit",
        "v2.parquet",
        "--tag",
        "n1b",
        "--parent",
        "n1",
        "--key",
        "maintainer.key",
        *PINNED,
        "--featurizer",
        "numeric",
    )
    succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "n1b.cp", *PINNED)
    # the quarantine of n1 re-profiles with n1's featuriser (the gated one); meanwhile n1b is erased
    code, output, after_cut = _cut_while_it_prepares(
        prov,
        workdir,
        gate,
        env,
        ["quarantine", "--from", "n1", "--source", "crowd", "--tag", "n2q", "--key", "maintainer.key", *PINNED]
        + ["--checkpoint", "n1b.cp", "--checkpoint-out", "n2q.cp"],
        erased="n1b",
    )
    assert code == 1, f"n2q committed onto the cut log (exit {code}): {output}"
    assert "while this version was being prepared" in " ".join(output.split()), output
    assert not Path("n2q.cp").exists()
    assert not Path("v3-n2q.parquet").exists() and not list(workdir.glob("*n2q*"))  # the filtered copy removed
    assert _store_state(prov, workdir) == after_cut


# F18-4: a kept state inside .prov/, or reached through a link into it, is refused wherever --checkpoint is read
def test_a_kept_state_inside_the_store_is_refused_by_every_command_that_reads_one(prov, template_trust, workdir):
    succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "kept.cp", *PINNED)
    Path(".prov/kept.cp").write_bytes(Path("kept.cp").read_bytes())  # a genuine state, where a writer can swap it
    os.symlink(".prov/kept.cp", "link.cp")
    os.symlink(".prov", "store-link")
    commands = [
        ("check", "v3q", "--base", "v2", "--no-save"),
        ("commit", "v3.parquet", "--tag", "n1", "--key", "maintainer.key"),
        ("quarantine", "--from", "v3", "--source", "crowd", "--tag", "n1", "--key", "maintainer.key"),
        ("audit", "verify"),
        ("verify", "v2", "--no-data", "--attestation", "v2.attestation.json"),
    ]
    before = store_fingerprint(Path(".prov"))
    for given, via in (
        (".prov/kept.cp", ""),
        ("link.cp", "; it is a link to "),
        ("store-link/kept.cp", "; it is a link to "),
    ):
        for command in commands:
            r = prov(*command, *PINNED, "--checkpoint", given)
            line = one_line(r)
            assert r.exit_code == 2, (command, r.output)
            assert line.startswith(f"Error: --checkpoint {given}: is inside the store ("), (command, line)
            assert via in line and "a log state kept inside the store it vouches for proves nothing" in line, line
            assert "keep it outside .prov/" in line, line
    assert store_fingerprint(Path(".prov")) == before
    assert not list(workdir.glob("*n1*"))  # no filtered copy either
    # the same state kept outside is taken
    for command in (commands[0], commands[3], commands[4]):
        assert prov(*command, *PINNED, "--checkpoint", "kept.cp").exit_code == 0, command


# F18-2's second window, closed (fix20a): --checkpoint-out's state is kept inside the commit's write, once it has
# committed and before its lock is released, so a .prov/ writer's cut after the commit comes after the state is kept
def test_a_log_cut_after_the_commit_comes_after_its_state_is_kept(prov, template_trust, workdir):
    r = prov("commit", "v3.parquet", "--tag", "n1", "--key", "maintainer.key", *PINNED, "--checkpoint-out", "n1.cp",
             "--json")  # fmt: skip
    result = json.loads(r.stdout)
    assert r.exit_code == 0 and result["log_state"]["treeSize"] == result["checkpoint_out"]["treeSize"], r.output
    assert result["log_state"]["rootHash"] == result["checkpoint_out"]["rootHash"]
    store = Store.open(workdir, pins=Pins.load("maintainer.pub"))
    try:  # the library's seam: versions.commit's write has ended, as commit_on_parent's does before KeptLog.finish
        kept = KeptLog.check(store, "maintainer.key", checkpoint_out="n2.cp", kept_log_state=["n1.cp"])
        committed = versions.commit(store, DatasetSpec("v3.parquet"), "n2", "maintainer.key", kept_log=kept)
        assert Path("n2.cp").exists()  # already kept when the write let go of the lock
        erase_last_version(workdir / ".prov" / "prov.db", "n2")  # the .prov/ writer, the moment the lock is free
        finished = kept.finish(store, committed)
    finally:
        store.close()
    assert finished.checkpoint_out is not None and committed.log_state is not None
    assert finished.checkpoint_out["treeSize"] == committed.log_state["treeSize"]  # the state with n2's entry
    assert finished.checkpoint_out["rootHash"] == committed.log_state["rootHash"]
    r = prov("audit", "verify", "--checkpoint", "n2.cp", *PINNED)
    assert r.exit_code == 1, r.output  # the kept state catches the cut
