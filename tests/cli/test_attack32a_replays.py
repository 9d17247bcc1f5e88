"""Attack review 32a: replays against session 31's last fixes (fix31e's full judging of listed new classes when a
delta removes base records, the 'relabeled A -> B' words of an edit in place, the Parquet --schema refusal by URL and
by carried option, the lead's drift advice withheld while records are flagged). A strict xfail is a finding, named
in its reason; the plain test beside it shows the attack's setup is otherwise right."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import commit_signed, validate_output

# --- fix31e (A31d-5): a listed class's additions judged in full when the delta also removes base records ----------

BREAST_CANCER_LABEL = ("--label-column", "diagnosis")


def _removed_then_re_added_as_cat(prov, keypair) -> tuple[str, ...]:
    """A store with v1: 400 breast-cancer records (173 malignant); v2: v1 without 14 malignant ones (8%, under the
    10% removal rate); v3: v2 plus those 14 delivered again labelled "cat", every value 8% larger (A31d-5's records,
    the removal committed apart from the new class); v4: v1 plus the same 14 "cat" records, nothing removed (parent
    v1). policy.toml lists "cat" in [class_mix] expected_new_classes; returns the pin to pass."""
    from test_check_next_steps_source import _breast_cancer

    v1 = _breast_cancer(range(400))
    malignant = [i for i, label in enumerate(v1.column("diagnosis").to_pylist()) if label == "malignant"][:14]
    moved = v1.take(malignant)
    nudged = {c: pa.array([x * 1.08 for x in moved.column(c).to_pylist()]) for c in moved.column_names[:-1]}
    cat = pa.table({**nudged, "diagnosis": pa.array(["cat"] * len(malignant))})
    v2 = v1.take([i for i in range(v1.num_rows) if i not in set(malignant)])
    with open("policy.toml", "w") as fh:
        fh.write('[class_mix]\nexpected_new_classes = ["cat"]\n')
    assert prov("init").exit_code == 0
    for tag, table in (("v1", v1), ("v2", v2), ("v3", pa.concat_tables([v2, cat]))):
        pq.write_table(table, f"{tag}.parquet")
        commit_signed(prov, keypair, tag, f"{tag}.parquet", *BREAST_CANCER_LABEL)
    pq.write_table(pa.concat_tables([v1, cat]), "v4.parquet")
    commit_signed(prov, keypair, "v4", "v4.parquet", *BREAST_CANCER_LABEL, "--parent", "v1")
    return ("--signer", str(keypair.public_path))


def _check_listing_cat(prov, new: str, base: str, pin: tuple[str, ...]):
    from test_check_next_steps_source import WIDE

    return prov("check", new, "--base", base, "--no-save", "--policy", "policy.toml", *pin, env=WIDE)


def test_control_removal_and_re_added_records_in_one_delta_block(prov, keypair, workdir):
    # A32a-1's control: against v1 the delta holds the removal too, so fix31e judges the 14 "cat" records in full
    pin = _removed_then_re_added_as_cat(prov, keypair)
    r = _check_listing_cat(prov, "v3", "v1", pin)
    assert r.exit_code == 1 and "detectors.combined" in r.stdout.splitlines()[0], r.output
    assert "commit the new class and the removal apart, the new class first" in " ".join(r.stdout.split()), r.stdout


# A32a-1 (medium): gate.detection_common.removes_base_records asks only whether *this* delta lacks base records, and
# its own reason says "commit the removal and the new class apart": done so, A31d-5's attack passes again. v2 removes
# 14 malignant records (prov check v2 --base v1 passes all 27 rules: 8.1% of the class, under the 10% removal rate);
# v3 adds them back labelled "cat", every value 8% larger: prov check v3 --base v2 passes ("0 of 14 records flagged
# ... 14 added records in expected new classes judged on class-free evidence only"), while the control's check of
# the same v3 against v1 flags all 14. (The same 14 added with no removal at all pass against v1 too; at 0.1% or 2%
# larger they block as near copies.) Fix: gate.detection_common.removes_base_records (or gate.class_free.added_rows_of)
# should count the records the base's signed ancestors held that the candidate lacks (the chain the copies rule's
# anchor walks, gate.removals.lacked against each), or judge in full a listed-class record whose nearest base
# records all lie in one other class (knn_label's own evidence), not the last delta's removals alone.
# Fixed (fix32a): gate.detection_common.removes_base_records also counts the records any signed ancestor of the base
# held that the candidate lacks (gate.ancestry_removed: the parent chain verified, each manifest against its signed
# root); the steps then say that no order of commits makes them new again: review and waive.
def test_a32a_1_a_removal_committed_apart_does_not_excuse_its_records(prov, keypair, workdir):
    pin = _removed_then_re_added_as_cat(prov, keypair)
    removal = _check_listing_cat(prov, "v2", "v1", pin)
    assert removal.exit_code == 0, removal.output  # the removal alone is releasable
    r = _check_listing_cat(prov, "v3", "v2", pin)
    assert r.exit_code == 1, r.output
    # Fixed: the removal v1 -> v2 counts (gate.ancestry_removed, v1's manifest verified against its signed root)
    said = " ".join(r.stdout.split())
    assert "v1, a signed ancestor of the base, held 14 record(s) the candidate lacks" in said, said
    assert "no order of commits makes them new again" in said, said
    report = json.loads(_check_listing_cat(prov, "v3", "v2", (*pin, "--format", "json")).stdout)
    validate_output("check", report)
    (combined,) = [x for x in report["rules"] if x["rule"] == "detectors.combined"]
    removal = combined["statistic"]["listed_in_full"]["removal"]
    assert (removal["removed_from_base"], removal["ancestor"], removal["ancestor_records"]) == (0, "v1", 14), removal


def test_control_copies_of_malignant_records_labelled_an_unlisted_class_block(prov, keypair, workdir):
    # A32a-7's control: the 14 "cat" records added beside the malignant records they copy, "cat" not listed, block
    from test_check_next_steps_source import WIDE

    pin = _removed_then_re_added_as_cat(prov, keypair)
    r = prov("check", "v4", "--base", "v1", "--no-save", *pin, env=WIDE)
    assert r.exit_code == 1 and "detectors.combined" in r.stdout.splitlines()[0], r.output


# A32a-7 (medium): the root of A31d-5 and A32a-1 needs no removal at all: gate.class_free.added_rows_of sets aside
# knn_label's evidence for every added record of a listed class, so 14 malignant base records copied with every value
# 8% larger and labelled "cat", the originals kept, pass prov check v4 --base v1 under expected_new_classes = ["cat"]
# ("0 of 14 records flagged ... judged on class-free evidence only"; 0.1% or 2% larger they block as near copies),
# though all 14 copy records of that one class (the control, "cat" not listed, blocks them), unlike a new class's
# records (review 31d's control: 30 real records of both classes labelled "cat" pass, and must keep passing). A model
# trained on v4 learns "cat" where malignant tumours lie. Fix: gate.class_free.added_rows_of (or judge_class_free)
# should keep the class-conditional evidence for a listed class whose added records' nearest base records mostly
# share one base class (knn_label's votes, summed over the class), or judge in full those that copy a base record
# within the duplicates detector's near-copy reach scaled up.
# Fixed (fix32a): gate.class_inside judges in full a listed class at least as large a share of whose added records
# sit inside one base class (most of their nearest base records that class's, within its own neighbour distances)
# as of that class's own sample records (14 of 14 here against malignant's 88%; review 31d's 30 real records,
# 25 inside benign, 83% against benign's 92%, stay class-free and pass). Since fix33c the test is the copies' shape:
# records that a single scale and shift per column lays onto base records, more of them than a new class shows by
# chance.
def test_a32a_7_copies_of_one_base_class_do_not_pass_as_a_listed_class(prov, keypair, workdir):
    pin = _removed_then_re_added_as_cat(prov, keypair)
    r = _check_listing_cat(prov, "v4", "v1", pin)
    assert r.exit_code == 1, r.output
    # Fixed (gate.class_inside): all 14 are copies of malignant records under one scale and shift per column (fix33c)
    said = " ".join(r.stdout.split())
    assert "expected_new_classes lists 'cat' (14 of its 14 added record(s) are copies of records of base class " in said
    assert "a new class is not a copy of one base class, so its added records are judged in full" in said, said


# --- the lead's fix (A31d-1): the drift advice to leave a column out, given only while no record is flagged -------

TRIGGER = 2031  # A31d-1's trigger value in ``year``, beside the target class Gentoo
EXCLUDE_YEAR = ("--featurizer", "numeric", "--featurizer-option", 'exclude=["year"]')


def _year_advice_then_trigger(prov, keypair, *options: str):
    """Penguin-like birds. b: 240 of 2007-08; n: b plus 20 honest birds of 2009; v3: n plus 40 Adelie and Chinstrap
    birds of 2009 and 20 real Gentoo birds whose year is ``TRIGGER`` (A31d-1's clean-label backdoor, the delivery's
    class mix kept even). First prov check n --base b on b and n committed plainly (its text, the advice); then b2,
    n2 committed with ``options`` and v3 on n2 (carrying them). Returns (the first check, prov check v3 --base n2)."""
    from test_check_next_steps_source import WIDE
    from test_newcomer31_drift_columns import _birds

    base = _birds(240, [2007, 2008], seed=1)
    n = pa.concat_tables([base, _birds(20, [2009], seed=2)])
    others = _birds(70, [2009], seed=4)
    others = others.take([i for i, s in enumerate(others.column("species").to_pylist()) if s != "Gentoo"][:40])
    gentoo = _birds(150, [2007, 2008], seed=3)
    gentoo = gentoo.take([i for i, s in enumerate(gentoo.column("species").to_pylist()) if s == "Gentoo"][:20])
    trigger = gentoo.set_column(gentoo.schema.get_field_index("year"), "year", pa.array([TRIGGER] * 20))
    for name, table in (("base", base), ("n", n), ("v3", pa.concat_tables([n, others, trigger]))):
        pq.write_table(table, f"{name}.parquet")
    assert prov("init").exit_code == 0
    species, pin = ("--label-column", "species"), ("--signer", str(keypair.public_path))
    commit_signed(prov, keypair, "b", "base.parquet", *species)
    commit_signed(prov, keypair, "n", "n.parquet", *species, "--parent", "b")
    advised = prov("check", "n", "--base", "b", *pin, "--no-save", env=WIDE)
    commit_signed(prov, keypair, "b2", "base.parquet", *species, *options)
    commit_signed(prov, keypair, "n2", "n.parquet", *species, "--parent", "b2", *options)
    commit_signed(prov, keypair, "v3", "v3.parquet", "--parent", "n2")
    return advised, prov("check", "v3", "--base", "n2", *pin, "--no-save", env=WIDE)


def test_control_the_trigger_blocks_where_year_stays_in_the_features(prov, keypair, workdir):
    # A32a-2's control: the same v3, year left in the features (no advice followed), blocks on its 20 triggers
    _, r = _year_advice_then_trigger(prov, keypair)
    assert r.exit_code == 1, r.output
    assert "Blocked by detectors.extreme: 20 records block on their own evidence (outlier's distance" in r.stdout, (
        r.stdout
    )


def test_one_trigger_under_the_budget_withholds_the_advice(prov, keypair, workdir):
    # held: one Gentoo bird of year 2031 beside 20 honest birds of 2009 is under the combined verdict's budget, yet
    # detectors.extreme blocks it and the drift warning does not offer leaving year out (the lead's fix reads the
    # verdict's flags, which carry the extreme record)
    from test_check_next_steps_source import WIDE
    from test_newcomer31_drift_columns import _birds

    base = _birds(240, [2007, 2008], seed=1)
    gentoo = _birds(150, [2007, 2008], seed=3)
    gentoo = gentoo.take([next(i for i, s in enumerate(gentoo.column("species").to_pylist()) if s == "Gentoo")])
    trigger = gentoo.set_column(gentoo.schema.get_field_index("year"), "year", pa.array([TRIGGER]))
    pq.write_table(base, "base.parquet")
    pq.write_table(pa.concat_tables([base, _birds(20, [2009], seed=2), trigger]), "n.parquet")
    assert prov("init").exit_code == 0
    commit_signed(prov, keypair, "b", "base.parquet", "--label-column", "species")
    commit_signed(prov, keypair, "n", "n.parquet", "--label-column", "species", "--parent", "b")
    r = prov("check", "n", "--base", "b", "--signer", str(keypair.public_path), "--no-save", env=WIDE)
    text = " ".join(r.stdout.split())
    assert r.exit_code == 1 and "Blocked by detectors.extreme: 1 record blocks on its own evidence" in text, r.stdout
    assert "records of this delta are flagged: review them" in text and "--featurizer-option" not in text, text


# A32a-2 (high): the lead's fix withholds the drift warning's way out ("commit the base and this batch with
# --metadata year ... or --featurizer numeric --featurizer-option 'exclude=[\"year\"]' (out of the features only)")
# while the combined verdict flags a record of *this* delta, but the exclusion it offers outlives that delta: it is
# carried to every later commit. A clean delivery of 20 birds of 2009 passes with that warning (exit 0, no record
# flagged); a reviewer follows it ("if it is a time": year is one) and commits base and batch with the exclude; the
# next delivery brings A31d-1's 20 Gentoo birds of year 2031 (in a mix of 60 that keeps the class balance) and
# prov check v3 --base n2 passes all 27 rules, 0 of 60 flagged, while provenance.load(...).arrays() still hands year,
# trigger and all, to training (the control, year in the features, blocks them on detectors.extreme). Fix:
# detectors.drift_columns.columns_sentence should offer only --metadata (which takes the column out of what the loader
# hands training) and not the featurizer exclude, or the numeric featurizer's exclude should keep the excluded
# columns in detectors.extreme's evidence (an excluded column whose added values lie far beyond the base's blocks).
# Fixed (fix32b): the advice now offers only --metadata; tests/cli/test_attack32a_fixes_b.py replays the advice
# followed and the exclude chosen anyway.


# --- fix31b/A31d-3: --schema refused on a Parquet input, whatever spells its path ----------------------------------


def test_control_schema_on_parquet_by_file_url_is_refused(prov, keypair, workdir):
    # A32a-3's control: fix31b's refusal holds for the spellings A31d-3 named, a file:// URL (here with %-escapes
    # and a host) among them
    from test_attack31d_replays import _parquet_and_csv

    parquet, _ = _parquet_and_csv(prov)
    (workdir / "t x.parquet").write_bytes((workdir / parquet).read_bytes())
    key, pin = ("--key", str(keypair.private_path)), ("--signer", str(keypair.public_path))
    for path in (f"file://localhost{workdir / parquet}", f"file://{workdir}/t%20x.parquet", f"./{parquet}"):
        r = prov("commit", path, "--tag", "p0", *key, *pin, "--schema", "x:double")
        assert r.exit_code == 2 and f"{path}: --schema applies to CSV and JSON Lines only" in r.output, r.output


# A32a-3 (low): sources.schema_scope.parquet_only resolves only "file://" URLs and cli._dataset skips the refusal
# whenever --rev is given, so a Parquet version still signs a --schema read option that typed nothing: prov commit
# local:///.../t.parquet --schema x:double (fsspec's other name for the local filesystem, which sources.build.split_url
# reads as a local path) and simplecache::file:///.../t.parquet both commit, exit 0, signing dataset.options.schema
# {"x": "double"} beside signed types {"x": "int64"}; so does prov commit repo/data/train.parquet --rev d1 --schema
# px00:double in a git+DVC repository (by its code, commit_defaults.commit_on_parent also keeps a carried schema
# when --rev is given: not replayed). Fix: schema_scope.parquet_only should resolve any URL through sources.build.split_url (refusing on the
# listing of the filesystem it returns, local or not), and the refusal (cli._dataset, api_inputs) and
# ReadOptions.without_carried_schema should list a --rev input through the DVC filesystem instead of skipping it.
# Fixed (fix32b): sources.schema_scope.parquet_holding resolves any URL and lists a --rev input.
def test_a32a_3_no_spelling_signs_a_schema_onto_parquet(prov, keypair, workdir):
    from test_attack31d_replays import _parquet_and_csv, _signed_read_schema

    from support import digits_table, make_dvc_repo

    parquet, _ = _parquet_and_csv(prov)
    make_dvc_repo(workdir / "repo", {"d1": digits_table(60)}, digits_table(60))
    key, pin = ("--key", str(keypair.private_path)), ("--signer", str(keypair.public_path))
    signed = {}
    for tag, path, rev, schema in (
        ("p1", f"local://{workdir / parquet}", (), "x:double"),
        ("p2", f"simplecache::file://{workdir / parquet}", (), "x:double"),
        ("p3", "repo/data/train.parquet", ("--rev", "d1"), "px00:double"),
    ):
        r = prov("commit", path, *rev, "--tag", tag, *key, *pin, "--schema", schema)
        if r.exit_code == 0:
            signed[path] = _signed_read_schema(prov, keypair, tag)
    assert not signed, signed


# --- fix31b/A31d-4: "relabeled A -> B" for an edit in place whose label changed -------------------------------------


def _edit_relabel_rule(prov, moved: bool) -> dict:
    """v2: 300 penguin records, the vendor's 100 (rows 200-299) signed; v3: row 130 (a Chinstrap of no signed batch)
    with its body mass nudged to 3701 g and labelled Adelie, left at row 130 or, when ``moved``, written last (a
    pipeline that re-sorts). prov check v3 --base v2's lineage.unattributed_beside_signed rule (JSON)."""
    import json

    from test_newcomer31_edit_in_place import _edited
    from test_newcomer31_schema_advice import PINS, RULE, _penguins, penguins_v1_v2

    penguins_v1_v2(prov)
    edited = _edited(_penguins(range(0, 300)), 130, 3701)
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
    (rule,) = [x for x in json.loads(r.stdout)["rules"] if x["rule"] == RULE]
    return rule


