"""Attack review 27b of session 27 (lead27): verify27's columnar change pairing and ``prov verify V --json``'s
failure document (2b0aad8), fix27b's default copies anchor by the base's signed rows (A26h-1), replayed for real.

Findings (strict xfails until 4a8b3ba fixed both; plain tests since):

- A27b-1 (low): ``version_verify._first_records`` still sorts by ``changes.natural_key``, which calls ``int`` on a
  piece ``str.isdigit`` accepts (``"²"``), so a file tree holding a file named ``1²`` whose contents were all
  replaced (the none-shared path) crashes ``prov verify V`` (exit 3, no ``--json`` failure document) where an
  edit sharing one record is exit 1: the columnar pairing (``change_pairing.natural_bytes``) no longer crashes,
  this path was left on the old key (24b-2 fixed the same ``int('²')`` in ``profiles.batches.file_order``).
  Fix: sort ``_first_records`` by ``change_pairing.natural_bytes`` (or ``natural_rank``), and let ``natural_key``
  test ``p.isdigit()`` only on the digit runs split out (odd pieces), never on text.
- A27b-2 (low): over 2 GiB of locator bytes overflows the pairing's combined column
  (``tests/unit/test_review27b_pairing.py``).

Held (plain tests): see each test's docstring.
"""

from __future__ import annotations

import json
import sqlite3

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import test_attack26h_replays as r26h

from provenance.changes import MAX_LISTED, REPORTED
from support import OUTPUT_SCHEMAS, store_fingerprint, validate_output


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def tree(root, names: dict[str, bytes]) -> None:
    for name, content in names.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


FILES = {f"{label}/{name}": f"{label}{name}".encode() for label in ("cat", "dog") for name in ("1", "2", "1²", "x3")}


def commit_tree(prov, keypair, workdir) -> None:
    tree(workdir / "data", FILES)
    r = prov("-q", "commit", "data", "--tree-reader", "files", "--tag", "v1", "--key", keypair.private_path)
    assert r.exit_code == 0, r.stderr


def test_a_tree_with_a_superscript_file_replaced_whole_is_exit_1(prov, workdir, store, keypair):
    commit_tree(prov, keypair, workdir)
    tree(workdir / "data", {name: b"replaced " + content for name, content in FILES.items()})  # nothing shared
    r = prov("verify", "v1", "--json")
    assert r.exit_code == 1, (r.exit_code, r.stderr)
    doc = json.loads(r.stdout)
    validate_output("verify-version", doc)
    assert doc["status"] == "failed" and doc["count"] == 2 * len(FILES)


def test_a_tree_with_a_superscript_file_edited_is_exit_1_and_named(prov, workdir, store, keypair):
    """Held: the columnar pairing's natural sort key takes ``²`` (c08b653's ``natural_key`` crashed here)."""
    commit_tree(prov, keypair, workdir)
    tree(workdir / "data", {"cat/1²": b"edited", "dog/x3": b"edited too"})
    r = prov("verify", "v1", "--json")
    assert r.exit_code == 1, (r.exit_code, r.stderr)
    doc = json.loads(r.stdout)
    validate_output("verify-version", doc)
    assert doc["count"] == 2
    assert [(c["kind"], c["locator"]) for c in doc["changes"]] == [("changed", "cat/1²"), ("changed", "dog/x3")]


ROWS = 1300


def commit_table(prov, keypair, workdir, x: list[float]) -> None:
    pq.write_table(pa.table({"x": x, "label": [str(i % 3) for i in range(ROWS)]}), workdir / "data.parquet")


def test_a_version_edited_everywhere_fails_with_a_document_whose_count_and_names_agree(prov, workdir, store, keypair):
    """Held: ``prov verify V --json`` on exit 1 prints the failure shape only (not the success shape), its
    ``count`` the exact number changed, ``changes`` the first 1000 by locator, ``error`` stderr's line."""
    commit_table(prov, keypair, workdir, [float(i) for i in range(ROWS)])
    assert prov("-q", "commit", "data.parquet", "--tag", "v1", "--key", keypair.private_path).exit_code == 0
    commit_table(prov, keypair, workdir, [0.0] + [i + 0.5 for i in range(1, ROWS)])
    r = prov("verify", "v1", "--json")
    assert r.exit_code == 1, r.stderr
    doc = json.loads(r.stdout)
    validate_output("verify-version", doc)
    with pytest.raises(jsonschema.ValidationError):  # not success-shaped
        success = json.loads((OUTPUT_SCHEMAS / "verify-version.schema.json").read_text())["oneOf"][0]
        jsonschema.Draft202012Validator(success).validate(doc)
    assert doc["status"] == "failed" and doc["count"] == ROWS - 1
    assert [c["locator"] for c in doc["changes"]] == [str(i) for i in range(1, REPORTED + 1)]
    assert {c["kind"] for c in doc["changes"]} == {"changed"}
    assert doc["error"] in r.stderr and f"({ROWS - 1} changed)" in doc["error"]
    assert doc["details"][-1] == f"... and {ROWS - 1 - MAX_LISTED} more changed"


