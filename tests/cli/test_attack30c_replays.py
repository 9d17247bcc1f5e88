"""Attack review 30c: replays against session 30's changes (A30c-1 is tests/cli/test_next_steps_cut_source.py's). A
strict xfail is a finding, named in its reason; the plain test beside it shows the attack's setup is otherwise right.
Replays as shell scripts: /work/notes/review30c-replays/a2_string_column.sh, a3_forged_types.sh."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_attack25a_replays import PIN, vendor_signs_schema
from test_attack28d_replays import _commit

from support import digits_table, one_line, store_fingerprint

# --- A30c-2: a numeric columns list naming a column that holds no numbers ------------------------------------------


def _mixed_table(n: int = 50) -> pa.Table:
    """The replay's table: a string column s, a list-of-doubles column l, a double column y and a label."""
    rng = np.random.default_rng(0)
    return pa.table(
        {"s": ["p", "q"] * (n // 2), "l": [[1.0, 2.0]] * n, "y": rng.normal(size=n), "label": ["a", "b"] * (n // 2)}
    )


def _commit_columns(prov, workdir, keypair, columns: str):
    return _commit(
        prov, keypair, "e.parquet", "v1", "--featurizer", "numeric", "--featurizer-option", f"columns={columns}"
    )


def test_control_a_columns_list_naming_a_double_column_commits_with_a_profile(prov, workdir, store, keypair):
    pq.write_table(_mixed_table(), workdir / "e.parquet")
    r = _commit_columns(prov, workdir, keypair, '["y"]')
    assert r.exit_code == 0 and "no reference profile" not in r.output, r.output


# A30c-2 (low): features.numeric.check_named_columns refused only names that are not content columns; a string (or
# list) column named in columns=[...] committed a version of no reference profile, exit 0 ("no reference profile ...
# cannot use non-numeric columns: s (string)"), where the user asked for a profile over it.
@pytest.mark.parametrize(("column", "shown"), [("s", "s (string)"), ("l", "l (list<double>)")])
def test_a30c_2_a_columns_list_naming_a_non_numeric_column_is_refused(prov, workdir, store, keypair, column, shown):
    pq.write_table(_mixed_table(), workdir / "e.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit_columns(prov, workdir, keypair, f'["{column}"]')
    assert r.exit_code == 2 and store_fingerprint(workdir / ".prov") == before, r.output
    line = one_line(r)
    assert line.startswith("Error: e.parquet: the numeric featuriser's option 'columns' names") and shown in line, line


def test_a30c_2_a_carried_columns_list_over_a_retyped_column_is_refused_naming_the_parent(
    prov, workdir, store, keypair
):
    # the carried variant: v1 signs columns=["px20","px30"]; the data's writer then gives px30 as text
    t = digits_table(300)
    pq.write_table(t, workdir / "train.parquet")
    option = 'columns=["px20","px30"]'
    r = _commit(prov, keypair, "train.parquet", "v1", "--featurizer", "numeric", "--featurizer-option", option)
    assert r.exit_code == 0, r.output
    at = t.schema.get_field_index("px30")
    pq.write_table(t.set_column(at, "px30", t.column("px30").cast(pa.string())), workdir / "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "v2")
    assert r.exit_code == 2 and store_fingerprint(workdir / ".prov") == before, r.output
    line = one_line(r)
    assert "names px30 (string), not numeric" in line and "is v1's signed request, carried" in line, line


# --- A30c-3: a source key signs column types its data does not have ------------------------------------------------


def test_control_a_batch_signed_with_its_own_types_is_added(prov, workdir, store):
    vendor_signs_schema(prov, lambda p: None)
    r = prov("add", "vendor.parquet", "--source", "vendor", *PIN)
    assert r.exit_code == 0, r.output


# A30c-3 (low): prov add / prov verify compared only the records' digests, which encode int32 and int64 (float and
# double) alike, so a source key could sign px00: int32 over an int64 column, or a type holding a terminal escape and
# a newline, and the envelope was accepted; fix30e's advice then repeated the signed type ("--schema px00:int32").
@pytest.mark.parametrize("command", ["add", "verify"])
def test_a30c_3_signed_types_the_data_does_not_have_are_refused(prov, workdir, store, command):
    vendor_signs_schema(prov, lambda p: p["schema"]["types"].__setitem__("px00", "int32"))
    before = store_fingerprint(workdir / ".prov")
    r = prov(command, "vendor.parquet", *(("--source", "vendor") if command == "add" else ()), *PIN)
    assert r.exit_code == 1 and store_fingerprint(workdir / ".prov") == before, r.output
    line = one_line(r)
    assert line.startswith("Error: vendor.parquet.prov.json: its signed schema does not match vendor.parquet"), line
    assert "column px00 is signed as int32, the data holds int64" in line, line


def test_a30c_3_a_signed_type_holding_escapes_is_refused_shown_escaped(prov, workdir, store):
    # no Arrow type name (schema_delta.arrow_type_name, tests/unit/test_schema_problem_contract.py) and not the data's
    vendor_signs_schema(prov, lambda p: p["schema"]["types"].__setitem__("px00", "int64\x1b[2J\nRELEASED: ok"))
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "vendor.parquet", "--source", "vendor", *PIN)
    assert r.exit_code == 1 and store_fingerprint(workdir / ".prov") == before, r.output
    line = one_line(r)
    assert "column px00 is signed as int64\\x1b[2J\\x0aRELEASED: ok, the data holds int64" in line, line
    assert "\x1b" not in r.output
