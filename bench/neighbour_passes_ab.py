"""The detectors with their two neighbour passes at once against one after the other, in one process.

``registry.run_detectors`` computes the delta x sample and the delta x delta passes together, one on a
second thread (``shared.both_passes_at_once``), where the detectors used to compute each when they first
needed it. This times ``run_detectors`` both ways on the same profile and delta (a fresh ``Delta``
each run, so nothing is cached), alternated, wall and CPU, and checks both give the same findings. It
shows a gain only when a second core is free: record the load and compare at a quiet moment.

Usage: python bench/neighbour_passes_ab.py STORE [--rounds R]   (STORE: a folder
``user_versions.two_versions`` built, v1 and v2 committed; e.g. 1 M records with a 1% delta)
Prints medians, every run and the load; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the prov command starts

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alternation import alternate, uptime  # noqa: E402

from provenance.delta.compare import diff_versions  # noqa: E402
from provenance.detectors import pipeline, registry  # noqa: E402
from provenance.detectors.base import Delta  # noqa: E402
from provenance.profiles.stage import load_profile  # noqa: E402
from provenance.sources.records import read_records  # noqa: E402
from provenance.store import Store  # noqa: E402
from provenance.version_facts import verified_statement, version_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store", type=Path)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    os.chdir(args.store)
    store = Store.open_snapshot()
    delta_facts = diff_versions(store, "v1", "v2", detect=True).delta
    rows = delta_facts["rows"]() if callable(delta_facts["rows"]) else delta_facts["rows"]
    profile = load_profile(store, "v1")
    row = store.version("v2")
    schema = verified_statement(store, row)["predicate"]["schema"]
    records = read_records(version_dataset(store, row), schema["kind"], rows.locators, rows.digests, schema["columns"])
    X = pipeline.featurize_delta(profile, schema["kind"], records, rows)

    def fresh() -> Delta:
        copies = np.asarray(rows.extra_copies, dtype=np.int64), np.asarray(rows.base_copies, dtype=np.int64)
        return Delta(rows.digests, X, rows.labels, rows.sources, rows.kinds, rows.old_labels, *copies)

    together = registry._both_passes
    findings = {}

    def once(name: str) -> tuple[float, float]:
        registry._both_passes = together if name == "together" else (lambda *_: None)
        delta = fresh()
        start, cpu = time.perf_counter(), time.process_time()
        results = registry.run_detectors(profile, delta, None, 0.01)
        spent = (time.perf_counter() - start, time.process_time() - cpu)
        findings[name] = [[(f.digest, f.score, f.flagged, f.explanation) for f in res.findings] for res in results]
        return spent

    print(uptime())
    runs, _ = alternate(["together", "one after the other"], once, args.rounds, swap=True)
    registry._both_passes = together
    print(uptime())
    for name, values in runs.items():
        print(
            f"{name}: median wall {statistics.median(w for w, _ in values):.3f} s, "
            f"CPU {statistics.median(c for _, c in values):.3f} s; wall {[round(w, 3) for w, _ in values]}"
        )
    print("findings identical:", findings["together"] == findings["one after the other"])


if __name__ == "__main__":
    main()
