"""A store kept in DVC (``dvc add .prov``): the two ways a checkout of it can trip prov up.

Not fetched yet: ``.prov.dvc`` (or a ``dvc.lock`` output ``path: .prov``) sits where the store
would be, so the fix is ``dvc pull``, not ``prov init`` (newcomer review 13, finding 4).

Checked out as links: with ``cache.type = symlink`` or ``hardlink`` every file under ``.prov/``
is a link to its object in DVC's cache, and an in-place write of ``prov.db`` would change that
object, shared by every checkout using the cache (newcomer review 13, finding 14). prov writes
nothing else under ``.prov/`` in place (objects and ``.gitignore`` are new files renamed into
place; ``lock`` is only locked), so a write is refused while SQLite's files are links, and the
hint is ``dvc unprotect .prov`` (which gives each file its own copy). Reading needs no change.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from provenance.errors import InputError

# the files SQLite writes in place: the database and its journals
SQLITE_FILES = ("prov.db", "prov.db-journal", "prov.db-wal", "prov.db-shm")

_LOCK_OUT = re.compile(r"^\s*(?:-\s*)?path:\s*['\"]?\.prov/?['\"]?\s*$", re.MULTILINE)


def tracking_file(folder: Path, store_dir: str) -> Path | None:
    """The DVC file in ``folder`` that tracks ``folder/store_dir`` (``.prov.dvc``, or a ``dvc.lock``
    naming it as an output), or None."""
    pointer = folder / f"{store_dir}.dvc"
    if pointer.is_file():
        return pointer
    try:
        lock = (folder / "dvc.lock").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return folder / "dvc.lock" if _LOCK_OUT.search(lock) else None


def not_checked_out(store: str, tracked: str, then: str) -> InputError:
    """The error for a store (``store``, as a message names it) kept in DVC by ``tracked`` and not fetched."""
    return InputError(
        f"{store}: the store is tracked by DVC ({tracked}) and not checked out: run `dvc pull {store}`{then}"
    )


def shared_file(root: Path) -> tuple[Path, str] | None:
    """The first of ``root``'s SQLite files that is a symlink or has other hard links, with what
    writing through it would change; None when each is a file of its own (or absent)."""
    for name in SQLITE_FILES:
        path = root / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            return path, f"is a symlink to {os.path.realpath(path)}: writing it would change that file"
        if st.st_nlink > 1:
            return path, f"is a hard link ({st.st_nlink} names for one file): writing it would change every name"
    return None
