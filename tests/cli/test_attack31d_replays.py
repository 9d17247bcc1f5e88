"""Attack review 31d: replays against session 31's last fixes (fix31a's class-free judging of listed new classes,
fix31b's Parquet --schema refusal and in-place edit advice, fix31c's drift columns and their leave-out advice, the
lead's edits). A strict xfail is a finding, named in its reason; the plain test beside it shows the attack's setup
is otherwise right."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from test_newcomer31_drift_columns import _birds

import provenance
from provenance.store import Store
from provenance.trust.pins import Pins
from support import commit_signed

# --- fix31c: the drift warning's leave-out advice names the column that carries the block's evidence ---------------

TRIGGER = 2031  # the poisoner's trigger value in ``year``: beyond the base's 2007-08, like the honest 2009 birds
EXCLUDE_YEAR = ("--featurizer", "numeric", "--featurizer-option", 'exclude=["year"]')


def _year_triggered_delivery(prov, keypair, *options: str) -> tuple[object, dict]:
    """Penguin-like birds (palmerpenguins' columns, ``year`` among them). b: 240 birds of 2007-08. n: b plus a
    delivery of 100 honest 2009 birds and 20 real Gentoo birds labelled Gentoo whose ``year`` is ``TRIGGER`` (a
    clean-label backdoor: the trigger value beside the target class). Both committed with ``options``; returns
    prov check n --base b's text result and its JSON detectors.drift rule."""
    base = _birds(240, [2007, 2008], seed=1)
    gentoo = _birds(150, [2007, 2008], seed=3)
    gentoo = gentoo.take([i for i, s in enumerate(gentoo.column("species").to_pylist()) if s == "Gentoo"][:20])
    poison = gentoo.set_column(gentoo.schema.get_field_index("year"), "year", pa.array([TRIGGER] * 20))
    pq.write_table(base, "base.parquet")
    pq.write_table(pa.concat_tables([base, _birds(100, [2009], seed=2), poison]), "train.parquet")
    if not (Path(".prov") / "prov.db").is_file():
        assert prov("init").exit_code == 0
    b, n = ("b2", "n2") if options else ("b", "n")
    commit_signed(prov, keypair, b, "base.parquet", "--label-column", "species", *options)
    commit_signed(prov, keypair, n, "train.parquet", "--label-column", "species", "--parent", b, *options)
    check = ("check", n, "--base", b, "--signer", keypair.public_path, "--no-save")
    text = prov(*check, env={"COLUMNS": "250"})
    report = json.loads(prov(*check, "--format", "json").stdout)
    return text, next(rule for rule in report["rules"] if rule["rule"] == "detectors.drift")


def test_control_the_year_trigger_blocks_on_extreme_records(prov, keypair, workdir):
    # A31d-1's control: the 20 triggered records block as they are delivered (their year is their only oddity)
    r, _ = _year_triggered_delivery(prov, keypair)
    assert r.exit_code == 1, r.output
    assert "Blocked by detectors.extreme: 20 records block on their own evidence (" in r.stdout, r.stdout


# A31d-1 (high): detectors.drift_columns.columns_sentence offers leaving a column out whenever it carries most of a
# batch's move and every added value lies beyond the base's, whatever else the check found: a delivery of 100 honest
# 2009 birds and 20 real Gentoo birds whose year is 2031 (a clean-label backdoor: trigger value beside the target
# class) is BLOCKED by detectors.extreme on exactly those 20 records, and the same report's drift warning says year
# "carries most of it and every added record lies beyond the base's values in it: if it is a time ... commit the base
# and this batch with --metadata year ... or --featurizer numeric --featurizer-option 'exclude=[\"year\"]' (out of
# the features only)". year *is* a time, so a reviewer follows it: committed with the exclude option, prov check
# passes all 27 rules, while year stays a content column that provenance.load(...).arrays() hands the training job,
# trigger included. Fix: detectors.drift_columns.columns_sentence (called from gate.detection.BatchDrift.check)
# should withhold the leave-out advice when detectors.extreme or detectors.combined flag added records (or whenever
# the column's added values do not share one value or span, as a year or collection tag of one batch does), and
# an exclude list should not clear records whose extremeness lay in the excluded column.
def test_a31d_1_following_the_drift_advice_does_not_pass_the_trigger(prov, keypair, workdir):
    blocked, drift = _year_triggered_delivery(prov, keypair)
    assert blocked.exit_code == 1, blocked.output
    advised = "--featurizer-option 'exclude=[\"year\"]'" in drift["reason"]
    after, _ = _year_triggered_delivery(prov, keypair, *EXCLUDE_YEAR)
    # the trigger still reaches a training job that reads the version through prov's own loader
    store = Store(workdir / ".prov")
    X, _ = provenance.load("n2", store=store, pins=Pins.load([keypair.public_path])).arrays(columns=["year"])
    store.close()
    assert (X[:, 0] == TRIGGER).sum() == 20
    assert not advised or after.exit_code == 1, (drift["reason"], after.stdout)


# --- fix31a: the check's class-free verdicts against the run it stores (prov findings) -------------------------------

BREAST_CANCER_LABEL = ("--label-column", "diagnosis")


def _v2_v3_listing_cat(prov, keypair, v2: pa.Table, v3: pa.Table) -> None:
    """A store with ``v2`` and ``v3`` committed under ``keypair`` (breast cancer's label column) and policy.toml
    listing "cat" in ``[class_mix] expected_new_classes``."""
    pq.write_table(v2, "v2.parquet")
    pq.write_table(v3, "v3.parquet")
    with open("policy.toml", "w") as fh:
        fh.write('[class_mix]\nexpected_new_classes = ["cat"]\n')
    assert prov("init").exit_code == 0
    for tag in ("v2", "v3"):
        commit_signed(prov, keypair, tag, f"{tag}.parquet", *BREAST_CANCER_LABEL)


def _listed_cat_class_checked(prov, keypair) -> tuple[object, object]:
    """v2: 400 breast-cancer records; v3: v2 plus 30 records of a new class "cat" (rows 400-429, 30% larger:
    ``_breast_cancer_new_class``). prov check v3 --base v2 with a policy listing "cat" in [class_mix]
    expected_new_classes, its run stored; then prov findings v3 (that run). Both results."""
    from test_check_next_steps_source import WIDE, _breast_cancer, _breast_cancer_new_class

    base, cat = _breast_cancer(range(400)), _breast_cancer_new_class(range(400, 430))
    _v2_v3_listing_cat(prov, keypair, base, pa.concat_tables([base, cat]))
    pin = ("--signer", str(keypair.public_path))
    check = prov("check", "v3", "--base", "v2", "--policy", "policy.toml", *pin, env=WIDE)
    return check, prov("findings", "v3", *pin, env=WIDE)


def test_control_a_listed_class_s_check_passes_and_stores_its_run(prov, keypair, workdir):
    # A31d-2's control: the check passes judging the 30 on class-free evidence, and prov findings reads its run
    check, findings = _listed_cat_class_checked(prov, keypair)
    assert check.exit_code == 0, check.output
    assert "0 of 30 records flagged by the combined verdict" in check.stdout, check.stdout
    assert findings.exit_code == 0 and "Findings for v3 against base v2" in findings.stdout, findings.output


# A31d-2 (low): detection_common.DetectorRule.detection says the class-free verdicts are "kept in the run, so every
# rule after this one, the report's findings and the waivers' effects read the verdicts the rules judged by", but
# the run prov check stores (gate.context.GateContext.detection -> detectors.pipeline.detect_diff(save=...)) is saved
# before gate.class_free.judge_class_free re-judges it: the check passes with "0 of 30 records flagged ... 30 added
# records in expected new classes judged on class-free evidence only", and prov findings v3, reading that very run,
# says "30 of 30 records flagged by the combined verdict" with knn_label over budget, so a reviewer is sent to
# waive (or to distrust the check over) records the gate did not flag. Fix: store the ClassFreeJudged verdicts
# (with its rows) where gate.context saves the run, or have detectors.findings re-judge the listed rows on read.
# Fixed (sec32): gate.context.GateContext.save_detection stores the run once the rules judged it, naming the
# classes judged class-free (``class_free``), and prov findings --recompute judges them so again.
def test_a31d_2_prov_findings_agrees_with_the_check_that_stored_the_run(prov, keypair, workdir):
    check, findings = _listed_cat_class_checked(prov, keypair)
    assert check.exit_code == 0, check.output
    assert "30 of 30 records flagged" not in findings.stdout, findings.stdout
    assert "0 of 30 records flagged by the combined verdict" in findings.stdout, findings.stdout


def test_a31d_2_recompute_judges_the_listed_class_as_the_check_did(prov, keypair, workdir):
    from test_check_next_steps_source import WIDE

    _listed_cat_class_checked(prov, keypair)
    r = prov("findings", "v3", "--recompute", "--policy", "policy.toml", "--signer", str(keypair.public_path), env=WIDE)
    assert r.exit_code == 0, r.output
    said = " ".join(r.stdout.split())
    assert "flag the same 0 of 30 records" in said and "Judged as its check did: added records of 'cat'" in said, said


def test_a31d_2_a_run_naming_a_class_the_base_holds_is_not_recomputed_as_a_check_s(prov, keypair, workdir):
    # a .prov/ writer who plants a run excusing 'benign' (which the base holds in number) is named: no check did that
    from support import plant_findings

    _listed_cat_class_checked(prov, keypair)
    plant_findings(workdir, "v3", lambda doc: doc.update(class_free=["benign", "cat"]))
    (workdir / "both.toml").write_text('[class_mix]\nexpected_new_classes = ["benign", "cat"]\n')
    r = prov("findings", "v3", "--recompute", "--policy", "both.toml", "--signer", str(keypair.public_path))
    assert r.exit_code == 1, r.output
    assert "holds enough of them to judge in full: no prov check stored that run" in r.output, r.output


# --- fix31b: --schema refused on Parquet, yet signed onto Parquet versions another way ------------------------------


def _parquet_and_csv(prov) -> tuple[str, str]:
    """t.parquet and t.csv holding the same 50 rows (x int64, y double, label), and an initialised store; returns the
    two file names."""
    import pyarrow.csv as pcsv

    t = pa.table({"x": list(range(50)), "y": [i + 0.5 for i in range(50)], "label": [str(i % 2) for i in range(50)]})
    pq.write_table(t, "t.parquet")
    pcsv.write_csv(t, "t.csv")
    assert prov("init").exit_code == 0
    return "t.parquet", "t.csv"


def _signed_read_schema(prov, keypair, tag: str) -> object:
    """The ``--schema`` read option ``tag`` signed (prov show TAG --json: dataset.options.schema)."""
    r = prov("show", tag, "--json", "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["dataset"]["options"]["schema"]


def test_control_schema_on_a_parquet_path_is_refused(prov, keypair, workdir):
    # A31d-3's control: fix31b refuses a user's --schema on a Parquet file named by its path, store unchanged
    parquet, _ = _parquet_and_csv(prov)
    key, pin = ("--key", str(keypair.private_path)), ("--signer", str(keypair.public_path))
    r = prov("commit", parquet, "--tag", "p0", *key, *pin, "--schema", "x:double")
    assert r.exit_code == 2 and "t.parquet: --schema applies to CSV and JSON Lines only" in r.output, r.output
    assert prov("show", "p0", *pin).exit_code == 2


# A31d-3 (low): sources.schema_scope.refuse_schema_without_text skips any path holding "://" and is called only on
# the user's own --schema, so a Parquet version still gets a --schema read option signed that changed nothing
# (the newcomer's complaint fix31b closed): (a) prov commit file:///.../t.parquet --schema x:double commits, exit 0,
# and signs dataset.options.schema {"x": "double"} beside signed types {"x": "int64"}; (b) prov commit t.parquet
# --parent c1, where c1 is a CSV committed with --schema x:double, says "read options as c1: --schema x:double" and
# signs it onto the Parquet version, which every later commit inherits. Fix: schema_scope.refuse_schema_without_text
# should resolve file:// (fsspec local) URLs, and commit_read_options (the carried options) should drop a carried
# schema, saying so, when the new input holds no CSV or JSON Lines file.
def test_a31d_3_no_parquet_version_signs_a_schema_read_option(prov, keypair, workdir):
    parquet, csv = _parquet_and_csv(prov)
    key, pin = ("--key", str(keypair.private_path)), ("--signer", str(keypair.public_path))
    url = prov("commit", f"file://{workdir / parquet}", "--tag", "p1", *key, *pin, "--schema", "x:double")
    assert prov("commit", csv, "--tag", "c1", *key, *pin, "--schema", "x:double").exit_code == 0
    carried = prov("commit", parquet, "--tag", "p2", *key, *pin, "--parent", "c1")
    assert carried.exit_code == 0, carried.output
    signed = [_signed_read_schema(prov, keypair, tag) for tag in ("p1", "p2") if prov("show", tag, *pin).exit_code == 0]
    assert url.exit_code == 2 and not any(signed), (url.output, carried.output, signed)
    assert f"{workdir / parquet}: --schema applies to CSV and JSON Lines only" in url.output, url.output
    assert "--schema x:double not carried (t.parquet is Parquet only" in carried.output, carried.output


# --- fix31b: "edited in place" advice on a record whose label changed too ---------------------------------------------


def _edited_and_relabeled(prov, relabel: bool) -> dict:
    """v2: 300 penguin records, the vendor's 100 (rows 200-299) signed; v3: row 130 (a Chinstrap of no signed
    batch) with its body mass nudged to 3701 g and, when ``relabel``, labelled Adelie. prov check v3 --base v2's
    lineage.unattributed_beside_signed rule (JSON)."""
    from test_newcomer31_edit_in_place import _edited
    from test_newcomer31_schema_advice import PINS, RULE, _penguins, penguins_v1_v2

    penguins_v1_v2(prov)
    edited = _edited(_penguins(range(0, 300)), 130, 3701)
    labels = edited.column("label").to_pylist()
    assert labels[130] == "Chinstrap"
    labels[130] = "Adelie" if relabel else labels[130]
    pq.write_table(edited.set_column(edited.column_names.index("label"), "label", pa.array(labels)), "v3.parquet")
    assert prov("commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS).exit_code == 0
    r = prov("check", "v3", "--base", "v2", *PINS, "--no-save", "--format", "json")
    assert r.exit_code == 1, r.output
    (rule,) = [x for x in json.loads(r.stdout)["rules"] if x["rule"] == RULE]
    return rule


def test_control_an_edit_with_a_new_label_is_paired_with_the_base_record(prov, workdir, store):
    # A31d-4's control: the rule blocks and pairs row 130 with the base record it replaced (a Chinstrap)
    rule = _edited_and_relabeled(prov, relabel=True)
    assert rule["status"] == "block" and rule["statistic"]["replaced"] == 1, rule
    assert rule["statistic"]["replaced_records"][0]["base_label"] == "Chinstrap"
    assert rule["reason"].startswith("1 record of v2 edited in place (row 130"), rule["reason"]


# A31d-4 (low): gate.replaced pairs an added record with the base record gone from its row and the report names it
# "edited in place", offering "restore it, or, if the edit is intended, have the source sign the corrected batch";
# it never compares the labels: row 130's Chinstrap, its body mass nudged 1 g and its label flipped to Adelie, reads
# "1 record of v2 edited in place (row 130 (base record ...))" with no word that the label changed (base_label is
# in the statistic only), and since the nudge gives a new digest the relabels rules never count it: a label flip
# framed as a content edit, its way out "have the source sign the corrected batch". Fix: gate.unsigned (the edit
# block's reason, via replaced_in_place's rows) and report.next_steps._edit_steps should say "relabeled Chinstrap ->
# Adelie" when the paired labels differ and point to prov diff's relabel review, not to signing the edit.
def test_a31d_4_an_edit_that_flips_the_label_says_so(prov, workdir, store):
    rule = _edited_and_relabeled(prov, relabel=True)
    assert "relabeled Chinstrap -> Adelie" in rule["reason"], rule["reason"]
    assert rule["statistic"]["replaced_records"][0]["label"] == "Adelie"
    from test_newcomer31_schema_advice import PINS

    from support import validate_output, words

    validate_output(
        "check", json.loads(prov("check", "v3", "--base", "v2", *PINS, "--no-save", "--format", "json").stdout)
    )
    steps = words(prov("check", "v3", "--base", "v2", *PINS, "--no-save").stdout).split("To release:")[1]
    assert "relabeled Chinstrap -> Adelie" in steps and "review it as a relabel" in steps, steps


def test_a31d_4_control_an_edit_keeping_its_label_names_no_relabel(prov, workdir, store):
    rule = _edited_and_relabeled(prov, relabel=False)
    assert rule["statistic"]["replaced"] == 1 and "relabel" not in rule["reason"], rule["reason"]


# --- fix31a: a relabel into a listed class, disguised as a removal and an addition ------------------------------------


def _malignant_moved_into_cat(prov, keypair, scale: float) -> object:
    """v2: 400 breast-cancer records (173 malignant); v3: 14 of the malignant ones (8%, under the 10% removal rate)
    removed and delivered again labelled "cat", every value times ``scale`` (1.0: the same content, a relabel).
    prov check v3 --base v2 with a policy listing "cat" in [class_mix] expected_new_classes."""
    from test_check_next_steps_source import WIDE, _breast_cancer

    base = _breast_cancer(range(400))
    malignant = [i for i, label in enumerate(base.column("diagnosis").to_pylist()) if label == "malignant"][:14]
    moved = base.take(malignant)
    values = {c: [x * scale for x in moved.column(c).to_pylist()] for c in moved.column_names if c != "diagnosis"}
    cat = pa.table({**{c: pa.array(v) for c, v in values.items()}, "diagnosis": pa.array(["cat"] * len(malignant))})
    kept = base.take([i for i in range(base.num_rows) if i not in set(malignant)])
    _v2_v3_listing_cat(prov, keypair, base, pa.concat_tables([kept, cat]))
    pin = ("--signer", str(keypair.public_path))
    return prov("check", "v3", "--base", "v2", "--no-save", "--policy", "policy.toml", *pin, env=WIDE)


def test_control_malignant_records_relabeled_into_a_listed_class_block(prov, keypair, workdir):
    # A31d-5's control: the same 14 contents relabeled "cat" (fix31a: relabels into a listed class judged in full)
    r = _malignant_moved_into_cat(prov, keypair, 1.0)
    assert r.exit_code == 1 and "detectors.combined" in r.stdout.splitlines()[0], r.output


# A31d-5 (medium): gate.class_free.added_rows_of excuses every *added* record of a listed class from the
# class-conditional detectors, so fix31a's "relabels into a listed class are judged in full" (A31a-4) holds only
# while the content is byte-equal: 14 malignant base records removed and delivered again as "cat" with every value
# 8% larger (no near copy for duplicates, no outlier) pass prov check under expected_new_classes = ["cat"] (the
# control's relabel of the same records blocks); under the default policy the combined verdict flags all 14, and
# each one's nearest base record is the malignant record it replaced. Fix: gate.class_free.added_rows_of
# (or judge_class_free) should judge in full an added record of a listed class whose nearest base records are a
# removed base record of another class (the pairing gate.replaced makes by place, made by content), or keep
# knn_label's evidence when most of a listed class's records sit inside one base class.
def test_a31d_5_removed_records_re_added_into_a_listed_class_still_block(prov, keypair, workdir):
    r = _malignant_moved_into_cat(prov, keypair, 1.08)
    assert r.exit_code == 1, r.output


# --- the lead's 'distrust' step for a signing source --------------------------------------------------------------


def _vendor_delivery_held(prov, times: int, scale: float = 1.0) -> str:
    """v1: 400 breast-cancer records; v2: v1 plus a trusted vendor's signed batch of 70 (rows 400-469, every value
    times ``scale`` as the vendor signed them), each of its records held ``times`` times (whoever makes the version
    repeated them; the vendor signed each once). The "To release:" steps of prov check v2 --base v1 (on one line),
    or "" when it passes."""
    from test_check_next_steps_source import WIDE, _breast_cancer

    pq.write_table(_breast_cancer(range(400)), "base.parquet")
    vendor = _breast_cancer(range(400, 470))
    if scale != 1.0:
        vendor = pa.table(
            {
                c: vendor.column(c) if c == "diagnosis" else pa.array([x * scale for x in vendor.column(c).to_pylist()])
                for c in vendor.column_names
            }
        )
    pq.write_table(vendor, "vendor.parquet")
    pq.write_table(pa.concat_tables([_breast_cancer(range(400))] + [vendor] * times), "v2.parquet")
    pin = ("--signer", "m.pub")
    for args in (
        ("init",),
        ("keys", "generate", "vendor"),
        ("keys", "generate", "m"),
        ("sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key", *BREAST_CANCER_LABEL),
        ("trust", "add", "vendor", "vendor.pub", "--key", "m.key", *pin),
        ("add", "vendor.parquet", "--source", "vendor", *pin),
        ("commit", "base.parquet", "--tag", "v1", "--key", "m.key", *pin, *BREAST_CANCER_LABEL),
        ("commit", "v2.parquet", "--tag", "v2", "--key", "m.key", *pin, *BREAST_CANCER_LABEL),
    ):
        assert prov(*args).exit_code == 0, args
    r = prov("check", "v2", "--base", "v1", *pin, "--no-save", env=WIDE)
    if r.exit_code == 0:
        return ""
    assert r.exit_code == 1, r.output
    return " ".join(r.stdout.split("\nTo release:\n", 1)[1].split("\nPolicy ", 1)[0].split())


def test_control_the_vendor_s_signed_batch_held_once_passes(prov, workdir):
    # A31d-6's control: the vendor's 70 records, held once as signed, pass (nothing about them is odd)
    assert _vendor_delivery_held(prov, 1) == ""


# A31d-6 (low): report.next_steps._steps offers, for a detector block on a signing source whose added records are
# all attested, "or, if vendor's key may be stolen (most flagged records are its signed ones), cut vendor out:
# prov quarantine --from v2 --source vendor": whoever makes the version holds each of the vendor's 70 signed records
# 4 times (the vendor signed each once; the control's single copy passes), the copies block copies.max_copies_rate
# and detectors.combined/extreme flag all 70, and the steps point at the honest vendor's key and offer cutting its
# signed records out, though nothing the vendor signed changed. Fix: next_steps._steps should not offer the
# distrust step when the flagged signed records are held more times than the source's signed batches hold them
# (copies the version's maker added: copies.max_copies_rate blocks on them), only the leave-out step.
# Fixed (sec32): gate.signed_copies counts the flagged signed records held beyond what their source signed, and
# next_steps points at whoever added the copies instead.
def test_a31d_6_copies_of_a_vendor_s_records_do_not_point_at_its_key(prov, workdir):
    steps = _vendor_delivery_held(prov, 4)
    assert "copies_added" in steps, steps  # the copies rule blocks too
    assert "key may be stolen" not in steps, steps
    assert (
        "or, as 70 of the flagged records are vendor's signed records held more times than vendor's signed batches "
        "hold them (copies whoever made v2 added, not what vendor signed), remove the copies and commit again: "
        "prov commit DATA --parent v2 --tag NEW --key K" in steps
    ), steps


def test_control_a_vendor_s_odd_records_as_it_signed_them_point_at_its_key(prov, workdir):
    # A31d-6's other control: the vendor signed 70 records a thousandfold beyond the base and the version holds each
    # once, as signed: its key is what they point at, so the step stays
    steps = _vendor_delivery_held(prov, 1, 1000.0)
    assert "or, if vendor's key may be stolen (most flagged records are its signed ones), end its trust" in steps
    assert "copies whoever made" not in steps, steps
