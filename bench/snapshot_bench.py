"""What ``prov check``'s snapshot of the store costs (attack review 6, finding 6).

``prov check`` copies ``.prov/prov.db`` with SQLite's online backup API into a private
temporary file and decides on the copy (``Store.snapshot``). For each store given, this
takes the snapshot ``--repeat`` times (nothing else in the check) and records the
database's size, its versions and audit entries, and the wall and CPU time of each copy,
with the machine's load. Results: bench/results/snapshot.json.

    nice -n 10 python bench/snapshot_bench.py STORE_FOLDER [STORE_FOLDER ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from provenance.store.store import Store, find_store

RESULTS = Path(__file__).resolve().parent / "results"


def measure(folder: str, repeat: int) -> dict:
    store = Store(find_store(folder))
    versions = store.db.execute("select count(*) from versions").fetchone()[0]
    entries = store.db.execute("select count(*) from audit").fetchone()[0]
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        with store.snapshot():
            pass
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    store.close()
    return {
        "store": str(store.root),
        "db_bytes": (store.root / "prov.db").stat().st_size,
        "versions": versions,
        "audit_entries": entries,
        "wall_s": [round(x, 4) for x in walls],
        "cpu_s": [round(x, 4) for x in cpus],
        "load_before": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stores", nargs="+")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    out = {"load_start": os.getloadavg(), "runs": [measure(s, args.repeat) for s in args.stores]}
    out["load_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "snapshot.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
