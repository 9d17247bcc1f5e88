"""Why a table's hashing stage does not run twice as fast on two threads: its CPU, and how much of it
holds the GIL, for two code trees alternated on one file (issue 15, session 28).

    python bench/commit_threads_ab.py OLD_TREE --rows 2000000 --rounds 3 --out commit-threads-ab-s28

Each run is a fresh process (set up as ``prov commit`` sets its process up: ``prepare_process``) that
lists the table and hashes every partition as a commit does (``build._run``: read, encode, hash,
label texts, leaf hashes, profile-sample capture, spill), nothing after. Per code tree and round:

* on two threads: wall, the process's CPU, and each thread's CPU (``time.thread_time`` around every
  partition), so CPU ÷ wall says how many cores the stage kept busy;
* on one thread, sampled by ``py-spy`` (when it is installed): the share of the hashing thread's samples
  in which it held the GIL (``--gil`` samples ÷ all samples, two runs). The GIL-held part cannot run on the
  other thread at the same time: with a share g, two threads can never be faster than max(CPU ÷ 2, g × CPU);
* the one-thread run's CPU per part (read, encode + hash, label texts, capture, leaves, spill), timed by
  wrapping each with ``time.thread_time``.

The machine is shared: wall times move with the load (recorded), CPU and the GIL share much less.
Results in bench/results/OUT.{json,md}. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = [  # (module, attribute, label) wrapped in the one-thread run
    ("provenance.sources.tables", "iter_batches", "read"),
    ("provenance.sources.tables", "table_digest_blob", "encode_hash"),
    ("provenance.sources.tables", "label_texts", "labels"),
    ("provenance.sources.sample_capture", "SampleCapture.add_batch", "capture"),
    ("provenance.sources.tables", "HashedPart.finish", "leaves"),
    ("provenance.sources.build", "spill_part", "spill"),
]
FIELDS = [
    ("wall_2t_s", "2 threads: wall s"),
    ("cpu_2t_s", "2 threads: CPU s"),
    ("cores_2t", "2 threads: CPU ÷ wall"),
    ("system_2t_s", "2 threads: system CPU s"),
    ("switches_2t", "2 threads: voluntary switches"),
    ("cpu_1t_s", "1 thread: CPU s"),
    ("system_1t_s", "1 thread: system CPU s"),
    ("gil_share_1t", "1 thread: GIL-held share"),
    *((f"part_{label}_s", f"1 thread: {label} CPU s") for _, _, label in PARTS),
]


def child(tree: str, table: str, workers: int, parts: bool) -> None:
    """Hash ``table``'s partitions with ``tree``'s code on ``workers`` threads; one JSON line on stdout."""
    import importlib
    import threading
    from collections import defaultdict

    sys.path.insert(0, tree)
    from provenance.cli import prepare_process

    prepare_process("commit")
    from provenance.executor import InlineExecutor, ThreadExecutor
    from provenance.sources import build, table_files
    from provenance.sources.interface import DatasetSpec

    spent: dict[str, float] = defaultdict(float)

    def timed(fn, label, generator=False):
        if generator:

            def gen(*args, **kwargs):
                it = fn(*args, **kwargs)
                while True:
                    start = time.thread_time()
                    try:
                        item = next(it)
                    except StopIteration:
                        return
                    finally:
                        spent[label] += time.thread_time() - start
                    yield item

            return gen

        def call(*args, **kwargs):
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.thread_time() - start

        return call

    if parts:
        for module_name, attr, label in PARTS:
            owner = importlib.import_module(module_name)
            *path, name = attr.split(".")
            for p in path:
                owner = getattr(owner, p)
            setattr(owner, name, timed(getattr(owner, name), label, generator=name == "iter_batches"))
    per_thread: dict[str, float] = defaultdict(float)
    hash_partition = build._hash_partition

    def partition(task):
        start = time.thread_time()
        try:
            return hash_partition(task)
        finally:
            per_thread[threading.current_thread().name] += time.thread_time() - start

    spec = DatasetSpec(table)
    files = table_files.list_table_files(table, None, spec.options.reader_version)
    salt = os.urandom(32)
    tasks, expected = build._table_tasks(spec, files, None, None, None, salt, os.urandom(16).hex())
    threads = ThreadExecutor(workers) if workers > 1 else InlineExecutor()

    class Timed:  # the executor the commit picks, each partition timed on its thread
        shared_filesystem = True

        def imap(self, fn, items):
            return threads.imap(partition, items)

    build._hash_partition = partition
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF)
    start, cpu = time.perf_counter(), time.process_time()
    sorter, _ = build._run(tasks, expected, Timed(), salt)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_SELF)
    out = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "tasks": len(tasks), "records": expected}
    out["system_s"] = round(after.ru_stime - before.ru_stime, 3)  # the kernel's part: page faults, reads
    out["minor_faults"] = after.ru_minflt - before.ru_minflt
    out["switches"] = after.ru_nvcsw - before.ru_nvcsw  # voluntary: waits for the GIL, among others
    out["threads_cpu_s"] = {k: round(v, 3) for k, v in sorted(per_thread.items())}
    out.update({f"part_{k}_s": round(v, 3) for k, v in spent.items()})
    print(json.dumps(out), flush=True)


def run_child(tree: str, table: Path, workers: int, parts: bool = False, spy: list[str] | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", tree, str(table), str(workers)]
    if parts:
        cmd.append("--parts")
    out = subprocess.run((spy or []) + cmd, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])  # py-spy talks too


def gil_share(tree: str, table: Path, work: Path) -> float | None:
    """The share of the one hashing thread's samples in which it held the GIL (py-spy), or None."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.path.exists(spy):
        return None
    counts = {}
    for mode in ("gil", "all"):
        raw = work / f"{mode}.txt"
        flags = ["--gil"] if mode == "gil" else []
        run_child(tree, table, 1, spy=[spy, "record", "-r", "200", "-f", "raw", "-o", str(raw), *flags, "--"])
        counts[mode] = sum(
            int(line.rsplit(" ", 1)[1]) for line in raw.read_text().splitlines() if "_hash_partition" in line
        )
    return round(counts["gil"] / counts["all"], 3) if counts["all"] else None


