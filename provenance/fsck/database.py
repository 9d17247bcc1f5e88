"""fsck of ``prov.db`` itself: SQLite's own integrity check, then the schema against the one
``prov init`` creates (a flipped byte in an index or a table definition is caught here), and any trigger,
view, table or index prov did not create, which every other command refuses (``store.opening.foreign_objects``)."""

from __future__ import annotations

from provenance.fsck.problems import Inspection
from provenance.store.identity import META_KEY
from provenance.store.opening import foreign_rows, undroppable
from provenance.store.schema import expected_schema, on_demand_schema

__all__ = ["check_database", "expected_schema", "on_demand_schema"]


def check_database(insp: Inspection) -> None:
    """Run ``pragma integrity_check``; then compare every table, index and the meta row with prov's schema.

    A trigger, view, table or index prov did not create is a ``schema`` error (attack review 16b, B16-2: a
    trigger deleted the ``trust.revoke`` entry as it was written), marked repairable: ``prov fsck --repair``
    drops it (``Store.drop_foreign_objects``), unless SQL cannot (``opening.undroppable``: a NUL in its name, a
    ``sqlite_`` table), when the error says to restore ``.prov/`` from a copy the user trusts."""
    db = insp.db
    problems = [r[0] for r in db.execute("pragma integrity_check")]
    if problems != ["ok"]:
        for p in problems[:5]:
            insp.error("database", f"prov.db: SQLite integrity check: {p}")
        return
    expected = expected_schema()
    actual = {(t, n): (sql or "") for t, n, sql in db.execute("select type, name, sql from sqlite_master")}
    later = on_demand_schema()
    expected |= {key: sql for key, sql in later.items() if key in actual}  # made on first use: checked if present
    for key, sql in expected.items():
        if key not in actual:
            insp.error("schema", f"prov.db: {key[0]} {key[1]} is missing or renamed")
        elif _norm(actual[key]) != _norm(sql):
            insp.error("schema", f"prov.db: the definition of {key[0]} {key[1]} was changed")
    for kind, name, label in foreign_rows(db.conn):
        why = undroppable(kind, name)
        insp.error(
            "schema",
            f"prov.db: {label} is not part of prov's schema (prov makes no triggers or views; one can change or "
            "undo what a command writes, so every other command refuses the store): "
            + (
                "`prov fsck --repair` drops it"
                if why is None
                else f"`prov fsck --repair` cannot drop it ({why}): restore .prov/ from a copy you trust"
            ),
            repairable=why is None,
        )
    meta = dict(db.execute("select key, value from meta").fetchall())
    meta.pop(META_KEY, None)  # the store id: judged against signed history by fsck.store_id (attack review 17b)
    if meta != {"format": "1"}:
        insp.error("schema", f"prov.db: meta table is {meta}, expected {{'format': '1'}}")


def _norm(sql: str) -> str:
    return " ".join(sql.split())
