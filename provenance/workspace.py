"""The folder a store lives in: ``prov init`` makes the store and its ignore rules.

``.prov/`` may be committed to git (its database, objects and the empty ``lock`` file,
which a clone needs to write), but never what an interrupted or running write leaves:
SQLite's journal files, the temporary files objects are written through, a half-made
``prov init``. ``.prov/.gitignore`` names those, so nobody's own ``.gitignore`` is
edited. ``prov.db`` is binary and git cannot merge it: the README ("Where the store
lives") says how a team keeps one writer.
"""

from __future__ import annotations

import os
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
