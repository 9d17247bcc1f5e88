"""What ``prov commit`` saves by verifying each version once for its notes (tidy31): OLD (a tree before it) against
this tree, alternated, one table size a run of the script.

    python bench/commit_notes_verify_ab.py OLD_TREE [--rows 1000] [--rounds 3] [--out commit-notes-verify-ab-1k]

OLD is a snapshot of prov before the change (``git archive COMMIT | tar -x -C DIR``, with the compiled
``provenance/_fast*.so`` copied in). Each run, in a fresh process under one tree: a store, a key, version r1 of a
table of ``--rows`` records (16 float64 columns, one int64 column ``n``, a label), then r2 of the same table with
``n`` turned to text, so every note of the commit reads both statements (a retype, a column that left the features,
every record unattributed). Timed is r2's ``provenance.commit`` alone: its wall and CPU seconds (the process and its
hashing workers), how many statements it verified (``version_facts._verify_statement``, wrapped in a counter that
calls it) and the CPU seconds spent in them. The medians and every run, with the load before and after each, go to
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
import provenance
from provenance import keys, version_facts
from provenance.trust.pins import Pins

rows = int(sys.argv[1])
work = tempfile.mkdtemp(prefix="prov-notes-ab-")
os.chdir(work)
rng = np.random.default_rng(0)
columns = {f"f{i:02d}": rng.normal(size=rows) for i in range(16)}
columns["n"] = np.arange(rows, dtype=np.int64)
columns["label"] = rng.integers(0, 10, rows).astype(str)
table = pa.table(columns)
pq.write_table(table, "train.parquet")
provenance.Store.init(work)
pair = keys.generate(os.path.join(work, "alice"))
store = provenance.Store.open(work, pins=Pins.load([str(pair.public_path)]))
provenance.commit(store, "train.parquet", tag="r1", key=str(pair.private_path))
at = table.schema.get_field_index("n")
pq.write_table(table.set_column(at, "n", table.column("n").cast(pa.string())), "train.parquet")

real, seen = version_facts._verify_statement, {"count": 0, "cpu": 0.0}
def counting(store, row):
    start = time.process_time()
    try:
        return real(store, row)
    finally:
        seen["count"] += 1
        seen["cpu"] += time.process_time() - start
version_facts._verify_statement = counting

wall, cpu = time.perf_counter(), os.times()
result = provenance.commit(store, "train.parquet", tag="r2", key=str(pair.private_path))
after = os.times()
spent = sum(after[:4]) - sum(cpu[:4])
assert result.schema_note and result.features_note, (result.schema_note, result.features_note)
assert os.path.dirname(provenance.__file__) == os.path.join(os.environ["PYTHONPATH"], "provenance"), provenance.__file__
print(json.dumps({
    "wall_s": round(time.perf_counter() - wall, 3),
    "cpu_s": round(spent, 3),
    "verifications": seen["count"],
    "verify_cpu_ms": round(seen["cpu"] * 1000, 2),
}))
"""


def main() -> None:
    paragraph = (
        "The second commit of a table (r2: one int64 column turned to text, so every note of the commit reads both "
        "statements), in a fresh process each run: its wall and CPU seconds (workers included), the statements it "
        "verified and the CPU milliseconds spent verifying them (medians; bench/commit_notes_verify_ab.py)."
    )
    fields = (
        ("wall_s", "commit wall (s)"),
        ("cpu_s", "commit CPU (s)"),
        ("verifications", "statements verified"),
        ("verify_cpu_ms", "CPU verifying them (ms)"),
    )
    child_ab(
        __doc__, CHILD, "prov commit's statement verifications", paragraph, fields, 1000, 3, "commit-notes-verify-ab-1k"
    )


if __name__ == "__main__":
    main()
