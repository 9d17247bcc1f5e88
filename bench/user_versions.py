"""Two versions committed the way users commit them, and fresh-process timing with the load.

Shared by ``diff_bench.py``, ``detect_e2e_bench.py`` and ``startup_bench.py``:
- ``two_versions``: a table of N records (numeric columns in class clusters, a label and a
  source column), a vendor batch of 10% of it signed at source and added, ``prov commit``
  of v1 (lineage and reference profile, as users run it), then v2 with a given share of
  the records changed (added, removed, relabeled) committed the same way;
- ``run``: one fresh ``prov`` process, wall seconds and peak PSS of its process tree;
- ``load``: the machine's load averages, recorded with every figure.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from core_bench import tree_rss  # noqa: E402

BIN = Path(sys.executable).parent
PROV = str(BIN / "prov")
CLASSES = 10
SOURCES = np.array(["vendor-a", "vendor-b", "crowd"])


def load() -> str:
    """The machine's load averages (1, 5, 15 min), as ``uptime`` prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bytecode_env(cache: Path) -> dict:
    """The environment for timed processes: Python's bytecode cache on, kept in ``cache``.

    As a user runs prov (an installed package has its ``.pyc`` files, and Python writes them
    on first import otherwise). This machine's shells set ``PYTHONDONTWRITEBYTECODE``, and then
    every timed process compiled each module it imported that had no cache (all of prov's,
    ~0.25 s of CPU in a ``prov diff --detect``; cleanlab's too) before doing anything.
    ``PYTHONPYCACHEPREFIX`` keeps the cache out of the source tree; a first, untimed run of
    each command fills it (``warm``)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTHONPYCACHEPREFIX": str(cache)}


def use_bytecode_cache(cache: Path) -> None:
    """``bytecode_env`` for every process this script starts from now on (``os.environ``)."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache)


def run(cmd: list[str], cwd: Path, env: dict | None = None, probe_memory: bool = True) -> tuple[float, int, float]:
    """Wall seconds, peak PSS (bytes, polled every 10 ms; 0 without ``probe_memory``) and CPU
    seconds (user + system, the process and the children it waited for) of one fresh process
    tree; raises on failure.

    The CPU time barely moves with the machine's load; under load the wall time includes
    waiting for a core. The memory probe is not free: each poll walks ``/proc`` and the
    process's page tables (~3-5 ms of CPU, every 10 ms, on a core the process could use, and
    its page-table walk holds the process's memory map lock against its ``mmap``/``munmap``),
    so a run timed for its seconds is better not probed (``repeat(peak_apart=True)``)."""
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = 0
    while probe_memory and proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.01)
    _, err_bytes = proc.communicate()  # unprobed: waits here
    elapsed = time.perf_counter() - start
    err = err_bytes.decode() if err_bytes else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: exit {proc.returncode}: {err[-2000:]}")
    return elapsed, peak, _children_cpu() - cpu_before


def repeat(cmd: list[str], cwd: Path, times: int, env: dict | None = None, peak_apart: bool = False) -> dict:
    """``times`` fresh runs: median and best seconds, the largest peak PSS, load before and after.

    With ``peak_apart`` the timed runs are not probed for memory (``run(probe_memory=False)``) and
    the peak PSS comes from one more, untimed run that is; ``probed_s`` is that run's seconds."""
    before = load()
    runs = [run(cmd, cwd, env, probe_memory=not peak_apart) for _ in range(times)]
    seconds = [r[0] for r in runs]
    probed = run(cmd, cwd, env) if peak_apart else None
    return {
        "median_s": round(statistics.median(seconds), 3),
        "median_cpu_s": round(statistics.median(r[2] for r in runs), 3),
        "best_s": round(min(seconds), 3),
        "all_s": [round(s, 3) for s in seconds],
        "all_cpu_s": [round(r[2], 3) for r in runs],
        "peak_mib": round(max(r[1] for r in (runs if probed is None else [probed])) / 2**20, 1),
        "memory_probed": "apart" if peak_apart else "timed runs",
        **({"probed_s": round(probed[0], 3), "probed_cpu_s": round(probed[2], 3)} if probed else {}),
        "load_before": before,
        "load_after": load(),
    }


