"""A junk ``versions`` row planted in ``.prov/`` is tampering (exit 1), not bad input (exit 2).

A ``.prov/`` writer inserts a row ``vx`` whose envelope names a Parquet object of the store
(v1's manifest). ``prov check v2 --base v1`` read every version's envelope for the audit
log's signed heads and stopped at "envelope is not JSON" with exit 2, the code of a user's
bad file; ``audit verify``, ``show``, ``verify`` and ``diff`` of ``vx`` did the same. A store
object is one prov wrote, so one that is not an envelope is a verification failure.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from provenance.encoding import ROW_DIGEST_ALGORITHM
from support import digits_table, flip_label, ok, one_line


@pytest.fixture
def junk_row(prov, store, keypair, monkeypatch) -> str:
    """v1, v2 by Alice (pinned), then the junk row ``vx``; returns the object its envelope names."""
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    pq.write_table(digits_table(100), Path("a.parquet"))
    pq.write_table(flip_label(digits_table(100), 3), Path("b.parquet"))
    ok(prov, "-q", "commit", "a.parquet", "--tag", "v1", "--key", keypair.private_path)
    ok(prov, "-q", "commit", "b.parquet", "--tag", "v2", "--key", keypair.private_path)
    with sqlite3.connect(".prov/prov.db") as db:
        manifest, keyid = db.execute("select manifest_object, keyid from versions where tag = 'v1'").fetchone()
        db.execute(
            "insert into versions (tag, parent, created_at, merkle_root, records, manifest_object, envelope_object,"
            " keyid, dataset, kind, audit_seq) values ('vx', 'v1', '2026-12-01T00:00:00Z', ?, 100, ?, ?, ?, '{}',"
            " 'table', 99)",
            ["ab" * 32, manifest, manifest, keyid],
        )
    db.close()
    return manifest


def test_check_blocks_on_a_junk_version_row(prov, junk_row):
    r = prov("check", "v2", "--base", "v1", "--format", "json")
    assert r.exit_code == 1, r.output  # exit 2, "envelope of vx: envelope is not JSON", before
    rules = {x["rule"]: x["status"] for x in json.loads(r.stdout)["rules"]}
    assert rules == {"integrity.verify_signatures": "block"}, rules
    # newcomer review 9, finding 11: the Rules note pointed to a Detectors table that never follows
    text = prov("check", "v2", "--base", "v1", env={"COLUMNS": "200"}).stdout
    assert "\nDetectors " not in text and "Rules (deciding rules first)" in text, text


@pytest.mark.parametrize("command", [("audit", "verify"), ("show", "vx"), ("verify", "vx"), ("diff", "v1", "vx")])
def test_reading_a_junk_version_row_is_a_verification_failure(prov, junk_row, command):
    r = prov(*command)
    assert r.exit_code == 1, r.output  # exit 2 before
    line = one_line(r)
    assert f"objects/{junk_row}.parquet: envelope of vx: envelope is not JSON" in line, line
    assert line.endswith("not an envelope prov wrote: the store was tampered with"), line
    # the genuine versions still read as they did
    assert "signature ok" in ok(prov, "show", "v2")


def _signed_junk_row(tag: str, predicate: object, manifest: str, key_path: Path, schema: bool = True) -> None:
    """A ``.prov/`` writer signs a statement of their own making with ``key_path`` and plants a row for it."""
    from provenance import keys, signing
    from provenance.store import Store

    private = keys.load_private(key_path)
    stmt = signing.statement(tag, bytes(32), "https://prov.dev/dataset-version/v1", {})
    if schema and isinstance(predicate, dict) and "schema" not in predicate:
        # schema facts of the shape prov writes, so each case reaches the fact it plants (a statement without
        # them is refused first since session 26: the last test below)
        predicate = {**predicate, "schema": {"kind": "table", "columns": [], "digestAlgorithm": ROW_DIGEST_ALGORITHM}}
    stmt["predicate"] = predicate
    writer = Store.open()  # prov's own code, as any .prov/ writer may run it
    with writer.write():
        oid = writer.put_object(signing.canonical_json(signing.sign(stmt, private)), "json")
        writer.db.execute(
            "insert into versions (tag, parent, created_at, merkle_root, records, manifest_object, envelope_object,"
            " keyid, dataset, kind, audit_seq) values (?, NULL, 'x', ?, 1, ?, ?, ?, '{}', 'table', 99)",
            [tag, "00" * 32, manifest, oid, keys.key_id(private.public_key())],
        )
    writer.close()


@pytest.mark.parametrize(
    "predicate,said",
    [
        ([], "its signed predicate is not a JSON object"),
        ({"version": "vx2", "manifest": "ab"}, "signed manifest digest differs"),
        (
            {"version": "vx2", "manifest": {"sha256": "MANIFEST"}, "parent": "v1"},
            "its signed parent is not a JSON object",
        ),
    ],
)
def test_a_statement_prov_did_not_write_is_a_failed_check_not_a_crash(
    prov, junk_row, keypair, monkeypatch, predicate, said
):
    """Unpinned, a statement signed by a key found in the store is checked; one whose predicate, manifest or
    parent is not an object crashed ``prov show`` and ``prov diff`` (exit 3, "internal error")."""
    monkeypatch.delenv("PROV_SIGNERS")
    if isinstance(predicate, dict) and isinstance(predicate.get("manifest"), dict):
        predicate["manifest"]["sha256"] = junk_row
    _signed_junk_row("vx2", predicate, junk_row, keypair.private_path)
    for command in (("show", "vx2"), ("diff", "v1", "vx2")):
        r = prov(*command)
        assert r.exit_code == 1, r.output  # exit 3 before
        assert one_line(r).startswith(f"Error: version vx2: {said}"), r.output
    # a statement of the right shape whose facts are not: shown, marked NOT a trust decision, never crashed on
    _signed_junk_row(
        "vx3",
        {"version": "vx3", "manifest": {"sha256": junk_row}, "labels": [], "lineage": "x", "message": 5},
        junk_row,
        keypair.private_path,
    )
    r = prov("show", "vx3")
    assert r.exit_code == 0 and "NOT a trust decision" in r.stdout, r.output


def test_a_statement_with_no_schema_facts_is_a_failed_check(prov, junk_row, keypair, monkeypatch):
    """prov has signed ``kind``, ``columns`` and ``digestAlgorithm`` in every version's schema from its first
    commit; a statement without them is not one prov wrote (fix26c: the shape check holds the published
    schemas/version-statement.schema.json), exit 1 naming the version, never shown as a version."""
    monkeypatch.delenv("PROV_SIGNERS")
    _signed_junk_row("vx4", {"version": "vx4", "manifest": {"sha256": junk_row}}, junk_row, keypair.private_path, False)
    r = prov("show", "vx4")
    assert r.exit_code == 1, r.output
    assert one_line(r).startswith(
        "Error: version vx4: its signed schema is not the shape prov writes (kind is missing)"
    )
