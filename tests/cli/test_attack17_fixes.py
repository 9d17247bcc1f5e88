"""Attack review 17, replayed in the trust world (``support.build_trust_world``) with real stores edited by sqlite3.

F17-1: a ``.prov/`` writer (sqlite3, no key) inflated one ``checkpoints`` row's ``size`` past the log's length.
``prov commit --checkpoint-out``, ``prov trust revoke --checkpoint-key --out`` and ``prov audit checkpoint --out``
then skipped signing and wrote that row's object, an *older* genuine checkpoint, as the state to keep: the
entries after it (the blocked delivery, the revocation) could be erased and every kept state still passed. A file
kept outside the store now always signs the log as it is when the command ends.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from pathlib import Path

from support import assert_write_refused_after, one_line, store_fingerprint

PINNED = ("--signer", "maintainer.pub")


def _entries() -> int:
    with sqlite3.connect(".prov/prov.db") as db:
        return db.execute("select count(*) from audit").fetchone()[0]


def _tree_size(path: str) -> int:
    envelope = json.loads(Path(path).read_text())
    return json.loads(base64.b64decode(envelope["payload"]))["predicate"]["treeSize"]


def _inflate_newest_checkpoint_row() -> None:
    """The plant: the newest genuine checkpoint row claims to cover far more entries than the log holds."""
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("update checkpoints set size = 1000000 where object = (select object from checkpoints "
                   "order by size desc, created_at desc limit 1)")  # fmt: skip


def _keep_a_state(prov, out: str) -> None:
    r = prov("audit", "checkpoint", "--key", "maintainer.key", "--out", out, *PINNED)
    assert r.exit_code == 0, r.output


def test_commit_checkpoint_out_keeps_the_commit_whatever_a_checkpoint_row_says(prov, template_trust, workdir):
    _keep_a_state(prov, "before.cp")
    shutil.copy(".prov/prov.db", "before-commit.db")  # what the .prov/ writer rolls back to
    _inflate_newest_checkpoint_row()
    r = prov("commit", "v3.parquet", "--tag", "n1", "--key", "maintainer.key", *PINNED, "--checkpoint-out", "n1.cp")
    assert r.exit_code == 0, r.output
    assert _tree_size("n1.cp") == _entries() > _tree_size("before.cp")
    assert f"wrote the signed log state ({_entries()} entries" in " ".join(r.stdout.split()), r.output
    # the writer erases n1 (and puts the row back); the state kept for n1 no longer passes
    shutil.copy("before-commit.db", ".prov/prov.db")
    r = prov("check", "v3", "--base", "v2", "--checkpoint", "n1.cp", "--format", "json", "--no-save", *PINNED)
    rules = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    assert r.exit_code == 1 and rules["integrity.kept_log_state"]["status"] == "block", r.output
    r = prov("commit", "v3.parquet", "--tag", "n2", "--key", "maintainer.key", *PINNED, "--checkpoint", "n1.cp")
    assert r.exit_code == 1 and "fewer than" in one_line(r), r.output


def test_trust_revoke_out_keeps_the_revocation_whatever_a_checkpoint_row_says(prov, template_trust, workdir):
    shutil.copy(".prov/prov.db", "before-revoke.db")
    _inflate_newest_checkpoint_row()
    r = prov("trust", "revoke", "vendor", "--reason", "key stolen", "--yes", *PINNED,
             "--checkpoint-key", "maintainer.key", "--out", "kept.cp")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert _tree_size("kept.cp") == _entries()
    with sqlite3.connect(".prov/prov.db") as db:  # the revoke's own in-store checkpoint covers it too
        assert db.execute("select max(size) from checkpoints where size < 1000000").fetchone()[0] == _entries()
    shutil.copy("before-revoke.db", ".prov/prov.db")  # the rollback: revocation and its entries gone
    r = prov("audit", "verify", "--checkpoint", "kept.cp", *PINNED)
    assert r.exit_code == 1, r.output


def test_keys_revoke_out_keeps_the_revocation_whatever_a_checkpoint_row_says(prov, template_trust, workdir):
    keyid = json.loads(prov("keys", "generate", "reviewer", "--json").stdout)["keyid"]
    assert prov("keys", "register", "reviewer.pub", "--name", "reviewer").exit_code == 0
    _keep_a_state(prov, "before.cp")  # a genuine checkpoint covering everything before the revocation
    _inflate_newest_checkpoint_row()
    r = prov("keys", "revoke", keyid[:12], "--reason", "left", "--checkpoint-key", "maintainer.key", "--out", "k.cp")
    assert r.exit_code == 0, r.output
    assert _tree_size("k.cp") == _entries() > _tree_size("before.cp")


def test_audit_checkpoint_out_signs_the_log_now_whatever_a_checkpoint_row_says(prov, template_trust, workdir):
    _keep_a_state(prov, "old.cp")
    assert prov("keys", "generate", "reviewer").exit_code == 0
    assert prov("keys", "register", "reviewer.pub", "--name", "reviewer").exit_code == 0  # one more entry
    _inflate_newest_checkpoint_row()
    r = prov("audit", "checkpoint", "--key", "maintainer.key", "--out", "now.cp", *PINNED, "--json")
    assert r.exit_code == 0, r.output
    assert _tree_size("now.cp") == _entries() == _tree_size("old.cp") + 1
    assert json.loads(r.stdout)["size"] == _entries()


# --- F17-3: objects renamed to sqlite_ names through writable_schema ------------------------------------------------


def _rename(*updates: str, create: tuple[str, ...] = ()) -> None:
    db = sqlite3.connect(".prov/prov.db", isolation_level=None)
    for statement in create:
        db.execute(statement)
    db.execute("pragma writable_schema = on")
    for statement in updates:
        db.execute(statement)
    db.execute("pragma writable_schema = off")
    db.close()


def _schema() -> list[tuple]:
    with sqlite3.connect(".prov/prov.db") as db:
        return db.execute("select type, name, tbl_name, sql from sqlite_master order by type, name").fetchall()


def test_a_unique_index_renamed_as_an_autoindex_is_refused_and_dropped(prov, template_trust, workdir):
    """t1b's plant: a UNIQUE index on waivers(version) named like SQLite's own, so INSERT OR REPLACE of a second
    waiver silently deleted the first; open, the read-back and fsck accepted it."""
    _rename(
        "update sqlite_master set name = 'sqlite_autoindex_waivers_9', sql = 'CREATE UNIQUE INDEX "
        "sqlite_autoindex_waivers_9 on waivers(version)' where name = 'evil'",
        create=("create unique index evil on waivers(version)",),
    )
    before = _schema()
    r = prov("log")
    assert r.exit_code == 3 and "index sqlite_autoindex_waivers_9 on waivers" in one_line(r), r.output
    assert _schema() == before
    r = prov("fsck", *PINNED)
    assert r.exit_code == 1 and "index sqlite_autoindex_waivers_9 on waivers is not part of prov's schema" in " ".join(
        r.stdout.split()
    ), r.output
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 0 and "removed index sqlite_autoindex_waivers_9 on waivers" in r.stdout, r.output
    assert "sqlite_autoindex_waivers_9" not in str(_schema())
    assert prov("log").exit_code == 0


def test_a_table_renamed_to_a_sqlite_name_is_refused_and_fsck_says_to_restore(prov, template_trust, workdir):
    """SQLite refuses to drop a table named sqlite_... (not sqlite_stat...): fsck cannot repair it and says so."""
    _rename(
        "update sqlite_master set name = 'sqlite_evil', tbl_name = 'sqlite_evil', sql = 'CREATE TABLE sqlite_evil(x)' "
        "where name = 'evil_t'",
        create=("create table evil_t(x)",),
    )
    assert prov("log").exit_code == 3
    r = prov("fsck", "--repair", *PINNED)
    text = " ".join(r.stdout.split())
    assert r.exit_code == 1 and "table sqlite_evil is not part of prov's schema" in text, r.output
    assert "restore .prov/ from a copy you trust" in text and "cannot drop a schema object" not in r.output


def test_analyze_statistics_are_refused_at_open_and_fsck_repair_drops_them(prov, template_trust, workdir):
    """Attack review 18, F18-5 (was: accepted as SQLite's own): ``sqlite_stat1`` rows steer SQLite's query planner,
    onto an index a ``.prov/`` writer desynchronised from its table (the documented rootpage gap), say. prov never
    runs ``ANALYZE``, so statistics in ``prov.db`` are refused like any object prov did not create, whether ANALYZE
    made them or a writer wrote the rows, and ``prov fsck --repair`` drops them."""
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("analyze")  # SQLite's own sqlite_stat1, then the writer's planted row
        db.execute("insert into sqlite_stat1 values ('waivers', 'sqlite_autoindex_waivers_1', '1000000 1')")
    assert ("table", "sqlite_stat1", "sqlite_stat1", "CREATE TABLE sqlite_stat1(tbl,idx,stat)") in _schema()
    before = store_fingerprint(workdir / ".prov")
    r = prov("log")
    line = one_line(r)
    assert r.exit_code == 3 and "prov.db: holds schema objects prov did not create (table sqlite_stat1)" in line, line
    assert "`prov fsck --repair` drops them" in line
    assert store_fingerprint(workdir / ".prov") == before
    r = prov("fsck", *PINNED)
    assert r.exit_code == 1 and "table sqlite_stat1 is not part of prov's schema" in " ".join(r.stdout.split())
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 0 and "removed table sqlite_stat1" in r.stdout, r.output
    assert not [row for row in _schema() if row[1].startswith("sqlite_stat")]
    assert prov("log").exit_code == 0
    _rename(
        "update sqlite_master set name = 'sqlite_stat9', tbl_name = 'sqlite_stat9', sql = 'CREATE TABLE "
        "sqlite_stat9(x)' where name = 'evil_t'",
        create=("create table evil_t(x)",),
    )
    r = prov("log")
    assert r.exit_code == 3 and "table sqlite_stat9" in one_line(r), r.output
    r = prov("fsck", "--repair", *PINNED)  # SQLite drops sqlite_stat tables
    assert r.exit_code == 0 and "removed table sqlite_stat9" in r.stdout, r.output
    assert prov("log").exit_code == 0


def test_statistics_written_after_open_are_refused_under_the_write_lock(template_trust, workdir):
    """The same refusal once a write holds SQLite's lock: ``ANALYZE`` run between a command's open and its write."""

    def analyze() -> None:
        with sqlite3.connect(".prov/prov.db") as db:
            db.execute("analyze")

    assert_write_refused_after(workdir, analyze, "table sqlite_stat1")


# --- F17-4: odd trigger names in fsck --repair ------------------------------------------------------------------------


def test_repair_prints_an_odd_trigger_name_escaped_on_one_line(prov, template_trust, workdir):
    name = "t\x1b[2K\rfsck .prov: ok (0 errors, 0 warnings)\n"
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute(f'create trigger "{name}" after insert on audit begin select 1; end')
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout and "\r" not in r.stdout, r.output
    removed = [line for line in r.stdout.splitlines() if line.startswith("removed trigger")]
    escaped = "removed trigger t\\x1b[2K\\x0dfsck .prov: ok (0 errors, 0 warnings)\\x0a on audit from "
    assert len(removed) == 1 and removed[0].startswith(escaped) and removed[0].endswith("prov.db"), r.output


def test_a_trigger_whose_name_holds_a_nul_is_left_with_advice_to_restore(prov, template_trust, workdir):
    with sqlite3.connect(".prov/prov.db", isolation_level=None) as db:
        db.execute("create trigger tnul after insert on audit begin select 1; end")
    _rename("update sqlite_master set name = cast('tnul' || char(0) || 'hidden' as text) where name = 'tnul'")
    r = prov("fsck", "--repair", *PINNED)
    text = " ".join(r.stdout.split())
    assert r.exit_code == 1 and "restore .prov/ from a copy you trust" in text, r.output
    assert "tnul\\x00hidden" in text and "cannot drop a schema object" not in r.output


def test_a_unique_index_planted_under_a_prov_index_name_is_refused(prov, template_trust, workdir):
    """Attack review 17c, F2: two plain SQL statements (no writable_schema) put a UNIQUE index on waivers(version)
    under the name of prov's index on findings; every open accepted it by name, and the third `prov waive` of a
    version silently deleted the first two. Prov's indexes must be on their own table and as unique as prov made
    them; fsck --repair drops the impostor."""
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("drop index idx_findings_version_flagged")
        db.execute("create unique index idx_findings_version_flagged on waivers(version)")
    before = _schema()
    r = prov("log")
    assert r.exit_code == 3 and "index idx_findings_version_flagged on waivers" in one_line(r), r.output
    assert _schema() == before
    r = prov("fsck", "--repair", *PINNED)
    assert "removed index idx_findings_version_flagged on waivers" in r.stdout, r.output
    assert ("index", "idx_findings_version_flagged", "waivers") not in [row[:3] for row in _schema()]
    # the same name on its own table but made UNIQUE, or on other columns, is refused too
    for impostor in ("unique index idx_findings_version_flagged on findings(version, flagged, digest)",
                     "index idx_findings_version_flagged on findings(digest)"):  # fmt: skip
        with sqlite3.connect(".prov/prov.db") as db:
            db.execute("drop index idx_findings_version_flagged")
            db.execute(f"create {impostor}")
        r = prov("log")
        assert r.exit_code == 3 and "index idx_findings_version_flagged on findings" in one_line(r), r.output


def test_a_kept_state_never_replaces_a_file_that_is_no_checkpoint(prov, template_trust, workdir):
    """Attack review 17c, F1: `prov audit checkpoint --out m.key` replaced the maintainer's private key, `--out
    .prov/prov.db` destroyed the store, and `prov commit DATA --checkpoint-out DATA` replaced the data just
    committed. Only an earlier checkpoint is replaced; inside .prov/ is refused as for commit."""
    key = Path("maintainer.key").read_bytes()
    db = Path(".prov/prov.db").read_bytes()
    for out, said in (
        ("maintainer.key", "a file is there that is no kept log state"),
        (".prov/prov.db", "is inside the store"),
    ):
        r = prov("audit", "checkpoint", "--key", "maintainer.key", "--out", out, *PINNED)
        assert r.exit_code == 2 and said in one_line(r), r.output
    assert Path("maintainer.key").read_bytes() == key and Path(".prov/prov.db").read_bytes() == db
    data = Path("v3.parquet").read_bytes()
    r = prov(
        "commit", "v3.parquet", "--tag", "n1", "--key", "maintainer.key", *PINNED, "--checkpoint-out", "v3.parquet"
    )
    assert r.exit_code == 2 and "a file is there that is no kept log state" in one_line(r), r.output
    assert Path("v3.parquet").read_bytes() == data and Path(".prov/prov.db").read_bytes() == db
    # an earlier kept state is the file CI keeps under one name: it is replaced by the newer one
    _keep_a_state(prov, "kept.cp")
    size = _tree_size("kept.cp")
    r = prov("commit", "v3.parquet", "--tag", "n1", "--key", "maintainer.key", *PINNED, "--checkpoint-out", "kept.cp")
    assert r.exit_code == 0, r.output
    assert _tree_size("kept.cp") > size
