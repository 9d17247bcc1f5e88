"""Datasets as of a git revision of a DVC project, read through ``dvc.api.DVCFileSystem``.

Nothing is checked out or copied: DVC resolves the path at the revision to its cached
(or remote) objects, and we stream the bytes through the same readers as local files.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path, PurePosixPath

import pyarrow as pa

from provenance.errors import InputError
from provenance.sources import table_files, tables, trees
from provenance.sources.tables import HashedPart


def repo_root(spec) -> str:
    if spec.repo:
        return os.path.abspath(spec.repo)
    start = os.path.abspath(spec.path if os.path.isdir(spec.path) else os.path.dirname(spec.path) or ".")
    while not os.path.isdir(start):
        start = os.path.dirname(start)
    try:
        out = subprocess.run(
            ["git", "-C", start, "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InputError(f"{spec.path}: not inside a git repository (needed for --rev)") from exc
    return out.stdout.strip()


def normalise(spec):
    """The spec with ``repo`` an absolute repository root and ``path`` relative to it."""
    from dataclasses import replace

    if spec.repo:
        return replace(spec, repo=os.path.abspath(spec.repo), path=PurePosixPath(spec.path).as_posix())
    root = repo_root(spec)
    rel = os.path.relpath(os.path.abspath(spec.path), root)
    if rel.startswith(".."):
        raise InputError(f"{spec.path}: is outside the repository {root}")
    return replace(spec, repo=root, path=PurePosixPath(Path(rel).as_posix()).as_posix())


def open_fs(spec):
    from dvc.api import DVCFileSystem

    spec = normalise(spec)
    root = spec.repo
    try:
        fs = DVCFileSystem(root, rev=spec.rev)
        fs.ls("/")
    except Exception as exc:  # DVC raises many kinds; all mean "cannot open this revision"
        raise InputError(f"{root}: cannot open revision {spec.rev!r} with DVC ({str(exc).splitlines()[0]})") from exc
    return fs, spec.path


def build_manifest_at_rev(spec, source=None, batch=None):
    """Read and hash ``spec.path`` as of ``spec.rev`` (tables as in ``table_files.py``; trees by name).

    Raises:
        InputError: as for a local dataset, the message naming the revision.
    """
    from provenance.sources.build import check_parts, merge_parts, resolve_kind
    from provenance.sources.interface import HashedDataset

    fs, path = open_fs(spec)
    local = type(spec)(path=path, kind=spec.kind, options=spec.options, labels_csv=spec.labels_csv, rev=spec.rev)
    try:
        kind = resolve_kind(local, fs)
        if kind == "table":
            files = table_files.list_table_files(path, fs, spec.options.reader_version)
            prefix = len(files.files) > 1 or files.is_folder
            parts = [tables.hash_table_file(f, spec.options, None, prefix, fs) for f in files.files]
            algorithm, n_files = spec.options.digest_algorithm, len(files.files)
        else:
            parts = [_hash_tree(fs, path)]
            algorithm, n_files = trees.DIGEST_ALGORITHM, len(parts[0])
        columns, types, label_type, label_kind = check_parts(parts, spec)
    except InputError as exc:
        raise InputError(f"{exc} (at revision {spec.rev})") from exc
    parts = [p.finish(source) for p in parts]
    manifest = merge_parts(parts, algorithm, batch)
    return HashedDataset(manifest, kind, columns, n_files, spec, types, label_type, label_kind)


def _hash_tree(fs, root: str) -> HashedPart:
    digests, labels, locators = bytearray(), [], []
    for full in sorted(fs.find(root)):
        rel = PurePosixPath(full).relative_to(root)
        if any(p.startswith(".") for p in rel.parts):
            continue
        if len(rel.parts) < 2:
            raise InputError(f"{full}: file is not inside a <label>/ folder of {root}")
        with fs.open(full, "rb") as fh:
            digests += hashlib.file_digest(fh, "sha256").digest()
        labels.append(rel.parts[0])
        locators.append(rel.as_posix())
    if not labels:
        raise InputError(f"{root}: no files in <label>/ folders")
    return HashedPart(
        bytes(digests),
        pa.array(labels, pa.string()),
        pa.nulls(len(labels), pa.string()),
        pa.array(locators, pa.string()),
    )
