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
from provenance.store.schema import changed_definitions, expected_columns, is_prov_object

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


def foreign_objects(conn: sqlite3.Connection) -> list[str]:
    """The schema objects of the database on ``conn`` that prov did not create, each as ``"trigger NAME on TABLE"``,
    ``"view NAME"``, ``"table NAME"`` or ``"index NAME on TABLE"``; empty for an honest store.

    One query on ``sqlite_master``. What counts as prov's is ``schema.is_prov_object``: every trigger and view is
    foreign (prov makes none), and so is any table or index outside ``prov init``'s and the on-demand tables', and
    any ``sqlite_`` object SQLite would not have made so (attack review 17, F17-3).
    """
    return [label for _, _, label in foreign_rows(conn)]


def foreign_rows(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """:func:`foreign_objects` as ``(type, name, label)``, ``label`` being how that function names the object."""
    return foreign_in(master_rows(conn))


def foreign_in(master: list[tuple[str, str, str | None, str | None]]) -> list[tuple[str, str, str]]:
    """:func:`foreign_rows` of rows ``(type, name, tbl_name, sql)`` already read from ``sqlite_master``, by type
    and name."""
    found = []
    for kind, name, table, sql in sorted(master, key=lambda r: (r[0], r[1])):
        if not is_prov_object(kind, name, table, sql):
            on = f" on {table}" if kind in ("trigger", "index") and table else ""
            found.append((kind, name, f"{kind} {name}{on}"))
    return found


def undroppable(kind: str, name: str) -> str | None:
    """Why SQL cannot drop the schema object ``(kind, name)``, or None when ``drop KIND "NAME"`` can: a name holding
    a NUL byte (set through ``pragma writable_schema``; no SQL statement can name it), or a table named
    ``sqlite_...`` other than ``sqlite_stat...`` (SQLite refuses to drop those: "may not be dropped")."""
    if "\x00" in name:
        return "its name holds a NUL byte, which no SQL statement can name"
    if kind == "table" and name.lower().startswith("sqlite_") and not name.lower().startswith("sqlite_stat"):
        return "SQLite refuses to drop a table named sqlite_..."
    return None


def refuse_foreign(db_path: Path, found: list[str]) -> StoreError:
    """The ``StoreError`` (exit 3) refusing a store whose ``prov.db`` holds the foreign objects ``found``."""
    return StoreError(
        f"{db_path}: holds schema objects prov did not create ({'; '.join(found)}), which can change or undo what "
        "prov writes and reads; refusing the store: `prov fsck` lists them, `prov fsck --repair` drops them "
        "(or, for one SQLite cannot drop, says to restore .prov/ from a copy you trust)"
    )


def refuse_changed(db_path: Path, changed: list[str]) -> StoreError:
    """The ``StoreError`` (exit 3) refusing a store whose ``prov.db`` holds prov's tables ``changed`` with a
    ``CREATE`` statement prov never wrote (``schema.changed_definitions``)."""
    return StoreError(
        f"{db_path}: the definition of {'; '.join(changed)} is not one prov writes (edited in sqlite_master, it can "
        "make SQLite drop or change what prov writes); refusing the store: `prov fsck` shows more, and restoring "
        ".prov/ from a copy you trust mends it"
    )


def master_rows(conn: sqlite3.Connection) -> list[tuple[str, str, str | None, str | None]]:
    """Every row of ``sqlite_master`` on ``conn`` as ``(type, name, tbl_name, sql)``, in one query."""
    return conn.execute("select type, name, tbl_name, sql from sqlite_master").fetchall()


def schema_refusal(db_path: Path, master: list[tuple[str, str, str | None, str | None]]) -> StoreError | None:
    """Why every command but ``prov fsck`` refuses the database ``db_path`` whose ``sqlite_master`` rows are
    ``master`` (:func:`master_rows`), or None for an honest store: objects prov did not create
    (:func:`refuse_foreign`), else prov's tables with a definition prov never wrote (:func:`refuse_changed`)."""
    found = [label for _, _, label in foreign_in(master)]
    if found:
        return refuse_foreign(db_path, found)
    changed = changed_definitions(master)
    return refuse_changed(db_path, changed) if changed else None


def harden(conn: sqlite3.Connection) -> None:
    """Tell SQLite to trust nothing the database file's schema asks for: ``pragma trusted_schema = off`` (no SQL
    function with side effects from a view or trigger, https://sqlite.org/pragma.html#pragma_trusted_schema),
    and, where Python offers ``Connection.setconfig`` (3.12+), triggers and views turned off for this connection
    (``SQLITE_DBCONFIG_ENABLE_TRIGGER``/``_VIEW``). prov makes neither, so an honest store does not notice."""
    conn.execute("pragma trusted_schema = off")
    setconfig = getattr(conn, "setconfig", None)
    if setconfig is not None:  # Python 3.12+; on 3.11 the refusal of foreign objects stands alone
        for option in ("SQLITE_DBCONFIG_ENABLE_TRIGGER", "SQLITE_DBCONFIG_ENABLE_VIEW"):
            if hasattr(sqlite3, option):
                setconfig(getattr(sqlite3, option), False)


def connect(db_path: Path, timeout: float, foreign_ok: bool = False) -> sqlite3.Connection:
    """A connection to the store database ``db_path`` (autocommit; waits up to ``timeout`` seconds on a lock).

    Its text is decoded by :func:`decode_text`, the connection is :func:`harden`-ed, and every table's
    columns are checked against prov's schema here (a renamed column would surface later as a ``KeyError``
    deep in a command). A database holding a trigger, view, table or index prov did not create
    (:func:`foreign_objects`; attack review 16b, B16-2: a trigger that deleted the ``trust.revoke`` entry as
    it was written), or one of prov's tables with a ``CREATE`` statement prov never wrote
    (``schema.changed_definitions``), is refused unless ``foreign_ok`` (``prov fsck``, which reports them):
    :func:`schema_refusal`.

    Raises:
        StoreError: the database cannot be read (corrupt, not SQLite, a damaged schema), holds
            text that is not UTF-8, holds schema objects prov did not create or a table of prov's whose
            definition was changed, or a table lacks a column prov's schema gives it (exit 3).
    """
    try:
        conn = sqlite3.connect(db_path, isolation_level=None, timeout=timeout)
        conn.text_factory = functools.partial(decode_text, db_path)
        harden(conn)
        objects = master_rows(conn)  # corruption shows here
        expected = expected_columns()
        for table in (
            name for kind, name, _, _ in objects if kind == "table" and name in expected
        ):  # prov's names only; a lost column is named as such, before the definition it was edited out of
            missing = expected.get(table, set()) - {r[1] for r in conn.execute(f"pragma table_info([{table}])")}
            if missing:
                conn.close()
                raise StoreError(
                    f"{db_path}: table {table} lacks column(s) {', '.join(sorted(missing))} "
                    "(damaged or not a prov store; run `prov fsck`)"
                )
        refusal = None if foreign_ok else schema_refusal(db_path, objects)
        if refusal is not None:
            conn.close()
            raise refusal
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # the schema itself may be damaged
        raise StoreError(f"{db_path}: cannot open store database ({exc})") from exc
    return conn
