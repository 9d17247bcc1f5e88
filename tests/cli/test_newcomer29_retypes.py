"""Newcomer review 29's findings on a retyped column, replayed through the CLI on real Parquet, keys and stores:
`prov status` said "178 added, 178 removed" of data whose only change was a column's type, and `prov commit` of
such data named no retyped column. Both now say it in `prov diff`'s words (`report/schema_words.py`)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from support import digits_table, resign_version, set_column, validate_output


def _commit(prov, keypair, data: str, tag: str, *args: str):
    return prov("commit", data, "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path, *args)


def _r1(prov, keypair) -> pa.Table:
    """r1: 200 digits (64 int64 pixel columns, no two rows alike); returns its table."""
    t = digits_table(200)
    assert len({tuple(r.values()) for r in t.drop(["label"]).to_pylist()}) == 200
    pq.write_table(t, "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    return t


def _cast(t: pa.Table, column: str, to: pa.DataType) -> pa.Table:
    return t.set_column(t.schema.get_field_index(column), column, t.column(column).cast(to))


def _status(prov, keypair, *args: str):
    r = prov("status", *args, "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    return r.stdout.splitlines()


def _status_json(prov, keypair) -> dict:
    """`prov status --json`, validated against its schema."""
    doc = json.loads(prov("status", "--json", "--signer", keypair.public_path).stdout)
    validate_output("status", doc)
    return doc


def _status_of_a_retype(prov, keypair, column: str, to: str) -> list[str]:
    """`prov status` of r1's 200 records with ``column`` (int64 in r1) now of type ``to``: its lines, the first two
    checked to say every record was re-keyed by that one retype."""
    lines = _status(prov, keypair)
    assert lines[0] == "train.parquet: 200 re-keyed by the schema change since r1 (200 records now)", lines
    assert lines[1] == f"  column '{column}' changed type: int64 -> {to} (a record's digest includes its column types)"
    return lines


def test_status_of_a_column_cast_to_double_pairs_every_record_by_content(prov, workdir, store, keypair):
    t = _r1(prov, keypair)
    pq.write_table(_cast(t, "px12", pa.float64()), "train.parquet")  # another writer: the same numbers as doubles
    lines = _status_of_a_retype(prov, keypair, "px12", "double")
    assert lines[2] == (
        "  200 records re-keyed by the schema change, each paired with its base record by content (re-encoded under "
        "the base's signed types without loss): 200 unchanged"
    )
    assert not any("added" in line or "removed" in line or "every record replaced" in line for line in lines), lines
    doc = _status_json(prov, keypair)
    assert doc["counts"] == {"changed": 0, "added": 0, "removed": 0, "relabeled": 0} and doc["changes"] == []
    rekeyed = (doc["rekeyed"], doc["rekeyed_relabeled"], doc["rekeyed_by"], doc["rekeyed_note"])
    assert rekeyed == (200, 0, "content", None)
    assert doc["none_shared"] is None and doc["clean"] is False


def test_status_beside_a_cast_counts_what_else_changed_as_prov_diff_does(prov, workdir, store, keypair):
    t = _r1(prov, keypair)
    edited = _cast(t, "px12", pa.float64())
    labels = edited.column("label").to_pylist()
    for row in (3, 4):  # two relabels
        labels[row] = "9" if labels[row] != "9" else "8"
    edited = set_column(edited, "label", labels)
    px10 = edited.column("px10").to_pylist()
    px10[7] += 100  # a value edited: not the base record under any cast
    edited = set_column(edited, "px10", px10)
    pq.write_table(pa.concat_tables([edited, edited.slice(150, 5)]), "train.parquet")  # and 5 copies
    doc = _status_json(prov, keypair)
    assert doc["rekeyed"] == 199 and doc["rekeyed_relabeled"] == 2 and doc["rekeyed_by"] == "content"
    assert doc["counts"]["relabeled"] == 2 and doc["counts"]["removed"] == 1, doc["counts"]
    relabels = [c for c in doc["changes"] if c["kind"] == "relabeled"]
    assert [c["locator"] for c in relabels] == ["3", "4"], relabels
    lines = _status(prov, keypair)
    assert lines[0].startswith("train.parquet: 199 re-keyed by the schema change, "), lines
    assert "199 unchanged" not in lines[2] and lines[2].endswith("197 unchanged, 2 relabeled (scored as relabels)")
    # prov diff of the same data committed says the same numbers
    assert _commit(prov, keypair, "train.parquet", "r2").exit_code == 0
    diff = json.loads(prov("diff", "r1", "r2", "--format", "json", "--signer", keypair.public_path).stdout)["summary"]
    assert (diff["rekeyed"], diff["rekeyed_relabeled"], diff["relabeled"]) == (199, 2, 2)
    assert diff["removed"] == doc["counts"]["removed"]
    assert diff["added"] + diff["duplicates_added"] == doc["counts"]["added"]


def test_status_of_a_column_turned_to_text_pairs_by_locator_and_says_why(prov, workdir, store, keypair):
    t = _r1(prov, keypair)
    pq.write_table(_cast(t, "px13", pa.string()), "train.parquet")
    lines = _status_of_a_retype(prov, keypair, "px13", "string")
    assert lines[2] == (
        "  200 records re-keyed by the schema change (same locator, new digest; scored as changed records); not "
        "paired by content: column 'px13' changed type: int64 -> string, which is not a numeric cast"
    )
    doc = _status_json(prov, keypair)
    assert doc["rekeyed_by"] == "locator" and doc["rekeyed"] == 200 and "not a numeric cast" in doc["rekeyed_note"]


def test_status_without_a_schema_change_has_no_rekeyed_records(prov, workdir, store, keypair):
    t = _r1(prov, keypair)
    pq.write_table(t.slice(0, 190), "train.parquet")
    lines = _status(prov, keypair)
    assert lines[0] == "train.parquet: 10 removed since r1 (190 records now)", lines
    doc = _status_json(prov, keypair)
    assert doc["rekeyed"] is None and doc["rekeyed_by"] is None


def test_status_against_a_version_signed_before_column_types_calls_an_edit_an_edit(prov, workdir, store, keypair):
    # such a version can show a change of columns, never a retype: edited values are not "re-keyed by the schema change"
    t = _r1(prov, keypair)
    resign_version(workdir, "r1", workdir / "alice.key", lambda predicate: predicate["schema"].pop("types"))
    px10 = t.column("px10").to_pylist()
    px10[5] += 1
    pq.write_table(set_column(t, "px10", px10), "train.parquet")
    lines = _status(prov, keypair)
    assert lines[0] == "train.parquet: 1 changed since r1 (200 records now)", lines
    doc = _status_json(prov, keypair)
    assert doc["rekeyed"] is None and doc["counts"]["changed"] == 1


def test_commit_names_the_columns_retyped_since_the_parent(prov, workdir, store, keypair):
    t = _r1(prov, keypair)
    retyped = _cast(_cast(_cast(t, "px10", pa.float64()), "px11", pa.float64()), "px13", pa.string())
    pq.write_table(retyped, "train.parquet")
    r = _commit(prov, keypair, "train.parquet", "r2")
    assert r.exit_code == 0, r.output
    note = (
        "  2 columns changed type int64 -> double: 'px10', 'px11'; column 'px13' changed type: int64 -> string "
        "since r1 (a record's digest includes its column types: prov diff r1 r2 pairs the re-keyed records with r1's)"
    )
    lines = r.stdout.splitlines()
    assert note in lines, lines
    # beside the note that says r1's check will refuse the column now text
    assert lines[lines.index(note) + 1].startswith("  column 'px13' (string now) left the features r1's profile read")
    pq.write_table(_cast(t, "px20", pa.float64()), "train.parquet")
    doc = json.loads(_commit(prov, keypair, "train.parquet", "r3", "--parent", "r1", "--json").stdout)
    validate_output("commit", doc)
    assert doc["schema_note"] == (
        "column 'px20' changed type: int64 -> double since r1 (a record's digest includes its column types: prov "
        "diff r1 r3 pairs the re-keyed records with r1's)"
    )
    pq.write_table(t, "train.parquet")  # r1's types again, no parent retype against r1
    doc = json.loads(_commit(prov, keypair, "train.parquet", "r4", "--parent", "r1", "--json", "--allow-empty").stdout)
    validate_output("commit", doc)
    assert doc["schema_note"] is None
