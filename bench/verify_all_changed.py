"""``prov verify V`` of a version whose data changed in every record: seconds and peak PSS.

Attack review 25d saw such a verify grow past 2.8 GiB and run over 10 minutes. This commits
N rows x 64 float columns (one row group per 128Ki rows) with ``prov commit``, rewrites the
file with every value moved (so no record is shared), and runs ``prov verify v1`` in a fresh
process (exit 1 expected), probing its process tree's peak PSS. For scale it also times
``prov verify v1`` of the unchanged data in the same script (the baseline: same read and hash,
no change list), and a third verify of the data with every record edited but the first (so
the two sides share one record and each edit pairs by its place). Usage:
``python bench/verify_all_changed.py LABEL [ROWS ...]``; results go to
``bench/results/verify_all_changed.json`` under LABEL.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from core_bench import tree_rss  # noqa: E402
from user_versions import PROV, load, prov  # noqa: E402

COLUMNS = 64


def write_rows(path: Path, rows: int, shift: float, keep_first: bool = False) -> None:
    """``rows`` rows of normal floats moved by ``shift`` (the first row not moved with ``keep_first``)."""
    rng = np.random.default_rng(0)
    writer = None
    for start in range(0, rows, 1 << 17):
        n = min(1 << 17, rows - start)
        moved = np.full(n, shift)
        if keep_first and start == 0:
            moved[0] = 0.0
        cols = {f"x{i:02d}": rng.normal(size=n) + moved for i in range(COLUMNS)}
        t = pa.table(cols | {"label": pa.array((np.arange(start, start + n) % 10).astype(str))})
        writer = writer or pq.ParquetWriter(path, t.schema)
        writer.write_table(t, row_group_size=1 << 17)
    assert writer is not None
    writer.close()


def verify_v1(folder: Path, prov_cmd: tuple[str, ...] = (PROV,)) -> dict:
    """One fresh ``prov verify v1``: exit code, wall seconds, peak PSS, size of its JSON output, and the SHA-256
    and line count of what it said on stderr (to tell two runs said the same). ``prov_cmd``: how to run prov
    (another checkout's code, say)."""
    start = time.perf_counter()
    cmd = [*prov_cmd, "verify", "v1", "--signer", "maintainer.pub", "--json"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=folder, stdout=out, stderr=err)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.05)
        size = out.tell()
        err.seek(0)
        said = err.read()
    return {
        "exit": proc.returncode,
        "seconds": round(time.perf_counter() - start, 1),
        "peak_mib": round(peak / 2**20, 1),
        "json_bytes": size,
        "stderr_sha256": hashlib.sha256(said).hexdigest(),
        "stderr_lines": said.count(b"\n"),
    }


def measure(rows: int) -> dict:
    with tempfile.TemporaryDirectory(dir=HERE / "results") as tmp:
        folder = Path(tmp)
        write_rows(folder / "data.parquet", rows, 0.0)
        prov(["init"], folder)
        prov(["keys", "generate", "maintainer"], folder)
        prov(["commit", "data.parquet", "--tag", "v1", "--key", "maintainer.key"], folder)
        unchanged = verify_v1(folder)
        write_rows(folder / "data.parquet", rows, 1.0)  # every value moved: no record is shared
        changed = verify_v1(folder)
        write_rows(folder / "data.parquet", rows, 1.0, keep_first=True)  # every record edited in place but one
        edited = verify_v1(folder)
    return {
        "rows": rows,
        "columns": COLUMNS,
        "load": load(),
        "unchanged": unchanged,
        "all_changed": changed,
        "all_but_one_edited": edited,
    }


def main() -> None:
    """``python bench/verify_all_changed.py LABEL [ROWS ...]``: the runs are kept under LABEL (a commit, say)."""
    label, sizes = sys.argv[1], [int(a) for a in sys.argv[2:]] or [1_000_000]
    out = HERE / "results" / "verify_all_changed.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    results[label] = []
    for rows in sizes:
        results[label].append(measure(rows))
        print(json.dumps(results[label][-1]), flush=True)
    out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
