"""DVC's cache as seen from a workspace: a link into it is how DVC stores a file, not a link that leaves the tree.

With ``cache.type = symlink`` (or ``hardlink``) ``dvc add`` / ``dvc checkout`` replace each
tracked file by a link to its object in the cache (``.dvc/cache/files/md5/ab/cdef...``, or
``cache.dir``). A loader follows the link and reads the object's bytes, so prov does too;
only links to a DVC object of the repository that holds the tree qualify (a path under the
cache folder whose two last parts are the md5 split 2 + 30 hex digits), so a link to any
other file outside the tree is still refused. No DVC code is imported: the cache folder
comes from ``.dvc/config`` and ``.dvc/config.local`` (``[cache] dir``, relative to ``.dvc/``).
"""

from __future__ import annotations

import functools
import os
import re

_OBJECT = re.compile(r"[0-9a-f]{2}/[0-9a-f]{30}(\.dir)?")


def _cache_dir_setting(config: str) -> str | None:
    """``dir`` of the ``[cache]`` section of a DVC config file (``None`` if it sets none)."""
    try:
        with open(config, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    section, found = None, None
    for line in lines:
        text = line.strip()
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1].strip().strip("'\"")
        elif section == "cache" and "=" in text:
            key, _, value = text.partition("=")
            if key.strip() == "dir":
                found = value.strip().strip("'\"")
    return found


def project_root(start: str) -> str | None:
    """The folder holding the ``.dvc/`` of the DVC repository that holds ``start`` (a real path), or ``None``:
    the nearest folder, ``start`` or above it, with a ``.dvc`` folder, as DVC finds its root."""
    folder = start
    while True:
        if os.path.isdir(os.path.join(folder, ".dvc")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


@functools.lru_cache(maxsize=64)
def cache_folders(start: str) -> tuple[str, ...]:
    """The real paths of the DVC cache folder of the repository holding ``start`` (a real path), or ``()``."""
    root = project_root(start)
    if root is None:
        return ()
    dvc = os.path.join(root, ".dvc")
    setting = _cache_dir_setting(os.path.join(dvc, "config.local")) or _cache_dir_setting(os.path.join(dvc, "config"))
    cache = os.path.join(dvc, setting) if setting else os.path.join(dvc, "cache")
    return (os.path.realpath(cache),)


def is_cache_object(root_real: str, target_real: str) -> bool:
    """Whether ``target_real`` (a link's resolved path) is a regular file that is a DVC object in the cache
    of the repository holding the tree at ``root_real``."""
    for cache in cache_folders(root_real):
        if target_real.startswith(cache + os.sep):
            rest = target_real[len(cache) + 1 :].replace(os.sep, "/")
            tail = "/".join(rest.split("/")[-2:])
            return bool(_OBJECT.fullmatch(tail)) and os.path.isfile(target_real)
    return False
