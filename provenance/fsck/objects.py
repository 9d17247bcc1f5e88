"""fsck of the store's files: each object's bytes hash to its name, every referenced object
is present, and what an interrupted write leaves (temp files, unreferenced objects) is
a repairable warning."""

from __future__ import annotations

import hashlib
import re
import sqlite3

from provenance.fsck.problems import Inspection
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
    # the signed trust entry a trust.add/sign/retire entry names, whatever its rows say (attack review 15, A15-3)
    "select json_extract(detail, '$.statement'), null from audit where action in ('trust.add', 'trust.sign', "
    "'trust.retire')",
    "select object, null from checkpoints",
    # a version's signed delta against its parent (delta.signed_delta), named by its commit entry
    "select json_extract(detail, '$.delta'), null from audit where action = 'commit'",
    # a run's findings, unless `prov gc` dropped the run (its entry names it) and deleted the object
    "select json_extract(detail, '$.findings'), null from audit where action = 'detect' and json_extract(detail, '$.run') "
    "not in (select j.value from audit g, json_each(g.detail, '$.runs') j where g.action = 'gc')",
    "select json_extract(detail, '$.object'), null from audit where action = 'batch.withdraw'",  # prov withdraw
    "select json_extract(detail, '$.removedRecords'), null from audit where action = 'quarantine'",  # its rows
    "select json_extract(detail, '$.removedRecords'), null from audit where action = 'quarantine.rows'",  # a check's
]


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


def referenced_objects(db: sqlite_utils.Database, runs: bool = True) -> set[str]:
    """The SHA-256 names (hex) of every object a table row references (``runs=False``: but detector runs' findings)."""
    refs: set[str] = set()
    for q in _REFERENCES if runs else [q for q in _REFERENCES if "'detect'" not in q]:
        try:
            for a, b in db.execute(q):
                refs.update(x for x in (a, b) if x)
        except sqlite3.OperationalError:  # a store made before that stage had its table
            continue
    return refs


def check_objects(insp: Inspection, referenced: set[str] | None) -> None:
    """Re-hash every object against its name; ``referenced=None`` (a doubtful database) calls nothing unreferenced."""
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
        elif referenced is not None and oid not in referenced:
            insp.warn(
                "objects",
                f"{p}: unreferenced object (left by an interrupted or failed write, or by a store taken from another "
                "branch); `prov fsck --repair` removes it",
                repairable=True,
            )
    for oid in sorted((referenced or set()) - present):
        insp.error("objects", f"{folder}: object {oid[:16]} is referenced but missing")
