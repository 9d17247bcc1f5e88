"""``prov fsck``: check every byte the store holds against what vouches for it, in this order.

Two things vouch for a store's contents: the SHA-256 name of each object, and, for the
rows of ``prov.db``, either a signed statement (versions) or the hash-chained audit log
(keys, trust, batches, the gate's tables), whose entries record what each write put in
its rows. One module per thing checked:

- ``objects``: every object re-hashed against its name; leftovers of interrupted writes;
- ``database``: SQLite's ``integrity_check`` and the schema ``prov init`` creates;
- ``audit_log``: the hash chain, then every row replayed against its audit entry
  (with ``gate_tables`` for detector runs, waivers and attestations);
- ``keys``: stored and trusted public keys against their key ids;
- ``versions``: each version's signature, signed facts, lineage and profile;
- ``batches``: each batch's manifest, root, indexed records and signature; orphan rows;
- ``quarantines``: quarantines made before they kept their removed rows, with no copy kept;
- ``trust_rows``: trust rows deleted while the log keeps their signed entry (restored by ``--repair``);
- ``store_id``: ``prov.db``'s store id against the pinned id or the id of record (restored by ``--repair``),
  and trust entries naming no store that a commit signs, or would sign, over;
- ``repair``: with ``repair=True``, removes the leftovers, under the store's write lock, and keeps
  a copy of such quarantines' removed rows.

Unreferenced objects and leftover temp files are warnings, not errors.
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any

from provenance.errors import InputError, StoreError
from provenance.fsck import audit_log, batches, database, keys, objects, quarantines, store_id, trust_rows, versions
from provenance.fsck.problems import FsckReport, Inspection
from provenance.fsck.repair import repair as remove_leftovers
from provenance.store.schema_repair import repair_schema
from provenance.store.store import Store


def fsck(root: str | Path, repair: bool = False, pins: Any = None) -> FsckReport:
    """Check the store at ``root`` (a ``.prov`` folder); with ``repair``, remove leftovers.

    Signatures are checked against ``pins`` (the verifier's ``provenance.trust.pins.Pins``;
    None: only against keys found in the store).

    Returns the report (``report.ok`` is False when any integrity error was found).
    Repair only ever removes unreferenced objects and temp files, and keeps a copy of the
    removed rows of quarantines made before quarantines kept them, and only when there is
    no integrity error (a damaged database could make a needed object look unreferenced).
    The errors it mends: a trigger, view, table or index prov did not create, which it drops first, making
    again in the same transaction each of prov's indexes that is missing (an impostor held its name)
    (``schema_repair.repair_schema``: never one of prov's or SQLite's own objects) unless SQLite's integrity
    check fails, then checks the store again; a missing, damaged or changed store id, written back from the
    pinned id or the id of record (``provenance.fsck.store_id``; not while the audit log is in error, a version's
    signed audit head is not in it, or the log and the versions disagree on the id); and trust rows deleted while the audit log
    names their signed trust entry, which verifies under ``pins``; it writes the rows back from the entry
    (``provenance.fsck.trust_rows``) even while other errors remain (they still block every
    removal), unless SQLite reports the database or schema damaged, and checks the store again.

    Raises:
        InputError: ``root`` is not a prov store (no ``prov.db``).
        StoreBusyError: with ``repair``, another command holds the write lock too long.
    """
    insp = Inspection(Path(root))
    insp.pins = pins
    restored: list[str] = []
    dropped: list[str] = []
    remade: list[str] = []
    try:
        report = _check(insp)
        foreign = any(p.check == "schema" and p.repairable for p in report.errors)
        if repair and insp.store is not None and foreign and not any(p.check == "database" for p in report.errors):
            # triggers, views, tables or indexes prov did not create (attack review 16b, B16-2): dropped first, so
            # nothing below writes while one stands; then everything is checked again
            gone, made = repair_schema(insp.store)
            dropped = [f"{label} from {Path(root) / 'prov.db'}" for label in gone]
            remade = [f"{label} in {Path(root) / 'prov.db'}" for label in made]  # prov's index, made again
            insp.store.close()
            insp = Inspection(Path(root))
            insp.pins = pins
            report = _check(insp)
        damaged_db = any(p.check in ("database", "schema") for p in report.errors)
        if repair and insp.store is not None and any(p.repairable for p in report.errors) and not damaged_db:
            # trust rows deleted while the log keeps their signed entries (attack review 15, A15-3): write them
            # back from the statements, whatever other errors remain (attack review 16, F2: restoring rows from a
            # verified statement removes nothing and adds no trust the log does not give), then check again
            restored = store_id.restore(insp.store, pins, report) + trust_rows.restore(insp.store, pins)
            insp.store.close()
            insp = Inspection(Path(root))
            insp.pins = pins
            report = _check(insp)
            report.restored += restored
        if repair and report.ok and insp.store is not None:
            quarantines.keep_old_quarantine_rows(insp.store, report)
            remove_leftovers(insp.store, report)
        report.repaired[:0] = dropped
        report.restored[:0] = remade
    finally:
        if insp.store is not None:
            insp.store.close()
    return report


def _check(insp: Inspection) -> FsckReport:
    db_path = insp.root / "prov.db"
    if not db_path.is_file():
        raise InputError(f"{insp.root}: not a prov store (no prov.db)")
    objects.check_files(insp)
    try:
        insp.store = Store(insp.root, inspect=True)  # foreign schema objects: reported, not refused
        insp.store.pins = insp.pins
        insp.store.db.execute("select count(*) from sqlite_master").fetchone()
    except (StoreError, sqlite3.DatabaseError) as exc:
        insp.error("database", f"{db_path}: cannot read the store database ({exc})")
        objects.check_objects(insp, referenced=None)
        return insp.report
    # One read transaction: the checks see one snapshot, so a commit landing halfway
    # through cannot look like a row without its audit entry (writers wait for us).
    insp.store.db.conn.execute("BEGIN")
    try:
        insp.guarded("database", lambda: database.check_database(insp))
        if any(p.check in ("database", "schema") for p in insp.report.errors):
            # A damaged schema or b-tree makes every later answer doubtful: check the
            # objects' own bytes, but do not call anything unreferenced.
            objects.check_objects(insp, referenced=None)
            return insp.report
        insp.guarded("audit", lambda: audit_log.check_audit(insp))
        insp.guarded("keys", lambda: keys.check_keys(insp))
        insp.guarded("trust", lambda: keys.check_trust(insp))
        insp.guarded("trust", lambda: trust_rows.check_statement_rows(insp))
        for row in insp.rows("versions", "audit_seq"):
            insp.guarded(f"version {row.get('tag')}", functools.partial(versions.check_version, insp, row))
        insp.guarded("store id", lambda: store_id.check_store_id(insp))  # after audit and versions: it reads them
        for row in insp.rows("batches", "audit_seq"):
            insp.guarded(f"batch {row.get('batch')}", functools.partial(batches.check_batch, insp, row))
        insp.guarded("batches", lambda: batches.check_batch_records_orphans(insp))
        insp.guarded("lineage", lambda: batches.check_lineage_rows(insp))
        insp.guarded("quarantines", lambda: quarantines.check_old_quarantines(insp))
        try:
            refs = objects.referenced_objects(insp.store.db)
        except sqlite3.Error as exc:
            insp.error("objects", f"cannot list referenced objects ({exc})")
            objects.check_objects(insp, None)
        else:
            for line in refs.unreadable:  # it may name any object: none is called unreferenced (or removed)
                insp.error("objects", f"{line}; no object is called unreferenced while it cannot be read")
            objects.check_objects(insp, refs.objects, complete=not refs.unreadable)
    finally:
        if insp.store.db.conn.in_transaction:
            insp.store.db.conn.execute("ROLLBACK")
        insp.report.checked = dict(insp.report.checked)
    return insp.report