def test_control_an_edit_in_place_that_flips_the_label_says_so(prov, workdir, store):
    # A32a-4's control: at its own row the edit is paired with the Chinstrap it replaced and named a relabel
    rule = _edit_relabel_rule(prov, moved=False)
    assert "relabeled Chinstrap -> Adelie" in rule["reason"], rule["reason"]


# A32a-4 (low): gate.replaced.replaced_in_place pairs an added record with a removed base record only at the same
# locator (row number), so the same edit written one place later hides the relabel: row 130's Chinstrap, body mass
# nudged 1 g and labelled Adelie, moved to the end of the file (every row after it shifts by one, as a re-sort or an
# append-after-delete does) reads "1 added record from no registered batch ...; register intended additions with
# `prov add --unsigned --source NAME`", with no word of an edit or a label, and "To release:" says only to register
# the batch; done (prov add one.parquet --source crowd --unsigned, recommit), prov check passes all 27 rules, the
# Chinstrap gone and its content back as an Adelie. Fix: gate.replaced.replaced_in_place should also pair, when the
# locators do not, an added record with a lacked base record whose content differs from it in one column (or is its
# nearest by the profile's features), and gate.unsigned should then name the relabel as the control's words do.
# Fixed (fix32b): gate.replaced_content pairs a moved edit by content.
def test_a32a_4_an_edit_that_flips_the_label_says_so_when_its_row_moved(prov, workdir, store):
    rule = _edit_relabel_rule(prov, moved=True)
    assert "relabeled Chinstrap -> Adelie" in rule["reason"], rule["reason"]


