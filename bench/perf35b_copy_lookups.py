"""The copy index's look-ups (``CopyIndex.nearest``) old code against new, on the look-ups a check really makes.

Issue 15 (session 35, perf35b): perf35 found ~1.0 s of the CPU of ``prov diff --detect`` and ``prov check`` on the
100,000-record base and 10,000-record delta of ``check_cost_bench.py`` went to ``CopyIndex.nearest`` looking up
the 7,000 added records one after another. This script runs ``prov diff --detect`` on that store in this process,
keeps what the collision detector hands ``nearest`` (the index on the check's grid, the queries, their labels and
digests), then times the old ``nearest`` (``profiles/copy_index.py`` at ``OLD``, loaded from git) and the new one
alternately, round after round, CPU seconds, and compares their results bit for bit. Then the same on the case
where each look-up reads every record (attack review 34a, A34a-2): ``CORNERS`` look-ups at the corners of the
commit grid's cells on ``ROWS`` x 16 standard Gaussian records searched within ``SEARCHED`` (a check searches a
grid drawn from the looked-up digests, where such look-ups are rare; the commit grid is their worst case), and as
many at records (1e-3 off) on that grid.

  python bench/check_cost_bench.py build DIR
  python bench/perf35b_copy_lookups.py DIR [--rounds R]
      writes bench/results/perf35b-copy-lookups.json
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, put_back, uptime  # noqa: E402
from check_cost_bench import COMMANDS  # noqa: E402

OLD = "d59428c4"  # main before perf35b: one query after another
ROWS = 100_000
SEARCHED = 0.473  # as tests/cli/test_attack34a_replays.py: a check's radius for 10,000 records on 500,000 x 16
CORNERS = 100


def captured_lookups(folder: Path) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """``prov diff --detect`` on ``folder`` in this process; what it handed ``CopyIndex.nearest``: the index's
    bytes, the (n, d) queries, (n,) labels and (n, 32) digests."""
    import provenance.cli as cli
    from provenance.profiles import copy_index

    put_back(folder, folder / "pristine.prov")
    seen: list[tuple] = []
    nearest = copy_index.CopyIndex.nearest

    def keep(index, Zq, labels, digests):
        seen.append((index.to_bytes(), np.array(Zq), np.array(labels), np.array(digests)))
        return nearest(index, Zq, labels, digests)

    copy_index.CopyIndex.nearest = keep  # type: ignore[method-assign]
    os.chdir(folder)
    sys.argv = ["prov", *COMMANDS["diff"], "--out", str(folder / "out-diff.json")]
    try:
        cli.app(prog_name="prov")
    except SystemExit:
        pass
    finally:
        copy_index.CopyIndex.nearest = nearest  # type: ignore[method-assign]
    if len(seen) != 1:
        raise SystemExit(f"{folder}: expected one copy-index look-up, saw {len(seen)}")
    return seen[0]


def old_module():
    """``provenance/profiles/copy_index.py`` as it was at ``OLD``, loaded under another name."""
    source = subprocess.run(
        ["git", "show", f"{OLD}:provenance/profiles/copy_index.py"], cwd=HERE, capture_output=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory() as folder:  # read once: the module needs no file after it runs
        path = Path(folder) / "copy_index_old.py"
        path.write_bytes(source)
        spec = importlib.util.spec_from_file_location("copy_index_old", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["copy_index_old"] = module
        spec.loader.exec_module(module)
    return module


def corner_lookups(rng: np.random.Generator) -> dict[str, tuple]:
    """The A34a-2 case: ``{"at records" | "at corners": (index bytes, queries, labels, digests)}`` on the commit
    grid of ``ROWS`` x 16 Gaussian records of 10 classes."""
    from provenance.profiles.copy_index import CopyIndex, _cells, _grid

    Z = rng.normal(0, 1, (ROWS, 16)).astype(np.float32)
    index = CopyIndex.build(
        Z, np.arange(ROWS) % 10, rng.integers(0, 256, (ROWS, 32), np.uint8), SEARCHED, np.zeros(16), np.ones(16)
    )
    picks = rng.choice(ROWS, CORNERS, replace=False)
    queries = index.Z[picks].astype(np.float64) + 1e-3
    shift, _ = _grid(index.dim, index.width)
    cells = _cells(queries, shift, index.width)
    corners = shift + (cells + ((queries - shift) / index.width - cells >= 0.5)) * index.width + 1e-6
    labels, digests = (index.labels[picks] + 1) % 10, rng.integers(0, 256, (CORNERS, 32), np.uint8)
    data = index.to_bytes()
    return {"at records": (data, queries, labels, digests), "at corners": (data, corners, labels, digests)}


def compared(lookups: tuple, old, rounds: int) -> dict:
    """Old ``nearest`` against new on ``lookups`` (index bytes, queries, labels, digests), alternated."""
    from provenance.profiles.copy_index import CopyIndex

    data, Zq, labels, digests = lookups
    indexes = {"old": old.CopyIndex.from_bytes(data), "new": CopyIndex.from_bytes(data)}
    outputs = {side: index.nearest(Zq, labels, digests) for side, index in indexes.items()}
    same = all(np.array_equal(a.view(np.uint64), b.view(np.uint64)) for a, b in zip(outputs["old"], outputs["new"]))

    def once(side: str) -> float:
        start = time.process_time()
        indexes[side].nearest(Zq, labels, digests)
        return time.process_time() - start

    results, loads = alternate(["old", "new"], once, rounds, swap=True)
    medians = {side: statistics.median(runs) for side, runs in results.items()}
    new = indexes["new"]
    return {
        "index_records": len(new.keys),
        "dim": new.dim,
        "radius": new.radius,
        "queries": len(Zq),
        "records_read": int(new.records_read(Zq).sum()),
        "own_found": int(np.isfinite(outputs["new"][0]).sum()),
        "other_found": int(np.isfinite(outputs["new"][1]).sum()),
        "same_bits": same,
        "cpu": {side: [round(t, 3) for t in runs] for side, runs in results.items()},
        "median_cpu": {side: round(t, 3) for side, t in medians.items()},
        "new_over_old": round(medians["new"] / medians["old"], 3),
        "loads": loads,
    }


def main() -> None:
    import provenance.cli as cli

    cli.prepare_process("diff")  # as the command runs (numpy is loaded already: ``nearest`` calls no BLAS)
    folder = Path(sys.argv[1]).resolve()
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
    cases = {"check_cost_bench store": captured_lookups(folder)} | corner_lookups(np.random.default_rng(35))
    old = old_module()
    report: dict = {"uptime_before": uptime()}
    report |= {name: compared(lookups, old, rounds) for name, lookups in cases.items()}
    report["uptime_after"] = uptime()
    (HERE / "results" / "perf35b-copy-lookups.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
