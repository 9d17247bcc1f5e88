"""A ``prov commit`` SIGKILLed between its commit entry and the checkpoint it signs over it (attack review 26e's
A26e-5 fix refuses a commit entry no trusted head signed): the entry and the checkpoint are one SQLite transaction,
so the kill leaves neither, and the next commit is not refused; it takes the last version as its parent.

The child process is the real command line with one change: the checkpoint's signing first says where it is and
waits, so the kill lands at that point every run (no timing). The rest is real: keys, Parquet, SQLite, SIGKILL.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys

import pyarrow.parquet as pq

from support import digits_table, ok

PAUSED_COMMIT = """
import sys, time
from provenance.store import checkpoints

def paused(self, store):  # inside the write: the commit entry is appended, the checkpoint not yet signed
    seq, action, subject = store.db.execute("select seq, action, subject from audit order by seq desc").fetchone()
    print("ready", seq, action, subject, flush=True)
    time.sleep(120)

checkpoints.CheckpointKey.sign = paused
from provenance.cli import main
sys.argv = ["prov", *sys.argv[1:]]
main()
"""


def _log(workdir) -> list[tuple]:
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        rows = db.execute("select * from audit order by seq").fetchall()
        rows += db.execute("select tag, envelope_object from versions order by tag").fetchall()
        rows += db.execute("select object from checkpoints order by object").fetchall()
    db.close()
    return rows


def test_a_commit_killed_between_its_entry_and_its_checkpoint_leaves_nothing_the_next_commit_refuses(prov, workdir):
    pinned = ("--signer", "maintainer.pub")
    table = digits_table(400)
    pq.write_table(table.slice(0, 300), "train.parquet")
    ok(prov, "init")
    ok(prov, "keys", "generate", "maintainer")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v1", "--key", "maintainer.key", *pinned)
    pq.write_table(table.slice(0, 340), "train.parquet")
    before = _log(workdir)

    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PAUSED_COMMIT,
            "commit",
            "train.parquet",
            "--tag",
            "v2",
            "--key",
            "maintainer.key",
            *pinned,
        ],  # fmt: skip
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        said = child.stdout.readline().split()
        assert said[:1] == ["ready"] and said[2:] == ["commit", "v2"], (said, child.stderr.read())
        assert (workdir / ".prov" / "prov.db-journal").exists()  # the write is under way, not committed
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()

    audit = ok(prov, "audit", "verify", *pinned)  # the next reader rolls the hot journal back
    assert "PENDING" not in audit and "commit v2" not in ok(prov, "log"), audit
    assert _log(workdir) == before  # the killed write's objects may stay behind, unreferenced (prov fsck --repair)
    out = ok(prov, "commit", "train.parquet", "--tag", "v2", "--key", "maintainer.key", *pinned)
    assert "parent v1" in out, out
    assert "PENDING" not in ok(prov, "audit", "verify", *pinned)
