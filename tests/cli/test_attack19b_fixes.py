"""fix19g: what attack review 19b's fixes promise beyond its replays (tests/cli/test_attack19b_replays.py), in the
trust world (``support.build_trust_world``) with real stores edited by sqlite3 as a ``.prov/`` writer does."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys
from provenance.cli._trust import keep_after_revocation
from provenance.errors import VerificationError
from provenance.store import Store
from provenance.store import checkpoints as cps
from provenance.trust import rowless
from provenance.trust.maintainer_keys import revoke_key
from provenance.trust.pins import Pins
from support import store_fingerprint

PINNED = ("--signer", "maintainer.pub")


def test_keys_revoke_out_keeps_no_state_once_its_revocation_is_cut(prov, template_trust, workdir):
    """`prov keys revoke K --checkpoint-key M --out F` (F19b-1, the code trust revoke shares): the revocation's write
    is cut before the state after it is kept, by a writer that ignores the lock (sqlite3 on prov.db; since fix20a the
    state is kept before the lock is released, so no other writer gets in there). The user is told the key was revoked and the state not kept, with the
    way on (restore, revoke again); no file is written and the store is left as the writer left it."""
    signer = cps.CheckpointKey.load("maintainer.key")
    store = Store.open(pins=Pins.load(["maintainer.pub"]))
    cps.checkpoint_now(store, cps.CheckpointKey.load("attacker.key"))  # registers the key to revoke
    attacker = keys.key_id(keys.load_public("attacker.pub"))
    revoke_key(store, attacker, "left the project", signer)  # the revocation's write, signed by the maintainer
    db = sqlite3.connect(workdir / ".prov" / "prov.db")  # a .prov/ writer ignoring the lock cuts the revocation
    (seq,) = db.execute("select seq from audit where action = 'key.revoke'").fetchone()
    assert db.execute("select max(seq) from audit").fetchone() == (seq,)
    db.execute("delete from audit where seq = ?", [seq])
    db.execute("delete from checkpoints where size >= ?", [seq])
    db.execute("update keys set revoked_at = NULL where keyid = ?", [attacker])
    db.commit()
    db.close()
    cut = store_fingerprint(workdir / ".prov")

    with pytest.raises(VerificationError) as caught:
        keep_after_revocation(store, signer, Path("kept.cp"), f"key {attacker[:16]} (attacker)", "prov keys list")
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


def test_quarantine_dvc_hint_names_a_hidden_character_path_as_its_own_bytes(prov, workdir):
    """F19b-5: in a git + DVC project, a quarantine written into a folder whose name holds U+00A0 printed its hint
    with the path escaped for the eye (``new\\xa0dir``) inside shell quotes, so the pasted command named a literal
    backslash path: one a data-folder writer could create first and get tracked and pushed, while the quarantined
    copy stayed untracked. The hint now quotes it as bash reads back the same bytes, and running it as printed
    tracks the quarantined copy, not the look-alike."""
    bin_dir = Path(sys.executable).parent
    env = os.environ | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    env |= {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}

    def sh(line: str) -> subprocess.CompletedProcess:
        r = subprocess.run(["bash", "-e", "-c", line], cwd=workdir, env=env, capture_output=True, text=True)
        assert r.returncode == 0, (line, r.stdout, r.stderr)
        return r

    assert prov("init").exit_code == 0
    keys.generate(workdir / "k")
    n = 12
    pq.write_table(
        pa.table({"x": [float(i) for i in range(n)], "label": ["a", "b", "c"] * 4, "src": ["v", "c"] * 6}), "d.parquet"
    )
    assert (
        prov(
            "commit", "d.parquet", "--tag", "v1", "--key", "k.key", "--signer", "k.pub", "--source-column", "src"
        ).exit_code
        == 0
    )
    sh(
        f"git init -q && dvc init -q && dvc remote add -d storage {workdir.parent / 'remote'} && echo '*.key' > .gitignore"
    )
    sh("dvc add -q .prov d.parquet && git add .dvc .prov.dvc d.parquet.dvc .gitignore k.pub && git commit -qm v1")
    folder = workdir / "new\u00a0dir"
    folder.mkdir()
    (workdir / "new\\xa0dir").mkdir()  # the look-alike a data-folder writer made, with a file where the copy goes
    pq.write_table(pa.table({"x": [0.0], "label": ["planted"], "src": ["v"]}), workdir / "new\\xa0dir" / "d.v2.parquet")
    r = prov("quarantine", "--from", "v1", "--source", "c", "--tag", "v2", "--out", "new\u00a0dir/d.v2.parquet",
             "--key", "k.key", "--signer", "k.pub")  # fmt: skip
    assert r.exit_code == 0, r.output
    hint = next(line for line in r.stdout.splitlines() if "is new in this DVC project" in line)
    command = hint.split("as you share the store: ", 1)[1]
    assert "dvc add $'new\\xc2\\xa0dir/d.v2.parquet'" in command, command  # no U+00A0 printed, none lost
    sh(command)
    tracked = sh("git ls-files -z").stdout.split("\0")
    assert "new\u00a0dir/d.v2.parquet.dvc" in tracked, tracked  # the quarantined copy is what got shared
    assert not any(name.startswith("new\\") for name in tracked), tracked  # the look-alike is not


def test_a_cut_after_the_kept_state_is_written_is_said_with_the_file_kept(prov, template_trust, workdir):
    """A writer that ignores the lock (sqlite3 on prov.db) can still cut between writing the kept state and reading
    it back: a revocation cut there leaves a file that holds it, and the read-back says so (ChangedAfterKept, which `revoked ... and kept the log state
    after it in F, but the store's audit log no longer holds it` reports), never 'nothing was written'."""
    signer = cps.CheckpointKey.load("maintainer.key")
    store = Store.open(pins=Pins.load(["maintainer.pub"]))
    revoked = rowless.revoke(store, "vendor", None, "key stolen", signer)
    assert revoked
    data = cps.log_state_now(store, signer, [("the revocation's own write", store.written_checkpoint)])
    Path("kept.cp").write_bytes(data)  # keep_checkpoint's write, then the cut before its read-back
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    (seq,) = db.execute("select seq from audit where action = 'trust.revoke'").fetchone()
    db.execute("delete from audit where seq >= ?", [seq])
    db.execute("delete from checkpoints where size >= ?", [seq])
    db.execute("update trust set revoked_at = NULL, revoked_reason = NULL where source = 'vendor'")
    db.commit()
    db.close()
    with pytest.raises(cps.ChangedAfterKept, match="fewer than the"):
        cps._read_back(store, signer, "kept.cp", data)
    assert Path("kept.cp").read_bytes() == data
    assert prov("audit", "verify", "--checkpoint", "kept.cp", *PINNED).exit_code == 1  # the file catches the cut
