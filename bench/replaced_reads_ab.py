"""What ``prov check`` saves by pairing an in-place edit with the base rows its diff found removed (tidy32) rather
than reading the base's manifest again: OLD (a tree before it) against this tree, alternated, one table size a run.

    python bench/replaced_reads_ab.py OLD_TREE [--rows 100000] [--rounds 2] [--out replaced-reads-ab-100k]

OLD is a snapshot of prov before the change (``git archive COMMIT | tar -x -C DIR``, with the compiled
``provenance/_fast*.so`` copied in). Each run, in a fresh process under one tree: keys ``vendor`` and ``m``; a table
of ``--rows`` records (16 float64 columns, a label) whose last tenth the vendor signs, trusted under ``m`` and added;
v1 that table; v2 the same table with row 5's first value changed (one unsigned record edited in place). Timed is
``provenance.check(v2, base=v1)``: its wall and CPU seconds, and within it ``gate.replaced.replaced_in_place`` (wall
milliseconds, and how many manifests it read whole: ``Manifest.from_bytes``, wrapped in a counter that calls it);
the edit it names must be row 5. The medians and every run, with the load before and after each, go to
bench/results/OUT.json and OUT.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import child_ab  # noqa: E402

# one run, in a child process whose PYTHONPATH is the tree measured (alternation.child_json): prints one JSON line
CHILD = r"""
import json, os, sys, tempfile, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from typer.testing import CliRunner
import provenance
from provenance.cli import app
from provenance.gate import replaced, unsigned
from provenance.manifest import Manifest
from provenance.trust.pins import Pins

rows = int(sys.argv[1])
work = tempfile.mkdtemp(prefix="prov-replaced-ab-")
os.chdir(work)
rng = np.random.default_rng(0)
columns = {f"f{i:02d}": rng.normal(size=rows) for i in range(16)}
columns["label"] = rng.integers(0, 10, rows).astype(str)
table = pa.table(columns)
pq.write_table(table.slice(rows - rows // 10), "vendor.parquet")  # the last tenth: a signed delivery
pq.write_table(table, "base.parquet")
edited = table.column("f00").to_numpy().copy()
edited[5] += 1.0
pq.write_table(table.set_column(0, "f00", pa.array(edited)), "train.parquet")
runner = CliRunner()
for args in (
    ["init"], ["keys", "generate", "vendor"], ["keys", "generate", "m"],
    ["sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key"],
    ["trust", "add", "vendor", "vendor.pub", "--key", "m.key", "--signer", "m.pub"],
    ["add", "vendor.parquet", "--source", "vendor", "--signer", "m.pub"],
    ["-q", "commit", "base.parquet", "--tag", "v1", "--key", "m.key", "--signer", "m.pub"],
    ["-q", "commit", "train.parquet", "--tag", "v2", "--parent", "v1", "--key", "m.key", "--signer", "m.pub"],
):
    done = runner.invoke(app, args)
    assert done.exit_code == 0, (args, done.output)

reads, spent, named = [0], [0.0], []
real_bytes = Manifest.from_bytes.__func__
def counting(cls, *a, **k):
    reads[0] += inside[0]
    return real_bytes(cls, *a, **k)
inside = [0]
Manifest.from_bytes = classmethod(counting)
real_replaced = replaced.replaced_in_place
def timed(ctx, mask):
    inside[0], start = 1, time.perf_counter()
    try:
        out = real_replaced(ctx, mask)
    finally:
        inside[0] = 0
        spent[0] += time.perf_counter() - start
    named.extend(r["locator"] for r in out)
    return out
unsigned.replaced_in_place = timed

store = provenance.Store.open(work, pins=Pins.load(["m.pub"]))
wall, cpu = time.perf_counter(), os.times()
result = provenance.check(store, "v2", "v1")
after = os.times()
assert named == ["5"], named
assert os.path.dirname(provenance.__file__) == os.path.join(os.environ["PYTHONPATH"], "provenance"), provenance.__file__
print(json.dumps({
    "check_wall_s": round(time.perf_counter() - wall, 3),
    "check_cpu_s": round(sum(after[:4]) - sum(cpu[:4]), 3),
    "replaced_ms": round(spent[0] * 1000, 1),
    "manifest_reads": reads[0],
    "decision": result.decision,
}))
"""


def main() -> None:
    paragraph = (
        "prov check of v2 (one unsigned record of v1 edited in place, where the vendor signs a tenth) against "
        "v1, in a fresh process each run: the check's wall and CPU seconds (workers included), the wall milliseconds "
        "of gate.replaced.replaced_in_place, which names the edit, and the manifests it read whole (medians; "
        "bench/replaced_reads_ab.py)."
    )
    fields = (
        ("check_wall_s", "check wall (s)"),
        ("check_cpu_s", "check CPU (s)"),
        ("replaced_ms", "pairing the edit (ms)"),
        ("manifest_reads", "manifests read whole while pairing"),
    )
    child_ab(
        __doc__,
        CHILD,
        "prov check's pairing of an in-place edit",
        paragraph,
        fields,
        100_000,
        2,
        "replaced-reads-ab-100k",
    )


if __name__ == "__main__":
    main()
