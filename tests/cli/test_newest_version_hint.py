"""``prov commit`` and ``prov status`` on a newest version that does not verify (newcomer review 9, finding 1).

The recovery hint named two commands' options at once (``--parent, --version``); each now names
its own.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq

from provenance import keys
from support import digits_table, flip_label, ok, one_line, store_fingerprint


def test_the_recovery_hint_names_the_option_of_the_command_that_failed(prov, workdir, store, keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    pq.write_table(digits_table(100), Path("data.parquet"))
    ok(prov, "-q", "commit", "data.parquet", "--tag", "v1", "--key", keypair.private_path)
    ok(prov, "-q", "commit", "data.parquet", "--tag", "v2", "--key", keypair.private_path)
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("delete from versions where tag = 'v2'")
    db.close()
    r = prov("commit", "data.parquet", "--tag", "v3", "--key", keypair.private_path)
    assert r.exit_code == 1, r.output
    assert one_line(r).endswith(
        "name a version yourself (--parent VERSION; v1 verifies under your pins) once you have checked it, or restore "
        "the store"
    )
    r = prov("status")
    assert r.exit_code == 1, r.output
    assert one_line(r).endswith(
        "name a version yourself (--version VERSION; v1 verifies under your pins) once you have checked it, or restore "
        "the store"
    )


def test_a_second_commit_with_nothing_pinned_is_refused_and_changes_nothing(prov, workdir, store, keypair):
    """It committed with any key and said nothing; every later pinned ``commit`` and ``status`` then
    failed on a newest version signed by a key nobody pinned (newcomer review 9, finding 1)."""
    pq.write_table(digits_table(100), Path("data.parquet"))
    ok(prov, "-q", "commit", "data.parquet", "--tag", "v1", "--key", keypair.private_path)  # a store's first: allowed
    mallory = keys.generate(workdir / "mallory")
    pq.write_table(flip_label(digits_table(100), 3), Path("data.parquet"))
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "data.parquet", "--tag", "v2", "--key", mallory.private_path)
    assert r.exit_code == 2, r.output  # exit 0, "signed by key ... (newly registered)" before
    assert one_line(r) == (
        "Error: prov commit v2: nothing is pinned; pass --signer KEY.pub, set PROV_SIGNERS, or give --root FILE"
    )
    assert store_fingerprint(workdir / ".prov") == before
    # pinned, the maintainer's commit goes on from v1 (it failed on a v2 signed by mallory before)
    out = ok(
        prov, "commit", "data.parquet", "--tag", "v2", "--key", keypair.private_path, "--signer", keypair.public_path
    )
    assert "parent v1" in out, out
    assert [v["tag"] for v in json.loads(ok(prov, "log", "--json"))["versions"]] == ["v1", "v2"]
