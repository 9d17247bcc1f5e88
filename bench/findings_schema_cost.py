"""Would validating a stored findings object against its JSON Schema at read cost ``prov findings`` / ``prov check``
anything (review 24b, item 3)? The object of a 1% delta of a 1 M-row store: 10,000 scored records x 7 detectors (the
size ``detectors.findings.findings_object_bytes`` is tuned for), built with ``findings_document``'s shape.

Per round, alternately: ``json.loads`` of its bytes (what the read does now, before the tolerant accessors), and
``json.loads`` plus ``jsonschema`` Draft 2020-12 validation of the document against ``schemas/findings.schema.json``
(the ``prov findings --all --json`` shape, which the stored object follows). CPU seconds, medians, with the load.

    nice -n 5 python bench/findings_schema_cost.py [--records 10000] [--detectors 7] [--rounds 5]

Writes bench/results/findings-schema-cost.json and .md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, median_lines, uptime, write_results  # noqa: E402

SCHEMA = HERE.parent / "schemas" / "findings.schema.json"


def document(records: int, detectors: int) -> bytes:
    """A findings object of ``records`` scored records, each with ``detectors`` detector entries (deterministic)."""
    rng = random.Random(0)
    names = [f"detector{i}" for i in range(detectors)]
    findings = []
    for position in range(records):
        score = rng.random()
        findings.append(
            {
                "digest": f"{rng.getrandbits(256):064x}",
                "label": str(position % 10),
                "flagged": score > 0.99,
                "score": score,
                "explanation": "knn_label (p = 0.01): 5 of 5 nearest base records are labelled 3",
                "detectors": [{"detector": n, "flagged": False, "score": rng.random()} for n in names],
                "position": position,
            }
        )
    runs = [{"detector": n, "status": "ran", "scored": records, "flagged": 0} for n in names]
    doc = {"version": "v2", "run": "r" * 16, "base": "v1", "detectors": runs, "findings": findings}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--detectors", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from jsonschema import Draft202012Validator

    data = document(args.records, args.detectors)
    validator = Draft202012Validator(json.loads(SCHEMA.read_text()))

    def once(side: str) -> float:
        started = time.process_time()
        doc = json.loads(data)
        if side == "loads + schema":
            validator.validate(doc)
        return time.process_time() - started

    before = uptime()
    results, loads = alternate(("loads", "loads + schema"), once, args.rounds, swap=True)
    after = uptime()
    medians = {side: round(statistics.median(v), 4) for side, v in results.items()}
    out = {
        "records": args.records,
        "detectors": args.detectors,
        "object_bytes": len(data),
        "cpu_s": {side: [round(x, 4) for x in v] for side, v in results.items()},
        "median_cpu_s": medians,
        "ratio": round(medians["loads + schema"] / medians["loads"], 1),
        "load_per_round": loads,
        "uptime_before": before,
        "uptime_after": after,
    }
    lines = median_lines(
        f"Reading a findings object of {args.records} records x {args.detectors} detectors, with and without "
        "JSON Schema validation (review 24b)",
        f"{len(data)} bytes. CPU seconds, median of {args.rounds} alternated rounds (`bench/findings_schema_cost.py`).",
        "read",
        medians,
        [f"Ratio: {out['ratio']}x. Load before: `{before}`; after: `{after}`; per round: {', '.join(loads)}."],
    )
    write_results("findings-schema-cost", out, lines)


if __name__ == "__main__":
    main()
