"""Where a table commit's time goes, stage by stage (issue 15), in one fresh process.

    python bench/commit_stages.py TABLE.parquet --workers 2          # JSON on stdout

It runs the library call behind ``prov commit`` (``versions.commit`` with its default
stages: lineage, then the reference profile, each timed in its prepare and record halves) on a new store
holding one small parent version (the table's first rows, committed first by ``prov commit`` in its own
process, as a user's earlier version: ``core_bench.commit_parent``), and times each stage from
outside by wrapping it: hashing (read + encode + hash + leaf hashes + spill, in the
worker processes), merge (bucket sort, Merkle root, Parquet write; in code before session 22
the Merkle root was the merge's first pass, each bucket's digests and leaves read, sorted and
their subtrees hashed on two threads, timed apart as "merkle"; since, one pass does both), signing, lineage, profile, and the
rest (store writes, audit log). Then it times, on one core in this process, reading the same file alone and reading + encoding +
hashing it, so the hashing stage can be split into read and encode+hash.

``scale_bench.py`` runs this in a fresh process per size and records peak memory and
the machine's load around it; ``commit_stages_ab.py`` runs it on two code trees alternated
(``PROV_BENCH_CODE``: the folder whose ``provenance/`` package is timed; default this checkout's).
Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, os.environ.get("PROV_BENCH_CODE") or str(HERE.parent))

from provenance.cli import prepare_process  # noqa: E402

# The process as the `prov commit` command sets it up, before numpy and pyarrow are imported: the
# allocator keeps freed memory, the cyclic collector runs every 50,000 objects, OpenBLAS starts no
# threads, and pyarrow's probes for pandas do not import it (each worker imported pandas, ~0.25 s of
# CPU apiece, in its first partition: the library call timed here was slower than the command).
prepare_process("commit")


def tree_cpu() -> float:
    """CPU seconds (user + system) of this process and of its worker processes that have ended."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Clock:
    """Accumulates wall time, this process's CPU time (all its threads, not its worker
    processes), and that CPU with the worker processes that ended in the stage (``tree_cpu``:
    a pool's workers end with its stage), per stage name across calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.tree_cpu: dict[str, float] = {}

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            start, cpu, tree = time.perf_counter(), time.process_time(), tree_cpu()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu
                self.tree_cpu[name] = self.tree_cpu.get(name, 0.0) + tree_cpu() - tree

        return timed


def commit_stages(path: str, workers: int, work: Path) -> dict:
    """Run one commit of ``path`` with ``workers`` local processes; seconds per stage."""
    t_import = time.perf_counter()
    from provenance import keys, signing, versions
    from provenance.executor import LocalExecutor
    from provenance.lineage import lineage_stage
    from provenance.profiles import stage
    from provenance.sources import external_sort
    from provenance.sources.interface import DatasetSpec
    from provenance.store.store import Store

    import_s = time.perf_counter() - t_import
    from core_bench import commit_parent

    clock = Clock()
    external_sort.ExternalSort.finish = clock.wrap("merge", external_sort.ExternalSort.finish)
    # code before session 22: the merge's first pass (digests and leaves read and sorted, subtrees hashed on 2
    # threads); since, the root is hashed in the merge's one pass, so "merkle" stays 0 and "merge" holds it
    if hasattr(external_sort.ExternalSort, "root_pass"):
        external_sort.ExternalSort.root_pass = clock.wrap("merkle", external_sort.ExternalSort.root_pass)
    versions.build_manifest = clock.wrap("build", versions.build_manifest)
    signing.sign = clock.wrap("sign", signing.sign)  # versions calls it through the module
    # the default stages, timed in both halves: prepare (no lock) and record (under the lock)
    lineage_stage.LineageStage.prepare = clock.wrap("lineage", lineage_stage.LineageStage.prepare)
    lineage_stage.PreparedLineage.record = clock.wrap("lineage", lineage_stage.PreparedLineage.record)
    stage.ProfileStage.prepare = clock.wrap("profile", stage.ProfileStage.prepare)
    stage.PreparedProfile.record = clock.wrap("profile", stage.PreparedProfile.record)
    store_dir = work / "store"
    store_dir.mkdir()
    Store.init(store_dir)
    pair = keys.generate(work / "bench")
    commit_parent(store_dir, Path(path), pair.private_path)  # a second version, as users commit
    store = Store.open(store_dir)
    start, cpu = time.perf_counter(), tree_cpu()
    result = versions.commit(store, DatasetSpec(path), "v1", str(pair.private_path), executor=LocalExecutor(workers))
    total, commit_cpu = time.perf_counter() - start, tree_cpu() - cpu
    s = clock.seconds
    stages = {
        "hash_s": s["build"] - s["merge"],
        "merge_s": s["merge"] - s.get("merkle", 0.0),
        "merkle_s": s.get("merkle", 0.0),
        "sign_s": s.get("sign", 0.0),
        "lineage_s": s.get("lineage", 0.0),
        "profile_s": s.get("profile", 0.0),
    }
    stages["store_and_rest_s"] = total - sum(stages.values())
    return {
        "records": result.records,
        "workers": workers,
        "import_s": round(import_s, 3),
        "commit_s": round(total, 3),
        **{k: round(v, 3) for k, v in stages.items()},
        # CPU of the stages that run in this process (the profile's BLAS threads included); it
        # barely moves with the machine's load, where the wall time above does
        "merge_cpu_s": round(clock.cpu.get("merge", 0.0) - clock.cpu.get("merkle", 0.0), 3),
        "merkle_cpu_s": round(clock.cpu.get("merkle", 0.0), 3),
        "lineage_cpu_s": round(clock.cpu.get("lineage", 0.0), 3),
        "profile_cpu_s": round(clock.cpu.get("profile", 0.0), 3),
        # with the worker processes: reading to the signed manifest (hashing in the workers, merge,
        # Merkle root, signing), and the whole call
        "manifest_tree_cpu_s": round(clock.tree_cpu["build"] + clock.tree_cpu.get("sign", 0.0), 3),
        "commit_tree_cpu_s": round(commit_cpu, 3),
    }


def one_core_rates(path: str) -> dict:
    """Seconds on one core in this process: reading the file, and reading + encoding + hashing it."""
    from provenance.sources import tables
    from provenance.sources.tables import TableOptions

    options = TableOptions()
    start = time.perf_counter()
    rows = sum(batch.num_rows for batch in tables.iter_batches(path, options))
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    part = tables.hash_table_file(path, options, os.path.basename(path), False).finish(None)
    hash_s = time.perf_counter() - start
    return {
        "rows": rows,
        "one_core_read_s": round(read_s, 3),
        "one_core_read_encode_hash_s": round(hash_s, 3),
        "one_core_encode_hash_s": round(hash_s - read_s, 3),
        "one_core_check": len(part) == rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--one-core", action="store_true", help="also time reading and encoding on one core")
    args = ap.parse_args()
    from provenance import fastsha

    with tempfile.TemporaryDirectory(prefix="prov-stages-") as work:
        out = commit_stages(args.table, args.workers, Path(work))
    if args.one_core:
        out.update(one_core_rates(args.table))
    out["sha256_path"] = fastsha.path_description()
    out["code_tree"] = str(Path(fastsha.__file__).resolve().parent.parent)  # whose code was timed
    print(json.dumps(out))


if __name__ == "__main__":
    main()
