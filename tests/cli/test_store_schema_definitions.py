"""prov's own tables with a definition prov never wrote, replayed in the trust world (``support.build_trust_world``):
whoever writes ``.prov/`` edits a ``CREATE TABLE`` text in ``sqlite_master`` with ``pragma writable_schema``.

SQLite parses that text at every open, so an edited text is an edited table: a dropped ``NOT NULL``, a default or
a ``CHECK`` that makes SQLite change or refuse what prov writes, a generated column. Such a store opened as usual
and only ``prov fsck`` (and the five security read-backs) noticed; now every command refuses it at open (exit 3,
one line naming ``prov.db`` and the table, pointing at ``prov fsck``), as it refuses a trigger, and fsck names
it. What a store may hold is the texts prov has written (``provenance.store.schema_texts``), including those of
stores made with sqlite-utils 3.x.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from provenance.store.schema_texts import SQLITE_UTILS_3, known_texts
from support import assert_write_refused_after, one_line, store_fingerprint

PINNED = ("--signer", "maintainer.pub")
FSCK_SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "fsck.schema.json").read_text())


def _edit_definition(table: str, old: str, new: str) -> None:
    """The plant: ``old`` replaced by ``new`` in ``table``'s ``CREATE`` text, through ``pragma writable_schema``."""
    db = sqlite3.connect(".prov/prov.db", isolation_level=None)
    [(sql,)] = db.execute("select sql from sqlite_master where type = 'table' and name = ?", [table]).fetchall()
    assert old in sql, sql
    db.execute("pragma writable_schema = on")
    db.execute("update sqlite_master set sql = ? where type = 'table' and name = ?", [sql.replace(old, new), table])
    db.execute("pragma writable_schema = off")
    db.close()


def _errors(stdout: str) -> list[str]:
    return [" ".join(line.split()) for line in stdout.splitlines() if line.startswith("error:")]


