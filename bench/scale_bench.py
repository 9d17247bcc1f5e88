"""Scale benchmarks (issue 8): rows/s and peak memory as a table grows, hashing throughput
against `sha256sum` on the same bytes, and detection time on a fixed delta as the base grows.

    python bench/scale_bench.py            # 1M/2M/10M-row tables, 1 GiB of files, bases 10k..10M
    python bench/scale_bench.py --quick    # a tenth of the sizes

Each measurement runs in a fresh process; peak memory is the resident set of the process
and its workers, sampled every 50 ms. "hash" is `build_manifest` alone (read, hash, external
sort, Merkle root); "commit" is `prov commit` end to end (plus signing, the store write and
the lineage and profile hooks). Results: bench/results/scale.{json,md}. These are not
timed tests: the machine is shared, so the load average is recorded with every run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from core_bench import BIN, make_table, make_tree, prov_commit, sha256sum, timed  # noqa: E402

RESULTS = HERE / "results"
PY = BIN / "python"
HASH_ONLY = (
    "import sys; from provenance.sources.dataset import DatasetSpec, build_manifest;"
    "from provenance.executor import LocalExecutor;"
    "m = build_manifest(DatasetSpec(sys.argv[1]), executor=LocalExecutor(int(sys.argv[2]))).manifest;"
    "print(len(m), m.root.hex())"
)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def hash_only(path: Path, workers: int) -> tuple[float, int]:
    return timed([PY, "-c", HASH_ONLY, str(path), str(workers)], path.parent)


def bench_tables(work: Path, sizes: list[int]) -> list[dict]:
    rows = []
    for n in sizes:
        path = work / f"table_{n}.parquet"
        make_table(path, n)
        sha256sum(path)  # warm the page cache
        base = min(sha256sum(path) for _ in range(2))
        row = {"rows": n, "bytes": path.stat().st_size, "sha256sum_s": round(base, 3), "load_before": load()}
        for workers in (1, 2):
            seconds, peak = hash_only(path, workers)
            row[f"hash_{workers}w_s"] = round(seconds, 2)
            row[f"hash_{workers}w_rows_per_s"] = int(n / seconds)
            row[f"hash_{workers}w_peak_mib"] = round(peak / 2**20)
            row[f"hash_{workers}w_vs_sha256sum"] = round(base / seconds, 2)
        if n <= 2_000_000:  # the 10M-row commit is in core_bench (1 and 2 workers)
            seconds, peak = prov_commit(work, path, 2)
            row["commit_2w_s"] = round(seconds, 2)
            row["commit_2w_rows_per_s"] = int(n / seconds)
            row["commit_2w_peak_mib"] = round(peak / 2**20)
        row["load_after"] = load()
        rows.append(row)
        print(json.dumps(row), flush=True)
        path.unlink()
    return rows


def bench_files(work: Path, files: int, size: int) -> dict:
    data = work / "files"
    nbytes = make_tree(data, files, size)
    sha256sum(data)
    base = min(sha256sum(data) for _ in range(2))
    row = {"files": files, "bytes": nbytes, "sha256sum_s": round(base, 3), "load_before": load()}
    for workers in (1, 2):
        seconds, peak = hash_only(data, workers)
        row[f"hash_{workers}w_s"] = round(seconds, 3)
        row[f"hash_{workers}w_MiB_per_s"] = round(nbytes / seconds / 2**20)
        row[f"hash_{workers}w_vs_sha256sum"] = round(base / seconds, 2)
    row["sha256sum_MiB_per_s"] = round(nbytes / base / 2**20)
    row["load_after"] = load()
    shutil.rmtree(data)
    print(json.dumps(row), flush=True)
    return row


def bench_detection(sizes: list[int], delta_size: int = 2000, dim: int = 16, classes: int = 10) -> list[dict]:
    from provenance.detectors import Delta, run_detectors
    from provenance.profiles.reference import build_profile

    centres = np.random.default_rng(7).normal(0, 3.0, (classes, dim))
    rows = []
    for n_base in sizes:
        rng = np.random.default_rng(n_base)
        yb = rng.integers(classes, size=n_base)
        Xb = (centres[yb] + rng.normal(0, 1.0, (n_base, dim))).astype(np.float32)
        digests = np.frombuffer(rng.bytes(32 * n_base), dtype=np.uint8).reshape(n_base, 32)
        t0 = time.perf_counter()
        profile = build_profile(Xb, yb.astype(str), digests, featurizer="numeric/v1")
        profile_s = time.perf_counter() - t0
        del Xb, digests
        drng = np.random.default_rng(1)  # the same delta at every base size
        yd = drng.integers(classes, size=delta_size)
        Xd = (centres[yd] + drng.normal(0, 1.0, (delta_size, dim))).astype(np.float32)
        flips = drng.choice(delta_size, delta_size // 20, replace=False)
        yd[flips] = (yd[flips] + 1) % classes
        digests_d = [hashlib.sha256(i.to_bytes(8, "big") + b"delta").digest() for i in range(delta_size)]

        def fresh():
            return Delta(
                digests_d, Xd, list(yd.astype(str)), [None] * delta_size, ["added"] * delta_size, [None] * delta_size
            )

        serial = float("inf")
        for _ in range(2):  # best of two: the machine is shared
            t0 = time.perf_counter()
            results = run_detectors(profile, fresh())
            serial = min(serial, time.perf_counter() - t0)
        knn = next(r for r in results if r.detector == "knn_label")
        row = {
            "n_base": n_base,
            "n_delta": delta_size,
            "dim": dim,
            "profile_build_s": round(profile_s, 2),
            "profile_sample": profile.sample_size,
            "detect_serial_s": round(serial, 3),
            "flip_recall": round(float(np.mean([knn.findings[i].flagged for i in flips])), 3),
            "load": load(),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def estimate(tables: list[dict], files: dict, detection: list[dict]) -> list[str]:
    """The 1-billion-record estimate, from the largest table measured."""
    big = max(tables, key=lambda r: r["rows"])
    per_core = big["hash_1w_rows_per_s"]
    two = big["hash_2w_rows_per_s"]
    scaling = two / per_core / 2
    n = 1_000_000_000
    hours_one_core = n / per_core / 3600
    det = max(detection, key=lambda r: r["n_base"])
    lines = [
        "## Estimate: commit and check 1 billion records",
        "",
        "Rates below are the hash stage (`build_manifest`: read, hash, sort, root), the part that grows with the "
        "data; `prov commit` adds a roughly fixed cost for the reference profile (bounded sample, about 20 s here) "
        "and signing.",
        "",
        f"From the {big['rows']:,}-row, 64-column table: {per_core:,} rows/s on one worker, "
        f"{two:,} rows/s on two ({scaling:.0%} of linear, on a machine whose other jobs kept both CPUs busy). Hashing is partition-parallel with no shared "
        "state, so a cluster scales with cores until object-storage bandwidth or the single merge "
        "(external sort and Merkle root, one process) binds.",
        "",
        f"- Hashing 10^9 such rows is about {hours_one_core:,.1f} core-hours. At the measured per-core rate and "
        f"two-worker efficiency, a 64-core Dask cluster (8 workers x 8 cores) hashes them in about "
        f"{hours_one_core * 60 / (64 * scaling):,.0f} min, 256 cores in about {hours_one_core * 3600 / (256 * scaling):,.0f} s.",
        f"- Reading: the table is {big['bytes'] / big['rows']:.0f} bytes/row on disk, so 10^9 rows is about "
        f"{big['bytes'] / big['rows'] * n / 1e12:.2f} TB; 8 nodes at about 1 GB/s each read it in about "
        f"{big['bytes'] / big['rows'] * n / 8e9 / 60:,.0f} min, the same order as the hashing.",
        "- The merge is one process and becomes the bottleneck: each worker's rows (digest, label, source, locator, "
        "leaf hash: about 100 bytes/row, 100 GB) come back to it over the network (about 2 min at 1 GB/s), are "
        "bucket-sorted (4,096 buckets of about 250k rows, so memory stays near one bucket plus one 2^20-row "
        "row group) and hashed into the Merkle root. On this machine the merge costs about 1-2.5 us/row on "
        "one core, so 20-40 min per 10^9 rows. Estimate for commit: about 25-45 min on 64 cores (hashing and reading a few minutes), dominated by "
        "the merge; a merge per bucket range on the workers (the buckets are independent until the root, "
        "whose subtrees can be combined) would remove it.",
        f"- Checking a new version costs `prov diff` (a streaming merge of the two manifests, no data read; "
        f"linear in the manifests, so minutes for 10^9 records) plus detection on the delta, which does not grow "
        f"with the base: {det['detect_serial_s']} s for a {det['n_delta']:,}-record delta against a "
        f"{det['n_base']:,}-record base here. A 1% delta (10^7 records) is beyond what was measured: detection "
        "runs in one process, and its cost is dominated by the delta's nearest-neighbour search against the "
        "profile's bounded sample, the part a cluster would have to split.",
        "",
        "Caveats: measured on a shared 2-CPU machine; per-row cost depends on the schema (string columns "
        "encode in Python and are several times slower than the numeric table here); the commit hooks of "
        "other stages (lineage, profile) currently load the whole manifest into memory, which at 10^9 rows "
        "would not fit on one machine.",
    ]
    return lines


def write(result: dict, suffix: str) -> None:
    (RESULTS / f"scale{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    t, f, d = result["tables"], result["files"], result["detection"]
    lines = [
        "# Scale benchmark" + (" (quick)" if result["quick"] else ""),
        "",
        f"{result['machine']['cpus']} CPUs, Python {result['machine']['python']}, batch SHA-256 extension "
        f"{'built' if result['fastsha'] else 'not built'}. Load average is recorded with each run: the machine "
        "is shared with other jobs, so times are noisy.",
        "",
        "## Table commit (64 float64 columns + label)",
        "",
        "| rows | hash 1 worker rows/s | hash 2 workers rows/s | hash peak MiB (1w / 2w) | commit 2w rows/s | commit peak MiB | hash vs sha256sum (1w / 2w) | load |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in t:
        lines.append(
            f"| {r['rows']:,} | {r['hash_1w_rows_per_s']:,} | {r['hash_2w_rows_per_s']:,} | "
            f"{r['hash_1w_peak_mib']} / {r['hash_2w_peak_mib']} | {r.get('commit_2w_rows_per_s', 'see core.md')} | "
            f"{r.get('commit_2w_peak_mib', 'see core.md')} | {r['hash_1w_vs_sha256sum']}× / {r['hash_2w_vs_sha256sum']}× | "
            f"{r['load_before']}–{r['load_after']} |"
        )
    lines += [
        "",
        "## Hashing throughput against sha256sum (same files)",
        "",
        "| files | MiB | sha256sum MiB/s | prov 1 worker MiB/s | prov 2 workers MiB/s | ratio 1w / 2w | load |",
        "|---|---|---|---|---|---|---|",
        f"| {f['files']} | {f['bytes'] >> 20} | {f['sha256sum_MiB_per_s']} | {f['hash_1w_MiB_per_s']} | "
        f"{f['hash_2w_MiB_per_s']} | {f['hash_1w_vs_sha256sum']}× / {f['hash_2w_vs_sha256sum']}× | "
        f"{f['load_before']}–{f['load_after']} |",
        "",
        "## Detection on a fixed delta as the base grows",
        "",
        "| base records | delta | profile build s (at commit) | detect s | flip recall | load |",
        "|---|---|---|---|---|---|",
    ]
    for r in d:
        lines.append(
            f"| {r['n_base']:,} | {r['n_delta']:,} | {r['profile_build_s']} | {r['detect_serial_s']} | "
            f"{r['flip_recall']} | {r['load']} |"
        )
    lines += [""] + estimate(t, f, d)
    (RESULTS / f"scale{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["tables", "files", "detection"], action="append")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    scale = 10 if args.quick else 1
    only = set(args.only or ["tables", "files", "detection"])
    suffix = "-quick" if args.quick else ""
    previous = (
        json.loads((RESULTS / f"scale{suffix}.json").read_text()) if (RESULTS / f"scale{suffix}.json").exists() else {}
    )
    work = Path(tempfile.mkdtemp(prefix="prov-scale-"))
    try:
        tables = (
            bench_tables(work, [n // scale for n in (1_000_000, 2_000_000, 10_000_000)])
            if "tables" in only
            else previous["tables"]
        )
        files = bench_files(work, 1024 // scale, 1 << 20) if "files" in only else previous["files"]
        detection = (
            bench_detection([n // scale for n in (10_000, 100_000, 1_000_000, 10_000_000)])
            if "detection" in only
            else previous["detection"]
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from provenance import fastsha

    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "quick": args.quick,
        "fastsha": fastsha.available(),
        "tables": tables,
        "files": files,
        "detection": detection,
    }
    write(result, suffix)


if __name__ == "__main__":
    main()
