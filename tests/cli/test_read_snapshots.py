"""Reading commands decide on one snapshot of `.prov/prov.db`, whatever a `.prov/` writer does meanwhile.

No timing: the `.prov/` writer (sqlite3 on its own connection, as anyone who can write the folder)
acts at a fixed point of the command, just before the library call that makes the command's trust
decision runs; the real call then runs. A command reading the live database row by row would
decide on the writer's state; one reading its snapshot gives exactly the result it gives with no
writer at all.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance.store import Store, audit
from support import ok

PINNED = ("--signer", "maintainer.pub")


def _write_behind(sql: str) -> None:
    """The `.prov/` writer: ``sql`` on its own connection to prov.db, committed (no prov lock taken)."""
    with contextlib.closing(sqlite3.connect(Path(".prov") / "prov.db")) as db:
        db.executescript(f"begin; {sql}; commit;")


@contextlib.contextmanager
def _racing(monkeypatch, module, name: str, sql: str) -> Iterator[list[int]]:
    """In the block, the `.prov/` writer runs ``sql`` each time ``module.name`` is called, before it runs;
    the list yielded counts the calls."""
    real, calls = getattr(module, name), []

    def write_then_call(*args, **kwargs):
        _write_behind(sql)
        calls.append(1)
        return real(*args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(module, name, write_then_call)
        yield calls


def test_a_snapshot_keeps_its_view_while_prov_db_is_edited(template_trust, workdir):
    """Library level: rows edited, deleted and planted through another connection after the snapshot
    was opened are not seen by it (a fresh open sees them); a write made through the snapshot goes to
    the live store; a snapshot of a snapshot is itself; closing it closes the live store it opened."""
    snap = Store.open_snapshot()
    before = (snap.versions(), audit.entries(snap.db), list(snap.db["trust"].rows))
    _write_behind(
        "delete from versions where tag = 'v3'; update audit set detail = '{}' where seq = 2; "
        "delete from trust; insert into keys (keyid, name, public_pem) values ('f00d', 'planted', 'x')"
    )
    assert (snap.versions(), audit.entries(snap.db), list(snap.db["trust"].rows)) == before
    assert audit.verify_chain(snap.db)[0] == len(before[1])
    live = Store.open()
    assert [v["tag"] for v in live.versions()] == [v["tag"] for v in before[0] if v["tag"] != "v3"]
    assert list(live.db["trust"].rows) == []
    with snap.snapshot() as again:
        assert again is snap
    with snap.write():
        snap.audit("note", "snapshot", {})
    assert audit.head(live.db)[0] == len(before[1]) + 1 and audit.head(snap.db)[0] == len(before[1])
    live.close()
    owned = snap._live
    snap.close()
    assert owned is not None
    with pytest.raises(sqlite3.ProgrammingError):
        owned.db.execute("select 1")


def test_audit_verify_reports_the_log_it_opened(prov, template_trust, workdir, monkeypatch):
    """An entry edited (breaking the chain) after `prov audit verify` opened the store: the report is the one
    the untouched log gives; the next run sees the edit and fails."""
    from provenance.store import coverage

    baseline = ok(prov, "audit", "verify", "--json", *PINNED)
    with _racing(monkeypatch, coverage, "verify_log", "update audit set subject = 'edited' where seq = 1") as calls:
        assert ok(prov, "audit", "verify", "--json", *PINNED) == baseline and calls == [1]
    r = prov("audit", "verify", *PINNED)
    assert r.exit_code == 1 and "entry 1" in r.stderr and "was edited" in r.stderr


def test_verify_checks_the_version_it_found(prov, template_trust, workdir, monkeypatch):
    """The version's row deleted between `prov verify` finding the version and checking its signature: the
    result is the one the untouched store gives."""
    from provenance import versions

    baseline = json.loads(ok(prov, "verify", "v2", "--no-data", "--json", *PINNED))
    with _racing(monkeypatch, versions, "verify_version", "delete from versions where tag = 'v2'") as calls:
        assert json.loads(ok(prov, "verify", "v2", "--no-data", "--json", *PINNED)) == baseline and calls == [1]
    assert prov("verify", "v2", "--no-data", *PINNED).exit_code == 2


def test_sources_judges_one_state(prov, template_trust, workdir, monkeypatch):
    """Trust entries and batches deleted, and a withdrawal entry planted, after `prov sources` counted the
    sources and before it judges withdrawals: the counts, keys and withdrawals are the untouched store's."""
    from provenance.lineage import withdraw

    baseline = json.loads(ok(prov, "sources", "--json", *PINNED))
    seq, prev = audit.head(sqlite3.connect(Path(".prov") / "prov.db"))
    entry = {"seq": seq + 1, "ts": "2026-12-01T00:00:00.000000Z", "action": "batch.withdraw", "subject": "x@0"}
    entry |= {"detail": "{}", "prev_hash": prev}
    planted = audit.hashlib.sha256(audit.entry_bytes(entry)).hexdigest()
    values = ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in [*entry.values(), planted])
    sql = f"delete from trust; delete from batches; insert into audit values ({values})"
    with _racing(monkeypatch, withdraw, "withdrawal_summary", sql) as calls:
        assert json.loads(ok(prov, "sources", "--json", *PINNED)) == baseline and calls == [1]
    after = json.loads(ok(prov, "sources", "--json", *PINNED))
    assert [w["batch"] for w in after["withdrawals"]] == ["x@0"] and after != baseline


def test_diff_detect_scores_the_versions_it_opened(prov, template_trust, workdir, monkeypatch):
    """The new version's row deleted after `prov diff --detect` diffed the versions and before the detectors
    read it: the findings are the untouched store's (the next run has no v2 and fails)."""
    from provenance.detectors import pipeline

    def findings(out: str) -> tuple:
        report = json.loads(out)
        return report["summary"], [(f["digest"], f["flagged"], f["score"]) for f in report["findings"]]

    baseline = findings(ok(prov, "diff", "v1", "v2", "--detect", "--format", "json", *PINNED))
    with _racing(monkeypatch, pipeline, "detect_diff", "delete from versions where tag = 'v2'") as calls:
        assert findings(ok(prov, "diff", "v1", "v2", "--detect", "--format", "json", *PINNED)) == baseline
    assert calls == [1]
    assert prov("diff", "v1", "v2", "--detect", *PINNED).exit_code == 2


def test_check_decides_on_the_snapshot_it_took(template_trust, workdir, monkeypatch):
    """Library level (`provenance.check`): the trust entries deleted
    after the check took its snapshot, before its rules run: every rule decides as on the untouched store."""
    import provenance
    from provenance.gate import gate
    from provenance.trust.pins import Pins

    def verdicts() -> tuple:
        result = provenance.check(None, "v2", "v1", policy="policy.toml", pins=Pins.load(["maintainer.pub"]))
        return result.decision, [(r["rule"], r["status"], r["reason"]) for r in result.to_dict()["rules"]]

    baseline = verdicts()
    with _racing(monkeypatch, gate, "check", "update audit set subject = 'edited' where seq = 1") as calls:
        assert verdicts() == baseline and calls == [1]
    assert verdicts() != baseline
