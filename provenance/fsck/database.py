"""fsck of ``prov.db`` itself: SQLite's own integrity check, then the schema against the one
``prov init`` creates (a flipped byte in an index or a table definition is caught here), and any trigger,
view, table or index prov did not create or table definition prov never wrote, which every other command refuses
(``store.opening.schema_refusal``)."""

from __future__ import annotations

from provenance.fsck.problems import Inspection
from provenance.store.identity import META_KEY
from provenance.store.opening import foreign_in, master_rows, undroppable
from provenance.store.schema import changed_definitions, expected_schema, on_demand_schema
from provenance.store.schema_repair import missing_indexes

__all__ = ["check_database", "expected_schema", "on_demand_schema"]


def check_database(insp: Inspection) -> None:
    """Run ``pragma integrity_check``; then compare every table, index and the meta row with prov's schema.

    A table of prov's whose ``CREATE`` statement is not one prov has written (``schema.changed_definitions``;
    every other command refuses the store) is a ``schema`` error to mend by restoring ``.prov/`` from a copy.
    A trigger, view, table or index prov did not create (attack review 16b, B16-2: a trigger deleted the
    ``trust.revoke`` entry as it was written; an index under a prov index's name with another statement) is a
    ``schema`` error marked repairable: ``prov fsck --repair`` drops it (``schema_repair.repair_schema``), unless
    SQL cannot (``opening.undroppable``: a NUL in its name, a ``sqlite_`` table), when the error says to restore
    ``.prov/`` from a copy the user trusts; and so is one of prov's indexes that is missing while its table is
    sound, which ``--repair`` makes again (``schema_repair.missing_indexes``)."""
    db = insp.db
    problems = [r[0] for r in db.execute("pragma integrity_check")]
    if problems != ["ok"]:
        for p in problems[:5]:
            insp.error("database", f"prov.db: SQLite integrity check: {p}")
        return
    expected = expected_schema()
    master = master_rows(db.conn)
    actual = {(kind, name) for kind, name, _, _ in master}
    later = on_demand_schema()
    expected |= {key: sql for key, sql in later.items() if key in actual}  # made on first use: checked if present
    remakeable = missing_indexes(db.conn)
    for key in expected:
        if key not in actual:
            insp.error(
                "schema",
                f"prov.db: {key[0]} {key[1]} is missing or renamed"
                + (": `prov fsck --repair` makes it again" if key[0] == "index" and key[1] in remakeable else ""),
                repairable=key[0] == "index" and key[1] in remakeable,
            )
    for changed in changed_definitions(master):
        insp.error(
            "schema",
            f"prov.db: the definition of {changed} is not one prov writes (edited in sqlite_master, it can make "
            "SQLite drop or change what prov writes; every other command refuses the store): restore .prov/ from "
            "a copy you trust",
        )
    for kind, name, label in foreign_in(master):
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
