"""Which files of a table folder are read, as ``pyarrow.dataset`` (and pandas) would read them.

A folder is discovered the way ``pyarrow.dataset.dataset(folder)`` and
``pyarrow.parquet.read_table(folder)`` discover it: recursively, skipping every file or
folder whose name starts with ``.`` or ``_`` (``_SUCCESS``, ``_metadata``, ``.ipynb_checkpoints``),
and reading every other file, whatever its name: a Parquet part called ``part-0000`` is
read. A file without a table suffix must be Parquet (its magic bytes say so), or the
commit refuses it: the trainer's loader would try to read it. Folders named ``key=value``
are hive partitions, as ``read_table`` and pandas read them: ``key`` becomes a column
of every row below, typed as pyarrow infers it (int32 when every value is an integer,
else string; ``__HIVE_DEFAULT_PARTITION__`` is null), so the partition is content.

Versions signed before these semantics (reader version 1) keep theirs: files with a table
suffix only, hidden names skipped, no partition columns.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.fs as pafs

from provenance.errors import InputError
from provenance.sources.file_identity import Identity, listed_identity

TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
IGNORED_PREFIXES = (".", "_")  # pyarrow.dataset's default ``ignore_prefixes``
PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class TableFile:
    """One file a table dataset reads: where it is, its format and its hive partition values."""

    path: str  # as opened (local path, or a path on the fsspec filesystem)
    rel: str  # posix path relative to the dataset's folder (the file name for a single file)
    format: str  # parquet | csv | jsonl
    partition: tuple[tuple[str, str, object], ...] = ()  # (column, Arrow type name, value)
    # a local file's identity when listed, checked on every handle that reads it (``file_identity.py``)
    identity: Identity | None = field(default=None, compare=False)


@dataclass
class TableFiles:
    """A dataset's files: those read, in order, and those a reader skips (for the listing)."""

    files: list[TableFile]
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (relative path, why)
    partition_types: dict[str, str] = field(default_factory=dict)
    is_folder: bool = False


def table_format(path: str) -> str | None:
    """The format a file's suffix names (``parquet``, ``csv``, ``jsonl``), or None."""
    return TABLE_SUFFIXES.get(PurePosixPath(path).suffix.lower())


def _is_parquet(path: str, fs) -> bool:
    """Whether the file starts and ends with Parquet's magic bytes (never opens a FIFO or device)."""
    try:
        if fs is None and not stat.S_ISREG(os.stat(path).st_mode):
            return False
        opener = fs.open if fs is not None else open
        with opener(path, "rb") as fh:
            head = fh.read(4)
            size = fs.size(path) if fs is not None else os.fstat(fh.fileno()).st_size
            if size < 12:
                return False
            fh.seek(size - 4)
            return head == PARQUET_MAGIC and fh.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def _walk_local(root: str) -> tuple[list[str], list[tuple[str, str]]]:
    found: list[str] = []
    ignored: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        rel_dir = os.path.relpath(dirpath, root)
        prefix = "" if rel_dir == "." else PurePosixPath(rel_dir).as_posix() + "/"
        for d in sorted(dirnames):
            if d.startswith(IGNORED_PREFIXES):
                ignored.append((f"{prefix}{d}/", "hidden folder (a name starting with '.' or '_')"))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(IGNORED_PREFIXES))
        for name in sorted(filenames):
            if name.startswith(IGNORED_PREFIXES):
                ignored.append((f"{prefix}{name}", "hidden file (a name starting with '.' or '_')"))
            else:
                found.append(os.path.join(dirpath, name))
    return found, ignored


def _walk_fs(fs, root: str) -> tuple[list[str], list[tuple[str, str]]]:
    base = PurePosixPath(root.rstrip("/") or "/")
    found, ignored = [], []
    for full in fs.find(root):
        rel = PurePosixPath(full).relative_to(base)
        hidden = [p for p in rel.parts if p.startswith(IGNORED_PREFIXES)]
        if hidden:
            ignored.append((rel.as_posix(), "hidden name (starting with '.' or '_')"))
        else:
            found.append(full)
    return found, ignored