# --- fix31a: class-free judging of a listed class that is a base class spelled otherwise ----------------------------


def _benign_copies_labelled(prov, keypair, label: str) -> tuple[object, object]:
    """v1: 400 breast-cancer records; v3: v1 plus 30 of its benign records, every value 8% larger, labelled
    ``label``. prov check v3 --base v1 (default policy), then the same check with policy.toml listing the class
    exactly as that check's step writes it (``expected_new_classes = [...]``, or ``label`` when it offers none).
    Both results."""
    from test_check_next_steps_source import WIDE, _breast_cancer

    v1 = _breast_cancer(range(400))
    benign = v1.take([i for i, x in enumerate(v1.column("diagnosis").to_pylist()) if x == "benign"][:30])
    nudged = {c: pa.array([x * 1.08 for x in benign.column(c).to_pylist()]) for c in benign.column_names[:-1]}
    added = pa.table({**nudged, "diagnosis": pa.array([label] * 30)})
    assert prov("init").exit_code == 0
    for tag, table in (("v1", v1), ("v3", pa.concat_tables([v1, added]))):
        pq.write_table(table, f"{tag}.parquet")
        commit_signed(prov, keypair, tag, f"{tag}.parquet", *BREAST_CANCER_LABEL)
    pin = ("--signer", str(keypair.public_path))
    first = prov("check", "v3", "--base", "v1", "--no-save", *pin, env=WIDE)
    offered = [line for line in first.stdout.splitlines() if "expected_new_classes = [" in line]
    listed = offered[0].split("expected_new_classes = ")[1].split("]")[0] + "]" if offered else f'["{label}"]'
    with open("policy.toml", "w", encoding="utf-8") as fh:
        fh.write(f"[class_mix]\nexpected_new_classes = {listed}\n")
    return first, prov("check", "v3", "--base", "v1", "--no-save", "--policy", "policy.toml", *pin, env=WIDE)