EDITS = {
    "not null dropped": ("audit", '"hash" TEXT NOT NULL', '"hash" TEXT'),
    "default changed": ("trust", '"valid_until" TEXT', "\"valid_until\" TEXT DEFAULT '2099-01-01T00:00:00Z'"),
    "check added": ("audit", '"action" TEXT NOT NULL', "\"action\" TEXT NOT NULL CHECK (action != 'trust.revoke')"),
    "generated column added": (
        "trust",
        '"revoked_reason" TEXT,\n',
        '"revoked_reason" TEXT,\n   "live" INTEGER GENERATED ALWAYS AS (revoked_at IS NULL) VIRTUAL,\n',
    ),
    "one space more": ("checkpoints", '"size" INTEGER', '"size"  INTEGER'),
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_an_edited_table_definition_is_refused_at_open_and_named_by_fsck(prov, template_trust, workdir, edit):
    """Each edit: a command exits 3 with one line naming prov.db, the table and `prov fsck` (was: it opened and
    ran), leaving the store byte for byte; fsck fails naming the table; --repair leaves it (no SQL can mend a
    table's definition in place) and says to restore .prov/ from a copy."""
    table, old, new = EDITS[edit]
    _edit_definition(table, old, new)
    before = store_fingerprint(workdir / ".prov")
    for args in (("log",), ("trust", "list", *PINNED), ("audit", "verify", *PINNED)):
        r = prov(*args)
        assert r.exit_code == 3, r.output
        line = one_line(r)
        assert ".prov/prov.db" in line and f"the definition of table {table} is not one prov writes" in line, line
        assert "`prov fsck` shows more" in line, line
    assert store_fingerprint(workdir / ".prov") == before
    r = prov("fsck", *PINNED)
    assert r.exit_code == 1, r.output
    [error] = [e for e in _errors(r.stdout) if "definition" in e]
    assert f"the definition of table {table} is not one prov writes" in error, error
    assert "restore .prov/ from a copy you trust" in error, error
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 1 and any(f"definition of table {table}" in e for e in _errors(r.stdout)), r.output
    assert prov("log").exit_code == 3


def test_a_definition_edited_after_the_store_opened_stops_the_write(template_trust, workdir):
    """The race behind the open-time check: a store opened clean, the definition edited before its write begins.
    The write refuses (StoreError) once it holds SQLite's lock, before its block runs; nothing is written."""
    assert_write_refused_after(
        workdir,
        lambda: _edit_definition(*EDITS["not null dropped"]),
        r"prov\.db: the definition of table audit is not one prov writes",
    )


def _texts_of_sqlite_utils_3() -> dict[str, str]:
    return {
        statement.split("[", 1)[1].split("]", 1)[0]: statement
        for statement in SQLITE_UTILS_3.split(";\n")
        if statement.startswith("CREATE TABLE")
    }


def test_a_store_made_with_sqlite_utils_3_opens_and_passes_fsck(prov, template_trust, workdir):
    """sqlite-utils 3.37/3.38 (which pyproject.toml allows) wrote prov's tables with bracketed names and FLOAT: a
    store made so holds other texts than this install makes, prov's all the same; every command opens it and fsck
    passes, also with some tables of each era (a store made with 3.x whose on-demand tables came later)."""
    older = _texts_of_sqlite_utils_3()
    db = sqlite3.connect(".prov/prov.db", isolation_level=None)
    db.execute("pragma writable_schema = on")
    for table in ("meta", "versions", "audit", "trust", "findings", "detector_runs", "batch_records"):
        db.execute("update sqlite_master set sql = ? where type = 'table' and name = ?", [older[table], table])
    db.execute("pragma writable_schema = off")
    db.close()
    r = prov("fsck", *PINNED)
    assert r.exit_code == 0, r.output
    assert prov("log").exit_code == 0
    r = prov("verify", "v2", *PINNED)
    assert r.exit_code == 0, r.output
    # an edit of a text of that era is refused as one of this era's is
    _edit_definition("trust", "[public_pem] TEXT NOT NULL", "[public_pem] TEXT")
    r = prov("log")
    assert r.exit_code == 3 and "the definition of table trust is not one prov writes" in one_line(r), r.output


def test_the_legacy_store_opens_and_passes_fsck(prov, workdir):
    """tests/data/legacy-store: a store made by prov's code before store ids, kept as it was written."""
    world = Path(__file__).resolve().parents[1] / "data" / "legacy-store" / "world"
    shutil.copytree(world / "prov-store", workdir / ".prov")
    shutil.copy(world / "maintainer.pub", workdir / "maintainer.pub")
    assert prov("log").exit_code == 0
    r = prov("fsck", *PINNED)
    assert r.exit_code == 0, r.output
    with sqlite3.connect(".prov/prov.db") as db:
        texts = db.execute("select type, name, sql from sqlite_master where sql is not null").fetchall()
    assert texts and all(sql in known_texts()[(kind, name)] for kind, name, sql in texts), texts


# --- fsck --repair makes prov's index again where it dropped an impostor (after attack review 17c, F2) ------------


def _index(name: str) -> list[tuple]:
    with sqlite3.connect(".prov/prov.db") as db:
        return db.execute(
            "select tbl_name, sql from sqlite_master where type = 'index' and name = ?", [name]
        ).fetchall()


def test_repair_drops_an_impostor_index_and_makes_provs_again(prov, template_trust, workdir):
    """F2's impostor: a UNIQUE index on waivers(version) under the name of prov's index on findings. --repair drops
    it and, in the same transaction, makes prov's index again with prov's own statement (was: dropped it only, and
    fsck went on failing on "index ... is missing"); then the store opens, fsck passes, the index is on findings as
    prov made it (no UNIQUE: two waivers of one version both stay), and queries on findings use it."""
    [(_, prov_sql)] = _index("idx_findings_version_flagged")
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("drop index idx_findings_version_flagged")
        db.execute("create unique index idx_findings_version_flagged on waivers(version)")
    assert prov("log").exit_code == 3
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 0, r.output
    assert "removed index idx_findings_version_flagged on waivers from" in r.stdout, r.output
    assert "restored index idx_findings_version_flagged on findings in" in r.stdout, r.output
    assert _index("idx_findings_version_flagged") == [("findings", prov_sql)]
    assert prov_sql in known_texts()[("index", "idx_findings_version_flagged")]
    assert prov("log").exit_code == 0
    r = prov("fsck", *PINNED)
    assert r.exit_code == 0 and "restored" not in r.stdout, r.output
    with sqlite3.connect(".prov/prov.db") as db:
        plan = " ".join(
            str(row)
            for row in db.execute("explain query plan select * from findings where version = 'v2' and flagged = 1")
        )
        assert "idx_findings_version_flagged" in plan, plan
        db.execute("insert or replace into waivers (object, version) values ('w1', 'v2')")
        db.execute("insert or replace into waivers (object, version) values ('w2', 'v2')")  # the impostor deleted w1
        assert db.execute("select object from waivers where version = 'v2' order by object").fetchall() == [
            ("w1",),
            ("w2",),
        ]
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed: waivers.object"):
            db.execute("insert into waivers (object, version) values ('w1', 'v3')")  # prov's key holds, as made


def test_repair_makes_a_dropped_index_again_and_leaves_one_whose_table_was_changed(prov, template_trust, workdir):
    """An index of prov's simply dropped (plain SQL): fsck names it as repairable and --repair makes it again. One
    whose table's definition was edited is not made (the table error stands, to be mended from a copy)."""
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("drop index idx_batch_records_digest")
    assert prov("log").exit_code == 0  # a missing index loses speed, not what prov writes
    r = prov("fsck", *PINNED)
    assert r.exit_code == 1, r.output
    assert any("index idx_batch_records_digest is missing or renamed: `prov fsck --repair` makes it again" in e
               for e in _errors(r.stdout)), r.output  # fmt: skip
    r = prov("fsck", "--repair", "--json", *PINNED)
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    Draft202012Validator(FSCK_SCHEMA).validate(report)
    assert report["restored"] == [f"index idx_batch_records_digest on batch_records in {workdir / '.prov' / 'prov.db'}"]
    assert _index("idx_batch_records_digest")[0][0] == "batch_records"
    assert prov("fsck", *PINNED).exit_code == 0
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("drop index idx_batch_records_digest")
    _edit_definition("batch_records", '"label" TEXT NOT NULL', '"label" TEXT')
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 1 and "restored index" not in r.stdout, r.output
    assert _index("idx_batch_records_digest") == []
