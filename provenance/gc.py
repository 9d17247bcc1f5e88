"""``prov gc``: drop old detector runs and the scores of records nobody flagged; never a signed fact.

Every ``prov diff --detect`` and ``prov check`` stores a run: one ``detector_runs`` row
per detector (its summary: scored, flagged, threshold), one ``findings`` row per record the
combined verdict flagged, and the run's findings object (every scored record, in
``.prov/objects/``, named by the run's ``detect`` audit entry; what ``prov findings`` reads).
Runs stored before the object existed have a row per scored record and detector. ``gc``
keeps, for every version, its newest run(s) whole in summary, and of their rows only the
records the combined verdict flagged; older runs' rows go, and so do their findings objects
(deleted once the write that drops the runs has committed, its lock still held: a crash in between leaves
unreferenced objects, which ``prov fsck --repair`` removes). What goes is decided again under that lock, so a run
another prov writer committed since gc first looked is seen. Versions, manifests,
envelopes, lineage, profiles, waivers, attestations, checkpoints and the audit log are never
touched. The dropped runs are named in a ``gc`` audit entry, so ``prov fsck`` knows a logged
run that is gone was collected, not lost. The pages the rows held go back to the disk in the
same transaction (SQLite's incremental auto-vacuum; see ``_make_compactable``), and gc says
how many bytes it freed, or with ``--dry-run`` would free.
"""

from __future__ import annotations

import json
import sqlite3

from provenance.store.store import Store

COMBINED = "combined"  # the detector name of the combined verdict's rows (provenance.detectors.findings)


def collect_garbage(store: Store, keep_runs: int = 1, dry_run: bool = False) -> dict:
    """Drop detector runs older than each version's newest ``keep_runs``, and unflagged scores of those kept.

    Returns ``schemas/gc.schema.json``'s shape: ``{"runs_dropped": [run ids], "runs_kept":
    int, "findings_dropped": int, "findings_kept": int, "objects_dropped": int, "bytes_freed": int,
    "dry_run": bool}``. One write under the store's lock (which decides what is dropped, and the report says what
    it dropped), with a ``gc`` audit entry, that also returns the database's free pages to the disk (``bytes_freed``
    counts them and the deleted findings objects; with ``dry_run``, what the same steps free on an in-memory copy).
    Nothing is written when nothing would be dropped and no page is free, or with ``dry_run``. Raises
    ``InputError`` (exit 2) for ``keep_runs`` < 1,
    ``StoreError`` (exit 3) for a read-only or busy store, ``VerificationError`` (exit 1, nothing written, with
    ``dry_run`` too) for an audit entry that may name an object and cannot be read (:func:`_findings_objects`).
    """
    from provenance.errors import InputError

    if keep_runs < 1:
        raise InputError(f"--keep-runs {keep_runs}: keep at least the newest run of each version")
    if not dry_run:
        store.require_writable()
    plan = _Plan(store, keep_runs)
    if dry_run:  # the same steps on a private in-memory copy: what it would free, exactly, and the store untouched
        report = plan.report(dry_run=True)
        report["bytes_freed"] = plan.object_bytes + _freed_on_a_copy(
            store.db.conn, plan.drop if plan.drops_rows else None
        )
        return report
    if not plan.drops_rows and not _free_pages(store.db.conn):
        return plan.report()  # nothing to drop and no free space to return: nothing is written
    before = _db_bytes(store.db.conn)
    with store.locked():  # no prov writer is half way; a held lock refuses here, before any byte changes
        _make_compactable(store)
    decided: list[_Plan] = []

    def remove_objects(live: Store) -> None:  # after the commit, until which the runs' entries named them
        for oid in decided[0].objects:
            live.objects.remove(oid)

    with store.write(keep=remove_objects):  # the objects go under the lock too: no prov writer comes in between
        # decided again under the lock: a run another prov writer (a check, another gc) committed since the plan
        # above is seen, so gc neither drops what it did not plan from nor logs a drop another gc already made
        decided.append(_Plan(store, keep_runs))
        if decided[0].drops_rows:
            decided[0].drop.apply(store.db)
        # in the same transaction: a failure leaves every row, and (after the first gc's switch) every byte, as it was
        _return_free_pages(store.db.conn)
    report = decided[0].report()
    report["bytes_freed"] = decided[0].object_bytes + before - _db_bytes(store.db.conn)
    return report


