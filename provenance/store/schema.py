"""The store's SQLite schema: every table ``prov init`` creates, in one place.

- ``versions``, ``keys``, ``audit``, ``meta``: versions, registered keys, the hash-chained log.
- ``trust``: which public keys may sign batches for which source, each with a validity
  window and an optional revocation. Several rows per source is key rotation.
- ``batches``: every registered batch, signed or not, with its manifest and envelope
  objects; ``batch_records`` indexes their records by digest for ``prov lineage``.
- ``version_lineage``: per version, the Parquet object classifying each record and its
  counts (the same counts are signed in the version's predicate).
- ``profiles``, ``detector_runs``, ``findings``, ``waivers``, ``attestations``: detection and the gate.

Tables added after a store format was published are made on first use, not by
``prov init``, so stores made before open unchanged: they are listed in
``ON_DEMAND_TABLES`` (name -> creator), which ``prov fsck`` accepts missing but checks
when present.

- ``trust_statements``: which trust entries a maintainer signed (``prov trust add --key``),
  naming the DSSE envelope object (``provenance.trust.statements``).
- ``checkpoints``: signed tree heads over the audit log (``provenance.store.checkpoints``);
  a store made before them gets the table with its first checkpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from provenance.store.schema_texts import known_texts
from provenance.store.sqlite import sqlite_utils

FORMAT = "1"


def create_schema(db: sqlite_utils.Database) -> None:
    """Create every table of a new store (called once, inside ``prov init``)."""
    db.table("meta").create({"key": str, "value": str}, pk="key")
    db.table("versions").create(
        {
            "tag": str,
            "parent": str,
            "created_at": str,
            "merkle_root": str,
            "records": int,
            "manifest_object": str,
            "envelope_object": str,
            "keyid": str,
            "dataset": str,  # JSON DatasetSpec, so verify can read the records again
            "kind": str,
            "audit_seq": int,
        },
        pk="tag",
        not_null={"created_at", "merkle_root", "records", "manifest_object", "envelope_object", "keyid"},
    )
    db.table("keys").create(
        {"keyid": str, "name": str, "public_pem": str, "registered_at": str, "revoked_at": str}, pk="keyid"
    )
    db.table("audit").create(
        {"seq": int, "ts": str, "action": str, "subject": str, "detail": str, "prev_hash": str, "hash": str},
        pk="seq",
        not_null={"ts", "action", "hash", "prev_hash"},
    )
    # lineage: trust entries, batches and their records, each version's lineage object
    db.table("trust").create(
        {
            "source": str,
            "keyid": str,
            "name": str,  # the .pub file's stem, for people
            "public_pem": str,
            "added_at": str,
            "valid_from": str,
            "valid_until": str,
            "revoked_at": str,
            "revoked_reason": str,
        },
        pk=("source", "keyid"),
        not_null={"public_pem", "added_at"},
    )
    db.table("batches").create(
        {
            "batch": str,
            "source": str,
            "signed": int,
            "keyid": str,
            "merkle_root": str,
            "records": int,
            "labels": str,  # JSON {label: count}
            "manifest_object": str,
            "envelope_object": str,
            "captured_at": str,
            "added_at": str,
            "data": str,  # the path it was added from, relative to the store's folder when inside it
            "audit_seq": int,
        },
        pk="batch",
        not_null={"source", "signed", "merkle_root", "records", "manifest_object", "added_at"},
    )
    db.table("batch_records").create(
        {"digest": bytes, "label": str, "batch": str}, not_null={"digest", "label", "batch"}
    )
    db.table("batch_records").create_index(["digest"])
    db.table("version_lineage").create(
        {"tag": str, "object": str, "attested": int, "relabeled_after_source": int, "unattributed": int},
        pk="tag",
        not_null={"object"},
    )
    # detection and the gate: profiles, detector runs, findings, waivers, attestations
    db.table("profiles").create(
        {"version": str, "object": str, "featurizer": str, "dim": int, "sample": int}, pk="version"
    )
    db.table("detector_runs").create(
        {
            "run": str,
            "version": str,
            "base": str,
            "detector": str,
            "status": str,
            "error": str,
            "threshold": float,
            "scored": int,
            "flagged": int,
            "fpr": float,
            "created_at": str,
        },
        pk=("run", "detector"),
    )
    db.table("findings").create(
        {
            "run": str,
            "version": str,
            "base": str,
            "detector": str,
            "position": int,
            "digest": str,
            "label": str,
            "score": float,
            "flagged": int,
            "explanation": str,
        },
        pk=("run", "detector", "position"),  # position in the delta: one digest may carry two labels
    )
    db.table("findings").create_index(["version", "flagged"])
    db.table("waivers").create(
        {"object": str, "version": str, "digest": str, "detector": str, "keyid": str, "created_at": str}, pk="object"
    )
    db.table("attestations").create(
        {"object": str, "version": str, "base": str, "policy_digest": str, "keyid": str, "created_at": str}, pk="object"
    )
    db.table("meta").insert({"key": "format", "value": FORMAT})


CHECKPOINTS = "checkpoints"


def create_checkpoints_table(db: sqlite_utils.Database) -> None:
    """The ``checkpoints`` table (if it is not there yet): one row per signed tree head.

    ``object`` is the DSSE envelope's object id; ``size``/``root``/``head`` repeat what it
    signed (entries covered, RFC 9162 root hash, chain hash of the last covered entry).
    """
    db.table(CHECKPOINTS).create(
        {"object": str, "size": int, "root": str, "head": str, "keyid": str, "created_at": str},
        pk="object",
        not_null={"size", "root", "head", "keyid", "created_at"},
        if_not_exists=True,
    )


def create_trust_statements(db: sqlite_utils.Database) -> None:
    """``trust_statements`` (source, keyid, object, signer, added_at), if the store has none yet."""
    if "trust_statements" not in db.table_names():
        db.table("trust_statements").create(
            {"source": str, "keyid": str, "object": str, "signer": str, "added_at": str},
            pk=("source", "keyid"),
            not_null={"object", "signer"},
        )


ON_DEMAND_TABLES: dict[str, Callable[[sqlite_utils.Database], None]] = {
    "trust_statements": create_trust_statements,
    CHECKPOINTS: create_checkpoints_table,
}
"""Tables created on first use (name -> creator), after ``create_schema``'s."""


