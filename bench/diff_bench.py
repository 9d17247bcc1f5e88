"""Benchmarks for ``prov diff`` (not timed tests). Writes bench/results/diff.md and diff.json.

1. Scale (issue 15: a diff of 10 M records with 1% changed in < 2 s and < 400 MiB): two
   versions of N records with 1% of them changed (0.4% added, 0.4% removed, 0.2%
   relabeled), committed the way users commit them (``prov commit`` with lineage against
   a signed vendor batch and a reference profile; ``user_versions.two_versions``). Each
   diff runs as ``prov diff v1 v2 --format json`` in a fresh process: wall seconds and
   peak PSS, the machine's load before and after.
2. File tree: one image-folder tree in a git + DVC repository, two tags with 1% of the
   files changed (added, removed, moved to another label), diffed by ``dvc diff`` and by
   ``prov diff`` in the same script.

Usage: python bench/diff_bench.py [--quick]    (quick: 100 k and 1 M records, 2,000 files)
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

from provenance import keys

sys.path.insert(0, str(Path(__file__).resolve().parent))
from user_versions import PROV, load, repeat, run, two_versions, use_bytecode_cache  # noqa: E402

HERE = Path(__file__).resolve().parent
DVC = shutil.which("dvc") or str(Path(sys.executable).parent / "dvc")
LABELS = [f"class-{i}" for i in range(10)]
AIM_SECONDS, AIM_MIB, AIM_RECORDS = 2.0, 400, 10_000_000


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


def bench_scale(root: Path, sizes: list[int], changed: float, repeats: int = 3) -> list[dict]:
    rows = []
    for n in sizes:
        folder = root / f"scale-{n}"
        facts = two_versions(folder, n, changed)
        out = folder / "diff.json"
        command = [PROV, "diff", "v1", "v2", "--format", "json", "--out", str(out)]
        run(command, folder)  # untimed: fills the bytecode cache (use_bytecode_cache in main)
        timing = repeat(command, folder, repeats)
        report = json.loads(out.read_text())["summary"]
        assert (report["added"], report["removed"], report["relabeled"]) == (
            facts["added"],
            facts["removed"],
            facts["relabeled"],
        ), report
        rows.append(facts | timing)
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
    """``--quick``: small sizes; ``--only scale`` / ``--only tree``: one part (the other keeps
    its figures from the last results file); ``--sizes N,M``: the scale part at these sizes."""
    quick = "--quick" in sys.argv
    sizes = [100_000, 1_000_000] if quick else [1_000_000, 10_000_000]
    if "--sizes" in sys.argv:
        sizes = [int(x) for x in sys.argv[sys.argv.index("--sizes") + 1].split(",")]
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    name = "diff-quick" if quick else "diff"
    previous_file = HERE / "results" / f"{name}.json"
    previous = json.loads(previous_file.read_text()) if previous_file.exists() else {}
    root = Path(tempfile.mkdtemp(prefix="prov-diff-bench-"))
    use_bytecode_cache(root / "pycache")  # as users run prov: its modules compiled once, not in every run
    env = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "affinity": len(os.sched_getaffinity(0)),
        "load_at_start": load(),
    }
    try:
        scale = bench_scale(root, sizes, 0.01) if only != "tree" else previous["scale"]
        tree = bench_tree(root, 2_000 if quick else 20_000) if only != "scale" else previous["file_tree"]
        print(tree, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results = {"environment": env, "scale": scale, "file_tree": tree}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"# prov diff benchmarks ({'quick' if quick else 'full'})",
        "",
        f"Machine: {env['cpus']} CPUs ({env['affinity']} usable), {env['machine']}, Python {env['python']}; "
        f"load at start {env['load_at_start']}.",
        "",
        "## Aim (issue 15)",
        "",
        "| aim | measured | aim | |",
        "|---|---|---|---|",
    ]
    big = max(scale, key=lambda r: r["records"])
    scaled = "" if big["records"] == AIM_RECORDS else f" (measured at {big['records']:,}, the aim is at 10 M)"
    lines.append(
        f"| diff, {big['records']:,} records, 1% changed, committed with lineage{scaled} | "
        f"{big['median_s']} s ({big.get('median_cpu_s', '?')} s CPU), {big['peak_mib']} MiB (load {big['load_before']}) | "
        f"< {AIM_SECONDS} s, < {AIM_MIB} MiB | "
        f"{'met' if big['median_s'] < AIM_SECONDS and big['peak_mib'] < AIM_MIB and not scaled else '**not met**'} |"
    )
    lines += [
        "",
        "## Two versions committed as users commit them, 1% changed, growing dataset",
        "",
        "| records | added | removed | relabeled | diff median (s, 3 fresh runs) | best | median CPU (s, user + system) "
        "| peak PSS (MiB) | store on disk (MiB) | load before / after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in scale:
        lines.append(
            f"| {r['records']:,} | {r['added']:,} | {r['removed']:,} | {r['relabeled']:,} | {r['median_s']} | "
            f"{r['best_s']} | {r.get('median_cpu_s', '?')} | {r['peak_mib']} | {r['store_bytes'] / 2**20:.0f} | "
            f"{r['load_before']} / {r['load_after']} |"
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
