"""The memory bound of a commit: how much building a manifest may use, checked before it is used.

Building a manifest reads partitions in worker processes and merges digest buckets in
this one. What each part needs is known before it runs: a Parquet row group's size is in
the file's metadata, a text file's rows are estimated from its first mebibyte, and a
bucket's rows are in the spill files. So prov plans within the bound: it runs fewer
workers when workers x partition memory would pass it, and when even one cannot fit it
stops with an ``InputError`` (exit 2) that names the file, the limit and how to raise
it, before the kernel's OOM killer would.

The bound is ``PROV_MEMORY_LIMIT`` (bytes, or with a unit: ``512MiB``, ``4GiB``), by
default 1 GiB, and never more than 80% of the memory the machine has available.
"""

from __future__ import annotations

import os
import re

from provenance.errors import InputError

DEFAULT_LIMIT = 1 << 30
PROCESS_BASE = 100 << 20  # an interpreter with numpy and pyarrow imported (74 MiB measured), and its state
ROW_OVERHEAD = 160  # bytes per record a worker holds until it spills: digest, leaf, label, source, locator, copies
BUCKET_COPIES = 3  # a bucket is read, reordered and written: about three copies at the peak
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1000, "m": 1 << 20, "mib": 1 << 20, "mb": 10**6}
_UNITS |= {"g": 1 << 30, "gib": 1 << 30, "gb": 10**9, "t": 1 << 40, "tib": 1 << 40, "tb": 10**12}


# Arrow's allocator (mimalloc) returns freed pages to the kernel after 10 ms by default, so a
# worker hashing batch after batch faults fresh zeroed pages in for every batch: measured on
# one core, 2 M rows x 64 float64, 0.8-1.1 s of 2.7 s CPU in the kernel (105-200k minor
# faults); with freed pages kept for reuse, 0.3-0.8 s (48-64k faults), peak RSS +50 MiB.
ALLOCATOR_SETTINGS = {"MIMALLOC_PURGE_DELAY": "-1"}


def keep_freed_memory() -> None:
    """Ask Arrow's allocator to keep the memory it frees for reuse in this process and its workers.

    Sets ``ALLOCATOR_SETTINGS`` in the environment unless already set (a user's own setting
    wins). mimalloc reads them once, when pyarrow is first imported, so this works only
    before that: the ``prov`` command calls it first thing. A process's memory then stays
    at its peak until it exits, which the commit's bound already counts.
    """
    for name, value in ALLOCATOR_SETTINGS.items():
        os.environ.setdefault(name, value)


class MemoryLimitError(InputError):
    """A commit would need more memory than the bound allows (exit 2, nothing written)."""