class _Plan:
    """What gc drops from ``store`` as it is now: the runs, the counts, the findings objects, and the :class:`_Drop`
    that deletes the rows (raises VerificationError as :func:`_findings_objects` does)."""

    def __init__(self, store: Store, keep_runs: int):
        db = store.db
        runs = db.execute(
            "select version, run, max(created_at), min(rowid) from detector_runs group by version, run "
            "order by version, max(created_at) desc, min(rowid) desc"
        ).fetchall()
        kept: dict[str, list[str]] = {}
        dropped: list[str] = []
        for version, run, _, _ in runs:
            mine = kept.setdefault(version, [])
            (mine if len(mine) < keep_runs else dropped).append(run)
        kept_runs = [r for rs in kept.values() for r in rs]
        kept_json, dropped_json = json.dumps(kept_runs), json.dumps(dropped)
        old = db.execute("select count(*) from findings where run in (select value from json_each(?))", [dropped_json])
        n_old = old.fetchone()[0]
        n_unflagged = db.execute(f"select count(*) from findings where {UNFLAGGED}", [kept_json]).fetchone()[0]
        self.dropped, self.n_kept_runs = dropped, len(kept_runs)
        self.findings_dropped = n_old + n_unflagged
        self.findings_kept = db.execute("select count(*) from findings").fetchone()[0] - self.findings_dropped
        self.objects = _findings_objects(store, dropped)
        self.object_bytes = sum(_size(store.objects.root / f"{oid}.json") for oid in self.objects)
        detail = {"runs": dropped, "findings_dropped": self.findings_dropped, "keep_runs": keep_runs}
        self.drop = _Drop(dropped_json, kept_json, detail)
        self.drops_rows = bool(dropped or n_unflagged)

    def report(self, dry_run: bool = False) -> dict:
        """``schemas/gc.schema.json``'s shape, ``bytes_freed`` 0 (the caller counts it)."""
        return {
            "runs_dropped": self.dropped,
            "runs_kept": self.n_kept_runs,
            "findings_dropped": self.findings_dropped,
            "findings_kept": self.findings_kept,
            "objects_dropped": len(self.objects),
            "bytes_freed": 0,
            "dry_run": dry_run,
        }


UNFLAGGED = (
    "run in (select value from json_each(?)) and not exists (select 1 from findings c where c.run = findings.run "
    f"and c.position = findings.position and c.detector = '{COMBINED}' and c.flagged = 1)"
)


class _Drop:
    """gc's deletions and its audit entry, applied to the store, or to a copy of it for ``--dry-run``."""

    def __init__(self, dropped_json: str, kept_json: str, detail: dict):
        self.dropped_json, self.kept_json, self.detail = dropped_json, kept_json, detail

    def apply(self, db) -> None:
        from provenance.store import audit

        db.execute("delete from findings where run in (select value from json_each(?))", [self.dropped_json])
        db.execute("delete from detector_runs where run in (select value from json_each(?))", [self.dropped_json])
        db.execute(f"delete from findings where {UNFLAGGED}", [self.kept_json])
        audit.append(db, "gc", "findings", self.detail)


