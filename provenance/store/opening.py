"""Finding a store and opening its database: where ``.prov/`` is, and a connection that reads it safely.

``find_store`` looks for ``.prov/`` (``$PROV_STORE``, else this folder or a parent);
``connect`` opens ``prov.db`` with the checks every command relies on (its text is UTF-8,
every column prov's schema gives a table is there), so damage surfaces as one
``StoreError`` when the store opens, not as a ``KeyError`` deep in a command. ``store.py``
builds the ``Store`` on them.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from pathlib import Path

from provenance.errors import InputError, StoreError
from provenance.store import dvc_links
from provenance.store.schema import create_schema
from provenance.store.sqlite import sqlite_utils

STORE_DIR = ".prov"
STORE_ENV = "PROV_STORE"


def decode_text(db_path: Path, raw: bytes) -> str:
    """``raw`` text from ``db_path`` as a ``str`` (the connection's ``text_factory``, bound to its path).

    prov writes only UTF-8; anything else is damage, reported as such rather than a crash:
    raises ``StoreError`` (exit 3) naming the database.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StoreError(f"{db_path}: the database holds text that is not UTF-8 (damaged; run `prov fsck`)") from None


@functools.lru_cache(maxsize=1)
def _expected_columns() -> dict[str, set[str]]:
    """Column names of every table ``prov init`` creates, from the schema code itself."""
    db = sqlite_utils.Database(memory=True, execute_plugins=False)
    create_schema(db)
    out = {t: set(db[t].columns_dict) for t in db.table_names()}
    db.conn.close()
    return out


def find_store(start: str | Path | None = None) -> Path:
    """The store's ``.prov/`` folder: ``$PROV_STORE`` (a ``.prov/`` folder or the folder holding one), else the
    nearest ``.prov/`` holding a ``prov.db`` in ``start`` (default: the working directory) or a parent.

    Raises:
        InputError: no store there or above (exit 2), or one kept in DVC and not checked out
            here (naming its ``.dvc`` file and the ``dvc`` command that fetches it).
    """
    env = os.environ.get(STORE_ENV)
    if env:
        path = Path(env)
        return path if path.name == STORE_DIR else path / STORE_DIR
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STORE_DIR / "prov.db").is_file():
            return folder / STORE_DIR
        tracked = dvc_links.tracking_file(folder, STORE_DIR)
        if tracked is not None:  # kept in DVC, not fetched into this checkout: `prov init` is the wrong advice
            store = shown_path(folder / STORE_DIR)
            raise dvc_links.not_checked_out(store, shown_path(tracked), f" (or `dvc checkout {store}`)")
    raise InputError(f"{here}: no prov store here or above; run 'prov init' first")


def shown_path(root: Path) -> str:
    """A path of the store (its folder, the DVC file tracking it) as a message names it: relative to the
    working directory when under it, else as given."""
    try:
        return str(root.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(root)


def connect(db_path: Path, timeout: float) -> sqlite3.Connection:
    """A connection to the store database ``db_path`` (autocommit; waits up to ``timeout`` seconds on a lock).

    Its text is decoded by :func:`decode_text`, and every table's columns are checked against
    prov's schema here (a renamed column would surface later as a ``KeyError`` deep in a command).

    Raises:
        StoreError: the database cannot be read (corrupt, not SQLite, a damaged schema), holds
            text that is not UTF-8, or a table lacks a column prov's schema gives it (exit 3).
    """
    try:
        conn = sqlite3.connect(db_path, isolation_level=None, timeout=timeout)
        conn.text_factory = functools.partial(decode_text, db_path)
        conn.execute("pragma journal_mode")  # touch the file so corruption shows up here
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        expected = _expected_columns()
        for table in tables:
            missing = expected.get(table, set()) - {r[1] for r in conn.execute(f"pragma table_info([{table}])")}
            if missing:
                raise StoreError(
                    f"{db_path}: table {table} lacks column(s) {', '.join(sorted(missing))} "
                    "(damaged or not a prov store; run `prov fsck`)"
                )
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # the schema itself may be damaged
        raise StoreError(f"{db_path}: cannot open store database ({exc})") from exc
    return conn
