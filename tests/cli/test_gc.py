"""`prov gc` drops old detector runs and unflagged scores; prov findings, verify and fsck see no difference
in what matters, and no signed fact or audit entry is touched."""

from __future__ import annotations

import fcntl
import json
import re
import sqlite3
from pathlib import Path

from jsonschema import Draft202012Validator

from provenance.report.wording import bytes_text
from support import store_fingerprint

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "gc.schema.json").read_text())


def rows(workdir, sql: str) -> list:
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        return db.execute(sql).fetchall()


def test_gc_keeps_the_newest_run_and_flagged_records_only(prov, workdir, three_versions, keypair):
    pin = ["--signer", str(keypair.public_path)]
    for _ in range(3):
        assert prov("diff", "v1", "v2", "--detect", *pin, "--format", "json", "--out", "d.json").exit_code in (0, 1)
    findings_before = prov("findings", "v2", "--json").stdout
    runs_before = rows(workdir, "select distinct run from detector_runs")
    assert len(runs_before) == 3
    audit_before = rows(workdir, "select * from audit order by seq")
    signed_before = rows(workdir, "select * from versions order by tag")

    before = store_fingerprint(workdir / ".prov")
    dry = prov("gc", "--dry-run", "--json")
    assert dry.exit_code == 0
    planned = json.loads(dry.stdout)
    Draft202012Validator(SCHEMA).validate(planned)
    assert planned["dry_run"] and len(planned["runs_dropped"]) == 2 and planned["findings_dropped"] > 0
    assert store_fingerprint(workdir / ".prov") == before  # a dry run changes nothing
    assert prov("gc", "--keep-runs", "0").exit_code == 2
    assert store_fingerprint(workdir / ".prov") == before

    objects = [
        r[0] for r in rows(workdir, "select json_extract(detail, '$.findings') from audit where action = 'detect'")
    ]
    assert planned["objects_dropped"] == 2 and all((workdir / ".prov/objects" / f"{o}.json").is_file() for o in objects)
    done = json.loads(prov("gc", "--json").stdout)
    assert {k: v for k, v in done.items() if k != "dry_run"} == {k: v for k, v in planned.items() if k != "dry_run"}
    newest = prov("findings", "v2", "--json").stdout
    assert json.loads(newest)["findings"] == json.loads(findings_before)["findings"]  # what a reviewer reads
    flagged = rows(workdir, "select count(*) from findings where detector = 'combined' and flagged = 1")[0][0]
    unflagged = rows(workdir, "select count(*) from findings where detector = 'combined' and flagged = 0")[0][0]
    assert flagged > 0 and unflagged == 0
    assert len(rows(workdir, "select distinct run from detector_runs")) == 1
    assert rows(workdir, "select * from versions order by tag") == signed_before
    audit_after = rows(workdir, "select * from audit order by seq")
    assert audit_after[: len(audit_before)] == audit_before and [e[2] for e in audit_after[len(audit_before) :]] == [
        "gc"
    ]
    # the dropped runs' findings objects are deleted (they were most of what a run stores), the kept run's stays
    gone = [o for o in objects if not (workdir / ".prov/objects" / f"{o}.json").exists()]
    assert len(gone) == 2 and objects[-1] not in gone
    fsck = json.loads(prov("fsck", *pin, "--json").stdout)
    assert fsck["errors"] == [] and fsck["warnings"] == [], fsck
    assert prov("verify", "v2", *pin).exit_code == 0
    again = json.loads(prov("gc", "--json").stdout)
    assert again["runs_dropped"] == [] and again["findings_dropped"] == 0


def test_fsck_reports_findings_rows_of_a_run_no_audit_entry_logs(prov, workdir, three_versions, keypair):
    """A `.prov/` writer's findings rows for a run nobody logged (attack review 9, F1's plant, without the
    detector_runs rows): `prov findings` ignores them, and `prov fsck` now names them."""
    pin = ["--signer", str(keypair.public_path)]
    assert prov("diff", "v1", "v2", "--detect", *pin).exit_code in (0, 1)
    assert json.loads(prov("fsck", *pin, "--json").stdout)["errors"] == []
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute(
            "insert into findings (run, version, base, position, digest, label, detector, score, flagged, explanation) "
            "select 'feedfacefeedface', version, base, position, digest, label, detector, 0.5, 1, 'planted' "
            "from findings limit 1"
        )
    r = prov("fsck", *pin, "--json")
    assert r.exit_code == 1
    assert any("findings rows of run feedfacefeedface" in e["message"] for e in json.loads(r.stdout)["errors"])


def test_gc_deletes_no_object_something_else_references(prov, workdir, three_versions, keypair):
    """A `.prov/` writer logs an old run whose entry names v1's manifest as its findings object: gc drops the
    run, and deletes its object only when nothing else references it (here the version does)."""
    from provenance.store import audit

    pin = ["--signer", str(keypair.public_path)]
    assert prov("diff", "v1", "v2", "--detect", *pin).exit_code in (0, 1)
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        manifest = db.execute("select manifest_object from versions where tag = 'v1'").fetchone()[0]
        row = db.execute("select * from detector_runs limit 1").fetchone()
        names = [c[0] for c in db.execute("select * from detector_runs limit 1").description]
        old = dict(zip(names, row)) | {"run": "feedfacefeedface", "created_at": "2000-01-01T00:00:00+00:00"}
        db.execute(
            f"insert into detector_runs ({','.join(old)}) values ({','.join('?' * len(old))})", list(old.values())
        )
        audit.append(db, "detect", old["version"], {"run": "feedfacefeedface", "base": "v1", "findings": manifest})
    done = json.loads(prov("gc", "--json").stdout)
    assert done["runs_dropped"] == ["feedfacefeedface"] and done["objects_dropped"] == 0, done
    assert prov("verify", "v1", *pin).exit_code == 0


