"""Scale benchmarks (issues 8 and 15): a table commit stage by stage as the table grows, with
peak memory; large-file hashing against OpenSSL, hashlib and sha256sum on the same files;
detection time on a fixed delta as the base grows.

    python bench/scale_bench.py            # 2M and 10M rows x 64 float64 columns, 200 x 5 MiB files, bases 10k..10M
    python bench/scale_bench.py --quick    # a tenth of the sizes
    python bench/scale_bench.py --only tables --only files   # the issue 15 rows alone

Run it on the normal install (``pip install -e .``, which compiles the batch SHA-256
extension where it can; the results name the path that ran). Each measurement runs in a
fresh process; peak memory is the proportional set size (PSS) of the process and its
workers, sampled every 50 ms. Every timed commit is a store's second version: the data's first
rows (or files) are committed first, not timed (``core_bench.commit_parent``), as users commit.
The machine's load (``uptime``) is recorded before and after
each row: on a shared machine the times are inflated. Results: bench/results/scale.{json,md}.
Not timed tests: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from core_bench import BIN, CPU_SECONDS, make_table, make_tree, prov_commit, sha256sum, tree_rss  # noqa: E402

RESULTS = HERE / "results"
PY = BIN / "python"
AIM_MANIFEST_ROWS_PER_S = 1_000_000
AIM_END_TO_END_ROWS_PER_S = 800_000
AIM_PEAK_MIB = 1024
AIM_VS_OPENSSL = 0.8


def load() -> str:
    """The machine's load averages (1, 5, 15 min), as ``uptime`` prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_json(cmd: list, cwd: Path) -> tuple[dict, int]:
    """Run a command that prints one JSON line; return it and the peak PSS (bytes) of its process tree."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {err.decode()[-2000:]}")
    return json.loads(out.decode().strip().splitlines()[-1]), peak


def openssl_dgst(paths: list[Path]) -> float:
    """Seconds for ``openssl dgst -sha256`` over the files (one process, as a user would run it)."""
    start = time.perf_counter()
    for i in range(0, len(paths), 500):
        subprocess.run(["openssl", "dgst", "-sha256", *map(str, paths[i : i + 500])], check=True, capture_output=True)
    return time.perf_counter() - start


def hashlib_files(paths: list[Path]) -> float:
    """Seconds for ``hashlib.file_digest`` over the files in this process."""
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb") as fh:
            hashlib.file_digest(fh, "sha256")
    return time.perf_counter() - start


def bench_tables(work: Path, sizes: list[int], workers: int = 2) -> list[dict]:
    rows = []
    for n in sizes:
        path = work / f"table_{n}.parquet"
        make_table(path, n)
        sha256sum(path)  # warm the page cache
        row: dict = {"rows": n, "bytes": path.stat().st_size, "workers": workers, "load_before": load()}
        stages, peak = run_json(
            [PY, HERE / "commit_stages.py", str(path), "--workers", str(workers), "--one-core"], work
        )
        row.update(stages)
        row["peak_mib"] = round(peak / 2**20)
        to_manifest = stages["hash_s"] + stages["merge_s"] + stages["merkle_s"] + stages["sign_s"]
        row["manifest_rows_per_s"] = int(n / to_manifest)
        row["end_to_end_rows_per_s"] = int(n / stages["commit_s"])
        seconds, cli_peak = prov_commit(work, path, workers)
        # the stage-timed call again on the same file: the first run after writing a table touches memory
        # the VM's host took back (session 13: 756k -> 851k-962k rows/s at 2M), so both are reported
        again, _ = run_json([PY, HERE / "commit_stages.py", str(path), "--workers", str(workers)], work)
        row["hash_s_again"] = again["hash_s"]
        row["manifest_rows_per_s_again"] = int(
            n / (again["hash_s"] + again["merge_s"] + again["merkle_s"] + again["sign_s"])
        )
        row["prov_commit_cli_s"] = round(seconds, 2)
        row["prov_commit_cli_cpu_s"] = round(CPU_SECONDS["prov"], 2)  # user + system, with its workers
        row["prov_commit_cli_rows_per_s"] = int(n / seconds)
        row["prov_commit_cli_peak_mib"] = round(cli_peak / 2**20)
        row["load_after"] = load()
        rows.append(row)
        print(json.dumps(row), flush=True)
        path.unlink()
    return rows


def bench_files(work: Path, files: int, size: int, workers: int = 2) -> dict:
    data = work / "files"
    nbytes = make_tree(data, files, size)
    paths = sorted(p for p in data.rglob("*") if p.is_file())
    sha256sum(data)  # warm the page cache: every tool reads from memory
    row: dict = {"files": files, "bytes": nbytes, "load_before": load()}
    row["openssl_s"] = round(min(openssl_dgst(paths) for _ in range(3)), 3)
    row["hashlib_s"] = round(min(hashlib_files(paths) for _ in range(3)), 3)
    row["sha256sum_s"] = round(min(sha256sum(data) for _ in range(2)), 3)
    for w in (1, workers):
        seconds, _ = prov_commit(work, data, w, "v1", "--tree-reader", "files")  # random bytes, not images
        row[f"prov_commit_{w}w_s"] = round(seconds, 3)
        row[f"prov_commit_{w}w_vs_openssl"] = round(row["openssl_s"] / seconds, 2)
    for tool in ("openssl", "hashlib", "sha256sum"):
        row[f"{tool}_MiB_per_s"] = round(nbytes / row[f"{tool}_s"] / 2**20)
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


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def aims(tables: list[dict], files: dict) -> list[str]:
    """One row per issue-15 aim: measured, aim, met or not."""
    lines = ["| aim (issue 15) | measured | aim | |", "|---|---|---|---|"]
    for r in tables:
        lines.append(
            f"| read to signed manifest, {r['rows']:,} rows | {r['manifest_rows_per_s']:,} rows/s"
            + (
                f" (the same call again on the same file: {r['manifest_rows_per_s_again']:,})"
                if "manifest_rows_per_s_again" in r
                else ""
            )
            + " | ≥ 1,000,000 rows/s | "
            f"{met(r['manifest_rows_per_s'] >= AIM_MANIFEST_ROWS_PER_S)} |"
        )
    big = max(tables, key=lambda r: r["rows"]) if tables else None
    if big:
        lines.append(
            f"| end to end with lineage and profile, {big['rows']:,} rows | `prov commit` "
            f"{big['prov_commit_cli_rows_per_s']:,} rows/s ({big['prov_commit_cli_s']} s, CPU "
            f"{big.get('prov_commit_cli_cpu_s', '?')} s; load {big['load_before']} / {big['load_after']}; "
            "the library call with stage timers: "
            f"{big['end_to_end_rows_per_s']:,}) | ≥ 800,000 rows/s | "
            f"{met(big['prov_commit_cli_rows_per_s'] >= AIM_END_TO_END_ROWS_PER_S)} |"
        )
        # the commit as users run it; the stage-timed run's peak also holds its one-core read of the table
        cli = [r["prov_commit_cli_peak_mib"] for r in tables]
        peaks = " → ".join(f"{p} MiB" for p in cli)
        sizes = " → ".join(f"{r['rows']:,}" for r in tables)
        ok = max(cli) <= AIM_PEAK_MIB and max(cli) <= 1.15 * min(cli)
        lines.append(f"| `prov commit` peak memory (PSS), {sizes} rows | {peaks} | ≤ 1 GiB and flat | {met(ok)} |")
    if files:
        best = max(v for k, v in files.items() if k.startswith("prov_commit_") and k.endswith("_vs_openssl"))
        lines.append(
            f"| large-file tree commit vs `openssl dgst -sha256`, {files['files']} × {files['bytes'] // files['files'] >> 20} MiB "
            f"| {best}× | ≥ 0.8× | {met(best >= AIM_VS_OPENSSL)} |"
        )
    return lines


def estimate(tables: list[dict]) -> list[str]:
    """The 1-billion-record estimate on a Dask cluster, from the largest table measured."""
    big = max(tables, key=lambda r: r["rows"])
    n = 1_000_000_000
    per_core = big["rows"] / big["one_core_read_encode_hash_s"]
    merge_us = (big["merge_s"] + big["merkle_s"]) / big["rows"] * 1e6
    lineage_us = big["lineage_s"] / big["rows"] * 1e6
    spill = 110  # bytes a worker returns per record: digest, leaf, label, source, locator
    lines = [
        "## Estimate: 1 billion records on a Dask cluster",
        "",
        f"From the {big['rows']:,}-row, 64-column table above (one core: {per_core:,.0f} rows/s to read, encode, hash "
        f"and leaf-hash; the merge and Merkle root {merge_us:.2f} µs/row in one process on two threads; lineage "
        f"{lineage_us:.2f} µs/row, streamed; "
        f"profile {big['profile_s']:.1f} s, fixed by its bounded sample).",
        "",
        f"- Hashing is partition-parallel with no shared state: 10^9 rows are {n / per_core / 3600:,.1f} core-hours, "
        f"so about {n / per_core / 64 / 60:,.1f} min on 64 cores and {n / per_core / 256 / 60:,.1f} min on 256, if "
        f"reading keeps up (the table is {big['bytes'] / big['rows']:.0f} B/row, {big['bytes'] / big['rows'] * n / 1e12:.2f} TB: "
        f"8 nodes at 1 GB/s each read it in about {big['bytes'] / big['rows'] * n / 8e9 / 60:.0f} min).",
        f"- Cluster workers share no disk with the client, so they return their rows (about {spill} B each, "
        f"{spill * n / 1e9:.0f} GB) over the network: about {spill * n / 1.25e9 / 60:.0f} min into one 10 Gb/s client, "
        "which spills them to local disk in digest buckets (4,096 of about 250k rows, so memory stays at one bucket "
        "plus one 2^20-row row group, well inside the 1 GiB bound).",
        f"- The merge is one process (two threads): {merge_us * n / 1e6 / 60:,.0f} min at the measured rate. It and "
        "the transfer dominate; the buckets are independent and each one's place in the tree is known from the "
        "bucket sizes (the root pass already hashes each bucket's whole subtrees apart), so a merge per bucket range "
        "on the workers (each returning its part of the manifest and its subtree roots) would remove both.",
        f"- Lineage, one process, at the {lineage_us:.2f} µs/row measured here: {lineage_us * n / 1e6 / 60:,.0f} min; "
        "it streams the manifest 64k rows at a time, so its memory is the registered batches plus one row group. "
        "The profile stays fixed.",
        f"- Total, 64 cores: about {(n / per_core / 64 + spill * n / 1.25e9 + merge_us * n / 1e6 + lineage_us * n / 1e6) / 60:,.0f} min, "
        "dominated by the one-process merge and transfer.",
        "",
        "Caveats: measured on a shared 2-CPU machine; per-row cost depends on the schema (string and nested columns "
        "encode in Python, several times slower than these float columns); the network and disk figures are "
        "assumptions, not measurements.",
    ]
    return lines


def write(result: dict, suffix: str) -> None:
    (RESULTS / f"scale{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    t, f, d = result["tables"], result["files"], result["detection"]
    lines = [
        "# Scale benchmark" + (" (quick)" if result["quick"] else ""),
        "",
        f"{result['machine']['cpus']} CPUs, Python {result['machine']['python']}; {result['sha256_path']}. "
        "Peak memory is the PSS of the process and its workers. Load averages (1/5/15 min) are recorded before "
        "and after each row: the machine is shared, so times are inflated when they are high.",
        "",
        "## Aims",
        "",
        *aims(t, f),
        "",
        "## Table commit, stage by stage (64 float64 columns + label)",
        "",
        "Seconds per stage of one `versions.commit` (the library call behind `prov commit`) with its default stages, "
        "on top of a small parent version (the table's first 3 rows, committed first and not timed, as a user's "
        "earlier version; the `prov commit` columns too); "
        "hash = read + encode + hash + leaf hashes + spill, in the workers; one-core columns split reading from "
        "encoding + hashing on the same file.",
        "",
        "| rows | workers | hash | merge | Merkle | sign | lineage | profile | store, rest | total | to manifest rows/s | end to end rows/s | `prov commit` s (CPU s) | `prov commit` peak MiB | stage-timed run's peak MiB (with its one-core read) | one core: read / encode+hash s | load before / after |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in t:
        lines.append(
            f"| {r['rows']:,} | {r['workers']} | {r['hash_s']} | {r['merge_s']} | {r['merkle_s']} | {r['sign_s']} | "
            f"{r['lineage_s']} | {r['profile_s']} | {r['store_and_rest_s']} | {r['commit_s']} | "
            f"{r['manifest_rows_per_s']:,} | {r['end_to_end_rows_per_s']:,} | {r['prov_commit_cli_s']} "
            f"({r.get('prov_commit_cli_cpu_s', '?')}) | "
            f"{r['prov_commit_cli_peak_mib']} | {r['peak_mib']} | "
            f"{r['one_core_read_s']} / {r['one_core_encode_hash_s']} | {r['load_before']} / {r['load_after']} |"
        )
    if f:
        lines += [
            "",
            "## Large files: prov against OpenSSL, hashlib and sha256sum on the same files",
            "",
            "Page cache warm; each baseline best of 3 (sha256sum of 2). sha256sum here lacks SHA-NI, so it is a "
            "secondary column; `openssl dgst -sha256` (one process) is the machine's limit per core.",
            "",
            "| files | MiB | openssl MiB/s | hashlib MiB/s | sha256sum MiB/s | `prov commit` 1 worker s | 2 workers s | prov ÷ openssl (1w / 2w) | load before / after |",  # noqa: E501
            "|---|---|---|---|---|---|---|---|---|",
            f"| {f['files']} | {f['bytes'] >> 20} | {f['openssl_MiB_per_s']} | {f['hashlib_MiB_per_s']} | "
            f"{f['sha256sum_MiB_per_s']} | {f['prov_commit_1w_s']} | {f['prov_commit_2w_s']} | "
            f"{f['prov_commit_1w_vs_openssl']}× / {f['prov_commit_2w_vs_openssl']}× | {f['load_before']} / {f['load_after']} |",
        ]
    if d:
        lines += [
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
    if t:
        lines += [""] + estimate(t)
    (RESULTS / f"scale{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    ap.add_argument("--scale", type=int, default=None, help="divide every size by this (a smoke test of the script)")
    ap.add_argument("--only", choices=["tables", "files", "detection"], action="append")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    scale = args.scale or (10 if args.quick else 1)
    only = set(args.only or ["tables", "files", "detection"])
    suffix = "" if scale == 1 else "-quick" if scale == 10 else f"-scale{scale}"
    previous = (
        json.loads((RESULTS / f"scale{suffix}.json").read_text()) if (RESULTS / f"scale{suffix}.json").exists() else {}
    )
    work = Path(tempfile.mkdtemp(prefix="prov-scale-"))
    try:
        tables = (
            bench_tables(work, [n // scale for n in (2_000_000, 10_000_000)])
            if "tables" in only
            else previous.get("tables", [])
        )
        files = bench_files(work, 200 // scale, 5 << 20) if "files" in only else previous.get("files", {})
        detection = (
            bench_detection([n // scale for n in (10_000, 100_000, 1_000_000, 10_000_000)])
            if "detection" in only
            else previous.get("detection", [])
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from provenance import fastsha

    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "quick": args.quick,
        "fastsha": fastsha.available(),
        "sha256_path": fastsha.path_description(),
        "tables": tables,
        "files": files,
        "detection": detection,
    }
    write(result, suffix)


if __name__ == "__main__":
    main()