def features(rng: np.random.Generator, labels: np.ndarray, dim: int) -> np.ndarray:
    """Records around one centre per class (so detection has structure to learn)."""
    centres = np.random.default_rng(1234).normal(scale=3.0, size=(CLASSES, dim))
    return centres[labels] + rng.normal(size=(len(labels), dim))


def table(X: np.ndarray, labels: np.ndarray, sources: np.ndarray) -> pa.Table:
    cols = {f"x{i:02d}": X[:, i] for i in range(X.shape[1])}
    return pa.table(cols | {"label": pa.array(labels.astype(str)), "source": pa.array(sources)})


def write(path: Path, t: pa.Table) -> None:
    pq.write_table(t, path, row_group_size=1 << 17)


def prov(args: list[str], cwd: Path) -> None:
    subprocess.run([PROV, *args], cwd=cwd, check=True, capture_output=True)


def two_versions(
    folder: Path, n: int, changed: float, dim: int = 8, seed: int = 0, shares: tuple = (0.4, 0.2, 0.4)
) -> dict:
    """A store in ``folder`` with v1 (n records) and v2 = v1 with ``changed`` of its records
    changed: by default 40% of them removed, 20% relabeled (spread over the table), 40%
    added (a new crowd delivery appended at the end, 1% of those mislabeled); ``shares``
    gives other (removed, relabeled, added) shares. Both committed with ``prov commit``
    (lineage against a signed vendor batch, reference profile)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    X = features(rng, labels, dim)
    sources = SOURCES[rng.integers(0, len(SOURCES), n)]
    base = table(X, labels, sources)
    write(folder / "v1.parquet", base)
    write(folder / "batch.parquet", base.slice(0, n // 10).drop(["source"]))
    k = int(n * changed)
    n_rem, n_rel = int(k * shares[0]), int(k * shares[1])
    n_add = k - n_rem - n_rel
    keep = np.ones(n, bool)
    keep[rng.choice(n, n_rem, replace=False)] = False
    new_labels = labels.copy()
    relabel = rng.choice(np.flatnonzero(keep), n_rel, replace=False)
    new_labels[relabel] = (new_labels[relabel] + 1) % CLASSES
    add_labels = rng.integers(0, CLASSES, n_add)
    add_X = features(rng, add_labels, dim)
    flips = rng.choice(n_add, max(1, n_add // 100), replace=False)
    add_labels[flips] = (add_labels[flips] + 3) % CLASSES
    new = table(
        np.concatenate([X[keep], add_X]),
        np.concatenate([new_labels[keep], add_labels]),
        np.concatenate([sources[keep], np.array(["crowd"] * n_add)]),
    )
    write(folder / "v2.parquet", new)
    for store in (folder / ".prov",):
        if store.exists():
            shutil.rmtree(store)
    start = time.perf_counter()
    prov(["init"], folder)
    prov(["keys", "generate", "maintainer"], folder)
    prov(["keys", "generate", "vendor"], folder)
    prov(["trust", "add", "vendor-a", "vendor.pub", "--key", "maintainer.key"], folder)
    prov(["sign", "batch.parquet", "--source", "vendor-a", "--key", "vendor.key"], folder)
    # the maintainer who trusted the vendor's key pinned: prov add refuses a batch when nothing is pinned (sec33)
    prov(["add", "batch.parquet", "--source", "vendor-a", "--signer", "maintainer.pub"], folder)
    for tag in ("v1", "v2"):
        # the maintainer's key pinned: prov commit refuses a store with versions when nothing is pinned
        commit = ["commit", f"{tag}.parquet", "--tag", tag, "--key", "maintainer.key", "--signer", "maintainer.pub"]
        prov([*commit, "--source-column", "source"], folder)
    return {
        "records": n,
        "changed": k,
        "added": n_add,
        "removed": n_rem,
        "relabeled": n_rel,
        "dim": dim,
        "commit_both_s": round(time.perf_counter() - start, 1),
        "store_bytes": sum(p.stat().st_size for p in (folder / ".prov" / "objects").iterdir()),
    }
