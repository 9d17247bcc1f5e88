"""Review 24b, item 2: ``prov gc`` and ``prov fsck`` read audit details in Python, never with SQLite's json_extract,
replayed for real (entries planted in ``.prov/prov.db`` with sqlite3). Each test failed on the code before its fix."""

from __future__ import annotations

import json
import sqlite3

import pytest

from support import plant_pending_entry, plant_raw_entry, store_fingerprint

PINNED = ("--signer", "maintainer.pub")


MALFORMED = {"not JSON": "{not json", "nested past the parser's depth": "[" * 100_000 + "]" * 100_000}


def two_runs_and_a_malformed_entry(prov, workdir, action: str, detail: str) -> None:
    """v2 with two detector runs (the template's check, and one more), then a planted entry of ``action`` whose
    detail is ``detail`` (raw text), chain-valid and pending, as a ``.prov/`` writer appends it with sqlite3."""
    assert prov("diff", "v1", "v2", "--detect", *PINNED).exit_code in (0, 1)
    plant_raw_entry(workdir / ".prov" / "prov.db", action, "v2", detail)


def findings_objects(workdir) -> list[str]:
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        rows = db.execute("select detail from audit where action = 'detect' and json_valid(detail)").fetchall()
    return [json.loads(d)["findings"] for (d,) in rows]


@pytest.mark.parametrize("detail", list(MALFORMED.values()), ids=list(MALFORMED))
@pytest.mark.parametrize("action", ["detect", "gc", "commit"])
def test_gc_deletes_nothing_while_an_entry_naming_objects_cannot_be_read(prov, template_trust, workdir, action, detail):
    """Review 24b, item 2: gc read ``detect`` entries with SQLite's json_extract, which raises on a planted malformed
    or too deeply nested detail (internal error, exit 3), and it listed what else names an object the same way,
    skipping a query that raised (a ``commit`` entry naming a delta). Such an entry may name the very object gc
    would delete, so gc now refuses, fail closed: exit 1 naming the entry, nothing written, every object kept."""
    two_runs_and_a_malformed_entry(prov, workdir, action, detail)
    before = store_fingerprint(workdir / ".prov")
    seq = len(sqlite3.connect(workdir / ".prov" / "prov.db").execute("select seq from audit").fetchall())
    for args in (("gc", "--dry-run"), ("gc",)):
        r = prov(*args)
        assert r.exit_code == 1, r.output
        assert f"audit entry {seq} ({action})" in r.stderr and "nothing was dropped" in r.stderr, r.stderr
        assert store_fingerprint(workdir / ".prov") == before


def test_fsck_calls_no_object_unreferenced_while_an_entry_naming_objects_cannot_be_read(prov, template_trust, workdir):
    """Review 24b, item 2: a planted ``detect`` entry with a malformed detail made fsck's json_extract raise, and
    fsck dropped the whole query: every run's findings object was then "unreferenced; `prov fsck --repair` removes
    it". fsck now reads details in Python: exit 1 naming the entry, and no object called unreferenced."""
    two_runs_and_a_malformed_entry(prov, workdir, "detect", MALFORMED["not JSON"])
    seq = len(sqlite3.connect(workdir / ".prov" / "prov.db").execute("select seq from audit").fetchall())
    r = prov("fsck", *PINNED, "--json")
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    errors = [p["message"] for p in report["errors"]]
    assert any(f"audit entry {seq} (detect)" in e and "unreferenced" in e for e in errors), errors
    assert not [p for p in report["warnings"] if "unreferenced" in p["message"]], report["warnings"]
    assert all((workdir / ".prov" / "objects" / f"{oid}.json").is_file() for oid in findings_objects(workdir))


def test_fsck_names_an_entry_whose_object_name_is_no_text(prov, template_trust, workdir):
    """A planted ``quarantine.rows`` entry whose removedRecords is a number, not an object name, made fsck fail on
    the number (internal error, exit 3); it is now an error naming the entry."""
    plant_pending_entry(workdir / ".prov" / "prov.db", "quarantine.rows", "v2", {"removedRecords": 12345})
    r = prov("fsck", *PINNED, "--json")
    assert r.exit_code == 1, r.output
    errors = [p["message"] for p in json.loads(r.stdout)["errors"]]
    assert any("(quarantine.rows): its removedRecords is no object name" in e for e in errors), errors