def one_round(table: Path, work: Path) -> Callable[[str, str], dict]:
    """What a round runs per code tree: two threads, one thread with its parts timed, and the GIL share."""

    def run(name: str, tree: str) -> dict:
        two = run_child(tree, table, 2)
        one = run_child(tree, table, 1, parts=True)
        return {
            "wall_2t_s": two["wall_s"],
            "cpu_2t_s": two["cpu_s"],
            "cores_2t": round(two["cpu_s"] / two["wall_s"], 2),
            "system_2t_s": two["system_s"],
            "switches_2t": two["switches"],
            "system_1t_s": one["system_s"],
            "threads_cpu_2t_s": two["threads_cpu_s"],
            "cpu_1t_s": one["cpu_s"],
            "gil_share_1t": gil_share(tree, table, work),
            **{k: v for k, v in one.items() if k.startswith("part_")},
            "tasks": two["tasks"],
        }

    return run


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), "--parts" in sys.argv[5:])
        return
    sys.path.insert(0, str(HERE))
    from alternation import ab_parser, ab_result, code_trees, recorded_rounds, warm_table, write_ab

    args = ab_parser(None, 2_000_000, 3, "commit-threads-ab", "hash").parse_args()
    trees = code_trees(args.old, args.names, HERE.parent)
    work = Path(tempfile.mkdtemp(prefix="prov-threads-ab-"))
    try:
        table = warm_table(args.table, args.rows, work)
        runs, stamps = recorded_rounds(trees, one_round(table, work), args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tasks = runs[0]["tasks"] if runs else 0
    facts = {"rows": args.rows, "rounds": args.rounds, "tasks": tasks, "trees": trees}
    result = ab_result(trees, runs, stamps, [k for k, _ in FIELDS], **facts)
    paragraph = (
        f"`bench/commit_threads_ab.py` on {args.rows:,} rows x 64 float64 + label ({result['tasks']} partitions), "
        f"{args.rounds} rounds, old and new code alternated, each run a fresh process on one file (page cache "
        f"warm). {result['machine']}. CPU = user + system of the process; the GIL-held share is py-spy's `--gil` "
        "samples over all its samples of the hashing thread, on one thread."
    )
    write_ab(args.out, result, "Table hashing stage on two threads", paragraph, FIELDS)


if __name__ == "__main__":
    main()
