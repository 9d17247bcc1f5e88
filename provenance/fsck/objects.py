"""fsck of the store's files: each object's bytes hash to its name, every referenced object
is present, and what an interrupted write leaves (temp files, unreferenced objects) is
a repairable warning."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass, field

from provenance.fsck.problems import Inspection
from provenance.store.audit import detail_json
from provenance.store.sqlite import sqlite_utils

OBJECT_NAME = re.compile(r"^[0-9a-f]{64}\.[a-z0-9]{1,16}$")
"""An object's file name: its SHA-256 in hex, a dot, its extension."""

_REFERENCES = [
    "select manifest_object, envelope_object from versions",
    "select manifest_object, envelope_object from batches",
    "select object, null from version_lineage",
    "select object, null from profiles",
    "select object, null from waivers",
    "select object, null from attestations",
    "select object, null from trust_statements",
    "select object, null from checkpoints",
]
"""The tables whose rows name objects."""

NAMED_BY_ENTRIES = {
    # the signed trust entry a trust.add/sign/retire entry names, whatever its rows say (attack review 15, A15-3)
    "trust.add": "statement",
    "trust.sign": "statement",
    "trust.retire": "statement",
    "commit": "delta",  # a version's signed delta against its parent (delta.signed_delta)
    "detect": "findings",  # a run's findings, unless `prov gc` dropped the run (its entry names it) and the object
    "batch.withdraw": "object",  # prov withdraw
    "quarantine": "removedRecords",  # its rows
    "quarantine.rows": "removedRecords",  # a check's
}
"""The audit actions whose entries name an object, and the key of their detail that does."""


@dataclass(frozen=True)
class References:
    """What names the store's objects (:func:`referenced_objects`).

    ``objects``: the SHA-256 names (hex) the tables' rows and the audit entries name. ``findings``: run id (None
    for an entry naming no run id) -> the findings objects its ``detect`` entries name, every run's (those are in
    ``objects`` only for runs no ``gc`` entry names, or all of them with ``runs=False``: none). ``unreadable``: one
    line per audit entry that may name an object but cannot be read (its detail no JSON object, nested past the
    parser's depth, or the field naming the object no text): it may name any object, so none is unreferenced."""

    objects: set[str]
    findings: dict[str | None, set[str]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


def check_files(insp: Inspection) -> None:
    """Warn about anything in the store folder besides ``prov.db``, ``objects/``, ``lock`` and ``.gitignore``."""
    for p in sorted(insp.root.iterdir()):
        if p.name in ("prov.db", "objects", "lock", ".gitignore"):
            continue
        if p.name == "prov.db-journal":
            insp.warn(
                "files",
                f"{p}: a rollback journal from an interrupted write (SQLite rolls it back on the next open)",
            )
        elif p.name == ".prov.db.init":
            insp.warn("files", f"{p}: left by an interrupted `prov init`", repairable=True)
        else:
            insp.warn("files", f"{p}: unexpected file in the store")


def referenced_objects(db: sqlite_utils.Database, runs: bool = True) -> References:
    """Every object a table row or an audit entry names (``runs=False``: but detector runs' findings objects).

    Audit details are parsed in Python (``audit.detail_json``), never with SQLite's ``json_extract``, which raises
    on a detail that is no valid JSON or is nested past its depth limit: an entry a ``.prov/`` writer planted so
    made ``prov fsck`` drop that query (and call every object it names unreferenced, which ``--repair`` removes)
    and ``prov gc`` fail with an internal error (review 24b). Such an entry is listed in ``unreadable``."""
    refs = References(set())
    for q in _REFERENCES:
        try:
            for a, b in db.execute(q):
                refs.objects.update(x for x in (a, b) if x)
        except sqlite3.OperationalError:  # a store made before that stage had its table
            continue
    collected: set[str] = set()
    actions = [*NAMED_BY_ENTRIES, "gc"]
    query = f"select seq, action, detail from audit where action in ({', '.join('?' * len(actions))}) order by seq"
    for seq, action, detail in db.execute(query, actions):
        try:
            facts = detail_json(detail)
        except ValueError:
            refs.unreadable.append(f"audit entry {seq} ({action}): detail is not JSON, so what it names is unknown")
            continue
        if not isinstance(facts, dict):
            refs.unreadable.append(f"audit entry {seq} ({action}): detail is not a JSON object")
        elif action == "gc":
            dropped = facts.get("runs", [])
            if isinstance(dropped, list) and all(isinstance(run, str) for run in dropped):
                collected.update(dropped)
            else:
                refs.unreadable.append(f"audit entry {seq} (gc): its runs are not a list of run ids")
        elif isinstance(named := facts.get(NAMED_BY_ENTRIES[action]), str):
            if action == "detect":
                run = facts.get("run")
                refs.findings.setdefault(run if isinstance(run, str) else None, set()).add(named)
            else:
                refs.objects.add(named)
        elif named is not None:
            refs.unreadable.append(f"audit entry {seq} ({action}): its {NAMED_BY_ENTRIES[action]} is no object name")
    if runs:
        refs.objects.update(oid for run, oids in refs.findings.items() if run not in collected for oid in oids)
    return refs


def check_objects(insp: Inspection, referenced: set[str] | None, complete: bool = True) -> None:
    """Re-hash every object against its name; ``referenced=None`` (a doubtful database) calls nothing unreferenced,
    nor does ``complete=False`` (an audit entry that may name an object could not be read), which still reports a
    referenced object that is missing."""
    folder = insp.root / "objects"
    if not folder.is_dir():
        insp.error("objects", f"{folder}: the object folder is missing")
        return
    present = set()
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".tmp-"):
            insp.warn("objects", f"{p}: temp file left by an interrupted write", repairable=True)
            continue
        if not OBJECT_NAME.match(p.name) or not p.is_file() or p.is_symlink():
            insp.warn("objects", f"{p}: not a prov object (expected a file named SHA256.EXT)")
            continue
        oid = p.name.split(".")[0]
        if oid in present:
            insp.error("objects", f"{p}: object {oid[:16]} is stored twice, with different extensions")
        present.add(oid)
        insp.report.checked["objects"] += 1
        try:
            with open(p, "rb") as fh:
                actual = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError as exc:
            insp.error("objects", f"{p}: cannot read object ({exc.strerror})")
            continue
        if actual != oid:
            insp.error(
                "objects",
                f"{p}: object {oid[:16]} was altered (its bytes hash to {actual[:16]}); restore the file from a copy "
                "of the store (git checkout -- FILE where the store is in git, or a backup)",
            )
        elif complete and referenced is not None and oid not in referenced:
            insp.warn(
                "objects",
                f"{p}: unreferenced object (left by an interrupted or failed write, or by a store taken from another "
                "branch); `prov fsck --repair` removes it",
                repairable=True,
            )
    for oid in sorted((referenced or set()) - present):
        insp.error("objects", f"{folder}: object {oid[:16]} is referenced but missing")
