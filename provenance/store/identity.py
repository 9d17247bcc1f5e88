"""The store's identity: a random 128-bit id, made at ``prov init``, signed into trust entries and versions.

A trust entry's signed statement names the store it was signed for (``predicate.store``), and so does
each version's (attack review 16c, C16-2): a statement the same maintainer signed in another project is
then not a trust entry of this one, however a ``.prov/`` writer logs it here. The id is kept as the
``store_id`` row of the ``meta`` table (``prov init`` writes it; a store made before it gets one at the
first write that signs it: ``prov trust add``, ``retire``, ``commit``). That row is writable by whoever
writes ``.prov/``, so it is only a hint: the gate reads the id from the base version's signed statement
(``provenance.trust.scope``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from provenance.errors import StoreError

if TYPE_CHECKING:
    from provenance.store.store import Store

META_KEY = "store_id"
"""The ``meta`` row holding the id (the table ``prov init`` creates; no new table)."""

ID_BYTES = 16


def is_store_id(value: object) -> bool:
    """Whether ``value`` is a store id: 32 lowercase hex digits (128 bits)."""
    return isinstance(value, str) and len(value) == 2 * ID_BYTES and all(c in "0123456789abcdef" for c in value)


def create(db: Any) -> str:
    """Write a new random id into ``db``'s ``meta`` table (``prov init``, on the new database); returns it."""
    new = os.urandom(ID_BYTES).hex()
    db.execute("insert into meta (key, value) values (?, ?)", [META_KEY, new])
    return new


def store_id(store: Store) -> str | None:
    """The id the store's ``meta`` table holds (a hint: a ``.prov/`` writer can change it), or ``None`` for a
    store made before ids, or whose row is not an id (:func:`is_store_id`)."""
    row = store.db.execute("select value from meta where key = ?", [META_KEY]).fetchone()
    return row[0] if row is not None and is_store_id(row[0]) else None


def ensure(store: Store) -> str:
    """The store's id, written first when it has none (a store made before ids); call inside ``store.write()``.

    Raises:
        StoreError: the ``meta`` row is there but is not an id (damaged: ``prov fsck`` names it); prov never
            replaces an id, since statements already signed name it.
    """
    row = store.db.execute("select value from meta where key = ?", [META_KEY]).fetchone()
    if row is None:
        return create(store.db)
    if not is_store_id(row[0]):
        raise StoreError(f"{store.root / 'prov.db'}: meta {META_KEY} is {row[0]!r}, not a store id (run prov fsck)")
    return str(row[0])