def test_a_store_edit_that_breaks_the_signature_fails_with_a_schema_valid_document(prov, workdir, store, keypair):
    """Held: a ``.prov/`` writer re-pointing the version's Merkle root (sqlite3) gets exit 1 and a failure
    document naming no record (count 0), the store unchanged by verify."""
    commit_table(prov, keypair, workdir, [float(i) for i in range(ROWS)])
    assert prov("-q", "commit", "data.parquet", "--tag", "v1", "--key", keypair.private_path).exit_code == 0
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("update versions set merkle_root = ? where tag = 'v1'", ("ab" * 32,))
    before = store_fingerprint(workdir / ".prov")
    r = prov("verify", "v1", "--json")
    assert r.exit_code == 1, (r.exit_code, r.stderr)
    doc = json.loads(r.stdout)
    validate_output("verify-version", doc)
    assert doc["status"] == "failed" and doc["count"] == 0 and doc["changes"] == []
    assert doc["error"] in r.stderr
    assert store_fingerprint(workdir / ".prov") == before


@pytest.mark.parametrize(("tag", "records"), [("r1", 100_000), ("base", 10), ("r1", 1)])
def test_a_store_writer_resizing_a_version_row_does_not_move_the_anchor(prov, workdir, store, keypair, tag, records):
    """Held: the anchor is chosen by the statements' signed ``records``, never the writable column. A ``.prov/``
    writer (sqlite3) sets r1's column (the check's base) to 100,000 (every ancestor "too small": no anchor test)
    or to 1, or base's (the anchor) to 10 (skipped as too small): the flood still blocks, or the check refuses to
    judge; it never passes."""
    code, report, rule, flood = r26h.ratchet(prov, keypair, 400)
    assert code == 1 and rule["statistic"]["anchor"]["version"] == "base"  # the control: blocks at base
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("update versions set records = ? where tag = ?", (records, tag))
    r = prov("check", "r2", "--base", "r1", "--format", "json")
    assert r.exit_code == 1, (r.exit_code, r.output)
    if tag == "r1":  # the diff reads the base's manifest against its row: refused, naming it
        assert f"manifest of r1 holds 1504 rows, the version records {records}" in r.stderr, r.stderr
        return
    report = json.loads(r.stdout)
    validate_output("check", report)
    got = next(x for x in report["rules"] if x["rule"] == r26h.RULE)
    anchor = got["statistic"]["anchor"]
    assert got["status"] == "block" and anchor["version"] == "base", anchor  # chosen by base's signed 1,000 rows
    assert anchor["problem"] and "manifest of base holds 1000 rows, the version records 10" in anchor["problem"], anchor


def test_a_version_replaced_whole_fails_with_both_counts_and_twenty_of_each_named(prov, workdir, store, keypair):
    """Held: the none-shared path's failure document counts every record of both sides and names the first 20 of
    each (``_first_records``), schema-valid, as stderr says."""
    commit_table(prov, keypair, workdir, [float(i) for i in range(ROWS)])
    assert prov("-q", "commit", "data.parquet", "--tag", "v1", "--key", keypair.private_path).exit_code == 0
    commit_table(prov, keypair, workdir, [i + 0.25 for i in range(ROWS)])
    r = prov("verify", "v1", "--json")
    assert r.exit_code == 1, r.stderr
    doc = json.loads(r.stdout)
    validate_output("verify-version", doc)
    assert doc["count"] == 2 * ROWS and doc["error"] in r.stderr
    assert [(c["kind"], c["locator"]) for c in doc["changes"]] == [
        (kind, str(i)) for kind in ("added", "removed") for i in range(MAX_LISTED)
    ]
