"""``prov gc``: drop old detector runs and the scores of records nobody flagged; never a signed fact.

Every ``prov diff --detect`` and ``prov check`` stores a run: one ``detector_runs`` row
per detector (its summary: scored, flagged, threshold), one ``findings`` row per record the
combined verdict flagged, and the run's findings object (every scored record, in
``.prov/objects/``, named by the run's ``detect`` audit entry; what ``prov findings`` reads).
Runs stored before the object existed have a row per scored record and detector. ``gc``
keeps, for every version, its newest run(s) whole in summary, and of their rows only the
records the combined verdict flagged; older runs' rows go, and so do their findings objects
(deleted once the write that drops the runs has committed: a crash in between leaves
unreferenced objects, which ``prov fsck --repair`` removes). Versions, manifests,
envelopes, lineage, profiles, waivers, attestations, checkpoints and the audit log are never
touched. The dropped runs are named in a ``gc`` audit entry, so ``prov fsck`` knows a logged
run that is gone was collected, not lost.
"""

from __future__ import annotations

import json

from provenance.store.store import Store

COMBINED = "combined"  # the detector name of the combined verdict's rows (provenance.detectors.findings)


def collect_garbage(store: Store, keep_runs: int = 1, dry_run: bool = False) -> dict:
    """Drop detector runs older than each version's newest ``keep_runs``, and unflagged scores of those kept.

    Returns ``schemas/gc.schema.json``'s shape: ``{"runs_dropped": [run ids], "runs_kept":
    int, "findings_dropped": int, "findings_kept": int, "objects_dropped": int, "dry_run": bool}``.
    One write under
    the store's lock, with a ``gc`` audit entry; nothing is written when nothing would be
    dropped or with ``dry_run``. Raises ``InputError`` (exit 2) for ``keep_runs`` < 1,
    ``StoreError`` (exit 3) for a read-only or busy store.
    """
    from provenance.errors import InputError

    if keep_runs < 1:
        raise InputError(f"--keep-runs {keep_runs}: keep at least the newest run of each version")
    if not dry_run:
        store.require_writable()
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
    unflagged_where = (
        "run in (select value from json_each(?)) and not exists (select 1 from findings c where c.run = findings.run "
        f"and c.position = findings.position and c.detector = '{COMBINED}' and c.flagged = 1)"
    )
    kept_json, dropped_json = json.dumps(kept_runs), json.dumps(dropped)
    drop_old = db.execute("select count(*) from findings where run in (select value from json_each(?))", [dropped_json])
    n_old = drop_old.fetchone()[0]
    n_unflagged = db.execute(f"select count(*) from findings where {unflagged_where}", [kept_json]).fetchone()[0]
    total = db.execute("select count(*) from findings").fetchone()[0]
    objects = _findings_objects(db, dropped, kept_runs)
    report = {
        "runs_dropped": dropped,
        "runs_kept": len(kept_runs),
        "findings_dropped": n_old + n_unflagged,
        "findings_kept": total - n_old - n_unflagged,
        "objects_dropped": len(objects),
        "dry_run": dry_run,
    }
    if dry_run or (not dropped and not n_unflagged):
        return report
    with store.write():
        db.execute("delete from findings where run in (select value from json_each(?))", [dropped_json])
        db.execute("delete from detector_runs where run in (select value from json_each(?))", [dropped_json])
        db.execute(f"delete from findings where {unflagged_where}", [kept_json])
        store.audit(
            "gc",
            "findings",
            {"runs": dropped, "findings_dropped": report["findings_dropped"], "keep_runs": keep_runs},
        )
    for oid in objects:  # after the commit: until then the runs' entries still named them
        store.objects.remove(oid)
    # no VACUUM: it may renumber rowids, which order runs; SQLite reuses the freed pages for later rows
    return report


def _findings_objects(db, dropped: list[str], kept: list[str]) -> list[str]:
    """The findings objects the ``detect`` entries of the ``dropped`` runs name, but no entry of a ``kept`` run
    nor anything else in the store (a version, a waiver: an entry a ``.prov/`` writer aimed at another object
    must not make gc delete it)."""
    from provenance.fsck.objects import referenced_objects

    if not dropped:
        return []
    query = (
        "select distinct json_extract(detail, '$.findings') from audit where action = 'detect' "
        "and json_extract(detail, '$.run') in (select value from json_each(?))"
    )
    named = {r[0] for r in db.execute(query, [json.dumps(dropped)]) if isinstance(r[0], str)}
    still = {r[0] for r in db.execute(query, [json.dumps(kept)])}
    return sorted(named - still - referenced_objects(db, runs=False))
