"""Attack review 26d: what finding the copies rule's default anchor costs on a long history.

``find_anchor`` (``gate/copies_anchor.py``) walks the base's whole chain of signed parents
(``version_facts.signed_ancestry``), one signature verified per version, on every check that adds
``copies.min_copies`` copies. A store gets one real committed version (``v0``, 50 spam7-like rows), then a chain of
versions ``c1 .. cN`` each signing the one before as its parent (the same records and manifest object, a statement
signed by the commit key, its envelope an object and its ``versions`` row inserted with sqlite3, as a key holder's
history of N releases would stand). Times ``find_anchor(store, cN, None)`` in-process for each N (cold: a new
``Store`` each time), and the ratio to the shortest chain.

    python bench/anchor_chain_walk.py [N,N,... default 10,1000,10000]

Writes bench/results/review26d-anchor-chain-walk.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from provenance import keys, signing  # noqa: E402
from provenance.gate.copies_anchor import find_anchor  # noqa: E402
from provenance.store import Store  # noqa: E402
from provenance.trust.pins import Pins  # noqa: E402


def extend(folder: Path, key: Path, start: int, stop: int) -> None:
    """Add versions c{start}..c{stop-1}, each signing the one before (c0 is v0) as its parent."""
    db = sqlite3.connect(folder / ".prov" / "prov.db")
    cols = [r[1] for r in db.execute("pragma table_info(versions)")]
    row = dict(zip(cols, db.execute("select * from versions where tag = 'v0'").fetchone(), strict=True))
    env = json.loads((folder / ".prov" / "objects" / f"{row['envelope_object']}.json").read_bytes())
    stmt = json.loads(base64.b64decode(env["payload"]))
    private = keys.load_private(key)
    with db:
        for i in range(start, stop):
            tag, parent = f"c{i}", ("v0" if i == 1 else f"c{i - 1}")
            stmt["predicate"]["version"] = tag
            stmt["subject"][0]["name"] = tag
            stmt["predicate"]["parent"] = {"version": parent, "merkleRoot": row["merkle_root"]}
            data = signing.canonical_json(signing.sign(stmt, private))
            oid = hashlib.sha256(data).hexdigest()
            (folder / ".prov" / "objects" / f"{oid}.json").write_bytes(data)
            new = {**row, "tag": tag, "parent": parent, "envelope_object": oid}
            for c in ("id", "audit_seq"):
                if c in new:
                    new[c] = None
            names = [c for c in cols if new[c] is not None or c not in ("id", "audit_seq")]
            db.execute(
                f"insert into versions ({', '.join(names)}) values ({', '.join('?' * len(names))})",
                [new[c] for c in names],
            )
    db.close()


def main() -> None:
    sizes = [int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "10,1000,10000").split(",")]
    lines = [
        "# Attack review 26d: find_anchor's walk of the base's signed chain, by its length",
        "",
        f"`python bench/anchor_chain_walk.py {','.join(map(str, sizes))}`; one run each, in-process, a new Store each "
        f"time; load {os.getloadavg()[0]:.1f} at the start (2 cores shared).",
        "",
        "| versions in the chain | find_anchor s | per version ms | ratio to the first |",
        "|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        Store.init(folder).close()
        pair = keys.generate(folder / "alice")
        rng = np.random.default_rng(0)
        pq.write_table(pa.table({"a": rng.normal(size=50), "label": ["x"] * 50}), "v0.parquet")
        from typer.testing import CliRunner

        from provenance.cli import app

        r = CliRunner().invoke(app, ["-q", "commit", "v0.parquet", "--tag", "v0", "--key", str(pair.private_path)])
        assert r.exit_code == 0, r.output
        pins, built, first = Pins.load([pair.public_path]), 1, None
        for n in sizes:
            extend(folder, pair.private_path, built, n)
            built = n
            store = Store(folder / ".prov")
            store.pins = pins
            start = time.perf_counter()
            anchor = find_anchor(store, f"c{n - 1}", None)
            took = time.perf_counter() - start
            store.close()
            assert anchor.version == "v0" and anchor.problem is None, anchor
            first = first or took / n
            lines.append(f"| {n:,} | {took:.2f} | {1000 * took / n:.2f} | {took / n / first:.2f} per version |")
            print(lines[-1], flush=True)
    lines += ["", f"load {os.getloadavg()[0]:.1f} at the end."]
    (HERE / "results" / "review26d-anchor-chain-walk.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
