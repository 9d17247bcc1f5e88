"""`provenance.commit` takes the parent's signed read options, as `prov commit` does (newcomer review 16, finding 1).

A maintainer committed the team's CSV with `--label-column target --schema px10:double ...` so the vendor's
Parquet batch (signed with those columns as double) kept its attestation. The same commit from Python, as
the README's "From Python" shows it, read the CSV with inferred types (int64): every vendor record lost its
attestation without a word, and without `label_column=` the error named the CLI's `--label-column`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

import provenance
from provenance.errors import InputError
from support import digits_table, ok, store_fingerprint

ROOT = Path(__file__).resolve().parents[2]
PINNED = ("--signer", "maintainer.pub")
DOUBLES = ("px10", "px20")  # the vendor's columns are double; written to CSV, 3.0 reads back as int64 3
READ = ("--label-column", "target", "--schema", "px10:double", "--schema", "px20:double")


def _table(n: int) -> pa.Table:
    table = digits_table(n).rename_columns([*digits_table(1).column_names[:-1], "target"])
    for name in DOUBLES:
        table = table.set_column(table.schema.get_field_index(name), name, table.column(name).cast(pa.float64()))
    return table


@pytest.fixture
def typed_parent(prov, workdir):
    """v1 committed by the CLI from CSV with the signed types: 50 vendor records (signed from Parquet) attested."""
    table = _table(180)
    pq.write_table(table.slice(110, 50), "vendor.parquet")
    pcsv.write_csv(table.slice(0, 160), "train-v1.csv")
    pcsv.write_csv(table, "train-v2.csv")  # 20 more rows from the team's own collection
    for name in ("maintainer", "vendor"):
        ok(prov, "keys", "generate", name)
    ok(prov, "sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key", "--label-column", "target")
    ok(prov, "init")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *PINNED)
    ok(prov, "add", "vendor.parquet", "--source", "vendor", *PINNED)
    out = ok(prov, "commit", "train-v1.csv", "--tag", "v1", "--key", "maintainer.key", *PINNED, *READ)
    assert "lineage: 50 attested" in out, out


def _store() -> provenance.Store:
    """The store as the README's From Python opens it: the maintainer's key pinned."""
    return provenance.Store.open(pins=provenance.Pins.load(["maintainer.pub"]))


def test_a_python_commit_reads_with_the_parent_signed_options_and_says_so(typed_parent):
    result = provenance.commit(_store(), "train-v2.csv", tag="v2", key="maintainer.key", message="from Python")
    assert result.lineage is not None
    assert result.lineage["attested"] == 50, result.lineage  # before: no label column 'label', or attested 0
    assert result.lineage["unattributed"] == 130
    assert result.from_parent == {
        "version": "v1",
        "read_options": ["--label-column target", "--schema px10:double, px20:double"],
        "read_options_differing": [],
        "featurizer": None,
    }
    assert result.retype_note is None  # the 130 unattributed are the team's own rows, not a retype
    schema = json.loads((ROOT / "schemas" / "commit.schema.json").read_text())
    Draft202012Validator(schema).validate(result.to_dict())


def test_an_option_given_in_python_still_wins_and_the_retype_is_reported(typed_parent):
    # the schema given here (none) differs from v1's: the columns are read as int64 and the batch says why
    result = provenance.commit(_store(), "train-v2.csv", tag="v2", key="maintainer.key", schema={})
    assert result.lineage is not None and result.lineage["attested"] == 0
    assert result.from_parent is not None
    assert result.from_parent["read_options"] == ["--label-column target"]
    assert result.from_parent["read_options_differing"] == ["--schema none (v1: px10:double, px20:double)"]
    assert result.retype_note is not None and "'px10', 'px20'" in result.retype_note, result.retype_note


def test_parent_defaults_false_reads_as_given_and_its_error_names_the_python_parameter(typed_parent):
    before = store_fingerprint(Path.cwd())
    with pytest.raises(InputError) as caught:
        provenance.commit(_store(), "train-v2.csv", tag="v2", key="maintainer.key", parent_defaults=False)
    message = str(caught.value)
    assert "train-v2.csv: no label column 'label' (give label_column=NAME" in message, message
    assert "--label-column" not in message
    assert store_fingerprint(Path.cwd()) == before  # nothing recorded
