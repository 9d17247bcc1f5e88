"""File trees as records: ``root/<label>/<file>``, or files plus a labels CSV.

A record is a file and its content is the file's bytes, so its digest is what
``sha256sum`` prints. Anything that would let the tree reach outside itself (a symlink
that leaves it, a name that climbs out) or a file that cannot be read is an input error.
"""

from __future__ import annotations

import csv
import hashlib
import os
import stat
from pathlib import PurePosixPath

import pyarrow as pa

from provenance.encoding import FILE_DIGEST_ALGORITHM, file_digest
from provenance.errors import InputError
from provenance.sources.tables import HashedPart

DIGEST_ALGORITHM = FILE_DIGEST_ALGORITHM


def _inside(root_real: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real + os.sep)


def list_tree(root: str, fs=None) -> list[tuple[str, str]]:
    """``(relative posix path, label)`` of every file under ``root/<label>/``, sorted.

    ``fs`` is an fsspec filesystem (object storage); without it, ``root`` is local.
    """
    if fs is not None:
        return _list_tree_fs(fs, root)
    if not os.path.isdir(root):
        raise InputError(f"{root}: not a folder")
    root_real = os.path.realpath(root)
    out: list[tuple[str, str]] = []
    # Paths are built per folder, not per file: trees hold many small files.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if os.path.islink(full) and not _inside(root_real, full):
                raise InputError(f"{full}: symlink leaves the tree {root}")
        reldir = os.path.relpath(dirpath, root)
        parts = [] if reldir == "." else reldir.split(os.sep)
        prefix = "/".join(parts)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full) and not _inside(root_real, full):
                raise InputError(f"{full}: symlink leaves the tree {root}")
            if not parts:
                raise InputError(f"{full}: file is not inside a <label>/ folder of {root}")
            out.append((f"{prefix}/{name}", parts[0]))
    if not out:
        raise InputError(f"{root}: no files in <label>/ folders")
    out.sort()
    return out


def _list_tree_fs(fs, root: str) -> list[tuple[str, str]]:
    if not fs.isdir(root):
        raise InputError(f"{root}: not a folder")
    base = PurePosixPath(root.rstrip("/") or "/")
    out = []
    for full in fs.find(root):
        rel = PurePosixPath(full).relative_to(base)
        if any(p.startswith(".") for p in rel.parts):
            continue
        if ".." in rel.parts:
            raise InputError(f"{full}: name climbs out of the tree {root}")
        if len(rel.parts) < 2:
            raise InputError(f"{full}: file is not inside a <label>/ folder of {root}")
        out.append((rel.as_posix(), rel.parts[0]))
    if not out:
        raise InputError(f"{root}: no files in <label>/ folders")
    out.sort()
    return out


def read_labels_csv(root: str, labels_csv: str, fs=None) -> list[tuple[str, str]]:
    """``(relative path, label)`` pairs from a CSV with ``path`` and ``label`` columns.

    ``labels_csv`` is a local path or an fsspec URL; ``fs`` is the filesystem of ``root``.
    """
    try:
        if "://" in labels_csv:
            import fsspec

            with fsspec.open(labels_csv, "r", newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        else:
            with open(labels_csv, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{labels_csv}: cannot read labels CSV ({exc})") from exc
    if not rows or "path" not in rows[0] or "label" not in rows[0]:
        raise InputError(f"{labels_csv}: needs 'path' and 'label' columns")
    root_real = os.path.realpath(root) if fs is None else None
    out = []
    for i, row in enumerate(rows):
        rel, label = (row["path"] or "").strip(), (row["label"] or "").strip()
        if not rel or not label:
            raise InputError(f"{labels_csv}: row {i} has an empty path or label")
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts:
            raise InputError(f"{labels_csv}: row {i} path {rel!r} climbs out of {root}")
        if fs is None and not _inside(root_real, os.path.join(root, rel)):
            raise InputError(f"{labels_csv}: row {i} path {rel!r} leaves the tree {root}")
        out.append((str(pure), label))
    out.sort()
    return out


def hash_files(root: str, entries: list[tuple[str, str]], fs=None) -> HashedPart:
    digests = bytearray()
    for rel, _ in entries:
        full = os.path.join(root, rel) if fs is None else f"{root.rstrip('/')}/{rel}"
        try:
            if fs is None:
                mode = os.stat(full).st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # opening a FIFO would block forever
                    raise InputError(f"{full}: not a regular file (a FIFO, socket or device cannot be a record)")
                digests += file_digest(full)
            else:
                with fs.open(full, "rb") as fh:
                    digests += hashlib.file_digest(fh, "sha256").digest()
        except IsADirectoryError as exc:
            raise InputError(f"{full}: is a folder, not a file") from exc
        except OSError as exc:
            raise InputError(f"{full}: cannot read file ({exc.strerror or exc})") from exc
    return HashedPart(
        digests=bytes(digests),
        labels=pa.array([label for _, label in entries], pa.string()),
        sources=pa.nulls(len(entries), pa.string()),
        locators=pa.array([rel for rel, _ in entries], pa.string()),
    )
