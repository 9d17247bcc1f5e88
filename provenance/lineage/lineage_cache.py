"""Lineage tables read once per check: a version's signed lineage, and that lineage judged under the pins.

A check reads the lineage of the base, the candidate and the base's ancestry from many rules (who owns a
relabeled record, what was held before, removed twins, removals, the lineage rules); each read verified the
version's statement, read and decoded its lineage object, paired it with the manifest's digests and, for the
judged lineage, read and verified every batch it names and classified the records again. Within a
:func:`lineage_cache` block (the release gate's) each table is built once per store handle, state of
``prov.db`` and pins (``identity.read_state``: a change through this connection or committed by another process
is read afresh; other pins are another key) and version. Nothing is kept on disk or across processes: the block
ends with the check. A later read still checks what the first relied on, as ``version_facts.statement_cache``
does: the version's statement is verified again (once per block: its envelope's object re-read and re-hashed)
and every object the table was built from is read and re-hashed again, so one deleted or altered since is
refused as when first read. A failure is never kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from provenance.store import identity
from provenance.store.store import Store
from provenance.version_facts import verified_statement


@dataclass(frozen=True)
class KeptLineage:
    """One table kept, with the objects (``(object id, what it is)``) it was built from, and the store handle, pins
    and connection its key names by id (kept alive so no other object takes their ids meanwhile)."""

    table: pa.Table
    objects: tuple[tuple[str, str], ...]
    holds: tuple[Any, ...]


_KEPT: ContextVar[dict[tuple, KeptLineage] | None] = ContextVar("prov_kept_lineage", default=None)


@contextmanager
def lineage_cache() -> Iterator[None]:
    """Within the block, :func:`kept_lineage` builds each table once per store, pins, state of ``prov.db`` and
    version; what it kept is dropped when the block ends; a block inside another starts empty."""
    token = _KEPT.set({})
    try:
        yield
    finally:
        _KEPT.reset(token)


def kept_lineage(
    kind: str, store: Store, tag: str, build: Callable[[], tuple[pa.Table, tuple[tuple[str, str], ...]]]
) -> pa.Table:
    """The table ``build()`` returns for version ``tag`` (``kind``: which table, e.g. ``"signed"``), built once per
    :func:`lineage_cache` block; outside a block, built at every call.

    ``build`` returns ``(table, objects)``: the table and the ``(object id, what it is)`` of every object it read.
    On a later call in the block the version's statement is verified (``version_facts.verified_statement``) and
    each of those objects read and re-hashed again before the kept table is returned. Raises what ``build``
    raises (nothing is kept then), ``InputError`` for an unknown version, and ``VerificationError`` for a
    statement that no longer verifies or an object missing or altered since it was read.
    """
    cache = _KEPT.get()
    if cache is None:
        return build()[0]
    key = (kind, id(store), identity.read_state(store), tag)
    kept = cache.get(key)
    if kept is None:
        table, objects = build()
        cache[key] = KeptLineage(table, objects, (store, getattr(store, "pins", None), store.db.conn))
        return table
    verified_statement(store, store.version(tag))
    for oid, what in kept.objects:
        store.objects.get(oid, what)
    return kept.table
