"""A dataset spec says where records come from; ``build_manifest`` turns it into a manifest.

A spec is plain data (JSON-able), stored with each version so ``prov verify`` can read the
same records again and recompute every digest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import PurePosixPath

from ..errors import InputError
from ..executor import LocalExecutor
from ..manifest import Manifest
from . import files, tables
from .tables import HashedPart, TableOptions

# Row groups per partition are grouped so each worker gets a few hundred thousand rows.
_ROWS_PER_PARTITION = 262_144


@dataclass(frozen=True)
class DatasetSpec:
    path: str
    kind: str = "auto"  # "table" | "tree" | "auto"
    options: TableOptions = field(default_factory=TableOptions)
    labels_csv: str | None = None
    rev: str | None = None  # a git revision, read through DVC
    repo: str | None = None  # the git + DVC repository for ``rev`` (default: found from path)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "kind": self.kind,
            "options": self.options.to_dict(),
            "labels_csv": self.labels_csv,
            "rev": self.rev,
            "repo": self.repo,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetSpec":
        return cls(
            path=d["path"],
            kind=d.get("kind", "auto"),
            options=TableOptions.from_dict(d.get("options", {})),
            labels_csv=d.get("labels_csv"),
            rev=d.get("rev"),
            repo=d.get("repo"),
        )


@dataclass
class HashedDataset:
    manifest: Manifest
    kind: str
    columns: list[str]
    files: int
    spec: "DatasetSpec | None" = None  # what the records were read with (commit hooks re-read a few)


def resolve_kind(spec: DatasetSpec, fs=None) -> str:
    if spec.kind != "auto":
        return spec.kind
    if fs is not None:
        if not fs.exists(spec.path):
            raise InputError(f"{spec.path}: no such file or folder at revision {spec.rev}")
        if fs.isfile(spec.path):
            return "table"
        found = [p for p in fs.find(spec.path) if tables.table_format(p)]
        return "table" if found else "tree"
    if not os.path.exists(spec.path):
        raise InputError(f"{spec.path}: no such file or folder")
    if os.path.isfile(spec.path):
        return "table"
    if spec.labels_csv:
        return "tree"
    try:
        tables.list_table_files(spec.path)
        return "table"
    except InputError:
        return "tree"


def _hash_partition(task) -> HashedPart:
    kind, source, args = task
    if kind == "table":
        path, options, rel, prefix, row_groups, first_row = args
        part = tables.hash_table_file(path, options, rel, prefix, None, row_groups, first_row)
    else:
        root, entries = args
        part = files.hash_files(root, entries)
    return part.finish(source)


def _table_tasks(spec: DatasetSpec, paths: list[str], source: str | None) -> list:
    tasks = []
    prefix = len(paths) > 1 or os.path.isdir(spec.path)
    for path in paths:
        rel = PurePosixPath(os.path.relpath(path, spec.path)).as_posix() if os.path.isdir(spec.path) else os.path.basename(path)
        if tables.table_format(path) == "parquet":
            groups = tables.parquet_row_groups(path)
            chunk, first, rows = [], 0, 0
            for i, (start, n) in enumerate(groups):
                if not chunk:
                    first = start
                chunk.append(i)
                rows += n
                if rows >= _ROWS_PER_PARTITION:
                    tasks.append(("table", source, (path, spec.options, rel, prefix, chunk, first)))
                    chunk, rows = [], 0
            if chunk or not groups:
                tasks.append(("table", source, (path, spec.options, rel, prefix, chunk or None, first)))
        else:
            tasks.append(("table", source, (path, spec.options, rel, prefix, None, 0)))
    return tasks


def _merge(parts: list[HashedPart], algorithm: str, batch: str | None) -> Manifest:
    return Manifest.from_parts(parts, algorithm, batch)


def _check_columns(parts: list[HashedPart], spec: DatasetSpec) -> list[str]:
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
    """Read every record of ``spec`` and return its manifest.

    ``source`` fills the source of records whose table has no source column.
    """
    if spec.rev is not None:
        from .dvc import build_manifest_at_rev

        hashed = build_manifest_at_rev(spec, source=source, batch=batch)
        hashed.spec = spec
        return hashed
    executor = executor or LocalExecutor()
    kind = resolve_kind(spec)
    if kind == "table":
        paths = tables.list_table_files(spec.path)
        parts = executor.map(_hash_partition, _table_tasks(spec, paths, source))
        algorithm = tables.DIGEST_ALGORITHM
        n_files = len(paths)
    elif kind == "tree":
        entries = files.read_labels_csv(spec.path, spec.labels_csv) if spec.labels_csv else files.list_tree(spec.path)
        size = max(64, len(entries) // (4 * getattr(executor, "workers", 1)) + 1)
        chunks = [entries[i : i + size] for i in range(0, len(entries), size)]
        parts = executor.map(_hash_partition, [("tree", source, (spec.path, c)) for c in chunks])
        algorithm = files.DIGEST_ALGORITHM
        n_files = len(entries)
    else:
        raise InputError(f"{spec.path}: unknown dataset kind {kind!r} (expected table or tree)")
    columns = _check_columns(parts, spec)
    return HashedDataset(_merge(parts, algorithm, batch), kind, columns, n_files, spec)
