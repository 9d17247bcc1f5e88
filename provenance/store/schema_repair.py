"""``prov fsck --repair`` of ``prov.db``'s schema: drop what prov did not create.

Every other command refuses a store holding a trigger, view, table or index prov did not create
(``opening.schema_refusal``); the repair drops those.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from provenance.errors import StoreError
from provenance.store.opening import foreign_rows, undroppable

if TYPE_CHECKING:
    from provenance.store.store import Store

_DROP_ORDER = {"trigger": 0, "view": 1, "index": 2, "table": 3}  # a table's drop takes its own indexes


def repair_schema(store: Store) -> list[str]:
    """Drop every trigger, view, table and index of ``store``'s ``prov.db`` prov did not create
    (``opening.foreign_rows``, read again under the lock), in one transaction under the store's write lock.
    prov's own objects and SQLite's are never dropped, nor one SQL cannot drop (``opening.undroppable``: fsck
    says to restore ``.prov/`` from a copy instead).

    Returns:
        The objects dropped, as ``opening.foreign_objects`` names them.

    Raises:
        StoreBusyError, StoreError: as ``Store.locked``; ``StoreError`` (exit 3) when SQLite refuses a drop
            (the store is then as it was).
    """
    dropped: list[str] = []
    with store.locked():
        conn = store.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for kind, name, label in sorted(foreign_rows(conn), key=lambda r: _DROP_ORDER.get(r[0], 4)):
                if kind in _DROP_ORDER and undroppable(kind, name) is None:  # fsck says to restore .prov/ for the rest
                    conn.execute(f'drop {kind} if exists "{name.replace(chr(34), chr(34) * 2)}"')
                    dropped.append(label)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(f"{store.root / 'prov.db'}: cannot repair the schema ({exc})") from exc
            raise
    return dropped
