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
from support import one_line

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
