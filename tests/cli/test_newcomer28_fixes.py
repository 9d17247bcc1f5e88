"""The newcomer's findings of session 28 (task fix28d), each replayed through the CLI on real files, keys and stores."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from support import digits_table, store_fingerprint, validate_output


def _commit(prov, keypair, data: str, tag: str, *args: str):
    return prov("commit", data, "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path, *args)


def _with_nan(t: pa.Table, column: str, rows: list[int]) -> pa.Table:
    values = t.column(column).cast(pa.float64()).to_pylist()
    for r in rows:
        values[r] = float("nan")
    return t.set_column(t.schema.get_field_index(column), column, pa.array(values))


# --- finding 1: the exclude advice when the parent's profile reads the column -----------------------------------


def test_nan_refusal_does_not_offer_exclude_when_the_parents_profile_reads_the_column(prov, workdir, store, keypair):
    t = digits_table(300)
    pq.write_table(t, workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v2").exit_code == 0
    pq.write_table(_with_nan(t, "px05", [7, 12]), workdir / "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "v3")
    assert r.exit_code == 2, r.output
    assert r.stderr.strip() == (
        "Error: train.parquet: feature values null, NaN or infinite in column px05 in 2 record(s) (0-based rows 7, 12): "
        "no detector can score them; fill or drop them and commit again (v2's signed profile reads px05: a check "
        "of this version against v2 reads it too, so leaving it out of the features would not let it pass)"
    ), r.stderr
    assert "exclude" not in r.stderr
    assert store_fingerprint(workdir / ".prov") == before
    # what the old advice led to: committed with the column excluded, the check against v2 cannot be evaluated
    flags = ("--featurizer", "numeric", "--featurizer-option", 'exclude=["label","px05"]')
    assert _commit(prov, keypair, "train.parquet", "v3", *flags).exit_code == 0
    r = prov("check", "v3", "--base", "v2", "--signer", "alice.pub")
    assert r.exit_code == 2, r.output


def test_nan_refusal_on_a_first_version_offers_exclude_naming_only_columns_present(prov, workdir, store, keypair):
    pq.write_table(_with_nan(digits_table(300), "px05", [3]), workdir / "train.parquet")
    r = _commit(prov, keypair, "train.parquet", "v1")
    assert r.exit_code == 2, r.output
    # the featuriser sees the content columns only (digits_table's label is read as the label): the exclude list
    # names no default column the data lacks ('label', 'source', 'id' before)
    assert r.stderr.strip().endswith(
        "fill or drop them and commit again, or leave it out of the features "
        "(--featurizer numeric --featurizer-option 'exclude=[\"px05\"]')"
    ), r.stderr
    # the advice works: committed so, the profile reads every pixel but px05, and not the label
    r = _commit(
        prov,
        keypair,
        "train.parquet",
        "v1",
        "--featurizer",
        "numeric",
        "--featurizer-option",
        'exclude=["px05"]',
        "--json",
    )
    assert r.exit_code == 0, r.output
    read = json.loads(r.stdout)["featurizer"].removeprefix("numeric/v1:cols=").split(",")
    assert len(read) == 63 and "px05" not in read and "label" not in read


# --- finding 2: the featuriser and its options carried to the next commit ----------------------------------------


def test_a_given_featuriser_and_its_options_are_carried_to_the_next_commit_and_shown(prov, workdir, store, keypair):
    t = _with_nan(digits_table(300), "px05", [3, 9])  # a column with missing values, left out on purpose
    pq.write_table(t, workdir / "train.parquet")
    flags = ("--featurizer", "numeric", "--featurizer-option", 'exclude=["px05"]')
    r = _commit(prov, keypair, "train.parquet", "v1", *flags)
    assert r.exit_code == 0, r.output
    assert (
        'features numeric/v1 over 63 columns (px00, px01, px02, ..., px63) (featuriser numeric:exclude=["px05"], as given)'
        in r.stdout
    )
    # the next commit, no flags, on data still missing values there: the exclusion is the parent's signed one
    pq.write_table(_with_nan(digits_table(320), "px05", [3, 9, 310]), workdir / "train.parquet")
    r = _commit(prov, keypair, "train.parquet", "v2")
    assert r.exit_code == 0, r.output
    assert '(featuriser numeric:exclude=["px05"], as v1)' in r.stdout, r.stdout
    r = _commit(prov, keypair, "train.parquet", "v3", "--json")  # and on, from v2's own signed request
    doc = json.loads(r.stdout)
    validate_output("commit", doc)
    assert doc["featurizer_requested"] == {"name": "numeric", "options": {"exclude": ["px05"]}}
    assert doc["from_parent"]["featurizer"] == 'numeric:exclude=["px05"]'
    assert "px05" not in doc["featurizer"]
    r = prov("show", "v3", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    assert (
        '  features numeric/v1 over 63 columns (px00, px01, px02, ..., px63) (featuriser numeric:exclude=["px05"])'
        in r.stdout
    )
    doc = json.loads(prov("show", "v3", "--signer", "alice.pub", "--json").stdout)
    validate_output("show", doc)
    assert doc["featurizer_requested"] == {"name": "numeric", "options": {"exclude": ["px05"]}}
    # --no-parent-defaults takes nothing: every column again, and the NaN refused
    r = _commit(prov, keypair, "train.parquet", "v4", "--no-parent-defaults")
    assert r.exit_code == 2 and "null, NaN or infinite in column px05" in r.stderr, r.output


def test_the_automatic_featuriser_is_not_carried_and_a_version_shows_it(prov, workdir, store, keypair):
    pq.write_table(digits_table(300), workdir / "train.parquet")
    doc = json.loads(_commit(prov, keypair, "train.parquet", "v1", "--json").stdout)
    assert doc["featurizer_requested"] is None
    doc = json.loads(prov("show", "v1", "--signer", "alice.pub", "--json").stdout)
    validate_output("show", doc)
    assert doc["featurizer"].startswith("numeric/v1:cols=px00,") and doc["featurizer_requested"] is None


# --- finding 3: a feature column retyped to text by one '?' -------------------------------------------------------


def test_a_column_retyped_by_one_question_mark_names_the_column_file_and_way_on(prov, workdir, store, keypair):
    rows = [(str(500 + i * 37 % 900), f"{(i * 53 % 97) / 10:.1f}", str(i % 3)) for i in range(120)]
    (workdir / "wine.csv").write_text("proline,alcohol,label\n" + "".join(f"{p},{a},{c}\n" for p, a, c in rows))
    assert _commit(prov, keypair, "wine.csv", "v1").exit_code == 0
    rows[17] = ("?", rows[17][1], rows[17][2])
    (workdir / "wine.csv").write_text("proline,alcohol,label\n" + "".join(f"{p},{a},{c}\n" for p, a, c in rows))
    assert _commit(prov, keypair, "wine.csv", "v2").exit_code == 0
    before = store_fingerprint(workdir / ".prov")
    for args in (["check", "v2", "--base", "v1"], ["diff", "v1", "v2", "--detect"]):
        r = prov(*args, "--signer", "alice.pub")
        assert r.exit_code == 2, (args, r.output)
        said = r.stderr.strip()
        assert len(said.splitlines()) == 1, said
        assert "records:" not in said, said
        assert f"{workdir / 'wine.csv'} (v2's data): " in said, said
        assert "column 'proline' (string now) is not numeric, and v1's profile reads it as features, so no" in said, (
            said
        )
        assert "fix the values in" in said and "--schema proline:double" in said, said
    assert {k: v for k, v in store_fingerprint(workdir / ".prov").items() if "prov.db" not in k} == {
        k: v for k, v in before.items() if "prov.db" not in k
    }
    # the flag it names does refuse the '?', naming the row
    r = _commit(prov, keypair, "wine.csv", "v3", "--schema", "proline:double")
    assert r.exit_code == 2, r.output
    assert "wine.csv" in r.stderr, r.stderr


# --- finding 4: a diff in a store with no signed sources ----------------------------------------------------------


def test_diff_in_a_store_with_no_signed_sources_notes_unattributed_additions_without_flagging(
    prov, workdir, store, keypair
):
    t = digits_table(400)
    pq.write_table(t.slice(0, 300), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1").exit_code == 0
    pq.write_table(t, workdir / "train.parquet")  # 100 clean records added, no source signs anything here
    assert _commit(prov, keypair, "train.parquet", "v2").exit_code == 0
    r = prov("diff", "v1", "v2", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    head = r.stdout.splitlines()[1]
    assert head.startswith("NOTHING FLAGGED: "), head
    assert "no signal flagged (no signed sources: every addition is unattributed)" in head, head
    assert "suspicious source" not in head
    doc = json.loads(prov("diff", "v1", "v2", "--signer", "alice.pub", "--format", "json").stdout)
    validate_output("diff", doc)
    assert doc["lineage"]["signed_sources"] is False
    (signal,) = [s for s in doc["signals"] if s["name"] == "unattributed_additions"]
    assert signal["flagged"]  # the JSON's signal as it was
    assert prov("check", "v2", "--base", "v1", "--signer", "alice.pub").exit_code == 0


# --- finding 5: prov status of data the commit will refuse ---------------------------------------------------------


def test_status_says_commit_refuses_null_features_and_empty_data(prov, workdir, store, keypair):
    t = digits_table(300)
    pq.write_table(t, workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1").exit_code == 0
    pq.write_table(_with_nan(t, "px05", [7, 12]), workdir / "train.parquet")
    r = prov("status", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    line = (
        "  prov commit refuses it: null, NaN or infinite values in column px05, which v1's profile reads as "
        "feature: fill or drop them first"
    )
    assert line in r.stdout.splitlines() and "prov commit records them" not in r.stdout, r.stdout
    assert _commit(prov, keypair, "train.parquet", "v2").exit_code == 2  # as status said
    doc = json.loads(prov("status", "--signer", "alice.pub", "--json").stdout)
    validate_output("status", doc)
    assert doc["commit_refusal"] == line.strip()
    pq.write_table(t.slice(0, 0), workdir / "train.parquet")
    r = prov("status", "--signer", "alice.pub")
    assert "  prov commit refuses it: no records (prov commit --allow-empty commits an empty version on purpose)" in (
        r.stdout.splitlines()
    ), r.stdout
    pq.write_table(t.slice(0, 250), workdir / "train.parquet")  # data the commit takes: the line as before
    r = prov("status", "--signer", "alice.pub")
    assert "  prov commit records them as a new version; prov diff then compares it with v1" in r.stdout.splitlines()


# --- finding 6: the small words ------------------------------------------------------------------------------------


def test_an_empty_version_says_no_records_and_an_excluded_numeric_column_gets_no_schema_flag(
    prov, workdir, store, keypair
):
    t = digits_table(300)
    pq.write_table(t, workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1").exit_code == 0
    # a numeric column left out on purpose: the note names it, and no --schema flag for a column already numbers
    r = _commit(
        prov, keypair, "train.parquet", "v2", "--featurizer", "numeric", "--featurizer-option", 'exclude=["px05"]'
    )
    assert r.exit_code == 0, r.output
    assert (
        "  column 'px05' (int64 now) left the features v1's profile read: no detector scores it in this version\n"
        in r.stdout
    ), r.stdout
    assert "--schema" not in r.stdout
    pq.write_table(t.slice(0, 0), workdir / "train.parquet")
    r = _commit(prov, keypair, "train.parquet", "v3", "--allow-empty")
    assert r.exit_code == 0, r.output
    assert "  no reference profile (no records); detectors cannot use it as a base" in r.stdout.splitlines(), r.stdout
    assert "columns: ;" not in r.stdout
