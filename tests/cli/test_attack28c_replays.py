"""Attack review 28c: replays against fix28b (the newcomer fixes of session 27: empty data refused at commit and an
emptied candidate blocked, null/NaN/inf feature values refused at commit, the unscorable file named by check and
diff --detect, the exact --schema flags suggested, prov demo --fresh, diff --path of a missing file) and detect28
(knn_label's records at their own level where the base's labels drift in file order). A plain test pins an attack
that held; a strict xfail is a finding, named in its reason."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import digits_table, store_fingerprint, validate_output


def _commit(prov, keypair, data: str, tag: str, *args: str):
    return prov("commit", data, "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path, *args)


def _check(prov, new: str, base: str, *args: str):
    return prov("check", new, "--base", base, "--signer", "alice.pub", *args)


def _as_float(table: pa.Table) -> pa.Table:
    """``table`` with every pixel column float64 (a delivery can then carry any double)."""
    return pa.table(
        {n: (c.cast(pa.float64()) if n != "label" else c) for n, c in zip(table.column_names, table.columns)}
    )


def _with_value(table: pa.Table, column: str, row: int, value: float) -> pa.Table:
    """``table`` with ``column`` (a double) set to ``value`` in ``row``."""
    values = table.column(column).to_numpy().copy()
    values[row] = value
    return table.set_column(table.schema.get_field_index(column), column, pa.array(values))


def _r1_then_r2(prov, keypair, base: pa.Table, candidate: pa.Table) -> None:
    """``base`` committed as r1, then ``candidate`` as r2, both from train.parquet."""
    for tag, table in (("r1", base), ("r2", candidate)):
        pq.write_table(table, "train.parquet")
        r = _commit(prov, keypair, "train.parquet", tag)
        assert r.exit_code == 0, r.output


# --- removals.max_unsigned_removed_rate: the emptied candidate ---------------------------------------------------


# A28c-1 was a strict xfail; fixed by fix29a: [removals] max_removed_fraction (default 0.5) blocks a release that
# removed most of its base in every mode but "off". Its reason, kept:
# reason="A28c-1: a PR author who deletes every record but one passes prov check under the default removals "
# "mode (warn): the emptied-candidate block is records_new == 0 only, so a one-record release is 'passed with "
# "warnings' although it is as much 'nothing to train on' as an empty one",
def test_a_candidate_that_keeps_one_record_of_300_is_blocked(prov, workdir, store, keypair):
    t = digits_table(300)
    _r1_then_r2(prov, keypair, t, t.slice(0, 1))  # the export kept its first row only
    r = _check(prov, "r2", "r1", "--format", "json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    validate_output("check", doc)
    (rule,) = [x for x in doc["rules"] if x["rule"] == "removals.max_unsigned_removed_rate"]
    assert rule["status"] == "block", rule
    assert "removed 299 of r1's 300 records (99.7%), more than 50%" in rule["reason"], rule["reason"]
    assert "raise [removals] max_removed_fraction" in rule["reason"], rule["reason"]
    assert rule["statistic"] == {
        "test": "shrunk",
        "records_base": 300,
        "records_new": 1,
        "removed": 299,
        "located": 0,
        "quarantined": 0,
        "removed_fraction": 299 / 300,
        "max_removed_fraction": 0.5,
    }
    r = _check(prov, "r2", "r1")  # the text report leads with the block, in warn mode (the default)
    assert r.exit_code == 1 and "max_removed_fraction" in r.stdout, r.output


def test_an_intended_shrink_passes_with_warnings_once_the_policy_key_allows_it(prov, workdir, store, keypair):
    # the key the block names lets a meant shrink through: then the removals warning alone, as before fix29a
    t = digits_table(300)
    _r1_then_r2(prov, keypair, t, t.slice(0, 1))
    with open("policy.toml", "w") as f:
        f.write("[removals]\nmax_removed_fraction = 1\n")
    r = _check(prov, "r2", "r1", "--format", "json", "--policy", "policy.toml")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    validate_output("check", doc)
    (rule,) = [x for x in doc["rules"] if x["rule"] == "removals.max_unsigned_removed_rate"]
    assert rule["status"] == "warn", rule


def test_removing_half_of_the_base_is_not_the_shrink_block(prov, workdir, store, keypair):
    # the bound is "more than" max_removed_fraction: 150 of 300 removed is judged by the per-class rate (warn)
    t = digits_table(300)
    _r1_then_r2(prov, keypair, t, t.slice(0, 150))
    r = _check(prov, "r2", "r1", "--format", "json")
    doc = json.loads(r.stdout)
    (rule,) = [x for x in doc["rules"] if x["rule"] == "removals.max_unsigned_removed_rate"]
    assert rule["status"] == "warn" and (rule["statistic"] or {}).get("test") != "shrunk", rule
    assert r.exit_code == 0, r.output


def test_a_signed_quarantine_of_a_majority_source_is_no_shrink_but_a_deletion_after_it_is(
    prov, workdir, store, keypair
):
    # r1: vendor's 100 records and crowd's 200; r2 = prov quarantine of crowd (signed: 200 of 300 removed on purpose);
    # r3 then keeps 40 of vendor's 100. Against r1, r2 is no shrink (the quarantined records are left out of both
    # counts), r3 is: 60 of the 100 records left after the quarantine (60%), named with the 200 quarantined
    t = digits_table(300)
    t = t.append_column("source", pa.array(["vendor"] * 100 + ["crowd"] * 200))
    pq.write_table(t, "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1", "--source-column", "source").exit_code == 0
    r = prov("quarantine", "--from", "r1", "--source", "crowd", "--tag", "r2", "--key", keypair.private_path,
             "--signer", keypair.public_path)  # fmt: skip
    assert r.exit_code == 0, r.output
    pq.write_table(t.slice(0, 40), "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r3", "--source-column", "source", "--parent", "r2").exit_code == 0

    def rule(new: str) -> dict:
        doc = json.loads(_check(prov, new, "r1", "--format", "json").stdout)
        validate_output("check", doc)
        return {x["rule"]: x for x in doc["rules"]}["removals.max_unsigned_removed_rate"]

    assert (rule("r2")["statistic"] or {}).get("test") != "shrunk", rule("r2")
    shrunk = rule("r3")
    assert shrunk["status"] == "block", shrunk
    assert shrunk["statistic"]["removed"] == 60 and shrunk["statistic"]["quarantined"] == 200, shrunk["statistic"]
    assert "removed 60 of r1's 100 records (60.0%) (besides 200 a signed quarantine removed)" in shrunk["reason"]


def test_an_empty_candidate_against_an_empty_base_is_not_released(prov, workdir, store, keypair):
    # both committed on purpose (--allow-empty): the emptied block needs a base that held records, but the check
    # fails closed anyway (no profile: detectors.run could not be evaluated, exit 3)
    t = digits_table(300).slice(0, 0)
    pq.write_table(t, "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r0", "--allow-empty").exit_code == 0
    assert _commit(prov, keypair, "train.parquet", "r1", "--allow-empty").exit_code == 0
    r = _check(prov, "r1", "r0")
    assert r.exit_code == 3, r.output
    assert "could not be evaluated (fails closed)" in r.stdout.splitlines()[0]


def test_an_empty_commit_is_refused_with_a_parent_too_and_a_signed_quarantine_of_every_record_still_blocks(
    prov, workdir, store, keypair
):
    # a signed prov quarantine may cut every record (allow_empty inside it); the check of that version blocks,
    # quarantined or not, even under a policy that makes removals warn
    t = digits_table(300)
    t = t.append_column("source", pa.array(["crowd"] * 300))
    pq.write_table(t, "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1", "--source-column", "source").exit_code == 0
    pq.write_table(t.slice(0, 0), "empty.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "empty.parquet", "r2", "--parent", "r1")
    assert r.exit_code == 2 and "empty.parquet: no records" in r.stderr, r.output
    assert store_fingerprint(workdir / ".prov") == before
    r = prov(
        "quarantine",
        "--from",
        "r1",
        "--tag",
        "q1",
        "--source",
        "crowd",
        "--key",
        "alice.key",
        "--signer",
        "alice.pub",
        "--out",
        "cut.parquet",
    )
    assert r.exit_code == 0, r.output
    assert pq.read_table("cut.parquet").num_rows == 0
    (workdir / "warn.toml").write_text('[removals]\nunsigned_removed = "warn"\n')
    r = _check(prov, "q1", "r1", "--policy", "warn.toml", "--format", "json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    validate_output("check", doc)
    (rule,) = [x for x in doc["rules"] if x["rule"] == "removals.max_unsigned_removed_rate"]
    assert rule["status"] == "block" and rule["statistic"]["emptied"], rule


def test_the_emptied_block_reads_the_verified_manifest_not_a_store_row(prov, workdir, store, keypair):
    # a .prov/ writer who sets the versions row's record count back to 300 cannot unblock an emptied candidate
    import sqlite3

    t = digits_table(300)
    pq.write_table(t, "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    pq.write_table(t.slice(0, 0), "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r2", "--allow-empty").exit_code == 0
    with sqlite3.connect(".prov/prov.db") as db:
        assert db.execute("update versions set records = 300 where tag = 'r2'").rowcount == 1
    db.close()
    r = _check(prov, "r2", "r1")
    assert r.exit_code in (1, 2), r.output


# --- null, NaN, inf and huge feature values ----------------------------------------------------------------------


# A28c-2 was a strict xfail ("a data source's delivery whose pixel is 1e38 (finite, so the commit's null/NaN/inf
# refusal does not meet it) makes prov check exit 3 (gradient and knn_label 'returned scores outside', spectral's SVD
# did not converge, drift not measured): could not be evaluated, with no file named and no next step, where a NaN in
# the same place is refused naming the file (exit 2)"); fixed in session 29 (fix29b): a standardised feature is held
# within profiles.reference.Z_LIMIT scales of the base's mean, so the record is judged, far outside the base. A
# double past float32's range (1e300, float64's max) is refused at commit as an infinity is.
@pytest.mark.parametrize("value", [1e38, -1e38])
def test_a_huge_finite_pixel_in_a_delivery_is_judged_far_outside_the_base_and_blocks(
    prov, workdir, store, keypair, value
):
    # one sensor glitch, or a source that means it: a copy of a base record with px00 (0 in every base record) set
    t = _as_float(digits_table(500))
    glitch = t.slice(3, 1).set_column(0, "px00", pa.array([value]))
    _r1_then_r2(prov, keypair, t, pa.concat_tables([t, glitch]))
    r = _check(prov, "r2", "r1", "--format", "json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    validate_output("check", doc)
    assert not [x["rule"] for x in doc["rules"] if x["status"] == "error"], doc["rules"]
    (extreme,) = [x for x in doc["rules"] if x["rule"] == "detectors.extreme"]
    assert extreme["status"] == "block", extreme
    (record,) = extreme["records"]  # the one record the delivery added, named by its digest
    assert record["change"] == "added", record
    assert all(0.0 <= d["score"] <= 1.0 for d in record["detectors"]), record["detectors"]
    assert {"outlier", "spectral"} <= {d["detector"] for d in record["detectors"] if d["flagged"]}, record
    text = _check(prov, "r2", "r1")
    assert text.exit_code == 1 and record["digest"][:12] in text.stdout, text.output


def test_a_base_that_holds_a_value_near_float32s_limit_still_judges_its_deliveries(prov, workdir, store, keypair):
    # the huge value in the base itself (its mean and spread then near float32's limit): a clean delivery is judged,
    # never "could not be evaluated"
    t = _as_float(digits_table(510))
    base = pa.concat_tables([t.slice(0, 500), t.slice(3, 1).set_column(0, "px00", pa.array([-3.4e38]))])
    _r1_then_r2(prov, keypair, base, pa.concat_tables([base, t.slice(500, 10)]))
    r = _check(prov, "r2", "r1", "--format", "json")
    assert r.exit_code in (0, 1), r.output
    assert not [x["rule"] for x in json.loads(r.stdout)["rules"] if x["status"] == "error"], r.stdout


@pytest.mark.parametrize("value", [1e300, float(np.finfo(np.float64).max)])
def test_a_double_past_float32s_range_in_a_delivery_is_refused_naming_file_column_and_row(
    prov, workdir, store, keypair, value
):
    t = _as_float(digits_table(500))
    pq.write_table(t, "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    pq.write_table(pa.concat_tables([t, t.slice(3, 1).set_column(0, "px00", pa.array([value]))]), "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "r2")
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()  # one line: no overflow warning before it
    assert line.startswith("Error: train.parquet: feature values finite but past float32's range"), line  # A30a-4
    assert "in column px00" in line, line
    assert "(0-based rows 500)" in line, line
    assert store_fingerprint(workdir / ".prov") == before


def test_huge_float64_pixels_past_float32_are_refused_where_they_enter(prov, workdir, store, keypair):
    # 1e300 is finite in the file but infinite as a float32 feature: the commit of a base that holds it is refused
    t = _as_float(digits_table(300))
    pq.write_table(_with_value(t, "px10", 5, 1e300), "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "r1")
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("Error: train.parquet: feature values finite but past float32's range"), r.stderr
    assert "in column px10 in 1 record(s) (0-based rows 5)" in r.stderr, r.stderr
    assert store_fingerprint(workdir / ".prov") == before


def test_nan_a_delivery_adds_is_refused_at_commit_or_check_naming_the_signed_file(prov, workdir, store, keypair):
    t = _as_float(digits_table(400))
    pq.write_table(t.slice(0, 300), "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    pq.write_table(_with_value(t, "px20", 350, np.nan), "train.parquet")
    r = _commit(prov, keypair, "train.parquet", "r2")
    if r.exit_code == 2:  # the sample met it
        assert "train.parquet" in r.stderr and "px20" in r.stderr
        return
    assert r.exit_code == 0, r.output
    r = _check(prov, "r2", "r1")
    assert r.exit_code == 2, r.output
    assert "train.parquet (r2's data)" in r.stderr


# --- the --schema flags a user pastes ----------------------------------------------------------------------------


def _retyped_commit(prov, workdir, column: str) -> str:
    """A vendor signs a batch whose pixel column ``column`` is double; the same records committed as CSV read it
    as int64 (86.0 written as 86), so the commit's note gives the --schema flags that keep the signed type.
    Returns the commit's output, words joined by one space."""
    import pyarrow.csv as pcsv

    from provenance import keys

    keys.generate(workdir / "vendor")
    t = digits_table(60).select(["px00", "px01", "px02", "label"]).rename_columns([column, "px01", "px02", "label"])
    pq.write_table(t.set_column(0, column, t.column(column).cast(pa.float64())), workdir / "batch.parquet")
    pins = ("--signer", "alice.pub")
    assert prov("sign", "batch.parquet", "--source", "vendor", "--key", "vendor.key").exit_code == 0
    assert prov("trust", "add", "vendor", "vendor.pub", "--key", "alice.key", *pins).exit_code == 0
    assert prov("add", "batch.parquet", "--source", "vendor", *pins).exit_code == 0
    pcsv.write_csv(t, workdir / "train.csv")
    r = prov("commit", "train.csv", "--tag", "v1", "--key", "alice.key", *pins)
    assert r.exit_code == 0, r.output
    return " ".join(r.stdout.split())