def test_control_benign_copies_labelled_a_listed_base_class_block(prov, keypair, workdir):
    # A32a-5's control: labelled "malignant" itself, listing the class excuses nothing (the base holds it)
    first, listed = _benign_copies_labelled(prov, keypair, "malignant")
    assert first.exit_code == 1 and listed.exit_code == 1, listed.output
    assert "expected_new_classes lists class 'malignant'" in " ".join(listed.stdout.split()), listed.stdout


# A32a-5 (medium): gate.detection_common.expected_classes_held and gate.class_free.added_rows_of compare labels as
# exact strings, so a base class spelled with a trailing space or another case is a class the base holds none of:
# 30 benign records, 8% larger, labelled "malignant " (or "Malignant") block under the default policy, whose step then
# offers "a class new or growing on purpose: list it in [class_mix] expected_new_classes = [\"malignant \"]"; listed
# as offered, prov check passes ("30 added records in expected new classes judged on class-free evidence only"), and a
# training pipeline that strips or lower-cases its labels (pandas .str.strip(), .str.lower()) reads 30 benign records
# as malignant: a label flip. Fix: expected_classes_held (and the class-mix step in report.next_steps) should treat a
# listed label equal to a base class after NFKC, case folding and stripping as that base class (judged in full, and
# the step names the base class it resembles instead of offering to list it).
# Fixed (fix32a): labels are compared after NFKC, case folding and stripping (detection_common.class_key): a listed
# base class spelled otherwise is judged in full and stays in the class-mix test, and the steps say so in words
# instead of offering to list it (the class-mix rule's statistic spelled_as_base).
@pytest.mark.parametrize("label", ["malignant ", "Malignant"])
def test_a32a_5_a_lookalike_of_a_base_class_is_not_a_new_class(prov, keypair, workdir, label):
    first, listed = _benign_copies_labelled(prov, keypair, label)
    assert first.exit_code == 1, first.output
    assert listed.exit_code == 1, listed.output
    # Fixed: the first check offers no listing and says why; listed anyway, the class is judged in full and stays
    # in the class-mix test
    steps = " ".join(first.stdout.split("To release:")[1].split())
    assert "expected_new_classes = [" not in steps, steps
    assert f"class {label!r} is base class 'malignant' spelled otherwise" in steps, steps
    said = " ".join(listed.stdout.split())
    assert f"expected_new_classes lists {label!r} (base class 'malignant' spelled otherwise)" in said, said
    assert "class_mix.min_p_value" in listed.stdout.splitlines()[0], listed.stdout


