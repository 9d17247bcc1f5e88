"""The change-finding step alone at 10M records edited in every record but one: seconds and memory it adds.

``bench/verify_all_changed_s27.py`` measures ``prov verify`` end to end at 1M (hashing 64 columns
dominates its time and peak). This builds two sorted manifests of N records in memory from random
digests (row-number locators, 10 labels; every digest replaced but the first), then runs
``provenance.changes.record_changes`` once, and reports the process's peak RSS before it (the two
manifests) and after it, so the difference is what the pairing costs. Usage:
``python bench/changes_10m_s27.py [N]``; writes ``bench/results/changes-10m-s27.md``.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from provenance.changes import record_changes
from provenance.manifest import Manifest

HERE = Path(__file__).resolve().parent


def _manifest(digests: np.ndarray, n: int) -> Manifest:
    rows = np.arange(n)
    table = pa.table(
        {
            "digest": pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(digests.tobytes())]),
            "label": pa.array((rows % 10).astype(str)),
            "source": pa.nulls(n, pa.string()),
            "batch": pa.nulls(n, pa.string()),
            "locator": pa.array(rows.astype(str)),
        }
    )
    return Manifest.from_table(table)


def _peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    rng = np.random.default_rng(0)
    old = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    new = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    new[0] = old[0]  # the one record kept: the sides share a digest, so edits pair by place
    signed, current = _manifest(old, n), _manifest(new, n)
    del old, new
    before = _peak_mib()
    start = time.perf_counter()
    changes = record_changes(signed, current)
    seconds = time.perf_counter() - start
    after = _peak_mib()
    line = (
        f"record_changes alone, {n:,} records, all but one edited (`bench/changes_10m_s27.py {n}`): "
        f"{changes.counts['changed']:,} changed counted, {len(changes.listed['changed'])} named, {seconds:.1f} s; "
        f"peak RSS {before} MiB with the two manifests built, {after} MiB after (+{after - before} MiB)."
    )
    print(line, flush=True)
    with open(HERE / "results" / "changes-10m-s27.md", "w") as out:
        out.write(line + "\n")


if __name__ == "__main__":
    main()