def _suggested_flags(text: str) -> list[str]:
    """The words bash reads from the note's ``--schema ...`` flags (run through bash itself, as a user pastes them)."""
    m = re.search(r"commit a CSV or JSON Lines file with (--schema .*?), or cast the columns back", text)
    assert m, text
    out = subprocess.run(["bash", "-c", f"printf '%s\\0' {m.group(1)}"], capture_output=True, text=True, check=True)
    return out.stdout.split("\0")[:-1]


def _attested(prov, words: list[str]) -> int:
    r = prov("commit", "train.csv", "--tag", "v2", "--key", "alice.key", "--signer", "alice.pub", *words, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["lineage"]["attested"]


@pytest.mark.parametrize("column", ["q$(touch pwned)`touch pwned2`;x'y", "t\tab\u00a0nbsp\u202eltr\\x41"])
def test_a_hostile_column_name_in_the_schema_suggestion_is_one_word_and_runs_nothing(
    prov, workdir, store, keypair, column
):
    words = _suggested_flags(_retyped_commit(prov, workdir, column))
    assert not (workdir / "pwned").exists() and not (workdir / "pwned2").exists()
    assert words == ["--schema", f"{column}:double"], words
    assert _attested(prov, words) == 60


# A28c-3 was a strict xfail ("the exact --schema flags prov suggests for a column whose name holds ':' do not read
# that column: --schema splits COLUMN:TYPE at the first ':', so the pasted --schema 'ratio:raw:double' is refused
# (exit 2: unknown type 'raw:double' for column 'ratio'); there is no way to name such a column's type at all");
# fixed in session 29 (fix29b): --schema splits at the last ':', as no type name holds one
def test_the_schema_suggestion_for_a_column_named_with_a_colon_commits(prov, workdir, store, keypair):
    column = "ratio:raw"
    words = _suggested_flags(_retyped_commit(prov, workdir, column))
    assert words == ["--schema", f"{column}:double"], words
    assert _attested(prov, words) == 60


# --- prov demo --fresh deletes only the demo's store --------------------------------------------------------------


def _demo_folder(workdir, files: dict[str, bytes]):
    """A folder an earlier demo left (its marker listing ``files``, path -> bytes), as ``prepare`` reads it."""
    import hashlib

    from provenance.demo.run import MARKER

    demo = workdir / "demo"
    for rel, data in files.items():
        (demo / rel).parent.mkdir(parents=True, exist_ok=True)
        (demo / rel).write_bytes(data)
    listed = "".join(f"{hashlib.sha256(d).hexdigest()} {rel}\n" for rel, d in files.items())
    (demo / MARKER).write_text("made by prov demo\nfiles written (sha256, path):\n" + listed)
    return demo


def test_demo_fresh_refuses_a_store_that_is_a_link_to_the_users_own(workdir):
    from provenance.demo.run import prepare
    from provenance.errors import InputError

    demo = _demo_folder(workdir, {".prov/prov.db": b"demo db", "data/train.parquet": b"demo data"})
    mine = workdir / "mine"
    mine.mkdir()
    (mine / "prov.db").write_bytes(b"the user's real store")
    import shutil

    shutil.rmtree(demo / ".prov")
    (demo / ".prov").symlink_to(mine, target_is_directory=True)
    with pytest.raises(InputError, match="link"):
        prepare(demo, fresh=True)
    assert (mine / "prov.db").read_bytes() == b"the user's real store"


def test_demo_fresh_unlinks_a_link_inside_the_store_never_its_target(workdir):
    from provenance.demo.run import prepare

    demo = _demo_folder(workdir, {".prov/prov.db": b"demo db", "data/train.parquet": b"demo data"})
    mine = workdir / "mine"
    mine.mkdir()
    (mine / "keep.bin").write_bytes(b"the user's file")
    (mine / "sub").mkdir()
    (mine / "sub" / "deep.bin").write_bytes(b"deeper")
    (demo / ".prov" / "objects").symlink_to(mine, target_is_directory=True)
    (demo / ".prov" / "file-link").symlink_to(mine / "keep.bin")
    prepare(demo, fresh=True)
    assert (mine / "keep.bin").read_bytes() == b"the user's file"
    assert (mine / "sub" / "deep.bin").read_bytes() == b"deeper"
    assert not (demo / ".prov").exists()


def test_demo_fresh_still_checks_every_file_outside_the_store(workdir):
    from provenance.demo.run import prepare
    from provenance.errors import InputError

    demo = _demo_folder(workdir, {".prov/prov.db": b"demo db", "data/train.parquet": b"demo data"})
    (demo / "data" / "train.parquet").write_bytes(b"the user's edit")
    (demo / "notes.txt").write_text("mine")
    with pytest.raises(InputError):
        prepare(demo, fresh=True)
    assert (demo / ".prov" / "prov.db").read_bytes() == b"demo db"  # nothing deleted before the refusal
    assert (demo / "notes.txt").read_text() == "mine"


# --- prov diff --path of a missing file ---------------------------------------------------------------------------


def test_diff_path_of_a_missing_file_is_one_line_exit_2_store_unchanged(prov, workdir, store, keypair):
    t = digits_table(300)
    pq.write_table(t, "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    pq.write_table(t.slice(0, 290), "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r2").exit_code == 0
    before = store_fingerprint(workdir / ".prov")
    r = prov("diff", "r1", "r2", "--path", "no/such\nfile.parquet")
    assert r.exit_code == 2, r.output
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert store_fingerprint(workdir / ".prov") == before


# --- detect28: knn_label's level where the base's labels drift -----------------------------------------------------


def _drift_level(shift: float, fpr: float = 0.01) -> float:
    from provenance.detectors.combine import combined_p_values
    from provenance.detectors.feature_level import label_drift_level

    rng = np.random.default_rng(7)
    batches = np.repeat(np.arange(10), 200)
    outlier = rng.normal(size=len(batches))
    knn = rng.normal(size=len(batches)) + shift * batches  # a base writer's labels contradict more, batch by batch
    return label_drift_level([outlier, knn], np.ones(2), batches, fpr, combined_p_values, 1)


def test_a_base_writer_who_plants_ever_stronger_label_drift_moves_knn_labels_level_at_most_to_half_fpr():
    # a base writer (a source whose records the signed base holds) who makes the base's labels drift along its file
    # order lowers the level knn_label's records are flagged at: never below fpr / 2, and not at all without drift
    assert _drift_level(0.0) == 0.01
    for shift in (0.5, 2.0, 50.0):
        level = _drift_level(shift)
        assert 0.005 <= level <= 0.01, (shift, level)
    assert _drift_level(50.0) == 0.005  # the floor is reached: what the docstring says a base writer can take


def test_the_exclude_flags_a_nan_refusal_suggests_paste_and_commit_for_a_hostile_column_name(
    prov, workdir, store, keypair
):
    # the data's writer names the column; the refusal's --featurizer-option word is pasted into a shell
    column = "n\"a'n$(touch pwned) é"
    t = _as_float(digits_table(300)).rename_columns([column] + digits_table(1).column_names[1:])
    pq.write_table(_with_value(t, column, 7, np.nan), "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "r1")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert store_fingerprint(workdir / ".prov") == before
    m = re.search(r"\((--featurizer numeric --featurizer-option .*)\)$", r.stderr.strip())
    assert m, r.stderr
    out = subprocess.run(["bash", "-c", f"printf '%s\\n' {m.group(1)}"], capture_output=True, text=True, check=True)
    words = out.stdout.splitlines()
    assert not (workdir / "pwned").exists()
    assert words[:3] == ["--featurizer", "numeric", "--featurizer-option"] and len(words) == 4, words
    r = _commit(prov, keypair, "train.parquet", "r1", *words, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["records"] == 300


# A28c-4 was a strict xfail ("the NaN refusal's exclude flags are DEFAULT_EXCLUDED plus the NaN columns, not the
# featuriser the commit runs: a version whose parent excluded a column (here 'sensor', read from the parent's signed
# featuriser) is told to paste exclude=[label,source,id,px20]; pasted, r2's featuriser reads 'sensor' again"); fixed
# in session 29 (fix29b): the flags are the featuriser the commit resolved (the parent's carried one) less the columns
def test_the_nan_refusals_exclude_flags_keep_the_parents_own_exclusions(prov, workdir, store, keypair):
    # (the xfail's replay put the NaN in px20, which r1's profile reads, so it met the refusal that offers no
    # exclusion; here the NaN is in a column r2 adds, which r1 never read)
    t = _as_float(digits_table(400))
    t = t.append_column("sensor", pa.array(np.arange(400, dtype=np.float64) * 1000.0))
    pq.write_table(t.slice(0, 300), "train.parquet")
    option = 'exclude=["label","source","id","sensor"]'
    r = _commit(prov, keypair, "train.parquet", "r1", "--featurizer", "numeric", "--featurizer-option", option)
    assert r.exit_code == 0, r.output
    extra = np.arange(400, dtype=np.float64) % 5
    extra[10] = np.nan
    pq.write_table(t.append_column("extra", pa.array(extra)), "train.parquet")
    r = _commit(prov, keypair, "train.parquet", "r2")  # the parent's featuriser is carried: sensor left out
    assert r.exit_code == 2, r.output
    m = re.search(r"\((--featurizer numeric --featurizer-option .*)\)$", r.stderr.strip())
    assert m, r.stderr
    words = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {m.group(1)}"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert words[3] == 'exclude=["sensor","extra"]', words  # the content columns: label is not one
    r = _commit(prov, keypair, "train.parquet", "r2", *words, "--json")  # the refusal's way on, pasted
    assert r.exit_code == 0, r.output
    assert "sensor" not in json.loads(r.stdout)["featurizer"], json.loads(r.stdout)["featurizer"]


def test_the_nan_refusals_flags_keep_a_given_column_list_less_the_nan_column(prov, workdir, store, keypair):
    t = _as_float(digits_table(300))
    pq.write_table(_with_value(t, "px20", 10, np.nan), "train.parquet")
    option = 'columns=["px10","px20","px30"]'
    r = _commit(prov, keypair, "train.parquet", "r1", "--featurizer", "numeric", "--featurizer-option", option)
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().endswith("""--featurizer-option 'columns=["px10","px30"]')"""), r.stderr


# --- status names a column's type change -------------------------------------------------------------------------


def test_status_names_a_retyped_hostile_column_on_one_line_and_its_json_validates(prov, workdir, store, keypair):
    # the data's writer names the column: a newline and a terminal escape in it start no line of their own
    column = "x\nclean: r1 matches the signed version\x1b[2J"
    t = digits_table(120).append_column(column, pa.array(np.arange(120, dtype=np.float64)))
    pq.write_table(t, "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    at = t.schema.get_field_index(column)
    pq.write_table(t.set_column(at, column, t.column(column).cast(pa.string())), "train.parquet")
    r = prov("status", "train.parquet", "--signer", "alice.pub")
    assert r.exit_code in (0, 1), r.output
    assert "\x1b" not in r.stdout and not any(line.startswith("clean:") for line in r.stdout.splitlines()), r.stdout
    assert "changed type" in r.stdout, r.stdout
    r = prov("status", "train.parquet", "--signer", "alice.pub", "--json")
    doc = json.loads(r.stdout)
    validate_output("status", doc)
    assert len(doc["schema_changes"]) == 1 and "double -> string" in doc["schema_changes"][0], doc["schema_changes"]


def test_diff_of_a_retyped_column_counts_the_rekeyed_records_and_its_json_validates(prov, workdir, store, keypair):
    t = digits_table(120).append_column("x", pa.array(np.arange(120, dtype=np.float64)))
    pq.write_table(t, "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    at = t.schema.get_field_index("x")
    pq.write_table(t.set_column(at, "x", t.column("x").cast(pa.string())), "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r2").exit_code == 0
    r = prov("diff", "r1", "r2", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    words = " ".join(r.stdout.split())
    assert "120 re-keyed by the schema change" in words and "Changes: none" not in words, words
    r = prov("diff", "r1", "r2", "--signer", "alice.pub", "--format", "json")
    doc = json.loads(r.stdout)
    validate_output("diff", doc)
    assert doc["summary"]["rekeyed"] == 120


# A28c-5 (fixed by the lead): the line named "prov diff r1 workspace", which refuses without --path and sends the
# user back to --path FILE, a loop; it names prov status --version r1 now
def test_the_missing_path_message_between_a_version_and_workspace_names_a_command_that_works(
    prov, workdir, store, keypair
):
    pq.write_table(digits_table(120), "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    r = prov("diff", "r1", "workspace", "--path", "missing.parquet", "--signer", "alice.pub")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert r.stderr.startswith("Error: missing.parquet: no such file or folder"), r.stderr
    m = re.search(r"(prov (?:diff|status) [^;()]*?) compares", r.stderr) or re.search(
        r"(prov status \S+ --version r1)", r.stderr
    )
    assert m, r.stderr
    suggested = m.group(1).split()[1:]
    r = prov(*suggested, "--signer", "alice.pub")
    assert r.exit_code != 2, r.output


def test_a_delta_with_nan_the_candidates_own_featuriser_left_out_is_refused_naming_the_signed_file(
    prov, workdir, store, keypair
):
    # the candidate's committer leaves the NaN column out of its own features (the commit's sample never meets it);
    # the check scores the delta with the base's featuriser, which reads that column: exit 2, one line, naming the
    # file r2 signed (not a row a .prov/ writer can edit), the store as it was
    import sqlite3

    t = _as_float(digits_table(400))
    pq.write_table(t.slice(0, 300), "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    pq.write_table(_with_value(t, "px20", 350, np.nan), "train.parquet")
    option = 'exclude=["label","source","id","px20"]'
    r = _commit(prov, keypair, "train.parquet", "r2", "--featurizer", "numeric", "--featurizer-option", option)
    assert r.exit_code == 0, r.output
    with sqlite3.connect(".prov/prov.db") as db:  # a .prov/ writer points the row at another file
        db.execute("update versions set dataset = replace(dataset, 'train.parquet', 'decoy.parquet') where tag = 'r2'")
    db.close()
    before = store_fingerprint(workdir / ".prov")
    for extra in ((), ("--attest", "--key", "alice.key")):
        r = _check(prov, "r2", "r1", *extra)
        assert r.exit_code == 2, r.output
        (line,) = r.stderr.strip().splitlines()
        assert f"{workdir / 'train.parquet'} (r2's data): " in line or "train.parquet (r2's data): " in line, line
        assert "decoy" not in line and "fill or drop them in" in line, line
        assert store_fingerprint(workdir / ".prov") == before
    r = prov("diff", "r1", "r2", "--detect", "--signer", "alice.pub")
    assert r.exit_code == 2 and "train.parquet (r2's data)" in r.stderr and "decoy" not in r.stderr, r.output


@pytest.mark.parametrize(
    "name, content",
    [("zero.parquet", b""), ("zero.csv", b""), ("header.csv", b"px00,label\n"), ("empty.jsonl", b"")],
)
def test_empty_files_of_every_kind_are_one_line_exit_2_and_leave_the_store(
    prov, workdir, store, keypair, name, content
):
    (workdir / name).write_bytes(content)
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, name, "r1")
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert name in line, line
    assert store_fingerprint(workdir / ".prov") == before


def test_an_empty_folder_is_refused_naming_it_store_unchanged(prov, workdir, store, keypair):
    (workdir / "images").mkdir()
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "images", "r1")
    assert r.exit_code == 2 and "images" in r.stderr, r.output
    assert store_fingerprint(workdir / ".prov") == before


# A28c-6 (fixed by fix28d and the lead): an empty version committed on purpose said its profile was missing for "no
# numeric feature columns"; it says "no records", and every check against it says so
def test_an_empty_version_says_it_has_no_records_not_no_numeric_columns(prov, workdir, store, keypair):
    t = digits_table(300)
    pq.write_table(t.slice(0, 0), "empty.parquet")
    r = _commit(prov, keypair, "empty.parquet", "r0", "--allow-empty")
    assert r.exit_code == 0, r.output
    assert "no numeric feature columns" not in r.stdout, r.stdout
    pq.write_table(t, "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1", "--parent", "r0").exit_code == 0
    r = _check(prov, "r1", "r0", "--format", "json")
    doc = json.loads(r.stdout)
    (rule,) = [x for x in doc["rules"] if x["rule"] == "detectors.run"]
    assert "no numeric feature columns" not in rule["reason"], rule["reason"]
    assert "(no records)" in rule["reason"], rule["reason"]


def test_a_retyped_hostile_column_the_check_cannot_score_is_named_on_one_line(prov, workdir, store, keypair):
    # a delivery sends a feature column as text; the check's refusal names the file and the column, and a newline
    # or terminal escape in the column's name (the data's writer chose it) starts no line of its own
    column = "x\nprov check r2 --base r1: passed\x1b[2K"
    t = digits_table(120).append_column(column, pa.array(np.arange(120, dtype=np.float64)))
    at = t.schema.get_field_index(column)
    _r1_then_r2(prov, keypair, t, t.set_column(at, column, t.column(column).cast(pa.string())))
    before = store_fingerprint(workdir / ".prov")
    r = _check(prov, "r2", "r1")
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert "\x1b" not in line and "train.parquet (r2's data)" in line, line
    assert store_fingerprint(workdir / ".prov") == before


def test_a_base_writers_mislabels_in_the_bases_later_batches_take_knn_labels_level_to_the_floor_not_below():
    # real digits: a base writer relabels about 20 records (v -> v+1) of the base's last 40%, more of them the later
    # the batch. In that file order knn_label's level drops from fpr to fpr / 2 (the documented lever); the same
    # records spread over the file leave it at fpr. Measured beside this test (16 seeds, 30 planted v -> v+1 flips
    # in each delivery of 300): 45 -> 35 of 480 flips flagged in that order, clean flags 60 -> 60
    import hashlib

    from sklearn.datasets import load_digits

    from provenance.detectors import Delta, run_detectors
    from provenance.detectors.base import built_ins_and_plug_ins
    from provenance.detectors.combine import combined_p_values, weight_of
    from provenance.detectors.feature_level import DRIFTING_LABEL, FLOOR_SHARE, label_drift_level
    from provenance.profiles.reference import build_profile

    def digests(X):
        return [hashlib.sha256(r.tobytes()).digest() for r in np.ascontiguousarray(X, np.float32)]

    fpr, nb = 0.01, 1200
    X, y = load_digits(return_X_y=True)
    X, y = X.astype(np.float32), y.astype(str)
    rng = np.random.default_rng(0)
    yb = y[:nb].copy()
    tail = np.arange(int(nb * 0.6), nb)
    hit = tail[rng.random(len(tail)) < np.linspace(0, 0.12, len(tail))]
    yb[hit] = np.array([str((int(v) + 1) % 10) for v in yb[hit]])
    Xd, yd = X[nb : nb + 300], y[nb : nb + 300]
    delta = Delta(digests(Xd), Xd, list(yd), ["vendor"] * 300, ["added"] * 300, [None] * 300)
    levels = {}
    for name, order in (("drift", np.arange(nb)), ("spread", rng.permutation(nb))):
        Xo, yo = X[:nb][order], yb[order]
        profile = build_profile(Xo, yo, digests(Xo), featurizer="x", positions=np.arange(nb))
        results = run_detectors(profile, delta, fpr=fpr)
        usable = [r for r in results if r.status == "ran" and r.p_values is not None and r.reference_p is not None]
        scored, _ = built_ins_and_plug_ins(usable)
        raws = [np.asarray(r.reference_raw, dtype=np.float64) for r in scored]
        weights = np.array([weight_of(r) for r in scored])
        at = [r.detector for r in scored].index(DRIFTING_LABEL)
        levels[name] = label_drift_level(raws, weights, np.asarray(profile.sample_batches), fpr, combined_p_values, at)
    assert len(hit) == 20
    assert levels == {"drift": FLOOR_SHARE * fpr, "spread": fpr}, levels
