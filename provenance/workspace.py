"""The folder a store lives in: ``prov init`` makes the store and its ignore rules; ``prov keys generate``
keeps a private key it writes inside a git work tree out of git (:func:`ignore_private_key`).

``.prov/`` may be committed to git (its database, objects and the empty ``lock`` file,
which a clone needs to write), but never what an interrupted or running write leaves:
SQLite's journal files, the temporary files objects are written through, a half-made
``prov init``. ``.prov/.gitignore`` names those, so nobody's own ``.gitignore`` is
edited. ``prov.db`` is binary and git cannot merge it: the README ("Where the store
lives") says how a team keeps one writer.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from provenance.store import Store

GITIGNORE = (
    "# Written by `prov init`: what a running or interrupted prov write leaves, never part of the store.\n"
    "# prov.db is binary and git cannot merge it; the README ('Where the store lives') says what to do.\n"
    "prov.db-journal\n"
    "prov.db-wal\n"
    "prov.db-shm\n"
    ".prov.db.init\n"
    ".tmp-*\n"
    "*.tmp\n"
)


def init_workspace(where: str | os.PathLike[str] = ".") -> Store:
    """Create an empty store in ``where/.prov/`` with its ``.gitignore``, and open it (``prov init``).

    Raises ``InputError`` (exit 2) when a store already exists there; the existing store
    and its files are left as they were.
    """
    store = Store.init(Path(where))
    ignore = Path(store.root) / ".gitignore"
    tmp = ignore.with_name(".gitignore.tmp")
    tmp.write_text(GITIGNORE)
    os.replace(tmp, ignore)
    return store


def ignore_private_key(private: Path) -> Path | None:
    """Keep a private key just written inside a git work tree out of git: append ``/NAME.key`` to the
    ``.gitignore`` beside it (created if there is none). Returns that ``.gitignore``, or None when nothing
    was written: not in a git work tree (or no git), or git already ignores the key.

    Newcomer review 14, finding 12: ``prov keys generate keys/maintainer`` in a repository left
    ``keys/maintainer.key`` for ``git add -A``. Signing tools warn here (minisign, cosign); prov writes the
    ignore rule as well, and the caller says which file it wrote, since the user did not name it.
    Raises ``OSError`` when the ``.gitignore`` cannot be written.
    """
    folder = private.parent

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None

    inside = git("rev-parse", "--is-inside-work-tree")
    if inside is None or inside.returncode != 0 or inside.stdout.strip() != "true":
        return None
    ignored = git("check-ignore", "-q", "--", private.name)
    if ignored is None or ignored.returncode == 0:  # git cannot answer, or the user's rules already cover it
        return None
    ignore = folder / ".gitignore"
    existing = ignore.read_text() if ignore.is_file() else ""
    gap = "\n" if existing and not existing.endswith("\n") else ""
    with open(ignore, "a") as f:
        f.write(f"{gap}# a private key (prov keys generate): it stays with its holder, never in git\n/{private.name}\n")
    return ignore
