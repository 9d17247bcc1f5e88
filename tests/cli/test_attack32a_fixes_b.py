"""Attack review 32a's findings A32a-2, A32a-3 and A32a-4, closed (fix32b): the replays of review 32a's file
(tests/cli/test_attack32a_replays.py), kept here as plain tests of what now holds."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_attack32a_replays import TRIGGER, _year_advice_then_trigger

from support import validate_output

# --- A32a-2: the drift advice offers only --metadata, which takes the column from what training reads ------------

METADATA_YEAR = ("--metadata", "year")


def test_a32a_2_the_drift_advice_offers_only_metadata_and_training_then_never_reads_the_column(prov, keypair, workdir):
    # a clean batch of 2009 birds passes with the warning; its way out is --metadata year alone (no featuriser
    # exclude: that kept year a content column training reads while the detectors stopped judging it, A32a-2).
    # Followed, year leaves what provenance.load hands training, by every reading path, the trigger with it.
    import provenance
    from provenance.errors import InputError
    from provenance.store import Store
    from provenance.trust.pins import Pins

    advised, _ = _year_advice_then_trigger(prov, keypair, *METADATA_YEAR)
    text = " ".join(advised.stdout.split())
    assert advised.exit_code == 0, advised.output
    assert "commit the base and this batch with --metadata year (out of the digest, the features and the columns" in (
        text
    ), text
    assert "--featurizer-option" not in text and "exclude=" not in text, text
    store = Store(workdir / ".prov")
    try:
        data = provenance.load("v3", store=store, pins=Pins.load([keypair.public_path]))
        assert "year" not in data.columns and "year" not in data.to_table().column_names
        with pytest.raises(InputError, match="'year', not a content column"):
            data.arrays(columns=["year"])
        with pytest.raises(InputError, match="'year', not a content column"):
            next(data.numpy_batches(columns=["year"]))
        numeric = [c for c in data.columns if c != "island"]
        X, _ = data.arrays(columns=numeric)
        assert X.shape == (320, 4) and not (X == TRIGGER).any()
    finally:
        store.close()


def test_control_following_the_old_exclude_advice_hands_training_the_trigger(prov, keypair, workdir):
    # why the exclude is no longer offered: committed so, the next delivery's 20 triggers pass (0 flagged) while
    # arrays() still reads year, trigger and all (review 32a's replay of A32a-2, the exclude now chosen unadvised)
    import provenance
    from provenance.store import Store
    from provenance.trust.pins import Pins

    exclude = ("--featurizer", "numeric", "--featurizer-option", 'exclude=["year"]')
    _, r = _year_advice_then_trigger(prov, keypair, *exclude)
    store = Store(workdir / ".prov")
    try:
        X, _ = provenance.load("v3", store=store, pins=Pins.load([keypair.public_path])).arrays(columns=["year"])
    finally:
        store.close()
    assert (X[:, 0] == TRIGGER).sum() == 20
    assert r.exit_code == 0, r.output


# --- A32a-3: --schema refused on Parquet whatever spells its path, at a --rev too -------------------------------------


def test_a32a_3_no_spelling_signs_a_schema_onto_parquet(prov, keypair, workdir):
    # local:// and simplecache::file:// (fsspec's other names for the local file) and a DVC --rev of a Parquet file
    # are refused as the plain path is: exit 2, one line naming the input, no version written
    from test_attack31d_replays import _parquet_and_csv

    from support import digits_table, make_dvc_repo

    parquet, _ = _parquet_and_csv(prov)
    make_dvc_repo(workdir / "repo", {"d1": digits_table(60)}, digits_table(60))
    key, pin = ("--key", str(keypair.private_path)), ("--signer", str(keypair.public_path))
    for tag, path, rev, schema, where in (
        ("p1", f"local://{workdir / parquet}", (), "x:double", "a Parquet file"),
        ("p2", f"simplecache::file://{workdir / parquet}", (), "x:double", "a Parquet file"),
        ("p3", "repo/data/train.parquet", ("--rev", "d1"), "px00:double", "a Parquet file at d1"),
    ):
        r = prov("commit", path, *rev, "--tag", tag, *key, *pin, "--schema", schema)
        assert r.exit_code == 2, r.output
        assert r.output.strip() == (
            f"Error: {path}: --schema applies to CSV and JSON Lines only, and this is {where}, which carries its own "
            "column types (read as they are): cast the columns in the file instead (pyarrow: table.cast; pandas: "
            "astype)"
        ), r.output
        assert prov("show", tag, *pin).exit_code == 2  # nothing written


def test_a32a_3_a_carried_schema_is_dropped_at_a_rev_of_parquet(prov, keypair, workdir):
    # a CSV parent's --schema, carried to a DVC --rev of a Parquet file, is not carried (said so) nor signed
    import pyarrow.csv as pcsv
    from test_attack31d_replays import _signed_read_schema

    from support import digits_table, make_dvc_repo

    make_dvc_repo(workdir / "repo", {"d1": digits_table(60)}, digits_table(60))
    pcsv.write_csv(digits_table(60), "c.csv")
    key, pin = ("--key", str(keypair.private_path)), ("--signer", str(keypair.public_path))
    assert prov("init").exit_code == 0
    assert prov("commit", "c.csv", "--tag", "c1", *key, *pin, "--schema", "px00:double").exit_code == 0
    assert _signed_read_schema(prov, keypair, "c1") == {"px00": "double"}
    r = prov("commit", "repo/data/train.parquet", "--rev", "d1", "--tag", "p1", "--parent", "c1", *key, *pin)
    assert r.exit_code == 0, r.output
    assert "--schema px00:double not carried (repo/data/train.parquet is Parquet only" in r.output, r.output
    assert not _signed_read_schema(prov, keypair, "p1")


def test_control_schema_on_csv_at_any_spelling_is_kept(prov, keypair, workdir):
    # the refusal's other side: a CSV by local:// is typed by --schema and signs it
    from test_attack31d_replays import _parquet_and_csv, _signed_read_schema

    _, csv = _parquet_and_csv(prov)
    key, pin = ("--key", str(keypair.private_path)), ("--signer", str(keypair.public_path))
    r = prov("commit", f"local://{workdir / csv}", "--tag", "c1", *key, *pin, "--schema", "x:double")
    assert r.exit_code == 0, r.output
    assert _signed_read_schema(prov, keypair, "c1") == {"x": "double"}


# --- A32a-4: an edit that flips the label is named so when its row moved --------------------------------------------


def _edit_relabel_check(prov, moved: bool, mass: int | None = 3701) -> dict:
    """v2: 300 penguin records, the vendor's 100 (rows 200-299) signed; v3: row 130 (a Chinstrap of no signed batch)
    with its body mass set to ``mass`` g (None: 1 g more) and labelled Adelie, left at row 130 or, when ``moved``,
    written last (a pipeline that re-sorts). prov check v3 --base v2's report (JSON)."""
    import json

    from test_newcomer31_edit_in_place import _edited
    from test_newcomer31_schema_advice import PINS, _penguins, penguins_v1_v2

    penguins_v1_v2(prov)
    table = _penguins(range(0, 300))
    edited = _edited(table, 130, mass if mass is not None else table.column("body_mass_g")[130].as_py() + 1)
    labels = edited.column("label").to_pylist()
    assert labels[130] == "Chinstrap"
    labels[130] = "Adelie"
    v3 = edited.set_column(edited.column_names.index("label"), "label", pa.array(labels))
    if moved:
        v3 = pa.concat_tables([v3.slice(0, 130), v3.slice(131), v3.slice(130, 1)])
    pq.write_table(v3, "v3.parquet")
    assert prov("commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS).exit_code == 0
    r = prov("check", "v3", "--base", "v2", *PINS, "--no-save", "--format", "json")
    assert r.exit_code == 1, r.output
    validate_output("check", json.loads(r.stdout))
    return json.loads(r.stdout)


def _rule(report: dict) -> dict:
    from test_newcomer31_schema_advice import RULE

    (rule,) = [x for x in report["rules"] if x["rule"] == RULE]
    return rule


def test_a32a_4_an_edit_that_flips_the_label_says_so_when_its_row_moved(prov, workdir, store):
    # written last, the edit is paired by content with the Chinstrap it replaced (equal in all but body mass) and
    # named an edit and a relabel, not a delivery to register
    rule = _rule(_edit_relabel_check(prov, moved=True))
    reason = " ".join(rule["reason"].split())
    assert rule["status"] == "block" and rule["statistic"]["replaced"] == 1, rule
    assert "row 299 (base record " in reason and " at row 130, moved, relabeled Chinstrap -> Adelie)" in reason, reason
    assert "an edit, not a new delivery" in reason and "prov add --unsigned" not in reason, reason
    (paired,) = rule["statistic"]["replaced_records"]
    assert paired["base_locator"] == "130" and paired["base_label"] == "Chinstrap" and paired["label"] == "Adelie"


def test_control_an_edit_in_place_that_flips_the_label_says_so(prov, workdir, store):
    # at its own row the edit is paired by row number, as before (no base row named: it is the same)
    rule = _rule(_edit_relabel_check(prov, moved=False))
    assert "relabeled Chinstrap -> Adelie" in rule["reason"] and "moved" not in rule["reason"], rule["reason"]
    assert "base_locator" not in rule["statistic"]["replaced_records"][0]


def test_a32a_4_a_moved_one_gram_relabel_is_paired_and_its_twin_named_by_collision(prov, workdir, store):
    # the review's words: nudged 1 g. Paired by content as above; the detectors flag the record itself (collision:
    # 'labelled Adelie but ... closer to another class', its Chinstrap twin at d=0.00), while knn_label, one vote of
    # its k neighbours, does not: the twin is one Chinstrap among Adelie neighbours
    import json

    from test_newcomer31_schema_advice import PINS

    report = _edit_relabel_check(prov, moved=True, mass=None)
    reason = " ".join(_rule(report)["reason"].split())
    assert " at row 130, moved, relabeled Chinstrap -> Adelie)" in reason, reason
    r = prov("diff", "v2", "v3", "--detect", "--format", "json", *PINS)
    (finding,) = json.loads(r.stdout)["findings"]
    alone = {d["detector"]: d["flagged"] for d in finding["detectors"]}
    assert finding["flagged"] and alone["collision"] and not alone["knn_label"], finding
    assert (
        "nearest other-class base record" in finding["explanation"]
        and "label Chinstrap, d=0.00" in (finding["explanation"])
    ), finding["explanation"]
