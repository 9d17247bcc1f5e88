"""What the copies rule's anchor test costs a check (session 26, issue 14's ratchet).

A 1M-record base in a chain ``v1 -> v2 -> v3``: v1 the 1M rows (a fifth repeat an earlier row), v2 and v3 each
1,000 rows more, about a fifth of them copies of earlier rows (so the copies rule judges them and the anchor test
runs). ``prov check v3 --base v2`` takes v1 as the anchor (two versions back from the candidate); with a policy
``copies.anchor = "v2"`` (the base: no anchor test) it does not. Timed A/B alternating in one process:

- ``copies_since``: the anchor test's own work in-process (``gate.copies.copies_since``: both manifests
  hashed and merged, the anchor's clumping counted; the count's cache cleared each time);
- the whole ``prov check`` (default detectors), A = anchor off (policy names v2), B = anchor v1 (default).

    python bench/anchor_cost.py [rows, default 1000000] [pairs, default 3]

Writes bench/results/anchor26-cost-ROWS.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from base_clumping_cost import timed  # noqa: E402
from user_versions import PROV  # noqa: E402


def data(rows: int, seed: int, pool: np.ndarray | None = None) -> pa.Table:
    """Two numeric columns and a label; a fifth of the rows repeat an earlier row (of ``pool`` when given)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    repeat = rng.random(rows) < 0.2
    source = a if pool is None else pool
    a[repeat] = source[rng.integers(0, len(source), repeat.sum())]
    return pa.table({"a": a, "b": np.round(a * 3), "label": (np.abs(a * 7).astype(np.int64) % 5).astype(str)})


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average: ")[-1]


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory(prefix="anchor-bench-") as tmp:
        folder = Path(tmp)
        env = os.environ | {"PROV_SIGNERS": str(folder / "k.pub")}
        run = lambda *a: subprocess.run([PROV, *a], cwd=folder, env=env, check=True, capture_output=True)  # noqa: E731
        run("init")
        run("keys", "generate", "k")
        v1 = data(rows, 0)
        v2 = pa.concat_tables([v1, data(1000, 1, v1.column("a").to_numpy())])
        v3 = pa.concat_tables([v2, data(1000, 2, v2.column("a").to_numpy())])
        commit_s = []
        for tag, table in (("v1", v1), ("v2", v2), ("v3", v3)):
            pq.write_table(table, folder / f"{tag}.parquet")
            commit_s.append(
                timed(lambda tag=tag: run("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", "k.key"))
            )
        (folder / "off.toml").write_text('[copies]\nanchor = "v2"\n')

        def check(*options: str) -> float:
            def go() -> None:
                r = subprocess.run(
                    [PROV, "check", "v3", "--base", "v2", "--no-save", "--format", "json", *options],
                    cwd=folder,
                    env=env,
                    capture_output=True,
                )
                assert r.returncode in (0, 1), r.stderr

            return timed(go)

        from provenance.gate.copies import Copies
        from provenance.gate.copies_anchor import copies_since
        from provenance.profiles import base_clumping
        from provenance.store import Store
        from provenance.trust.pins import Pins

        store = Store(folder / ".prov")
        store.pins = Pins.load([folder / "k.pub"])

        def since() -> None:
            base_clumping._COUNTED.clear()
            c = Copies(*copies_since(store, "v1", "v3"))
            assert c.total > 0

        off, on, inproc, loads = [], [], [], []
        for _ in range(pairs):
            before = uptime()
            off.append(check("--policy", "off.toml"))
            on.append(check())
            inproc.append(timed(since))
            loads.append(f"{before} -> {uptime()}")
        c = Copies(*copies_since(store, "v1", "v3"))
    med = statistics.median
    lines = [
        f"# The copies rule's anchor test: cost on a {rows:,}-row base, anchor two versions back (session 26)",
        "",
        f"`python bench/anchor_cost.py {rows} {pairs}`; chain v1 ({rows:,} rows) -> v2 (+1,000) -> v3 (+1,000); "
        f"`prov check v3 --base v2 --no-save` ({pairs} A/B pairs alternating, median wall seconds). Commits took "
        + ", ".join(f"{s:.1f}" for s in commit_s)
        + " s.",
        "",
        f"The anchor test on v3: {c.total} copies of v1's records on {c.rows_added} rows added since v1.",
        "",
        "| what | median (s) | all (s) |",
        "|---|---|---|",
        f'| check, anchor off (`copies.anchor = "v2"`) | {med(off):.2f} | {", ".join(f"{x:.2f}" for x in off)} |',
        f"| check, anchor v1 (default: oldest signed ancestor) | {med(on):.2f} | {', '.join(f'{x:.2f}' for x in on)} |",
        f"| difference | {med(on) - med(off):+.2f} | ratio {med(on) / med(off):.2f} |",
        f"| `copies_since(v1, v3)` in-process (hash + merge both manifests, count v1's clumping) | {med(inproc):.2f} | "
        f"{', '.join(f'{x:.2f}' for x in inproc)} |",
        "",
        "Load (1 / 5 / 15 min) per pair: " + "; ".join(loads),
        "",
    ]
    out = HERE / "results" / f"anchor26-cost-{rows}.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