def _master(db: sqlite_utils.Database) -> dict[tuple[str, str], str]:
    return {(t, n): (sql or "") for t, n, sql in db.execute("select type, name, sql from sqlite_master")}


@functools.cache
def _schemas() -> tuple[
    dict[tuple[str, str], str],
    dict[tuple[str, str], str],
    dict[str, set[str]],
    dict[str, str],
    dict[str, str],
]:
    """``create_schema``'s objects, the on-demand tables' objects, every table's columns, the
    ``sqlite_autoindex_TABLE_N`` indexes SQLite makes for their UNIQUE and PRIMARY KEY constraints (name -> table),
    and prov's own indexes (name -> table), from one in-memory store built once per process."""
    db = sqlite_utils.Database(memory=True, execute_plugins=False)
    create_schema(db)
    made = _master(db)
    for create in ON_DEMAND_TABLES.values():
        create(db)
    later = {key: sql for key, sql in _master(db).items() if key not in made}
    columns = {t: set(db[t].columns_dict) for t in db.table_names()}
    autoindexes = {
        name: table
        for kind, name, table in db.execute("select type, name, tbl_name from sqlite_master")
        if kind == "index" and name.startswith("sqlite_autoindex_")
    }
    indexes = {
        name: table
        for kind, name, table in db.execute("select type, name, tbl_name from sqlite_master")
        if kind == "index" and not name.startswith("sqlite_")
    }
    db.conn.close()
    return made, later, columns, autoindexes, indexes


def expected_schema() -> dict[tuple[str, str], str]:
    """``(type, name) -> sql`` of every table and index ``prov init`` creates, read from a fresh in-memory store."""
    return dict(_schemas()[0])


def on_demand_schema() -> dict[tuple[str, str], str]:
    """``(type, name) -> sql`` of the tables (and their indexes) a store makes on first use (:data:`ON_DEMAND_TABLES`)."""
    return dict(_schemas()[1])


def prov_indexes() -> dict[str, tuple[str, str]]:
    """``index name -> (table, CREATE statement)`` of prov's own indexes (not SQLite's ``sqlite_autoindex_``), as
    this install makes them: what ``prov fsck --repair`` makes again when one is missing."""
    made = _schemas()[0] | _schemas()[1]
    return {name: (table, made[("index", name)]) for name, table in _schemas()[4].items()}


