"""The copy index's look-ups on the commit's public grid (before fix35c) and on a grid keyed by the looked-up digests.

Attack review 34a (A34a-2): the grid a commit keys is fixed (``copy_index._GRID_SEED``), so records placed at its
cells' corners lie near every face and each look-up compares with every base record. A check now re-keys the index on
a grid drawn from the looked-up records' digests (``copy_index.grid_key``). In one process, on a base of ROWS x 16
standard Gaussian records of 10 classes searched within ``SEARCHED`` (the radius a check of a 10,000-record delta
searches there: bench/results/review34a-copy-lookup-cost.md), this measures the CPU of

- the re-key to the check's radius (``CopyIndex.searching``) on the commit grid and on a keyed grid;
- ``LOOKUPS`` look-ups at base records (1e-3 off) and at the corners of the commit grid's cells nearest them, on
  each grid, and whether the two grids find the same distances (they must: bit for bit).

Ratios are against the commit grid (the baseline, run in the same script). The load average is recorded before and
after. Not a test: nothing here asserts a speed.

    OMP_NUM_THREADS=1 nice .venv/bin/python bench/fix35c_copy_grid_key.py [--rows 500000]

Writes bench/results/fix35c-copy-grid-key.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from provenance.profiles.copy_index import CopyIndex, _cells, _grid, grid_key  # noqa: E402

COMMIT_RADIUS = 0.257  # the commit radius of the 500,000 x 16 base (review34a's measurement)
SEARCHED = 0.473  # what a check of a 10,000-record delta searches on it
LOOKUPS = 100
OTHER_KEYS = 5


def _cpu(work):
    start = time.process_time()
    out = work()
    return time.process_time() - start, out


def measure(rows: int) -> dict:
    rng = np.random.default_rng(35)
    Z = rng.normal(0, 1, (rows, 16)).astype(np.float32)
    digests = rng.integers(0, 256, (rows, 32), dtype=np.uint8)
    index = CopyIndex.build(Z, np.arange(rows) % 10, digests, COMMIT_RADIUS, np.zeros(16), np.ones(16))
    picks = rng.choice(rows, LOOKUPS, replace=False)
    at_records = index.Z[picks].astype(np.float64) + 1e-3
    qlabels = (index.labels[picks] + 1) % 10  # relabelled copies: their twin is of another class
    qdigests = rng.integers(0, 256, (LOOKUPS, 32), dtype=np.uint8)
    out: dict = {"rows": rows}
    out["rekey_commit_s"], commit = _cpu(lambda: index.searching(SEARCHED))
    out["rekey_keyed_s"], keyed = _cpu(lambda: index.searching(SEARCHED, grid_key(qdigests)))
    public, _ = _grid(commit.dim, commit.width)
    cells = _cells(at_records, public, commit.width)
    at_corners = public + (cells + ((at_records - public) / commit.width - cells >= 0.5)) * commit.width + 1e-6
    for where, queries in (("records", at_records), ("corners", at_corners)):
        for name, grid in (("commit", commit), ("keyed", keyed)):
            out[f"{where}_{name}_s"], out[f"{where}_{name}_found"] = _cpu(
                lambda g=grid, q=queries: g.nearest(q, qlabels, qdigests)
            )
        same = all(np.array_equal(a, b) for a, b in zip(out[f"{where}_commit_found"], out[f"{where}_keyed_found"]))
        out[f"{where}_same"] = same
        out[f"{where}_copies"] = int(np.isfinite(out[f"{where}_commit_found"][1]).sum())
    # a grid is one random draw: the look-ups at records on OTHER_KEYS more keyed grids (other digests, same records)
    out["records_other_keys_s"] = []
    for k in range(OTHER_KEYS):
        other = index.searching(SEARCHED, grid_key(np.roll(qdigests, k + 1, axis=1)))
        out["records_other_keys_s"].append(_cpu(lambda g=other: g.nearest(at_records, qlabels, qdigests))[0])
    return out


def write(r: dict, before: tuple, after: tuple) -> None:
    def load(x: tuple) -> str:
        return " / ".join(f"{v:.1f}" for v in x)

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.3g}" if b > 0 else "-"

    lines = [
        "# fix35c: copy-index look-ups on the commit's public grid and on a grid keyed by the looked-up digests",
        "",
        f"{os.cpu_count()} CPUs (shared with other helpers), `OMP_NUM_THREADS=1 nice .venv/bin/python "
        f"bench/fix35c_copy_grid_key.py --rows {r['rows']}`, {time.strftime('%d %B %Y %H:%M UTC', time.gmtime())}. "
        f"Load average (1/5/15 min) before {load(before)}, after {load(after)}: CPU times, not wall.",
        "",
        f"Base: {r['rows']:,} x 16 standard Gaussian records, 10 classes; commit radius {COMMIT_RADIUS}, searched "
        f"within {SEARCHED} (a 10,000-record delta's bar). {LOOKUPS} look-ups, relabelled copies 1e-3 off base "
        "records, or moved to the corner of the commit grid's cell nearest them (A34a-2's placement). "
        "Baseline: the commit grid (before fix35c), in the same run.",
        "",
        "| step | commit grid CPU (s) | keyed grid CPU (s) | keyed / commit | same distances |",
        "|---|---:|---:|---:|---|",
        f"| re-key to the check's radius | {r['rekey_commit_s']:.2f} | {r['rekey_keyed_s']:.2f} | "
        f"{ratio(r['rekey_keyed_s'], r['rekey_commit_s'])} | |",
    ]
    for where in ("records", "corners"):
        c, k = r[f"{where}_commit_s"], r[f"{where}_keyed_s"]
        lines.append(
            f"| {LOOKUPS} look-ups at {where} ({r[f'{where}_copies']} copies found) | {c:.2f} | {k:.2f} | "
            f"{ratio(k, c)} | {'yes' if r[f'{where}_same'] else 'NO'} |"
        )
    spread = r["records_other_keys_s"]
    lines += [
        "",
        f"The same {LOOKUPS} look-ups at records on {OTHER_KEYS} more keyed grids (other digests): "
        f"{', '.join(f'{x:.2f}' for x in spread)} s of CPU (mean {np.mean(spread):.2f}): a grid is one random draw, "
        "the commit's too, so a look-up's cost varies with the grid as much as between the two columns.",
        "",
        f"Corners against records on the commit grid: {ratio(r['corners_commit_s'], r['records_commit_s'])}x; on the "
        f"keyed grid: {ratio(r['corners_keyed_s'], r['records_keyed_s'])}x.",
        "",
    ]
    (HERE / "results" / "fix35c-copy-grid-key.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    args = ap.parse_args()
    before = os.getloadavg()
    result = measure(args.rows)
    after = os.getloadavg()
    write(result, before, after)
    print((HERE / "results" / "fix35c-copy-grid-key.md").read_text())


if __name__ == "__main__":
    main()
