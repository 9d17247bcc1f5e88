"""Attack review 16b, B16-2, replayed in the trust world (``support.build_trust_world``): schema objects prov did
not create, planted in ``.prov/prov.db`` with sqlite3 by whoever writes ``.prov/``.

The writer deleted the vendor's trust rows (F2) and planted three triggers: one deleting a ``trust.revoke`` audit
entry as it is inserted, two resetting a trust row's ``revoked_at``/``revoked_reason``. ``prov trust revoke vendor
--yes --checkpoint-key maintainer.key --out kept.checkpoint`` then exited 0 ("at None"), the log had no revocation,
the kept checkpoint signed the log without it, the thief's batch was accepted, and ``prov fsck`` only warned.
Now every command but fsck refuses such a store (exit 3, naming the objects); fsck names them as errors and
``--repair`` drops them; and a security write reads back what it wrote before it commits or signs.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from provenance import keys
from provenance.errors import StoreError
from provenance.store import Store
from support import assert_write_refused_after, new_records, ok, one_line, store_fingerprint

PINNED = ("--signer", "maintainer.pub")

TRIGGERS = {
    "swallow_revoke": "create trigger swallow_revoke after insert on audit when new.action = 'trust.revoke' "
    "begin delete from audit where seq = new.seq; end",
    "unrevoke_insert": "create trigger unrevoke_insert after insert on trust when new.revoked_at is not null begin "
    "update trust set revoked_at = null, revoked_reason = null where source = new.source and keyid = new.keyid; end",
    "unrevoke_update": "create trigger unrevoke_update after update on trust when new.revoked_at is not null begin "
    "update trust set revoked_at = null, revoked_reason = null where source = new.source and keyid = new.keyid; end",
}


def _sql(*statements: str) -> None:
    with sqlite3.connect(".prov/prov.db") as db:
        for statement in statements:
            db.execute(statement)


def _plant_b16_2() -> None:
    """B16-2's plant: F2's deletion of the vendor's trust rows, and the three triggers."""
    _sql(
        "delete from trust where source = 'vendor'",
        "delete from trust_statements where source = 'vendor'",
        *TRIGGERS.values(),
    )


def _kid() -> str:
    return keys.key_id(keys.load_public("vendor.pub"))


def _revocations() -> list[tuple]:
    with sqlite3.connect(".prov/prov.db") as db:
        return db.execute("select subject, detail from audit where action = 'trust.revoke'").fetchall()


def _errors(stdout: str) -> list[str]:
    return [" ".join(line.split()) for line in stdout.splitlines() if line.startswith("error:")]


REVOKE = ("trust", "revoke", "vendor", "--reason", "key stolen", "--yes", *PINNED)
KEPT = ("--checkpoint-key", "maintainer.key", "--out", "kept.checkpoint")


def test_b16_2_the_revocation_is_refused_not_swallowed(prov, template_trust, workdir):
    """The replay: the revocation with a kept checkpoint exits 3 naming prov.db and the triggers, writes nothing
    (was: exit 0, "at None", no trust.revoke entry, a kept checkpoint certifying the log without it); the
    thief's batch is refused too (was: "Added batch"); fsck fails naming each trigger (was: warnings, exit 0)."""
    _plant_b16_2()
    before = store_fingerprint(workdir / ".prov")
    r = prov(*REVOKE, *KEPT)
    assert r.exit_code == 3, r.output  # was 0
    line = one_line(r)
    assert ".prov/prov.db" in line and "refusing the store" in line, line
    for name in TRIGGERS:
        assert f"trigger {name} on" in line, line
    assert "prov fsck --repair" in line, line
    assert store_fingerprint(workdir / ".prov") == before
    assert not (workdir / "kept.checkpoint").exists()
    new_records("thief.parquet")
    ok(prov, "sign", "thief.parquet", "--source", "vendor", "--key", "vendor.key")
    r = prov("add", "thief.parquet", "--source", "vendor", *PINNED)
    assert r.exit_code == 3 and "trigger swallow_revoke on audit" in one_line(r), r.output  # was 0: "Added batch"
    r = prov("fsck", *PINNED)
    assert r.exit_code == 1, r.output  # was 0, with warnings
    errors = _errors(r.stdout)
    for name, table in (("swallow_revoke", "audit"), ("unrevoke_insert", "trust"), ("unrevoke_update", "trust")):
        assert any(f"trigger {name} on {table} is not part of prov's schema" in e for e in errors), errors
    assert all("prov fsck --repair` drops it" in e for e in errors if "trigger" in e), errors
    assert store_fingerprint(workdir / ".prov") == before  # fsck only read


