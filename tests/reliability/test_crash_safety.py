"""SIGKILL `prov commit`, `prov add` and `prov quarantine` at random moments.

After every kill, `prov audit verify` and `prov fsck` pass and the store shows either the
old state or the complete new one. Half the kills land at a random time in the command's
run; the other half are aimed at the write itself (the moment an object file or the
SQLite journal appears, plus 0-30 ms), where a half-written version would come from.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3

import faults
from faults import prov_inline, scaled


def test_sigkill_at_random_moments_leaves_old_or_new_state(world):
    results = faults.run_kills(world, scaled(12), seed=7, big_copies=1)
    bad = [r for r in results if not r.survived]
    assert not bad, bad
    killed = [r for r in results if r.killed]
    assert len(killed) >= len(results) // 2, results
    assert {r.op for r in killed} == {"commit", "add", "quarantine"}
    assert any(r.mode == "write" and r.killed for r in results)


def test_fsck_repair_removes_what_an_interrupted_write_leaves(world):
    objects = world.prov_dir / "objects"
    orphan = b"an object written just before its transaction was killed"
    (objects / (hashlib.sha256(orphan).hexdigest() + ".parquet")).write_bytes(orphan)
    (objects / ".tmp-half-written").write_bytes(b"half")
    r = prov_inline("fsck", cwd=world.root)
    assert r.code == 0, r.stdout + r.stderr
    assert "temp file left by an interrupted write" in r.stdout and "unreferenced object" in r.stdout
    r = prov_inline("fsck", "--repair", "--json", cwd=world.root)
    assert r.code == 0, r.stderr
    assert len(json.loads(r.stdout)["repaired"]) == 2
    r = prov_inline("fsck", cwd=world.root)
    assert r.code == 0 and "warning:" not in r.stdout
    for tag in world.tags:
        assert prov_inline("verify", "--store-keys", tag, cwd=world.root).code == 0


def test_an_altered_orphan_is_an_error_not_a_leftover(world):
    (world.prov_dir / "objects" / ("ab" * 32 + ".json")).write_bytes(b"bytes that do not hash to the name")
    r = prov_inline("fsck", "--repair", cwd=world.root)
    assert r.code == 1 and "was altered" in r.stdout and not r.crashed
    assert (world.prov_dir / "objects" / ("ab" * 32 + ".json")).exists()


def test_fsck_does_not_repair_a_damaged_store(world):
    objects = world.prov_dir / "objects"
    (objects / ".tmp-left").write_bytes(b"x")
    conn = sqlite3.connect(world.prov_dir / "prov.db")
    conn.execute("update versions set records = records + 1 where tag = 'v1'")
    conn.commit()
    conn.close()
    r = prov_inline("fsck", "--repair", cwd=world.root)
    assert r.code == 1 and not r.crashed
    assert "signed records is 200 but the store has 201" in r.stdout
    assert (objects / ".tmp-left").exists()


def test_hot_journal_from_a_killed_writer_is_rolled_back(world):
    """A writer killed inside its transaction leaves prov.db-journal; the next reader rolls it back."""
    import signal
    import subprocess
    import sys
    import time

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import sqlite3, time, sys
c = sqlite3.connect({str(world.prov_dir / "prov.db")!r}, isolation_level=None)
c.execute('pragma cache_size=1')
c.execute('begin immediate')
c.execute("update versions set records = 0")
c.execute("insert into audit (seq, ts, action, subject, detail, prev_hash, hash) select seq + 1000, ts, action, subject, detail, prev_hash, hash from audit")
print('ready', flush=True)
time.sleep(60)
""",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "ready"
    journal = world.prov_dir / "prov.db-journal"
    deadline = time.time() + 5
    while not journal.exists() and time.time() < deadline:
        time.sleep(0.01)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    assert journal.exists()
    checks = faults.check_after_fault(world)
    assert checks["audit_ok"] and checks["fsck_ok"], checks
    assert not (world.prov_dir / "prov.db-journal").exists() or os.path.getsize(journal) == 0
