"""``prov commit`` and ``prov status`` on a newest version that does not verify (newcomer review 9, finding 1).

The recovery hint named two commands' options at once (``--parent, --version``); each now names
its own.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow.parquet as pq

from support import digits_table, ok, one_line


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
        "name a version yourself (--parent VERSION) once you have checked it, or restore the store"
    )
    r = prov("status")
    assert r.exit_code == 1, r.output
    assert one_line(r).endswith(
        "name a version yourself (--version VERSION) once you have checked it, or restore the store"
    )
