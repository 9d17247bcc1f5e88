"""fsck of ``prov.db`` itself: SQLite's own integrity check, then the schema against the one
``prov init`` creates (a flipped byte in an index or a table definition is caught here)."""

from __future__ import annotations

import functools

from provenance.fsck.problems import Inspection
from provenance.store.schema import ON_DEMAND_TABLES, create_schema
from provenance.store.sqlite import sqlite_utils


def check_database(insp: Inspection) -> None:
    """Run ``pragma integrity_check``; then compare every table, index and the meta row with prov's schema."""
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
    for key in sorted(set(actual) - set(expected)):
        if not key[1].startswith("sqlite_"):
            insp.warn("schema", f"prov.db: {key[0]} {key[1]} is not part of prov's schema")
    meta = dict(db.execute("select key, value from meta").fetchall())
    if meta != {"format": "1"}:
        insp.error("schema", f"prov.db: meta table is {meta}, expected {{'format': '1'}}")


def _norm(sql: str) -> str:
    return " ".join(sql.split())


@functools.cache
def on_demand_schema() -> dict[tuple[str, str], str]:
    """``(type, name) -> sql`` of the tables a store makes on first use (``schema.ON_DEMAND_TABLES``)."""
    db = sqlite_utils.Database(memory=True, execute_plugins=False)
    for create in ON_DEMAND_TABLES.values():
        create(db)
    schema = {(t, n): (sql or "") for t, n, sql in db.execute("select type, name, sql from sqlite_master")}
    db.conn.close()
    return schema


def expected_schema() -> dict[tuple[str, str], str]:
    """``(type, name) -> sql`` of every table and index ``prov init`` creates, read from a fresh in-memory store."""
    db = sqlite_utils.Database(memory=True, execute_plugins=False)
    create_schema(db)
    schema = {(t, n): (sql or "") for t, n, sql in db.execute("select type, name, sql from sqlite_master")}
    db.conn.close()
    return schema
