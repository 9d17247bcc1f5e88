"""Build the legacy store (``tests/cli/test_trust_store_id.py``) with prov's code from before store ids.

Run from this folder with that code first on the path, e.g. from a checkout of commit 4a54e2f (main before
attack review 16c's C16-2 fix) whose ``provenance/`` holds the built native modules::

    PYTHONPATH=/tmp/old-prov python build.py

It writes ``world/``: keys (maintainer, vendor, attacker; test keys only), ``v1.parquet`` (300 digits),
``vendor-batch.parquet`` and its envelope (150 more, signed by vendor.key), ``v2.parquet`` (both),
and ``prov-store/`` (the ``.prov/`` folder: vendor.pub trusted
by a statement maintainer.key signed, naming no store; v1 and v2 committed by maintainer.key, naming none),
plus ``attacker-statement.json``: a trust entry of attacker.pub for ``vendor`` that maintainer.key signed in
another project of the same era (no store named), the object a ``.prov/`` writer would copy here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
WORLD = HERE / "world"


def prov(cwd: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "provenance", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    import provenance.trust.statements as old

    assert "store" not in old.entry_statement.__code__.co_varnames, "run this with prov's code from before store ids"
    shutil.rmtree(WORLD, ignore_errors=True)
    WORLD.mkdir()
    d = load_digits()
    cols = {f"px{i:02d}": d.data[:, i].astype("int64") for i in range(64)}
    t = pa.table({**cols, "label": [str(v) for v in d.target]})
    pq.write_table(t.slice(0, 300), WORLD / "v1.parquet")
    pq.write_table(t.slice(300, 150), WORLD / "vendor-batch.parquet")
    pq.write_table(t.slice(0, 450), WORLD / "v2.parquet")
    for name in ("maintainer", "vendor", "attacker"):
        prov(WORLD, "keys", "generate", name)
    prov(WORLD, "sign", "vendor-batch.parquet", "--source", "vendor", "--key", "vendor.key")
    prov(WORLD, "init")
    pinned = ("--signer", "maintainer.pub")
    prov(WORLD, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key")
    prov(WORLD, "add", "vendor-batch.parquet", "--source", "vendor", *pinned)
    for tag in ("v1", "v2"):
        prov(WORLD, "commit", f"{tag}.parquet", "--tag", tag, "--key", "maintainer.key", *pinned)
    other = WORLD / "other"
    other.mkdir()
    prov(other, "init")
    prov(other, "trust", "add", "vendor", "../attacker.pub", "--key", "../maintainer.key")
    db = other / ".prov" / "prov.db"
    import sqlite3

    [detail] = sqlite3.connect(db).execute("select detail from audit where action = 'trust.add'").fetchone()
    oid = json.loads(detail)["statement"]
    [obj] = list((other / ".prov" / "objects").rglob(f"{oid}*"))
    (WORLD / "attacker-statement.json").write_bytes(obj.read_bytes())
    shutil.rmtree(other)
    (WORLD / ".prov").rename(WORLD / "prov-store")
    (WORLD / ".gitignore").unlink()  # prov keeps private keys out of git; these are test keys, kept on purpose


if __name__ == "__main__":
    main()