def _partitions(root: str, paths: list[str], fs) -> tuple[dict[str, dict[str, object]], dict[str, str]]:
    """Hive partition values of each file, and each key's type, exactly as pyarrow infers them."""
    if not any("=" in part for p in paths for part in PurePosixPath(p).parent.parts):
        return {}, {}
    # here, not at the top: importing pyarrow.dataset (its Acero, ORC, Parquet-encryption and substrait
    # modules) cost every command that reads data ~10 ms of CPU, and only a hive-partitioned folder needs it
    import pyarrow.dataset as ds

    filesystem = pafs.PyFileSystem(pafs.FSSpecHandler(fs)) if fs is not None else pafs.LocalFileSystem()
    options = ds.FileSystemFactoryOptions(partition_base_dir=root)
    options.partitioning_factory = ds.HivePartitioning.discover(infer_dictionary=True)
    factory = ds.FileSystemDatasetFactory(filesystem, paths, ds.ParquetFileFormat(), options)
    schema = factory.inspect(fragments=0)  # partition fields only: no file is opened
    types = {f.name: str(f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in schema}
    values = {}
    for fragment in factory.finish(schema).get_fragments():
        keys = ds.get_partition_keys(fragment.partition_expression)
        values[fragment.path] = {name: keys.get(name) for name in types}
    return values, types


def list_table_files(root: str, fs=None, reader_version: int = 2) -> TableFiles:
    """The files of a table dataset ``root`` (a file, or a folder read recursively), in order.

    Raises:
        InputError: no such path; a file the loader would read that is not a table prov
            can decode (named); a folder with no table files.
    """
    exists = fs.exists(root) if fs is not None else os.path.exists(root)
    if not exists:
        raise InputError(f"{root}: no such file or folder")
    is_file = fs.isfile(root) if fs is not None else os.path.isfile(root)
    if is_file:
        fmt = table_format(root) or ("parquet" if _is_parquet(root, fs) else None)
        if fmt is None:
            raise InputError(f"{root}: not a table (expected Parquet, .csv or .jsonl)")
        return TableFiles([TableFile(root, PurePosixPath(root).name, fmt, identity=_identity(root, fs))])
    if reader_version == 1:
        return _list_v1(root, fs)
    found, ignored = _walk_fs(fs, root) if fs is not None else _walk_local(root)
    files = []
    for path in found:
        fmt = table_format(path) or ("parquet" if _is_parquet(path, fs) else None)
        if fmt is None:
            raise InputError(
                f"{path}: pyarrow.dataset would read this file as part of the table, but it is not Parquet, "
                "CSV or JSON Lines; remove it, or start its name with '_' or '.' so readers skip it"
            )
        files.append((path, fmt))
    if not files:
        raise InputError(f"{root}: folder holds no table files (Parquet, .csv or .jsonl)")
    values, types = _partitions(root, [p for p, _ in files], fs)
    base = PurePosixPath(root.rstrip("/") or "/")
    out = []
    for path, fmt in files:
        rel = PurePosixPath(path).relative_to(base).as_posix() if fs is not None else _rel(path, root)
        keys = values.get(path, {})
        partition = tuple((k, types[k], keys.get(k)) for k in types)
        out.append(TableFile(path, rel, fmt, partition, _identity(path, fs)))
    return TableFiles(out, ignored, types, is_folder=True)


def _identity(path: str, fs) -> Identity | None:
    """A local file's identity as it is listed (``file_identity.py``); None on an fsspec filesystem."""
    return listed_identity(path) if fs is None else None


def _rel(path: str, root: str) -> str:
    return PurePosixPath(os.path.relpath(path, root)).as_posix()


def _list_v1(root: str, fs) -> TableFiles:
    """Reader version 1: suffixed table files only, hidden names skipped, no partitions."""
    if fs is not None:
        found = sorted(p for p in fs.find(root) if table_format(p))
        base = PurePosixPath(root.rstrip("/") or "/")
        files = [TableFile(p, PurePosixPath(p).relative_to(base).as_posix(), table_format(p) or "") for p in found]
    else:
        paths = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            paths += [os.path.join(dirpath, n) for n in filenames if not n.startswith(".") and table_format(n)]
        files = [TableFile(p, _rel(p, root), table_format(p) or "", identity=listed_identity(p)) for p in sorted(paths)]
    if not files:
        raise InputError(f"{root}: folder holds no .parquet, .csv or .jsonl files")
    return TableFiles(files, is_folder=True)


def has_table_files(root: str) -> bool:
    """Whether a local folder holds a table file: a table suffix, or a Parquet part without one.

    Tells tables from trees for ``--kind auto``; only files with no suffix at all are opened
    (at most 16), so an image tree is never read for this.
    """
    sniffed = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(IGNORED_PREFIXES)]
        for name in filenames:
            if name.startswith(IGNORED_PREFIXES):
                continue
            # os.path.splitext's suffix of a name that does not start with a dot (those are skipped
            # above): from its last dot, or "" (table_format's PurePosixPath says "" where this says
            # "."), without a call per file of a tree
            dot = name.rfind(".")
            suffix = name[dot:] if dot > 0 else ""
            if suffix.lower() in TABLE_SUFFIXES:
                return True
            if suffix in ("", ".") and sniffed < 16:
                sniffed += 1
                if _is_parquet(os.path.join(dirpath, name), None):
                    return True
    return False
