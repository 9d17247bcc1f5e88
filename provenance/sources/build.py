"""The one dispatcher that turns a dataset spec into a manifest: list, partition, hash, sort."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import PurePosixPath

from provenance.errors import InputError
from provenance.manifest import Manifest
from provenance.sources import memory, tables, trees
from provenance.sources.external_sort import ExternalSort, sorted_manifest, spill_part
from provenance.sources.interface import DatasetSpec, HashedDataset
from provenance.sources.tables import HashedPart

# Row groups per partition are grouped so each worker gets a few hundred thousand rows.
_ROWS_PER_PARTITION = 262_144


def split_url(path: str):
    """``(filesystem, path on it)`` for an fsspec URL (``memory://``, ``s3://``, ...); ``(None, path)``
    for a local path. A ``file://`` URL becomes a local path, so it gets the local checks."""
    if "://" not in path:
        return None, path
    try:
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        fs, inner = fsspec.core.url_to_fs(path)
    except (ImportError, ValueError) as exc:
        raise InputError(f"{path}: cannot open this URL with fsspec ({exc})") from exc
    if isinstance(fs, LocalFileSystem):
        return None, inner
    return fs, inner


def resolve_kind(spec: DatasetSpec, fs=None) -> str:
    if spec.kind != "auto":
        return spec.kind
    if fs is not None:
        where = f" at revision {spec.rev}" if spec.rev else ""
        if not fs.exists(spec.path):
            raise InputError(f"{spec.path}: no such file or folder{where}")
        if fs.isfile(spec.path):
            return "table"
        if spec.labels_csv:
            return "tree"
        found = [p for p in fs.find(spec.path) if tables.table_format(p)]
        return "table" if found else "tree"
    if not os.path.exists(spec.path):
        raise InputError(f"{spec.path}: no such file or folder")
    if os.path.isfile(spec.path):
        return "table"
    if spec.labels_csv:
        return "tree"
    return "table" if tables.has_table_files(spec.path) else "tree"


def _hash_partition(task):
    """Hash one partition in a worker; spill it to ``spill`` (a local path) if given."""
    kind, source, args, spill = task
    if kind == "table":
        path, options, rel, prefix, fs, row_groups, first_row = args
        part = tables.hash_table_file(path, options, rel, prefix, fs, row_groups, first_row)
    else:
        root, entries, fs = args
        part = trees.hash_files(root, entries, fs)
    part = part.finish(source)
    if spill is None:
        return part
    path, bits = spill
    return spill_part(part, path, bits)


def _relpath(path: str, root: str) -> str:
    return PurePosixPath(path).relative_to(PurePosixPath(root)).as_posix()


def _table_tasks(spec: DatasetSpec, paths: list[str], source: str | None, fs=None) -> tuple[list, int]:
    """Partitions of a table dataset (row-group ranges of Parquet files, whole CSV/JSONL files),
    and the number of rows expected (exact for Parquet, an overestimate for text)."""
    tasks, expected = [], 0
    is_dir = fs.isdir(spec.path) if fs is not None else os.path.isdir(spec.path)
    prefix = len(paths) > 1 or is_dir
    root = spec.path.rstrip("/") or "/"
    for path in paths:
        if is_dir:
            rel = _relpath(path, root) if fs is not None else PurePosixPath(os.path.relpath(path, root)).as_posix()
        else:
            rel = PurePosixPath(path).name
        if tables.table_format(path) == "parquet":
            groups = tables.parquet_row_groups(path, fs)
            expected += sum(n for _, n in groups)
            chunk, first, rows = [], 0, 0
            for i, (start, n) in enumerate(groups):
                if not chunk:
                    first = start
                chunk.append(i)
                rows += n
                if rows >= _ROWS_PER_PARTITION:
                    tasks.append(("table", source, (path, spec.options, rel, prefix, fs, chunk, first)))
                    chunk, rows = [], 0
            if chunk or not groups:
                tasks.append(("table", source, (path, spec.options, rel, prefix, fs, chunk or None, first)))
        else:
            size = fs.size(path) if fs is not None else os.path.getsize(path)
            expected += size // 16 + 1  # no row count without reading; a row takes well over 16 bytes
            tasks.append(("table", source, (path, spec.options, rel, prefix, fs, None, 0)))
    return tasks, expected


def _task_memory(task) -> tuple[int, str]:
    """(bytes, description) a table partition needs while a worker hashes it."""
    path, _, _, _, fs, row_groups, first = task[2]
    if tables.table_format(path) == "parquet":
        return memory.parquet_task_memory(path, row_groups, fs), f"{path}: hashing from row {first}"
    return memory.text_task_memory(path, fs), f"{path}: hashing the file"


def _merge(parts: list[HashedPart], algorithm: str, batch: str | None) -> Manifest:
    return sorted_manifest(parts, sum(len(p) for p in parts), algorithm, batch)


def _check_columns(parts: list, spec: DatasetSpec) -> list[str]:
    columns = [p.columns for p in parts if p.columns]
    if columns and any(c != columns[0] for c in columns):
        raise InputError(f"{spec.path}: files have different content columns")
    return columns[0] if columns else []


def build_manifest(
    spec: DatasetSpec,
    executor=None,
    source: str | None = None,
    batch: str | None = None,
) -> HashedDataset:
    """Read every record of ``spec`` and return its manifest, in memory bounded by a bucket.

    ``source`` fills the source of records whose table has no source column. ``spec.path``
    may be a local path or an fsspec URL. With no ``executor``, this machine's processes
    (``provenance.executor.local_executor``): only a caller that commits passes a cluster.
    """
    if spec.rev is not None:
        from provenance.sources.dvc import build_manifest_at_rev

        hashed = build_manifest_at_rev(spec, source=source, batch=batch)
        return hashed
    if executor is None:
        from provenance.executor import local_executor

        executor = local_executor()
    fs, path = split_url(spec.path)
    if fs is None and not getattr(executor, "shared_filesystem", True):
        path = os.path.abspath(path)  # cluster workers have another working folder
    local = replace(spec, path=path)
    try:
        kind = resolve_kind(local, fs)
    except OSError as exc:
        raise InputError(f"{spec.path}: cannot read ({exc})") from exc
    if kind == "table":
        paths = tables.list_table_files(path, fs)
        tasks, expected = _table_tasks(local, paths, source, fs)
        algorithm = spec.options.digest_algorithm
        n_files = len(paths)
    elif kind == "tree":
        if spec.labels_csv:
            entries = trees.read_labels_csv(path, spec.labels_csv, fs)
        else:
            entries = trees.list_tree(path, fs)
        size = max(64, len(entries) // (4 * getattr(executor, "workers", 1)) + 1)
        tasks = [("tree", source, (path, entries[i : i + size], fs)) for i in range(0, len(entries), size)]
        expected = len(entries)
        algorithm = trees.DIGEST_ALGORITHM
        n_files = len(entries)
    else:
        raise InputError(f"{spec.path}: unknown dataset kind {kind!r} (expected table or tree)")
    if kind == "table":
        executor = memory.bounded_workers(executor, [_task_memory(task) for task in tasks])
    sorter = ExternalSort(expected)
    spill = getattr(executor, "shared_filesystem", False)
    tasks = [task + ((sorter.spill_path(i), sorter.bits) if spill else None,) for i, task in enumerate(tasks)]
    for i, result in enumerate(executor.imap(_hash_partition, tasks)):
        sorter.add(result, i)
    columns = _check_columns(sorter.spilled, spec)
    return HashedDataset(sorter.finish(algorithm, batch), kind, columns, n_files, spec)
