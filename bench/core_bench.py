"""Core benchmarks: hashing throughput of `prov commit` against `sha256sum` and `dvc add`
on the same files, in the same script; table rows per second; peak memory as rows grow.

    python bench/core_bench.py            # full run (20,000 x 2 KiB, 200 x 5 MiB, 2M/10M rows)
    python bench/core_bench.py --quick    # smaller sizes, a minute or two
    python bench/core_bench.py --only trees --tree small_files   # one tree; the others keep their last figures

Results go to bench/results/core.json and bench/results/core.md. Ratios, not bare
seconds, are what to compare: each baseline runs on the same bytes on the same machine
right beside prov.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BIN = Path(sys.executable).parent


CPU_SECONDS: dict[str, float] = {}  # CPU time (user + system) of the last command timed, by its program name
CPU_SPLIT: dict[str, tuple[float, float]] = {}  # the same as (user, system): `dvc add`'s is mostly system time


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, int]:
    """Wall time and peak resident memory (bytes, the process and its children) of a command;
    its CPU time (user + system, with the children it waited for) goes to ``CPU_SECONDS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    t.join()
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_SECONDS[Path(cmd[0]).name] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    CPU_SPLIT[Path(cmd[0]).name] = (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed: {err.decode()[-2000:]}")
    return elapsed, peak[0]


def tree_rss(pid: int) -> int:
    """Memory of a process and its descendants in bytes: the sum of their proportional set
    sizes (PSS), so pages shared after fork count once, not once per worker."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                total += next(int(line.split()[1]) * 1024 for line in fh if line.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
        stack.extend(children.get(p, []))
    return total


def make_tree(root: Path, files: int, size: int, classes: int = 10) -> int:
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (root / f"class{i % classes}" / f"f{i:06d}.bin").write_bytes(rng.bytes(size))
    return files * size


def make_digits_tree(root: Path, files: int) -> int:
    """``files`` real images in ``root/<digit>/``: scikit-learn's 1,797 handwritten digits
    rendered to 8-bit grey PNG (Pillow), each drawn at several sizes and offsets on a
    32 x 32 canvas so the tree has ``files`` distinct pictures. Returns the bytes written."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255 / 16)).astype(np.uint8)
    nbytes, i = 0, 0
    variants = [(scale, dx, dy) for scale in (2, 3) for dx in range(0, 8, 2) for dy in range(0, 8, 3)]
    for scale, dx, dy in variants:
        for image, label in zip(images, digits.target):
            if i == files:
                return nbytes
            canvas = np.zeros((32, 32), np.uint8)
            big = np.kron(image, np.ones((scale, scale), np.uint8))
            h = min(big.shape[0], 32 - dy)
            w = min(big.shape[1], 32 - dx)
            canvas[dy : dy + h, dx : dx + w] = big[:h, :w]
            path = root / str(label) / f"d{i:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(canvas).save(path)
            nbytes += path.stat().st_size
            i += 1
    return nbytes


def fresh_store(work: Path) -> Path:
    store_dir = work / "store"
    if store_dir.exists():
        shutil.rmtree(store_dir)
    store_dir.mkdir()
    env = compiled_env(work)
    subprocess.run([BIN / "prov", "init"], cwd=store_dir, check=True, capture_output=True, env=env)
    if not (work / "bench.key").exists():
        subprocess.run(
            [BIN / "prov", "keys", "generate", str(work / "bench")], check=True, capture_output=True, env=env
        )
    return store_dir


def compiled_env(work: Path) -> dict:
    """The environment ``prov`` runs in here: its modules byte-compiled, as after a user's first run.

    With ``PYTHONDONTWRITEBYTECODE`` set (this machine's shells set it) and no ``__pycache__``
    beside an editable install's sources, every ``prov`` compiled its ~100 modules again
    (~0.06 s of CPU a command, measured on a 2-file commit), which ``dvc``, installed with
    its bytecode, never pays. The cache goes to ``work`` (``PYTHONPYCACHEPREFIX``), not into
    the checkout; ``warm_up`` fills it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def warm_up(work: Path) -> None:
    """One untimed commit of a 2-file tree, so ``compiled_env``'s cache holds what a commit imports."""
    tree = work / "warm-up"
    for label in ("a", "b"):
        (tree / label).mkdir(parents=True, exist_ok=True)
        (tree / label / "f.bin").write_bytes(label.encode())
    prov_commit(work, tree, 1, "v1", "--tree-reader", "files")
    shutil.rmtree(tree)


def prov_commit(work: Path, data: Path, workers: int, tag: str = "v1", *extra: str) -> tuple[float, int]:
    """Wall time and peak memory of ``prov commit data`` in a fresh store, on top of a small parent
    version (``small_parent``, committed first and not timed), as a user's later versions are
    committed: the lineage stage classifies against the parent. Its CPU goes to ``CPU_SECONDS``."""
    store_dir = fresh_store(work)
    env = dict(compiled_env(work), PROV_WORKERS=str(workers))
    commit_parent(store_dir, data, work / "bench.key", env, *extra)
    env["PROV_SIGNERS"] = str(work / "bench.pub")  # prov commit onto a store with versions needs pins
    return timed(
        [BIN / "prov", "commit", str(data), "--tag", tag, "--key", str(work / "bench.key"), *extra], store_dir, env
    )


PARENT_RECORDS = 3


def commit_parent(store_dir: Path, data: Path, key: Path, env: dict | None = None, *extra: str) -> None:
    """Commit ``small_parent(data)`` into the store at ``store_dir`` as version ``parent``, with ``prov
    commit`` in its own process (so a timed commit after it starts as fresh as before), then delete it."""
    parent = small_parent(data, store_dir.parent / "parent")
    cmd = [BIN / "prov", "commit", str(parent), "--tag", "parent", "--key", str(key), *extra]
    subprocess.run(cmd, cwd=store_dir, env=env, check=True, capture_output=True)
    shutil.rmtree(parent) if parent.is_dir() else parent.unlink()


def small_parent(data: Path, where: Path) -> Path:
    """The first ``PARENT_RECORDS`` records of ``data`` as a dataset of its own at ``where``: a Parquet
    table's first rows (a file), or a tree's first files in path order, at the same relative paths (a
    folder). The measured commit then adds the rest to a version that holds these, as a second version does."""
    if data.is_dir():
        for path in sorted(p for p in data.rglob("*") if p.is_file())[:PARENT_RECORDS]:
            target = where / path.relative_to(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return where
    where = where.with_suffix(".parquet")
    first = next(pq.ParquetFile(data).iter_batches(batch_size=PARENT_RECORDS))
    pq.write_table(pa.Table.from_batches([first]), where)
    return where


def sha256sum(data: Path) -> float:
    start = time.perf_counter()
    files = subprocess.run(["find", str(data), "-type", "f", "-print0"], check=True, capture_output=True).stdout
    subprocess.run(["xargs", "-0", "sha256sum"], input=files, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def dvc_add(work: Path, data: Path) -> float:
    repo = work / "dvcrepo"
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([BIN / "dvc", "init", "-q"], cwd=repo, check=True)
    subprocess.run([BIN / "dvc", "config", "core.analytics", "false"], cwd=repo, check=True)
    target = repo / "data"
    shutil.copytree(data, target)
    elapsed, _ = timed([BIN / "dvc", "add", "-q", "data"], repo)
    shutil.rmtree(repo)
    return elapsed


def bench_tree(work: Path, name: str, files: int, size: int, rounds: int = 1) -> dict:
    """One tree timed with every tool. ``size`` 0 means real images (``make_digits_tree``),
    committed with prov's default image reader, which also builds the reference profile;
    otherwise random bytes committed with ``--tree-reader files``. The 2-worker commit and
    ``dvc add`` run ``rounds`` times, alternated; the row gives their medians (``dvc add``'s CPU
    time varied 4-11 s between single runs, which moved a one-run ratio by 2x) and every run's CPU."""
    data = work / name
    images = size == 0
    nbytes = make_digits_tree(data, files) if images else make_tree(data, files, size)
    reader = [] if images else ["--tree-reader", "files"]  # random bytes are not images
    subprocess.run(["sync"])
    sha256sum(data)  # warm the page cache so every tool reads from memory
    base = min(sha256sum(data) for _ in range(2))
    from scale_bench import hashlib_files, load, openssl_dgst

    paths = sorted(p for p in data.rglob("*") if p.is_file())
    openssl_cpu = []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        openssl_dgst(paths)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        openssl_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    openssl = min(openssl_dgst(paths) for _ in range(3))
    in_python = min(hashlib_files(paths) for _ in range(3))
    load_before = load()
    prov1, _ = prov_commit(work, data, 1, "v1", *reader)
    prov1_cpu = CPU_SECONDS["prov"]
    prov2_runs, dvc_runs = [], []  # (wall, CPU) of each round, alternated
    splits: list[tuple[float, float]] = []  # `dvc add`'s (user, system) CPU of each round
    for _ in range(rounds):
        prov2_runs.append((prov_commit(work, data, 2, "v1", *reader)[0], CPU_SECONDS["prov"]))
        dvc_runs.append((dvc_add(work, data), CPU_SECONDS["dvc"]))
        splits.append(CPU_SPLIT["dvc"])
    prov2, prov2_cpu = (statistics.median(x) for x in zip(*prov2_runs))
    dvc, dvc_cpu = (statistics.median(x) for x in zip(*dvc_runs))
    shutil.rmtree(data)
    return {
        "dataset": name,
        "files": files,
        "bytes": nbytes,
        "reader": "images (profile built)" if images else "files",
        "sha256sum_s": round(base, 3),
        "openssl_s": round(openssl, 3),
        "openssl_cpu_s": round(min(openssl_cpu), 3),  # one process: its CPU is its time on a free core
        "hashlib_s": round(in_python, 3),
        "prov_vs_openssl_1_worker": round(openssl / prov1, 2),
        "prov_vs_openssl_2_workers": round(openssl / prov2, 2),
        "load": f"{load_before} / {load()}",
        "prov_1_worker_s": round(prov1, 3),
        "prov_2_workers_s": round(prov2, 3),
        "dvc_add_s": round(dvc, 3),
        "prov_vs_sha256sum_1_worker": round(base / prov1, 2),
        "prov_vs_sha256sum_2_workers": round(base / prov2, 2),
        "prov_vs_dvc_add": round(dvc / prov2, 2),
        "prov_1_worker_cpu_s": round(prov1_cpu, 3),
        "prov_2_workers_cpu_s": round(prov2_cpu, 3),
        "dvc_add_cpu_s": round(dvc_cpu, 3),
        "prov_vs_dvc_add_cpu": round(dvc_cpu / prov2_cpu, 2),
        "rounds": rounds,
        "prov_2_workers_cpu_runs_s": [round(cpu, 3) for _, cpu in prov2_runs],
        "dvc_add_cpu_runs_s": [round(cpu, 3) for _, cpu in dvc_runs],
        "dvc_add_user_system_runs_s": [[round(u, 3), round(s, 3)] for u, s in splits],
    }


def make_table(path: Path, rows: int, cols: int = 64, chunk: int = 1_000_000) -> None:
    rng = np.random.default_rng(0)
    schema = pa.schema([pa.field(f"f{i:02d}", pa.float64()) for i in range(cols)] + [pa.field("label", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            arrays = [pa.array(rng.normal(size=n)) for _ in range(cols)]
            arrays.append(pa.array(rng.integers(0, 10, n).astype(str)))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=131_072)


def bench_table(work: Path, rows: int) -> dict:
    path = work / f"table_{rows}.parquet"
    make_table(path, rows)
    out = {"rows": rows, "columns": 64, "bytes": path.stat().st_size}
    for workers in (1, 2):
        elapsed, peak = prov_commit(work, path, workers)
        out[f"prov_{workers}_worker_s"] = round(elapsed, 2)
        out[f"rows_per_s_{workers}_worker"] = int(rows / elapsed)
        out[f"peak_rss_mib_{workers}_worker"] = round(peak / 2**20)
    path.unlink()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["trees", "tables"], action="append", help="run only these parts")
    ap.add_argument(
        "--tree",
        choices=["small_files", "digits_png", "large_files"],
        action="append",
        help="run only these trees (the others keep their figures from the last results file)",
    )
    ap.add_argument(
        "--rounds", type=int, default=3, help="2-worker commits and dvc adds per tree, alternated (medians kept)"
    )
    args = ap.parse_args()
    only = set(args.only or ["trees", "tables"])
    RESULTS.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="prov-bench-"))
    try:
        scale = 10 if args.quick else 1
        shapes = {
            "small_files": (20_000 // scale, 2048),
            "digits_png": (20_000 // scale, 0),
            "large_files": (200 // scale, 5 << 20),
        }
        chosen = args.tree or list(shapes)
        warm_up(work)
        trees = [bench_tree(work, name, *shapes[name], args.rounds) for name in chosen] if "trees" in only else []
        tables = [bench_table(work, n // scale) for n in (2_000_000, 10_000_000)] if "tables" in only else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    suffix = "-quick" if args.quick else ""
    previous = RESULTS / f"core{suffix}.json"
    if previous.exists():  # a part (or a tree) not run keeps its last figures
        before = json.loads(previous.read_text())
        ran = {t["dataset"]: t for t in trees}
        trees = [ran.pop(t["dataset"], t) for t in before.get("trees", [])] + list(ran.values())
        tables = tables or before.get("tables", [])
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "quick": args.quick,
        "trees": trees,
        "tables": tables,
    }
    (RESULTS / f"core{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Core benchmark" + (" (quick)" if args.quick else ""),
        "",
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}. `prov commit` includes reading, hashing, "
        "sorting, the Merkle root, signing and the store write; for the PNG tree also the reference profile "
        "(every sampled image decoded and featurised), as users commit images; prov's modules byte-compiled, as "
        "after a first run (`compiled_env`). Each timed commit has a parent, as a user's later versions do: "
        f"the data's first {PARENT_RECORDS} records (rows or files), committed first and not timed. "
        "Every baseline runs on the same "
        "files in the same script; the load is recorded per row. Aims (issue 15): small files and the image tree "
        ">= 10x faster than `dvc add`; large files >= 0.8x `openssl dgst -sha256`.",
        "",
        "Wall seconds, with CPU seconds (user + system, the process and its children) in brackets: on a shared "
        "machine the wall time grows with the load, the CPU time much less (`openssl dgst`, one process, uses "
        "one core: its CPU time is its time on a free core). The ratio to `dvc add` is of the "
        "2-worker commit, on wall time and on CPU time; rows with rounds > 1 give the medians of the "
        "2-worker commit and of `dvc add` run that many times, alternated, and each run's CPU time.",
        "",
        "| tree | files | openssl dgst s | hashlib s | sha256sum s | prov 1 worker s | prov 2 workers s | dvc add s | prov÷openssl speed (1 / 2 workers) | prov÷sha256sum (1 / 2) | prov vs dvc add (wall / CPU) | rounds | CPU s of each round | load |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in trees:
        cpu = lambda key: f" ({t[key]})" if key in t else ""  # noqa: E731 (rows of older runs lack it)
        runs = lambda t: (  # noqa: E731
            f"prov {', '.join(map(str, t['prov_2_workers_cpu_runs_s']))}; dvc {', '.join(map(str, t['dvc_add_cpu_runs_s']))}"
            + (
                f" (user / system: {', '.join(f'{u} / {s}' for u, s in t['dvc_add_user_system_runs_s'])})"
                if "dvc_add_user_system_runs_s" in t
                else ""
            )
            if "dvc_add_cpu_runs_s" in t
            else "–"
        )
        lines.append(
            f"| {t['dataset']} | {t['files']} | {t['openssl_s']}{cpu('openssl_cpu_s')} | {t['hashlib_s']} | {t['sha256sum_s']} | "
            f"{t['prov_1_worker_s']}{cpu('prov_1_worker_cpu_s')} | {t['prov_2_workers_s']}{cpu('prov_2_workers_cpu_s')} | "
            f"{t['dvc_add_s']}{cpu('dvc_add_cpu_s')} | "
            f"{t['prov_vs_openssl_1_worker']}× / {t['prov_vs_openssl_2_workers']}× | "
            f"{t['prov_vs_sha256sum_1_worker']}× / {t['prov_vs_sha256sum_2_workers']}× | {t['prov_vs_dvc_add']}× / "
            f"{t.get('prov_vs_dvc_add_cpu', '–')}× faster | {t.get('rounds', 1)} | {runs(t)} | {t['load']} |"
        )
    lines += [
        "",
        "| table rows | rows/s 1 worker | rows/s 2 workers | peak RSS 1 worker MiB | peak RSS 2 workers MiB |",
        "|---|---|---|---|---|",
    ]
    for t in tables:
        lines.append(
            f"| {t['rows']:,} | {t['rows_per_s_1_worker']:,} | {t['rows_per_s_2_worker']:,} | "
            f"{t['peak_rss_mib_1_worker']} | {t['peak_rss_mib_2_worker']} |"
        )
    (RESULTS / f"core{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
