"""Several real processes writing one store at once: nothing lost, nothing doubled, no hang."""

from __future__ import annotations

import subprocess
import sys
import time

import faults
import pyarrow.parquet as pq
from faults import PROV, clean_env, logical_state, prov_inline


def _start(world, *args, env=None):
    return subprocess.Popen(
        [PROV, *map(str, args)],
        cwd=world.root,
        env=clean_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs):
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append((p.returncode, stdout, stderr))
    return out


def test_concurrent_commits_and_adds_lose_and_double_nothing(world):
    before = logical_state(world.prov_dir)
    pinned = {"PROV_SIGNERS": str(world.owner.public_path)}
    for i in range(4):
        pq.write_table(faults.random_batch(500 + i, 200), world.root / f"c{i}.parquet")
    procs = [
        _start(world, "commit", "train.parquet", "--tag", f"c{i}", "--key", world.owner.private_path, env=pinned)
        for i in range(4)
    ]
    procs += [_start(world, "add", f"c{i}.parquet", "--source", f"crowd{i}", "--unsigned") for i in range(4)]
    results = _finish(procs)
    assert all(code == 0 for code, _, _ in results), results
    after = logical_state(world.prov_dir)
    tags = [v[0] for v in after["versions"]]
    assert len(tags) == len(set(tags)) == len(before["versions"]) + 4
    assert len(after["batches"]) == len(before["batches"]) + 4
    # Each commit took the latest version as its parent *under the lock*: history stays a line.
    store = world.store()
    rows = store.versions()
    store.close()
    new = [r for r in rows if r["tag"].startswith("c")]
    chain = [r["tag"] for r in rows]
    for r in new:
        assert r["parent"] == chain[chain.index(r["tag"]) - 1], [(x["tag"], x["parent"]) for x in rows]
    checks = faults.check_after_fault(world)
    assert checks["audit_ok"] and checks["fsck_ok"], checks
    for r in new:
        assert prov_inline("verify", "--store-keys", r["tag"], cwd=world.root).code == 0


def test_racing_the_same_tag_one_wins_the_others_get_a_clear_error(world):
    pinned = {"PROV_SIGNERS": str(world.owner.public_path)}
    procs = [
        _start(world, "commit", "train.parquet", "--tag", "same", "--key", world.owner.private_path, env=pinned)
        for _ in range(3)
    ]
    results = _finish(procs)
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2, 2], results
    for code, _, stderr in results:
        if code:
            assert "same: a version of that name already exists" in stderr and "internal error" not in stderr
    assert faults.check_after_fault(world)["fsck_ok"]


def test_racing_the_same_batch_one_wins(world):
    pq.write_table(faults.random_batch(77, 300), world.root / "dup.parquet")
    results = _finish([_start(world, "add", "dup.parquet", "--source", "crowd", "--unsigned") for _ in range(3)])
    assert sorted(code for code, _, _ in results) == [0, 2, 2], results
    assert all("already registered" in err for code, _, err in results if code)


def test_a_held_lock_gives_store_busy_after_a_bounded_wait(world):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import sys, time
from provenance.store import Store
s = Store({str(world.prov_dir)!r})
with s.write():
    print('holding', flush=True)
    time.sleep(60)
""",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        before = faults.fingerprint(world.prov_dir)
        start = time.monotonic()
        r = faults.prov_process(
            "commit",
            "train.parquet",
            "--tag",
            "late",
            "--key",
            world.owner.private_path,
            "--signer",
            world.owner.public_path,
            cwd=world.root,
            env={"PROV_LOCK_TIMEOUT": "1"},
            timeout=60,
        )
        waited = time.monotonic() - start
        assert r.code == 3, r.stderr
        assert "store busy" in r.stderr and r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1
        assert waited < 20
        # Readers are not blocked by a writer's lock.
        assert faults.prov_process("log", cwd=world.root, env={"PROV_LOCK_TIMEOUT": "1"}).code == 0
        assert faults.fingerprint(world.prov_dir) == before
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert (
        faults.prov_process(
            "commit", "train.parquet", "--tag", "late", "--key", "owner.key", "--signer", "owner.pub", cwd=world.root
        ).code
        == 0
    )