# Returning space to the disk (newcomer review 10, finding 12: gc dropped rows and freed 0 bytes, since
# SQLite keeps a deleted row's pages for later rows). VACUUM cannot run inside a transaction, so a VACUUM
# after the deletions would leave, on failure, a store with its rows gone and its space kept. Instead the
# store is put in SQLite's incremental auto-vacuum mode (one VACUUM, the first time: it changes the file's
# layout, not one row, and SQLite rolls an unfinished one back; a first gc that fails after it keeps the new
# layout: attack review 11, G11-1), and the free pages are returned with
# `pragma incremental_vacuum` in the very transaction that deletes the rows. Neither renumbers rowids
# (which order runs); the conversion's VACUUM copies rows in rowid order.
def _make_compactable(store: Store) -> None:
    from provenance.errors import StoreError

    conn = store.db.conn
    if conn.execute("pragma auto_vacuum").fetchone()[0] == INCREMENTAL:
        return
    try:
        conn.execute(f"pragma auto_vacuum = {INCREMENTAL}")
        conn.execute("vacuum")
    except sqlite3.OperationalError as exc:  # a reader held the database past the busy timeout; a full disk
        raise StoreError(f"{store.root / 'prov.db'}: cannot compact it ({exc}); nothing was dropped") from exc


INCREMENTAL = 2  # pragma auto_vacuum's value for "incremental"


def _return_free_pages(conn: sqlite3.Connection) -> None:
    # Python's sqlite3 steps the pragma once, and each step frees one page (SQLite 3.40 here): run it once a page
    for _ in range(_free_pages(conn)):
        conn.execute("pragma incremental_vacuum")


def _free_pages(conn: sqlite3.Connection) -> int:
    return int(conn.execute("pragma freelist_count").fetchone()[0])


def _db_bytes(conn: sqlite3.Connection) -> int:
    return int(conn.execute("pragma page_count").fetchone()[0]) * int(conn.execute("pragma page_size").fetchone()[0])


def _freed_on_a_copy(conn: sqlite3.Connection, drop: _Drop | None) -> int:
    """The bytes ``prov gc`` would return from ``prov.db``: its steps run on an in-memory copy."""
    import sqlite_utils

    copy = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.backup(copy)  # one step: one committed state
        if drop is None and not _free_pages(copy):
            return 0
        before = _db_bytes(copy)
        if copy.execute("pragma auto_vacuum").fetchone()[0] != INCREMENTAL:
            copy.execute(f"pragma auto_vacuum = {INCREMENTAL}")
            copy.execute("vacuum")
        copy.execute("begin")
        if drop is not None:
            drop.apply(sqlite_utils.Database(copy, execute_plugins=False))
        _return_free_pages(copy)
        copy.execute("commit")
        return before - _db_bytes(copy)
    finally:
        copy.close()


def _size(path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _findings_objects(store: Store, dropped: list[str]) -> list[str]:
    """The findings objects the ``detect`` entries of the ``dropped`` runs name, but no entry of another run (one
    kept, or one no ``detector_runs`` row names) nor anything else in the store (a version, a waiver: an entry a
    ``.prov/`` writer aimed at another object must not make gc delete it).

    Raises VerificationError (exit 1, nothing written) when an audit entry that may name an object cannot be read
    (``fsck.objects.References.unreadable``: a detail that is no JSON object, or nested past the parser's depth):
    it may name what gc would delete, so gc deletes nothing (review 24b; ``json_extract`` raised there: exit 3)."""
    from provenance.errors import VerificationError
    from provenance.fsck.objects import referenced_objects

    refs = referenced_objects(store.db, runs=False)
    if refs.unreadable:
        more = f" (and {len(refs.unreadable) - 1} more)" if len(refs.unreadable) > 1 else ""
        raise VerificationError(
            f"{store.root / 'prov.db'}: {refs.unreadable[0]}{more}; it may name an object gc would delete, so "
            "nothing was dropped: run prov fsck, and restore .prov/ from a copy you trust"
        )
    named = {oid for run in dropped for oid in refs.findings.get(run, ())}
    still = {oid for run, oids in refs.findings.items() if run not in dropped for oid in oids}
    return sorted(named - still - refs.objects)
