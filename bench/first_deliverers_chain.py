"""Attack review 34c: what ``lineage.deliverers.first_deliverers`` (fix34c, A33c-1) costs on a long history.

``relabels.max_relabels_of_others_records`` walks the base's whole chain of signed parents and reads each version's
signed lineage whenever a relabel's signing source is among the base's deliverers of its record (a vendor
correcting its own records). A real store is built through the ``prov`` CLI: a vendor signs 2,000 records, v1 holds
them, and each of v2 .. vN adds 2,000 of the team's unsigned records (vN holds N x 2,000). Times, in-process and
once each (cold: a new ``Store`` each time), ``first_deliverers`` over 10 of the vendor's records (v1 holds only its), from v2
(the baseline: 2 versions) and from vN, ``signed_ancestry`` alone from vN (the signature walk other rules already
do), and the whole ``prov check CAND --base vN`` once.

    python bench/first_deliverers_chain.py [N default 30]

Writes bench/results/review34c-first-deliverers-chain.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from provenance.lineage.classify import version_lineage  # noqa: E402
from provenance.lineage.deliverers import first_deliverers  # noqa: E402
from provenance.store import Store  # noqa: E402
from provenance.trust.pins import Pins  # noqa: E402
from provenance.version_facts import signed_ancestry  # noqa: E402

PROV = str(Path(sys.executable).with_name("prov"))
PINS = ("--signer", "m.pub")
PER = 2000  # records per delivery
FLIPS = list(range(10, 20))  # the vendor's own records it relabels
OTHER = {"a": "b", "b": "c", "c": "a"}


def _run(*args: str) -> None:
    r = subprocess.run([PROV, *args], capture_output=True, text=True)
    assert r.returncode in (0, 1), (args, r.stdout[-500:], r.stderr[-500:])


def _timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(n: int) -> str:
    rng = np.random.default_rng(34)
    x = rng.normal(size=(PER * n, 3)).round(6)
    labels = np.array(["a", "b", "c"])[np.arange(PER * n) % 3]

    def table(rows, names=None) -> pa.Table:
        rows = np.asarray(list(rows))
        cols = {f"f{j}": x[rows, j] for j in range(3)}
        return pa.table(cols | {"label": names if names is not None else labels[rows]})

    flipped = [OTHER[x] for x in labels[FLIPS]]
    _run("init")
    for args in (("keys", "generate", "m"), ("keys", "generate", "vendor")):
        _run(*args)
    pq.write_table(table(range(PER)), "vendor.parquet")
    _run("sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key")
    _run("trust", "add", "vendor", "vendor.pub", "--key", "m.key", *PINS)
    _run("add", "vendor.parquet", "--source", "vendor", *PINS)
    build, _ = _timed(lambda: [_commit(table, v) for v in range(1, n + 1)])
    pq.write_table(table(FLIPS, flipped), "relabels.parquet")
    kept = [i for i in range(PER * n) if i not in FLIPS]
    pq.write_table(pa.concat_tables([table(kept), table(FLIPS, flipped)]), "cand.parquet")
    _run("sign", "relabels.parquet", "--source", "vendor", "--key", "vendor.key")
    _run("add", "relabels.parquet", "--source", "vendor", *PINS)
    _run("commit", "cand.parquet", "--tag", "cand", "--key", "m.key", *PINS)

    def cold(fn):
        store = Store.open(Path.cwd(), pins=Pins.load("m.pub"))
        try:
            return _timed(lambda: fn(store))
        finally:
            store.close()

    digests = pa.array([d for d in cold(lambda s: version_lineage(s, "v1"))[1].column("digest").take(pa.array(FLIPS))])
    short, _ = cold(lambda s: first_deliverers(s, "v2", digests))
    long, found = cold(lambda s: first_deliverers(s, f"v{n}", digests))
    walk, _ = cold(lambda s: signed_ancestry(s, f"v{n}"))
    assert {f.version for f in found.values()} == {"v1"} and {f.sources for f in found.values()} == {
        frozenset({"vendor"})
    }
    check, _ = _timed(lambda: _run("check", "cand", "--base", f"v{n}", *PINS, "--no-save", "--format", "json"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return "\n".join(
        [
            "# first_deliverers on a long chain (attack review 34c)",
            "",
            f"`python bench/first_deliverers_chain.py {n}`; {PER:,} records per version, v{n} holds {PER * n:,}; "
            f"built in {build:.0f} s; load average {load} (1, 5, 15 min; a shared 2-core machine).",
            "",
            "| what | seconds | ratio to first_deliverers from v2 |",
            "|---|---|---|",
            f"| first_deliverers from v2 (2 versions) | {short:.3f} | 1.0 |",
            f"| first_deliverers from v{n} ({n} versions) | {long:.3f} | {long / short:.1f} |",
            f"| signed_ancestry alone from v{n} | {walk:.3f} | {walk / short:.1f} |",
            f"| whole `prov check cand --base v{n}` (CLI, once) | {check:.2f} | {check / short:.1f} |",
            "",
            "Each time is one cold run, not a median: read them as orders of magnitude.",
            "",
        ]
    )


def _commit(table, v: int) -> None:
    pq.write_table(table(range(PER * v)), f"v{v}.parquet")
    _run("commit", f"v{v}.parquet", "--tag", f"v{v}", "--key", "m.key", *PINS)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    here = Path.cwd()
    with tempfile.TemporaryDirectory(dir=HERE.parent / "tmp" if (HERE.parent / "tmp").is_dir() else None) as tmp:
        os.chdir(tmp)
        text = main(n)
        os.chdir(here)
    (HERE / "results" / "review34c-first-deliverers-chain.md").write_text(text)
    print(text)