def _sizes(workdir) -> tuple[int, int]:
    prov_dir = workdir / ".prov"
    return (prov_dir / "prov.db").stat().st_size, sum(p.stat().st_size for p in (prov_dir / "objects").iterdir())


def test_gc_returns_the_space_to_the_disk_and_says_how_much(prov, workdir, three_versions, keypair):
    """Newcomer review 10, finding 12: gc dropped 118 rows and the store's files stayed the same size. The
    bytes it says it freed are gone from .prov/, and --dry-run says the same number beforehand."""
    pin = ["--signer", str(keypair.public_path)]
    for _ in range(3):
        assert prov("diff", "v1", "v2", "--detect", *pin, "--format", "json", "--out", "d.json").exit_code in (0, 1)
    db_before, objects_before = _sizes(workdir)
    dry = prov("gc", "--dry-run")
    assert dry.exit_code == 0 and re.search(r"; would free \d+\.\d (KB|MB)$", dry.stdout.strip()), dry.stdout
    planned = json.loads(prov("gc", "--dry-run", "--json").stdout)
    assert _sizes(workdir) == (db_before, objects_before)

    done = prov("gc")
    assert done.exit_code == 0
    assert done.stdout.startswith("gc dropped 2 old detector runs, ") and "run(s)" not in done.stdout
    db_after, objects_after = _sizes(workdir)
    assert db_after < db_before and objects_after < objects_before
    assert (db_before - db_after) + (objects_before - objects_after) == planned["bytes_freed"] > 0
    assert done.stdout.strip().endswith(f"freed {bytes_text(planned['bytes_freed'])}")
    assert rows(workdir, "pragma integrity_check") == [("ok",)]
    assert prov("verify", "v2", *pin).exit_code == 0 and prov("findings", "v2").exit_code in (0, 1)
    # and the next gc has nothing to drop and nothing to free: it writes nothing
    before = store_fingerprint(workdir / ".prov")
    again = json.loads(prov("gc", "--json").stdout)
    assert again["findings_dropped"] == 0 and again["bytes_freed"] == 0
    assert store_fingerprint(workdir / ".prov") == before


def test_a_gc_that_fails_leaves_the_store_exactly_as_it_was(prov, workdir, three_versions, keypair, monkeypatch):
    """The space goes back in the transaction that drops the rows, so a gc that cannot finish changes no byte:
    not while another prov command holds the store's lock, nor while a reader holds the database."""
    pin = ["--signer", str(keypair.public_path)]
    for _ in range(2):
        assert prov("diff", "v1", "v2", "--detect", *pin).exit_code in (0, 1)
    monkeypatch.setenv("PROV_LOCK_TIMEOUT", "0.3")
    before = store_fingerprint(workdir / ".prov")
    with open(workdir / ".prov" / "lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        held = prov("gc")
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert held.exit_code == 3 and "store busy" in held.stderr, held.output
    assert store_fingerprint(workdir / ".prov") == before

    assert prov("gc").exit_code == 0  # the first gc of a store changes its layout (see provenance/gc.py)
    for _ in range(2):
        assert prov("diff", "v1", "v2", "--detect", *pin).exit_code in (0, 1)
    before = store_fingerprint(workdir / ".prov")
    reader = sqlite3.connect(workdir / ".prov" / "prov.db", isolation_level=None)
    reader.execute("begin")
    reader.execute("select count(*) from findings").fetchone()  # a read transaction: SQLite's shared lock
    try:
        busy = prov("gc")
    finally:
        reader.execute("rollback")
        reader.close()
    assert busy.exit_code == 3, busy.output
    assert store_fingerprint(workdir / ".prov") == before
    assert prov("gc").exit_code == 0 and store_fingerprint(workdir / ".prov") != before


def test_gc_decides_under_the_lock_what_another_gc_dropped_since_its_plan(prov, workdir, three_versions, keypair):
    """gc worked out the runs and findings objects to drop before it took the store's lock, and deleted the objects
    after releasing it: a prov writer that committed in between (here another gc, run for real through its own
    handle once the first has planned) was not seen, so the first reported runs and objects it never dropped and
    logged a second ``gc`` entry for them. It decides again under the lock, and deletes the objects there."""
    import contextlib

    from provenance.gc import collect_garbage
    from provenance.store.store import Store

    pin = ["--signer", str(keypair.public_path)]
    for _ in range(2):
        assert prov("diff", "v1", "v2", "--detect", *pin).exit_code in (0, 1)
    (older,) = rows(workdir, "select run from detector_runs group by run order by min(rowid) limit 1")
    first = Store.open(workdir)
    take_lock = first.locked
    other: list[dict] = []

    @contextlib.contextmanager
    def another_gc_first():  # the first gc has planned; another commits before it takes the lock
        other.append(collect_garbage(Store.open(workdir)))
        with take_lock():
            yield

    first.locked = another_gc_first  # type: ignore[method-assign]
    done = collect_garbage(first)
    assert other[0]["runs_dropped"] == [older[0]] and other[0]["objects_dropped"] == 1
    assert done["runs_dropped"] == [] and done["objects_dropped"] == 0 and done["findings_dropped"] == 0
    assert rows(workdir, "select json_extract(detail, '$.runs') from audit where action = 'gc'") == [
        (json.dumps([older[0]], separators=(",", ":")),)
    ]
    fsck = json.loads(prov("fsck", *pin, "--json").stdout)
    assert fsck["errors"] == [] and fsck["warnings"] == [], fsck
