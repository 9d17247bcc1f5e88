"""Benchmarks for ``prov diff`` (not timed tests). Writes bench/results/diff.md and diff.json.

1. Scale: two versions of N records with C changed records (0.4% added, 0.4% removed,
   0.2% relabeled of 10M, i.e. C = 100,000), for N = 1M and 10M with the same C. The
   manifests are built with the Manifest API from random digests (no 10M real rows are
   hashed) and committed as real, signed versions in a real store. Each diff runs as
   ``prov diff --format json`` in a fresh process; we report wall time and peak RSS.
2. File tree: one image-folder tree in a git + DVC repository, two tags with 1% of the
   files changed (added, removed, moved to another label), diffed by ``dvc diff`` and by
   ``prov diff`` in the same script.

Usage: python bench/diff_bench.py [--quick]
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from provenance import clock, keys, signing, versions
from provenance.manifest import SCHEMA, Manifest
from provenance.sources.interface import DatasetSpec, HashedDataset
from provenance.store import Store

HERE = Path(__file__).resolve().parent
PROV = str(Path(sys.executable).parent / "prov")
DVC = shutil.which("dvc") or str(Path(sys.executable).parent / "dvc")
LABELS = [f"class-{i}" for i in range(10)]
SOURCES = ["vendor-a", "vendor-b", "crowd-1", "crowd-2", "scrape"]


def sorted_digests(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.sort(np.frombuffer(rng.bytes(32 * n), dtype="S32"))


def manifest_of(digests: np.ndarray, labels: np.ndarray, sources: np.ndarray) -> Manifest:
    """A manifest table already sorted by digest (labels are one per digest here)."""
    n = len(digests)
    table = pa.table(
        {
            "digest": pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(digests.tobytes())]),
            "label": pa.DictionaryArray.from_arrays(pa.array(labels, pa.int32()), LABELS).cast(pa.string()),
            "source": pa.DictionaryArray.from_arrays(pa.array(sources, pa.int32()), SOURCES).cast(pa.string()),
            "batch": pa.nulls(n, pa.string()),
            "locator": pa.array(np.arange(n).astype(str)),
        },
        schema=SCHEMA,
    )
    return Manifest(table)


def commit_manifest(store: Store, tag: str, manifest: Manifest, key_path: str, parent: str | None) -> None:
    """What ``versions.commit`` does after hashing, for a manifest we built directly."""
    spec = DatasetSpec(path=f"synthetic-{tag}.parquet")
    hashed = HashedDataset(manifest, "table", ["x"], 1)
    private = keys.load_private(key_path)
    keyid = keys.key_id(private.public_key())
    data = manifest.to_bytes()
    parent_row = store.version(parent) if parent else None
    with store.write():
        oid = store.put_object(data, "parquet")
        _, head = store.audit_head()
        pred = versions.predicate(tag, hashed, parent_row, head, oid, spec)
        envelope = signing.sign(signing.statement(tag, manifest.root, versions.PREDICATE_TYPE, pred), private)
        env_oid = store.put_object(signing.canonical_json(envelope), "json")
        if not store.db.execute("select 1 from keys where keyid = ?", [keyid]).fetchone():
            store.db["keys"].insert(
                {
                    "keyid": keyid,
                    "name": "bench",
                    "public_pem": keys.public_pem(private.public_key()),
                    "registered_at": clock.now_iso(),
                }
            )
            store.audit("key.register", keyid, {"name": "bench"})
        store.audit(
            "commit",
            tag,
            {
                "merkle_root": manifest.root.hex(),
                "manifest": oid,
                "envelope": env_oid,
                "keyid": keyid,
                "parent": parent,
            },
        )
        seq, _ = store.audit_head()
        store.db["versions"].insert(
            {
                "tag": tag,
                "parent": parent,
                "created_at": pred["createdAt"],
                "merkle_root": manifest.root.hex(),
                "records": len(manifest),
                "manifest_object": oid,
                "envelope_object": env_oid,
                "keyid": keyid,
                "dataset": json.dumps(spec.to_dict()),
                "kind": "table",
                "audit_seq": seq,
            }
        )


def two_versions(folder: Path, n: int, changed: int, seed: int = 0) -> dict:
    """A store with v1 (n records) and v2: changed = 40% added, 40% removed, 20% relabeled."""
    rng = np.random.default_rng(seed)
    n_add, n_rem = int(changed * 0.4), int(changed * 0.4)
    n_rel = changed - n_add - n_rem
    base = sorted_digests(rng, n)
    labels = rng.integers(0, len(LABELS), n).astype(np.int32)
    sources = rng.integers(0, len(SOURCES), n).astype(np.int32)
    removed = rng.choice(n, n_rem, replace=False)
    keep = np.ones(n, bool)
    keep[removed] = False
    new_labels = labels.copy()
    relabel = rng.choice(np.flatnonzero(keep), n_rel, replace=False)
    new_labels[relabel] = (new_labels[relabel] + 1) % len(LABELS)
    added = np.frombuffer(rng.bytes(32 * n_add), dtype="S32")
    new_d = np.concatenate([base[keep], added])
    order = np.argsort(new_d, kind="stable")
    new_l = np.concatenate([new_labels[keep], rng.integers(0, len(LABELS), n_add).astype(np.int32)])[order]
    new_s = np.concatenate([sources[keep], np.full(n_add, 4, np.int32)])[order]
    new_d = new_d[order]
    os.chdir(folder)
    store = Store.init(folder)
    pair = keys.generate(folder / "bench")
    t = time.perf_counter()
    commit_manifest(store, "v1", manifest_of(base, labels, sources), str(pair.private_path), None)
    commit_manifest(store, "v2", manifest_of(new_d, new_l, new_s), str(pair.private_path), "v1")
    setup = time.perf_counter() - t
    size = sum(p.stat().st_size for p in (folder / ".prov" / "objects").glob("*.parquet"))
    return {
        "records": n,
        "changed": changed,
        "added": n_add,
        "removed": n_rem,
        "relabeled": n_rel,
        "commit_seconds": round(setup, 1),
        "manifest_bytes_both": size,
    }


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (bytes) of one fresh child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    # ru_maxrss of children is the max over all children so far: run the largest last
    return elapsed, max(peak, before) * 1024, proc


def bench_scale(root: Path, sizes: list[int], changed: int, repeats: int = 3) -> list[dict]:
    rows = []
    for n in sizes:
        folder = root / f"scale-{n}"
        folder.mkdir()
        facts = two_versions(folder, n, changed)
        out = folder / "diff.json"
        runs = []
        for _ in range(repeats):
            secs, _, _ = timed([PROV, "diff", "v1", "v2", "--format", "json", "--out", str(out)], folder)
            runs.append(secs)
        # peak memory in a process of its own, measured by /usr/bin/time-like polling of the child
        peak = peak_rss([PROV, "diff", "v1", "v2", "--format", "json", "--out", str(out)], folder)
        report = json.loads(out.read_text())["summary"]
        assert (report["added"], report["removed"], report["relabeled"]) == (
            facts["added"],
            facts["removed"],
            facts["relabeled"],
        )
        rows.append(
            facts
            | {
                "diff_seconds_min": round(min(runs), 2),
                "diff_seconds_all": [round(r, 2) for r in runs],
                "peak_rss_mib": round(peak / 2**20, 1),
            }
        )
        print(rows[-1], flush=True)
        shutil.rmtree(folder)
    return rows


def peak_rss(cmd: list[str], cwd: Path) -> int:
    import psutil

    proc = psutil.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.01)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.read().decode()[-2000:])
    return peak


# --- file tree: dvc diff vs prov diff ---------------------------------------------------


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def bench_tree(root: Path, files: int) -> dict:
    repo = root / "tree-repo"
    tree = repo / "images"
    rng = np.random.default_rng(1)
    for i in range(files):
        label = LABELS[i % len(LABELS)]
        (tree / label).mkdir(parents=True, exist_ok=True)
        (tree / label / f"img{i:06d}.bin").write_bytes(rng.bytes(512))
    git("init", "-q", cwd=repo)
    git("config", "user.email", "b@example.com", cwd=repo)
    git("config", "user.name", "bench", cwd=repo)
    subprocess.run([DVC, "init", "-q"], cwd=repo, check=True)
    subprocess.run([DVC, "config", "core.analytics", "false"], cwd=repo, check=True)

    def snapshot(tag):
        subprocess.run([DVC, "add", "-q", "images"], cwd=repo, check=True)
        git("add", "-A", cwd=repo)
        git("commit", "-qm", tag, cwd=repo)
        git("tag", tag, cwd=repo)

    snapshot("t1")
    change = files // 100
    per = change // 3
    all_files = sorted(tree.rglob("*.bin"))
    for p in all_files[:per]:
        p.unlink()  # removed
    for i in range(per):  # added
        (tree / LABELS[i % len(LABELS)] / f"new{i:06d}.bin").write_bytes(rng.bytes(512))
    for p in all_files[per : 2 * per]:  # relabeled: moved to the next class folder
        label = LABELS[(LABELS.index(p.parent.name) + 1) % len(LABELS)]
        p.rename(tree / label / p.name)
    snapshot("t2")
    dvc_secs, _, dvc_out = timed([DVC, "diff", "--json", "t1", "t2"], repo)
    dvc_counts = {k: len(v) for k, v in json.loads(dvc_out.stdout or "{}").items()}
    cold_secs, _, cold = timed([PROV, "diff", "t1", "t2", "--path", "images", "--format", "json"], repo)
    # with manifests committed once (what a project with prov does), diff reuses them
    subprocess.run([PROV, "init"], cwd=repo, check=True, capture_output=True)
    keys.generate(repo / "bench")
    for tag in ("t1", "t2"):
        subprocess.run(
            [PROV, "commit", "images", "--rev", tag, "--tag", f"v-{tag}", "--key", "bench.key"],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    warm = []
    for _ in range(3):
        secs, _, out = timed([PROV, "diff", "t1", "t2", "--path", "images", "--format", "json"], repo)
        warm.append(secs)
    s = json.loads(out.stdout)["summary"]
    dvc_warm = min(dvc_secs, *(timed([DVC, "diff", "--json", "t1", "t2"], repo)[0] for _ in range(2)))
    return {
        "files": files,
        "changed_files": 3 * per,
        "dvc_diff_seconds": round(dvc_warm, 2),
        "dvc_counts": dvc_counts,
        "prov_diff_seconds_building_manifests": round(cold_secs, 2),
        "prov_diff_seconds_reusing_versions": round(min(warm), 2),
        "speedup_vs_dvc": round(dvc_warm / min(warm), 1),
        "prov_counts": {k: s[k] for k in ("added", "removed", "relabeled", "unchanged")},
        "prov_reused_versions": json.loads(out.stdout)["base"]["reused_version"],
    }


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = [100_000, 1_000_000] if quick else [1_000_000, 10_000_000]
    changed = 10_000 if quick else 100_000
    root = Path(tempfile.mkdtemp(prefix="prov-diff-bench-"))
    env = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "affinity": len(os.sched_getaffinity(0)),
    }
    try:
        scale = bench_scale(root, sizes, changed)
        tree = bench_tree(root, 2_000 if quick else 20_000)
        print(tree, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results = {"environment": env, "scale": scale, "file_tree": tree}
    (HERE / "results").mkdir(exist_ok=True)
    name = "diff-quick" if quick else "diff"
    (HERE / "results" / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"# prov diff benchmarks ({'quick' if quick else 'full'})",
        "",
        f"Machine: {env['cpus']} CPUs ({env['affinity']} usable), {env['machine']}, Python {env['python']}.",
        "",
        "## Two versions, same change count, growing dataset",
        "",
        "| records | changed | added | removed | relabeled | diff (s, best of 3) | peak RSS (MiB) | manifests on disk (MiB, both) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in scale:
        lines.append(
            f"| {r['records']:,} | {r['changed']:,} | {r['added']:,} | {r['removed']:,} | {r['relabeled']:,} | "
            f"{r['diff_seconds_min']} | {r['peak_rss_mib']} | {r['manifest_bytes_both'] / 2**20:.0f} |"
        )
    lines += [
        "",
        "## One file tree: `dvc diff` vs `prov diff`",
        "",
        f"{tree['files']:,} files, {tree['changed_files']:,} changed (removed, added, moved to another label).",
        "",
        "| tool | seconds | reports |",
        "|---|---:|---|",
        f"| `dvc diff t1 t2` | {tree['dvc_diff_seconds']} | file paths: {tree['dvc_counts']} |",
        f"| `prov diff t1 t2 --path images` (versions committed) | {tree['prov_diff_seconds_reusing_versions']} | "
        f"records: {tree['prov_counts']} |",
        f"| `prov diff t1 t2 --path images` (no versions: hashes both revisions through DVC) | "
        f"{tree['prov_diff_seconds_building_manifests']} | same |",
        "",
        f"Speed-up with committed versions: {tree['speedup_vs_dvc']}x.",
    ]
    (HERE / "results" / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