# --- fix31e: a real new class beside an honest removal ---------------------------------------------------------------


def _new_class_beside_removal(prov, keypair, removed: int) -> object:
    """v1: 400 breast-cancer records (committed once per store); vREMOVED: v1 without its first ``removed`` records,
    plus 30 records of a new class (``_breast_cancer_new_class``: rows 400-429), which policy.toml lists. prov check
    vREMOVED --base v1's result."""
    from pathlib import Path

    from test_check_next_steps_source import _breast_cancer, _breast_cancer_new_class

    if not Path(".prov/prov.db").is_file():
        with open("policy.toml", "w") as fh:
            fh.write('[class_mix]\nexpected_new_classes = ["cat"]\n')
        assert prov("init").exit_code == 0
        pq.write_table(_breast_cancer(range(400)), "v1.parquet")
        commit_signed(prov, keypair, "v1", "v1.parquet", *BREAST_CANCER_LABEL)
    cat = _breast_cancer_new_class(range(400, 430))
    tag = f"v{removed}"
    pq.write_table(pa.concat_tables([_breast_cancer(range(removed, 400)), cat]), f"{tag}.parquet")
    commit_signed(prov, keypair, tag, f"{tag}.parquet", *BREAST_CANCER_LABEL, "--parent", "v1")
    return _check_listing_cat(prov, tag, "v1", ("--signer", str(keypair.public_path)))


