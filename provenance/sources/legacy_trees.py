"""Tree listings as reader version 1 made them, kept so versions signed then still verify.

Version 1 skipped every dot-file and dot-folder and did not follow folder links, and read
every other file below ``root/<label>/`` as a record; a file at the root was an error.
New versions follow a named loader's rules instead (``trees.py``). Trees on object storage
(fsspec) are still listed this way, by name.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from provenance.errors import InputError


def _inside(root_real: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real + os.sep)


def list_tree(root: str) -> list[tuple[str, str]]:
    """``(relative posix path, label)`` of every file under ``root/<label>/``, sorted (version 1).

    Raises:
        InputError: not a folder, a link that leaves the tree, a file at the root, no files.
    """
    if not os.path.isdir(root):
        raise InputError(f"{root}: not a folder")
    root_real = os.path.realpath(root)
    out: list[tuple[str, str]] = []
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


def list_tree_fs(fs, root: str) -> list[tuple[str, str]]:
    """The same listing on an fsspec filesystem, by name (dot-names skipped).

    Raises:
        InputError: not a folder, a name that climbs out, a file at the root, no files.
    """
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