def expected_columns() -> dict[str, set[str]]:
    """``table -> column names`` of every table prov creates (``prov init``'s and the on-demand ones)."""
    return _schemas()[2]


SQLITE_OWN_TABLES: dict[str, str] = {
    "sqlite_sequence": "CREATE TABLE sqlite_sequence(name,seq)",
}
"""The tables SQLite makes itself for prov's schema and the ``sql`` it gives them (https://sqlite.org/fileformat2.html
§2.6: an AUTOINCREMENT table's counters). ``ANALYZE``'s statistics (``sqlite_stat1``, ``sqlite_stat4``) are not
among them: prov never runs ``ANALYZE`` or ``pragma optimize``, and their rows, which anyone can write, steer
SQLite's query planner, onto an index whose pages a ``.prov/`` writer desynchronised from its table, say (attack
review 18, F18-5); so a store holding them is refused like any object prov did not create (``prov fsck --repair``
drops them)."""


def is_prov_object(kind: str, name: str, table: str | None, sql: str | None) -> bool:
    """Whether a row of ``sqlite_master`` (its ``type``, ``name``, ``tbl_name`` and ``sql``) is an object prov
    creates, or one SQLite makes itself for it as SQLite makes it: ``sqlite_sequence`` with SQLite's own ``sql``
    (:data:`SQLITE_OWN_TABLES`; not ``ANALYZE``'s ``sqlite_stat`` tables), or the ``sqlite_autoindex_TABLE_N``
    of one of prov's tables' constraints, on that table and with no ``sql``.

    Anything else (any trigger or view, another table or index, an object renamed to a ``sqlite_`` name through
    ``pragma writable_schema``: attack review 17, F17-3) was put there by someone else: prov makes no triggers or
    views, and a trigger can change or undo what a command writes (attack review 16b, B16-2); a planted UNIQUE
    index makes an ``INSERT OR REPLACE`` delete another row.
    """
    if name.startswith("sqlite_"):
        if kind == "table":
            return table == name and name in SQLITE_OWN_TABLES and sql == SQLITE_OWN_TABLES[name]
        return kind == "index" and sql is None and table is not None and _schemas()[3].get(name) == table
    if kind == "index":  # on its own table and with a text prov wrote (attack review 17c, F2: a UNIQUE index
        # planted under a prov index's name makes an INSERT OR REPLACE delete other rows)
        return table is not None and _schemas()[4].get(name) == table and sql_is_prov(kind, name, sql)
    if kind == "table" and table != name:
        return False
    return (kind, name) in _schemas()[0] or (kind, name) in _schemas()[1]


def sql_is_prov(kind: str, name: str, sql: str | None) -> bool:
    """Whether ``sql`` is a ``CREATE`` statement prov has written for its table or index ``(kind, name)``: one of
    ``schema_texts.known_texts`` (every text prov has written, by the sqlite-utils a store was made with) or the
    one this install makes (``create_schema``, the on-demand creators). False for any other object."""
    if sql is None:
        return False
    made = _schemas()[0].get((kind, name)) or _schemas()[1].get((kind, name))
    return sql == made or sql in known_texts().get((kind, name), ())


def changed_definitions(master: list[tuple[str, str, str | None, str | None]]) -> list[str]:
    """prov's tables, among rows ``(type, name, tbl_name, sql)`` of ``sqlite_master``, whose ``CREATE`` statement
    is not one prov has written (:func:`sql_is_prov`), each as ``"table NAME"``, by name; empty for an honest store.

    SQLite parses that text at every open, so an edited one (``pragma writable_schema``) is an edited table: a
    dropped ``NOT NULL``, ``PRIMARY KEY`` or default, or a generated column ``UNIQUE ON CONFLICT IGNORE`` that makes
    SQLite drop an insert without an error (attack review 16b, B16-2). prov's indexes with another text are not
    listed here: :func:`is_prov_object` does not count them as prov's (``prov fsck --repair`` drops them and makes
    prov's again)."""
    return sorted(
        f"table {name}"
        for kind, name, table, sql in master
        if kind == "table"
        and table == name
        and ((kind, name) in _schemas()[0] or (kind, name) in _schemas()[1])
        and not sql_is_prov(kind, name, sql)
    )