def test_repair_drops_the_triggers_and_the_revocation_then_sticks(prov, template_trust, workdir):
    """`prov fsck --repair` drops exactly the planted triggers (prov's own tables and indexes stay), writes the
    vendor's deleted rows back from the signed entry, and the store works again: the revocation is logged, the
    success line prints the stamp written (was "at None"), the kept checkpoint verifies, the thief is refused."""
    _plant_b16_2()
    with sqlite3.connect(".prov/prov.db") as db:
        prov_objects = {r for r in db.execute("select type, name from sqlite_master where type in ('table', 'index')")}
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 0, r.output
    for name in TRIGGERS:
        assert f"removed trigger {name} on" in r.stdout, r.stdout
    assert f"restored trust rows of key {_kid()[:16]}" in r.stdout, r.stdout
    with sqlite3.connect(".prov/prov.db") as db:
        left = {r for r in db.execute("select type, name from sqlite_master")}
    assert left == prov_objects, left ^ prov_objects
    r = prov(*REVOKE, *KEPT)
    assert r.exit_code == 0, r.output
    [(subject, detail)] = _revocations()
    stamp = json.loads(detail)["revoked_at"]
    assert f"Revoked key {_kid()[:16]} of source 'vendor' at {stamp}" in r.stdout, r.stdout
    with sqlite3.connect(".prov/prov.db") as db:
        [row] = db.execute("select revoked_at, revoked_reason from trust where source = 'vendor'").fetchall()
    assert row == (stamp, "key stolen"), row
    ok(prov, "audit", "verify", *PINNED, "--checkpoint", "kept.checkpoint")
    new_records("thief.parquet")
    ok(prov, "sign", "thief.parquet", "--source", "vendor", "--key", "vendor.key")
    r = prov("add", "thief.parquet", "--source", "vendor", *PINNED)
    assert r.exit_code != 0 and "revoked" in one_line(r), r.output


def test_a_view_shadowing_a_table_is_refused(prov, template_trust, workdir):
    """The trust table replaced by a view that lists the vendor's key as never revoked: `prov trust list` and
    `prov check` refuse the store (was: they read the view); fsck names the view and the missing table, and
    --repair drops the view only (the table stays missing: an error it cannot mend)."""
    _sql(
        "create table trust_kept as select * from trust",
        "drop table trust",
        "create view trust as select source, keyid, name, public_pem, added_at, valid_from, valid_until, "
        "null as revoked_at, null as revoked_reason from trust_kept",
    )
    for args in (("trust", "list", *PINNED), ("check", "v2", "--base", "v1", "--no-save", *PINNED)):
        r = prov(*args)
        assert r.exit_code == 3, r.output
        line = one_line(r)
        assert ".prov/prov.db" in line and "view trust" in line and "table trust_kept" in line, line
    r = prov("fsck", *PINNED)
    assert r.exit_code == 1, r.output
    errors = _errors(r.stdout)
    assert any("view trust is not part of prov's schema" in e for e in errors), errors
    assert any("table trust is missing or renamed" in e for e in errors), errors
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 1 and "removed view trust from" in r.stdout, r.output
    assert "removed table trust_kept from" in r.stdout, r.output
    assert any("table trust is missing or renamed" in e for e in _errors(r.stdout)), r.output


@pytest.mark.parametrize(
    ("plant", "named"),
    [
        ("create table notes (x text)", "table notes"),
        ("create index by_action on audit (action)", "index by_action on audit"),
    ],
)
def test_an_extra_table_or_index_is_refused(prov, template_trust, workdir, plant, named):
    """A table or index outside prov's schema: a command exits 3 naming it (was: opened as usual), leaving the
    store as it was; fsck fails naming it, and --repair drops it, after which fsck passes and commands work."""
    _sql(plant)
    before = store_fingerprint(workdir / ".prov")
    r = prov("log")
    assert r.exit_code == 3 and named in one_line(r) and ".prov/prov.db" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before
    r = prov("fsck", *PINNED)
    assert r.exit_code == 1 and any(f"{named} is not part of prov's schema" in e for e in _errors(r.stdout)), r.output
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 0 and f"removed {named} from" in r.stdout, r.output
    ok(prov, "fsck", *PINNED)
    ok(prov, "log")