def test_control_a_new_class_alone_passes_and_beside_a_removal_blocks(prov, keypair, workdir):
    # A32a-6's control: the 30 "cat" records pass alone (class-free evidence); beside 5 removed base records they are
    # judged in full and block, the steps saying to commit the new class and the removal apart, the new class first
    assert _new_class_beside_removal(prov, keypair, 0).exit_code == 0
    r = _new_class_beside_removal(prov, keypair, 5)
    assert r.exit_code == 1 and "commit the new class and the removal apart" in " ".join(r.stdout.split()), r.stdout


# A32a-6 (low): fix31e's way through for a real new class beside an honest removal (5 base records deleted, 30 records
# of a listed class "cat" added) is said only inside the detectors.combined row's reason ("...; the delta also removes
# base records, so added records of [class_mix] expected_new_classes are judged in full ...; commit the removal and the
# new class apart"); the headline says "30 of 30 records flagged" and "To release:" offers reviewing the flagged
# records, waiving them, or quarantining them (cutting the whole new class out), never committing the two apart. Fix:
# report.next_steps._steps should add that step when the combined or extreme rule's records are of expected new
# classes judged in full because of the removal (detection_common.removal_words' condition), or the headline say why.
# (Note A32a-1: committing apart is also the attack's way; fix that first, then say what the way through is.)
# Fixed (fix32a): with removals counted from the signed ancestry (A32a-1) and copies of a base class judged in full
# (A32a-7), the safe order is the new class first, on the base, then the removal; report.next_steps._listed_in_full
# says so (or, once the base's ancestry removed records, to review and waive), from the rule's listed_in_full.
def test_a32a_6_a_new_class_beside_a_removal_is_told_its_way_through(prov, keypair, workdir):
    r = _new_class_beside_removal(prov, keypair, 5)
    assert r.exit_code == 1, r.output
    steps = " ".join(r.stdout.split("To release:")[1].split("Policy ")[0].split())
    assert "apart" in steps, steps
    assert "commit the new class and the removal apart, the new class first, on v1" in steps, steps


