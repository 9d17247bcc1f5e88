"""Attack review 15, A15-2..4, replayed in the trust world (``support.build_trust_world``: the maintainer trusts
``vendor.pub`` with a signed entry, audit entry 1; v2 is v1 plus the vendor's 600 signed records).

Whoever writes ``.prov/`` deletes only the vendor's ``trust`` and ``trust_statements`` rows with sqlite3, no key.
The gate read which batches are trusted from those rows: it blocked the vendor's signed records as "from unsigned
batches" and "To release:" offered to cut them, while ``integrity.verify_signatures`` and ``prov audit verify``
passed; ``prov fsck`` called the logged statement "unreferenced". Trust entries are now read from the hash-chained
audit entries that name their signed statements, verified under the pins; the rows are a cache that
``prov fsck --repair`` writes back.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from provenance import keys
from support import one_line, store_fingerprint

PINNED = ("--signer", "maintainer.pub")


def _delete_trust_rows() -> None:
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("delete from trust where source = 'vendor'")
        db.execute("delete from trust_statements where source = 'vendor'")


def _statement_file(workdir):
    with sqlite3.connect(".prov/prov.db") as db:
        [(oid,)] = db.execute("select object from trust_statements where source = 'vendor'").fetchall()
    [path] = (workdir / ".prov" / "objects").glob(f"{oid}.*")
    return path


def _trust_rows() -> tuple[list, list]:
    with sqlite3.connect(".prov/prov.db") as db:
        trust = db.execute("select * from trust order by source, keyid").fetchall()
        cached = db.execute("select source, keyid, object, signer from trust_statements order by source").fetchall()
    return trust, cached


def _check(prov) -> tuple[int, dict, dict]:
    r = prov("check", "v2", "--base", "v1", "--no-save", "--format", "json", *PINNED)
    assert r.exit_code in (0, 1), r.output
    doc = json.loads(r.stdout)
    return r.exit_code, {x["rule"]: x for x in doc["rules"]}, doc


def test_deleting_only_the_trust_rows_keeps_the_signed_delivery_trusted(prov, template_trust, workdir):
    """A15-2: the vendor's 600 signed records stay attested and the check passes, as on the honest store; the
    integrity rule says the rows were deleted, which audit entry keeps the signed entry, and how to restore."""
    honest_exit, _, honest = _check(prov)
    assert (honest_exit, honest["decision"]) == (0, "pass")
    _delete_trust_rows()
    code, rules, doc = _check(prov)
    unsigned = rules["lineage.unsigned_from_signing_sources"]
    assert unsigned["status"] == "pass", unsigned  # was "block": 600 "added records from unsigned batches"
    vendor = next(s for s in doc["sources"] if s["source"] == "vendor")
    assert (vendor["attested_added"], vendor["unattributed_added"]) == (600, 0), vendor
    assert (code, doc["decision"]) == (0, "warned"), doc["decision"]  # was (1, "blocked")
    integrity = rules["integrity.verify_signatures"]
    reason = " ".join(integrity["reason"].split())
    kid = keys.key_id(keys.load_public("vendor.pub"))
    assert integrity["status"] == "warn", integrity  # was "pass", saying nothing
    assert f"trust rows of key {kid[:16]} for 'vendor' deleted from the store: audit entry 1 logs" in reason, reason
    assert "restore them with prov fsck --repair" in reason, reason
    text = prov("check", "v2", "--base", "v1", "--no-save", *PINNED)
    assert text.exit_code == 0 and "To release:" not in text.output, text.output  # was: leave the vendor out


@pytest.mark.parametrize("damage", ["rows", "rows and statement deleted", "statement altered"])
def test_audit_verify_fails_on_a_logged_trust_entry_whose_rows_or_statement_are_gone(
    prov, template_trust, workdir, damage
):
    """A15-4: `prov audit verify` exited 0 on these stores (the log's chain and checkpoints are intact) while the
    gate acted on the damage; it now exits 1 with one line naming the audit entry and what is wrong."""
    assert prov("audit", "verify", *PINNED).exit_code == 0
    statement = _statement_file(workdir)
    if damage != "statement altered":
        _delete_trust_rows()
    if damage == "rows and statement deleted":  # A14b-1's store
        statement.unlink()
    elif damage == "statement altered":
        statement.write_bytes(statement.read_bytes() + b"\n")
    r = prov("audit", "verify", *PINNED)
    assert r.exit_code == 1, r.output  # was 0: "Audit log ok: 11 entries"
    line = one_line(r)
    assert "audit entry 1 (trust" in line and "'vendor'" in line, line
    expected = {
        "rows": "its trust rows are missing from the store; prov fsck --repair restores them",
        "rows and statement deleted": "is missing from the store",
        "statement altered": "was altered",
    }[damage]
    assert expected in line, line


@pytest.mark.parametrize("history", ["added", "retired"])
def test_fsck_names_the_deleted_rows_and_repair_writes_them_back(prov, template_trust, workdir, history):
    """A15-3: fsck called the logged signed statement "unreferenced" (so --repair would have removed it, had
    nothing else been wrong). It now says the entry is logged and its rows missing, and --repair writes the rows
    back from the statement, which verifies under the pins: the store then checks as before the attack. A key
    retired since (`prov trust retire`: a shorter signed entry) gets its shortened window and latest entry back."""
    if history == "retired":
        kid = keys.key_id(keys.load_public("vendor.pub"))
        r = prov("trust", "retire", "vendor", "--key-id", kid[:16], "--at", "2999-01-01", "--key", "maintainer.key")
        assert r.exit_code == 0, r.output
    before = _trust_rows()
    _delete_trust_rows()
    r = prov("fsck", *PINNED)
    assert r.exit_code == 1, r.output
    out = " ".join(r.output.split())
    assert "logged at audit entry 1, its trust rows missing" in out, out  # was "... which is not in the store"
    assert "unreferenced" not in out, out  # was: "unreferenced object ... `prov fsck --repair` removes it"
    # (revoking the key meanwhile needs no repair: tests/cli/test_revoke_rows_deleted.py, attack review 16, F2)
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 0, r.output
    assert "restored trust rows of key" in r.output and "from audit entry 1" in r.output, r.output
    assert _trust_rows() == before
    assert prov("fsck", *PINNED).exit_code == 0
    assert prov("audit", "verify", *PINNED).exit_code == 0
    _, rules, _ = _check(prov)
    assert rules["integrity.verify_signatures"]["status"] == "pass", rules["integrity.verify_signatures"]


@pytest.mark.parametrize("how", ["nothing pinned", "statement deleted too"])
def test_fsck_repair_writes_nothing_it_cannot_verify(prov, template_trust, workdir, how):
    """--repair writes rows back only from a statement your pins verify: with nothing pinned (keys found in .prov/
    prove nothing), or with the statement deleted too (A14b-1), it fails and leaves the store as it was."""
    _delete_trust_rows()
    pins: tuple[str, ...] = PINNED
    if how == "nothing pinned":
        pins = ()
    else:
        _statement_file_gone(workdir)
    before = store_fingerprint(workdir / ".prov")
    r = prov("fsck", "--repair", *pins)
    assert r.exit_code == 1, r.output
    assert "restored" not in r.output, r.output
    assert store_fingerprint(workdir / ".prov") == before
    # named for what it is: logged, rows missing, its statement not relied on (was "... not in the store")
    out = " ".join(r.output.split())
    assert "logged at audit entry 1, its trust rows missing, and its signed statement" in out, out


def _statement_file_gone(workdir) -> None:
    with sqlite3.connect(".prov/prov.db") as db:
        [(detail,)] = db.execute(
            "select detail from audit where action = 'trust.add' and subject = 'vendor'"
        ).fetchall()
    [path] = (workdir / ".prov" / "objects").glob(f"{json.loads(detail)['statement']}.*")
    path.unlink()
