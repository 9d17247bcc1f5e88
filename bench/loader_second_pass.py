"""What holding a two-pass read to its verifying pass costs (``loader/verified_pass.py``, attack review 5 finding 6).

    python bench/loader_second_pass.py --out bench/results/loader-second-pass.md

One table (``--rows`` x 64 float64 + a label of 10 classes), committed once; then, in this
process (CPU time, best of ``--repeat``): the batch fingerprints (``verified_pass.fingerprint``)
of every batch, against one pass that reads, hashes and checks every record
(``load(v, verify_first=False).hashed_batches()``). A default read computes the fingerprints
once in its verifying pass and, over the buffer budget, once more in its second pass.
The machine's load average is recorded; nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _best_cpu(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", help="also write a Markdown summary here")
    args = ap.parse_args()

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import provenance as prov
    from provenance import keys
    from provenance.loader.verified_pass import fingerprint

    out = Path(args.out).resolve() if args.out else None
    load_before = os.getloadavg()
    folder = tempfile.mkdtemp(prefix="prov-second-pass-")
    os.chdir(folder)
    rng = np.random.default_rng(0)
    n = args.rows
    columns = {f"f{i:02d}": rng.standard_normal(n) for i in range(64)}
    pq.write_table(pa.table({**columns, "label": rng.integers(0, 10, n).astype(str)}), "t.parquet")
    store = prov.Store.init(folder)
    pair = keys.generate(os.path.join(folder, "m"))
    prov.commit(store, "t.parquet", tag="v", key=pair.private_path)
    pins = prov.Pins.load([pair.public_path])

    def one_pass() -> list:
        return list(prov.load("v", store=store, pins=pins, verify_first=False).hashed_batches())

    batches = one_pass()
    read = _best_cpu(one_pass, args.repeat)
    prints = _best_cpu(lambda: [fingerprint(b) for b in batches], args.repeat)
    result = {
        "rows": n,
        "batches": len(batches),
        "one_pass_cpu_s": round(read, 4),
        "fingerprints_cpu_s": round(prints, 4),
        "fingerprints_vs_one_pass": round(prints / read, 4),
        "load_before": " ".join(f"{x:.1f}" for x in load_before),
        "load_after": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    print(json.dumps(result, indent=2))
    if out is not None:
        out.write_text(
            f"# The second pass held to the verifying pass: fingerprint cost ({n:,} rows x 64 float64 + label)\n\n"
            f"Load average before {result['load_before']}, after {result['load_after']} (2 shared cores); "
            f"CPU time, best of {args.repeat}.\n\n"
            "| work | CPU s | vs one pass |\n|---|---:|---:|\n"
            f"| one verifying pass (`verify_first=False` `hashed_batches()`: read, hash, check) | {read:.4f} | 1.00x |\n"
            f"| fingerprints of its {len(batches)} batches | {prints:.4f} | {prints / read:.3f}x |\n"
        )


if __name__ == "__main__":
    main()