def parse_size(text: str) -> int:
    """Bytes from ``"1073741824"``, ``"512MiB"``, ``"4GiB"``, ``"2G"`` (binary for K/M/G/T).

    Raises ``InputError`` for anything else.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise InputError(f"PROV_MEMORY_LIMIT={text!r}: expected a size such as 1073741824, 512MiB or 4GiB")
    return int(float(match.group(1)) * _UNITS[unit])


def available_memory() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` in bytes, or None where there is none."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_limit() -> int:
    """The bound in bytes: ``PROV_MEMORY_LIMIT`` or 1 GiB, capped at 80% of available memory."""
    setting = os.environ.get("PROV_MEMORY_LIMIT")
    limit = parse_size(setting) if setting else DEFAULT_LIMIT
    free = available_memory()
    return min(limit, int(free * 0.8)) if free else limit


def mib(n: int) -> str:
    """``n`` bytes as whole mebibytes, for messages."""
    return f"{(n + (1 << 20) - 1) >> 20} MiB"


def check(need: int, limit: int, what: str, advice: str) -> None:
    """Raise ``MemoryLimitError`` when ``need`` bytes (``what`` needs them) pass ``limit``.

    The message names the need, the limit and both ways out: raise the limit, or ``advice``.
    """
    if need > limit:
        raise MemoryLimitError(
            f"{what} needs about {mib(need)}, above the memory limit of {mib(limit)}; "
            f"raise it with PROV_MEMORY_LIMIT (e.g. PROV_MEMORY_LIMIT={_suggest(need)}) or {advice}"
        )


def _suggest(need: int) -> str:
    gib = -(-(need + PROCESS_BASE) // (1 << 30))
    return f"{gib}GiB"


def workers_within(limit: int, per_worker: int, workers: int) -> int:
    """How many of ``workers`` processes, each needing ``per_worker`` bytes, fit in ``limit``
    beside this process (at least 1: whether one fits is ``check``'s question)."""
    room = limit - PROCESS_BASE
    return max(1, min(workers, room // max(per_worker + PROCESS_BASE, 1)))


READ_EXPANSION = 5  # measured: Arrow's Parquet reader peaks near 5x the uncompressed size of what it reads at once
BATCH_COPIES = 3  # a batch of rows is decoded, then encoded (values and row layout) before it is hashed


def parquet_task_memory(path: str, row_groups: list[int] | None, fs=None) -> int:
    """Bytes a worker needs to hash ``row_groups`` (None: all) of one Parquet file.

    The largest row group, decoded whole, plus the reader's measured expansion of the
    columns it reads at once; a batch of it being encoded; and what the worker holds per
    record until it spills the partition.
    """
    import pyarrow.parquet as pq

    from provenance.sources.table_reading import BATCH_ROWS, COLUMNS_PER_READ

    opener = fs.open if fs is not None else open
    with opener(path, "rb") as fh:
        meta = pq.ParquetFile(fh).metadata
    groups = range(meta.num_row_groups) if row_groups is None else row_groups
    biggest = max(groups, key=lambda g: meta.row_group(g).total_byte_size, default=None)
    if biggest is None:
        return 0
    group = meta.row_group(biggest)
    share = min(1.0, COLUMNS_PER_READ / max(meta.num_columns, 1))
    batch = group.total_byte_size * min(1.0, BATCH_ROWS / max(group.num_rows, 1))
    rows = sum(meta.row_group(g).num_rows for g in groups)
    return int(group.total_byte_size * (1 + READ_EXPANSION * share) + BATCH_COPIES * batch) + ROW_OVERHEAD * rows


def text_task_memory(path: str, fs=None) -> int:
    """Bytes a worker needs to hash one CSV / JSON Lines file: a few read blocks, plus its
    records (estimated from the lines in the file's first mebibyte) until it spills them."""
    opener = fs.open if fs is not None else open
    with opener(path, "rb") as fh:
        head = fh.read(1 << 20)
    size = fs.size(path) if fs is not None else os.path.getsize(path)
    lines = max(head.count(b"\n"), 1)
    rows = size * lines // max(len(head), 1)
    from provenance.sources.text_tables import row_limit

    return 4 * row_limit() + ROW_OVERHEAD * rows  # the read block is the row limit (text_tables.py)


def bounded_workers(executor, needs: list[tuple[int, str]], limit: int | None = None):
    """The executor to hash with, within the memory bound; ``MemoryLimitError`` if none fits.

    ``needs`` is ``[(bytes, what), ...]`` per partition, ``what`` naming it for the message.
    Local processes are reduced in number until they fit beside this process; a cluster's
    workers are bounded by the cluster, so a Dask executor is returned as it is.
    """
    from provenance.executor import LocalExecutor

    if not needs or not isinstance(executor, LocalExecutor):
        return executor
    limit = memory_limit() if limit is None else limit
    need, what = max(needs)
    check(2 * PROCESS_BASE + need, limit, what, "write the data in smaller pieces (Parquet row groups or files)")
    workers = workers_within(limit, need, executor.workers)
    return executor if workers == executor.workers else type(executor)(workers)