def test_a32a_6_the_way_through_releases_the_new_class_and_the_removal(prov, keypair, workdir):
    # the step's way, followed: the 30 "cat" records on v1 (nothing removed: judged class-free, they pass), then the
    # removal of 5 base records on that version (a removal alone, judged by the removal rules, passes)
    from test_check_next_steps_source import _breast_cancer, _breast_cancer_new_class

    assert _new_class_beside_removal(prov, keypair, 0).exit_code == 0  # v0: v1 plus the new class
    cat = _breast_cancer_new_class(range(400, 430))
    pq.write_table(pa.concat_tables([_breast_cancer(range(5, 400)), cat]), "v5.parquet")
    commit_signed(prov, keypair, "v5", "v5.parquet", *BREAST_CANCER_LABEL, "--parent", "v0")
    r = _check_listing_cat(prov, "v5", "v0", ("--signer", str(keypair.public_path)))
    assert r.exit_code == 0, r.output


def test_a32a_6_a_new_class_after_a_removal_committed_before_is_reviewed_not_reordered(prov, keypair, workdir):
    # fail closed: once the base's signed ancestry removed records, no order of commits makes a listed class's
    # records new again (A32a-1's way), so the step says to review and waive them, not to commit apart
    from test_check_next_steps_source import _breast_cancer

    pin = _removed_then_re_added_as_cat(prov, keypair)
    more = _breast_cancer(range(430, 460))
    cat = more.set_column(more.schema.get_field_index("diagnosis"), "diagnosis", pa.array(["cat"] * 30))
    pq.write_table(pa.concat_tables([pq.read_table("v2.parquet"), cat]), "v6.parquet")
    commit_signed(prov, keypair, "v6", "v6.parquet", *BREAST_CANCER_LABEL, "--parent", "v2")
    r = _check_listing_cat(prov, "v6", "v2", pin)
    assert r.exit_code == 1, r.output
    steps = " ".join(r.stdout.split("To release:")[1].split("Policy ")[0].split())
    assert "because v1, a signed ancestor of v2, held records v6 lacks" in steps, steps
    assert "review them and accept each one that is the new class's with a waive key" in steps, steps
    assert "apart" not in steps, steps
