"""`prov commit` past the memory bound: exit 2, one line naming the limit and how to raise it."""

from __future__ import annotations

import pyarrow.parquet as pq

from support import digits_table, store_fingerprint


def test_prov_commit_past_the_bound_exits_2_and_leaves_the_store_unchanged(prov, workdir, store, keypair):
    pq.write_table(digits_table(200), workdir / "d.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "d.parquet", "--tag", "v1", "--key", keypair.private_path, env={"PROV_MEMORY_LIMIT": "64MiB"})
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1
    assert "memory limit of 64 MiB" in r.stderr and "PROV_MEMORY_LIMIT=" in r.stderr
    assert store_fingerprint(workdir / ".prov") == before