def test_a_trigger_planted_after_the_store_opened_stops_the_write(template_trust, workdir):
    """The race behind the open-time check: a store opened while prov.db was clean, a trigger planted before its
    write begins. The write refuses (StoreError, exit 3) before its block runs, and nothing is written."""
    assert_write_refused_after(
        workdir,
        lambda: _sql(TRIGGERS["swallow_revoke"]),
        r"prov\.db: holds schema objects .*trigger swallow_revoke on audit",
    )


def test_read_back_fails_a_write_whose_entry_or_row_did_not_stick(template_trust, workdir):
    """The belt and braces behind the refusal: what B16-2's triggers did, done inside the write by the same
    connection after the append, makes `read_back` raise and the whole write roll back; an honest write passes."""
    store = Store.open(workdir)
    try:
        head_before = store.audit_head()
        with pytest.raises(StoreError, match="audit entry just written is not in the log as written"):
            with store.write():
                head = store.audit("trust.revoke", "vendor", {"keyid": _kid()})
                store.db.execute("delete from audit where hash = ?", [head])  # the swallow_revoke trigger's work
                store.read_back(head)
        row = ("trust", {"source": "vendor", "keyid": _kid()}, {"revoked_at": "2026-01-01T00:00:00Z"})
        with pytest.raises(StoreError, match="trust row of source vendor, keyid .* does not hold what was just"):
            with store.write():
                head = store.audit("trust.revoke", "vendor", {"keyid": _kid()})
                store.db.execute("update trust set revoked_at = '2026-01-01T00:00:00Z'")
                store.db.execute("update trust set revoked_at = null")  # the unrevoke_update trigger's work
                store.read_back(head, row)
        assert store.audit_head() == head_before
        with store.write():  # honest: entry and row as written
            head = store.audit("trust.revoke", "vendor", {"keyid": _kid()})
            store.db.execute("update trust set revoked_at = '2026-01-01T00:00:00Z'")
            store.read_back(head, row)
        assert store.audit_head() != head_before
    finally:
        store.close()


def test_a_changed_table_definition_that_ignores_the_revocation_is_caught_by_read_back(prov, template_trust, workdir):
    """No trigger, view or extra object: the writer rebuilds `audit` with a generated column that is UNIQUE ON
    CONFLICT IGNORE and shared by the vendor's trust.add entry and any later entry about the vendor, so SQLite
    silently drops the trust.revoke insert (was: exit 0, the row revoked but the log, which the gate reads,
    without the revocation). The revocation read its entry back and failed (exit 3), writing nothing; since attack
    review 17 (F17-3) the store is refused before that, at open: the UNIQUE constraint makes an autoindex
    (sqlite_autoindex_audit_1) that prov's schema has not."""
    with sqlite3.connect(".prov/prov.db") as db:
        [(sql,)] = db.execute("select sql from sqlite_master where type = 'table' and name = 'audit'").fetchall()
        guarded = sql.rstrip().removesuffix(")") + (
            ", guard TEXT GENERATED ALWAYS AS (CASE WHEN subject = 'vendor' THEN 'x' END) VIRTUAL "
            "UNIQUE ON CONFLICT IGNORE)"
        )
        db.executescript(
            "alter table audit rename to audit_old; "
            + guarded
            + "; insert into audit (seq, ts, action, subject, detail, prev_hash, hash) "
            "select seq, ts, action, subject, detail, prev_hash, hash from audit_old; drop table audit_old;"
        )
    before = store_fingerprint(workdir / ".prov")
    r = prov(*REVOKE)
    assert r.exit_code == 3, r.output  # was 0
    line = one_line(r)
    assert ".prov/prov.db" in line and "index sqlite_autoindex_audit_1 on audit" in line, line
    assert store_fingerprint(workdir / ".prov") == before
    assert _revocations() == []


def test_fsck_repairs_a_planted_table_whose_name_breaks_quoting(prov, template_trust, workdir):
    """A planted table named `x]` (a name that closes the bracket quoting of `pragma table_info([...])`): fsck
    names it and --repair drops it (was: fsck could not open the store at all to report it)."""
    _sql('create table "x]" (y text)')
    r = prov("fsck", *PINNED)
    assert r.exit_code == 1 and any("table x] is not part of prov's schema" in e for e in _errors(r.stdout)), r.output
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 0 and "removed table x] from" in r.stdout, r.output
