"""The newcomer's findings of session 27 (closing note s27, "Newcomer run"), each replayed through the CLI on real
files, keys and stores: what the README's user meets, the exit code DESIGN.md gives it, and the store left as it
was where a command refuses."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from support import digits_table, store_fingerprint, validate_output


def _commit(prov, keypair, data: str, tag: str, *args: str):
    return prov("commit", data, "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path, *args)


# --- finding 5: an empty data file -------------------------------------------------------------------------------


def test_an_empty_data_file_is_refused_at_commit_unless_allowed_and_its_check_blocks(prov, workdir, store, keypair):
    t = digits_table(300)
    pq.write_table(t, workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    pq.write_table(t.slice(0, 0), workdir / "train.parquet")  # an export that failed: the columns, no rows
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "r2")
    assert r.exit_code == 2, r.output
    assert r.stderr.strip() == (
        "Error: train.parquet: no records; an empty version is committed only on purpose (prov commit --allow-empty)"
    )
    assert store_fingerprint(workdir / ".prov") == before
    assert "no numeric feature columns" not in r.output  # the wrong reason the newcomer met

    r = _commit(prov, keypair, "train.parquet", "r2", "--allow-empty", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["records"] == 0

    # a candidate that removes every record of its base blocks, even though removals only warn by default
    r = prov("check", "r2", "--base", "r1", "--signer", "alice.pub")
    assert r.exit_code == 1, r.output
    head = r.stdout.splitlines()
    assert head[0] == "prov check r2 --base r1: BLOCKED by 1 of 29 rules: removals.max_unsigned_removed_rate"
    words = " ".join(r.stdout.split())  # lines wrap at the terminal's width
    assert "restore the data" in words and "prov commit DATA --tag NEW --parent r1 --key K" in words
    assert 'unsigned_removed = "warn"' not in words  # warn would not release it: not offered
    r = prov("check", "r2", "--base", "r1", "--signer", "alice.pub", "--format", "json")
    doc = json.loads(r.stdout)
    validate_output("check", doc)
    (rule,) = [x for x in doc["rules"] if x["rule"] == "removals.max_unsigned_removed_rate"]
    assert rule["status"] == "block" and rule["statistic"]["emptied"] and rule["count"] == 300
    assert "r2 holds no records: every one of r1's 300 records was removed" in rule["reason"]

    # a policy that makes removals warn still blocks an emptied candidate
    (workdir / "warn.toml").write_text('[removals]\nunsigned_removed = "warn"\n')
    r = prov("check", "r2", "--base", "r1", "--signer", "alice.pub", "--policy", "warn.toml")
    assert r.exit_code == 1, r.output


def test_a_check_of_a_partial_removal_still_only_warns(prov, workdir, store, keypair):
    # the emptied-candidate block is not a change of the warn default for removals that leave records
    t = digits_table(300)
    pq.write_table(t, workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    keep = pa.array([str(v) != "3" for v in t.column("label").to_pylist()])
    pq.write_table(t.filter(keep), workdir / "train.parquet")  # every "3" removed
    assert _commit(prov, keypair, "train.parquet", "r2").exit_code == 0
    r = prov("check", "r2", "--base", "r1", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    assert "passed with warnings" in r.stdout.splitlines()[0] and "class 3 lost" in " ".join(r.stdout.split())


# --- finding 2: NaN in a feature column ---------------------------------------------------------------------------


def test_nan_in_a_feature_column_is_refused_at_commit_so_no_check_meets_a_base_without_profile(
    prov, workdir, store, keypair
):
    # the newcomer's path: NaN data committed as the base, then a clean version, then prov check exited 3 ("could
    # not be evaluated": the base had no reference profile) with no next step
    t = digits_table(300)
    px = t.column("px05").cast(pa.float64()).to_pylist()
    px[7] = px[12] = float("nan")
    px[40] = float("inf")
    pq.write_table(t.set_column(t.schema.get_field_index("px05"), "px05", pa.array(px)), workdir / "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "r1")
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(
        "Error: train.parquet: feature values null, NaN or infinite in column px05 in 3 record(s) (0-based rows 7, 12, 40): "
        "no detector can score them; fill or drop them and commit again"
    ), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert store_fingerprint(workdir / ".prov") == before
    # what it says to do works: filled, the data commits with a profile and a check against it can be evaluated
    pq.write_table(t, workdir / "train.parquet")
    r = _commit(prov, keypair, "train.parquet", "r1", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["profile"]["status"] == "ok", r.output


# --- findings 3 and 4: a CSV column retyped from numbers to text --------------------------------------------------


def _retyped_csv(prov, workdir, keypair) -> None:
    """r1: a CSV of two numeric columns; then column x holds text ("0.5x"), as a bad export writes it."""
    rows = [(f"{(i * 37 % 101) / 10:.1f}", f"{(i * 53 % 97) / 10:.1f}", str(i % 3)) for i in range(120)]
    (workdir / "t.csv").write_text("x,y,label\n" + "".join(f"{x},{y},{c}\n" for x, y, c in rows))
    assert _commit(prov, keypair, "t.csv", "r1").exit_code == 0
    (workdir / "t.csv").write_text("x,y,label\n" + "".join(f"{x}x,{y},{c}\n" for x, y, c in rows))


def test_status_of_a_retyped_column_names_the_type_change(prov, workdir, store, keypair):
    _retyped_csv(prov, workdir, keypair)
    r = prov("status", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    # the records re-keyed, not "120 added, 120 removed" (newcomer review 29), and the cause first, as prov verify
    # names it (old type -> new type)
    assert lines[0] == "t.csv: 120 re-keyed by the schema change since r1 (120 records now)"
    assert lines[1] == "  column 'x' changed type: double -> string (a record's digest includes its column types)"
    assert lines[2].startswith("  120 records re-keyed by the schema change (same locator, new digest")
    r = prov("status", "--signer", "alice.pub", "--json")
    doc = json.loads(r.stdout)
    validate_output("status", doc)
    assert doc["schema_changes"] == ["column 'x' changed type: double -> string"] and doc["facts"] == []
    r = prov("verify", "r1", "--signer", "alice.pub")
    assert r.exit_code == 1 and "column 'x' changed type: double -> string" in r.output


def test_diff_of_a_retyped_column_counts_the_rekeyed_records_and_says_the_change_one_way(prov, workdir, store, keypair):
    _retyped_csv(prov, workdir, keypair)
    r = _commit(prov, keypair, "t.csv", "r2", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    validate_output("commit", doc)
    # the commit says the column left detection (it said only "features numeric/v1:cols=y")
    assert doc["features_note"] == (
        "column 'x' (string now) left the features r1's profile read: no detector scores it in this version; "
        "prov check r2 --base r1 will refuse this version (exit 2: r1's profile reads it as numbers); to read it as "
        "numbers: fix its values (a '?' or text), or, for a CSV or JSON Lines file read as text by mistake, commit "
        "with --schema x:double"
    )
    # what the note says the check does, it does (newcomer review 29, finding 5: the commit did not say it)
    refused = prov("check", "r2", "--base", "r1", "--signer", keypair.public_path, "--no-save")
    assert refused.exit_code == 2 and "column 'x' (string now) is not numeric" in refused.output, refused.output
    r = prov("diff", "r1", "r2", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    assert "Changes: none" not in r.stdout
    assert "Changes: 120 re-keyed by the schema change" in r.stdout.splitlines()
    assert "schema change: column 'x' changed type: double -> string" in r.stdout.splitlines()
    words = " ".join(r.stdout.split())
    # the direction is old -> new everywhere (the pairing note said "retyped string -> double")
    assert (
        "string -> double" not in words and "column 'x' changed type: double -> string, which is not a numeric" in words
    )
    r = prov("diff", "r1", "r2", "--signer", "alice.pub", "--format", "md")
    assert "Changes: 120 re-keyed by the schema change" in r.stdout


# --- finding 6: the schema-mismatch note gives the exact --schema flags ---------------------------------------------


def test_the_retype_note_gives_the_schema_flags_that_keep_the_signed_types(prov, workdir, store, keypair):
    from provenance import keys

    keys.generate(workdir / "vendor")
    t = digits_table(60).select(["px00", "px01", "px02", "label"])
    batch = t.set_column(0, "px00", t.column("px00").cast(pa.float64()))  # the vendor signs double pixels
    batch = batch.set_column(1, "px01", batch.column("px01").cast(pa.float64()))
    pq.write_table(batch, workdir / "batch.parquet")
    pins = ("--signer", "alice.pub")
    assert prov("sign", "batch.parquet", "--source", "vendor", "--key", "vendor.key").exit_code == 0
    r = prov("trust", "add", "vendor", "vendor.pub", "--key", "alice.key", *pins)
    assert r.exit_code == 0, r.output
    assert prov("add", "batch.parquet", "--source", "vendor", *pins).exit_code == 0
    # the same records as CSV: 86.0 is written as 86, which a CSV read infers as int64
    (workdir / "train.csv").write_text(
        "px00,px01,px02,label\n" + "".join(f"{a},{b},{c},{y}\n" for a, b, c, y in zip(*t.to_pydict().values()))
    )
    r = prov("commit", "train.csv", "--tag", "v1", "--key", "alice.key", *pins)
    assert r.exit_code == 0, r.output
    words = " ".join(r.stdout.split())
    flags = "--schema px00:double --schema px01:double"
    assert f"keep the signed types (commit a CSV or JSON Lines file with {flags}, or cast the columns back" in words
    # the flags it names are the ones that work: every record attested
    r = prov("commit", "train.csv", "--tag", "v2", "--key", "alice.key", *pins, *flags.split(), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["lineage"]["attested"] == 60


# --- finding 7: rerunning prov demo after the README's prov check ---------------------------------------------------


def test_a_demo_rerun_after_a_check_says_fresh_in_one_line_and_fresh_starts_afresh(prov, demo):
    r = prov("check", "rc1", "--base", "r1")  # the README's next command: it saves a detector run in the store
    assert r.exit_code == 1, r.output
    saved = {p for p in (demo / ".prov").rglob("*") if p.is_file()}
    before = store_fingerprint(demo)
    r = prov("demo", "--dir", str(demo))
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert r.stderr.startswith(f"Error: {demo / '.prov'}: the demo's store holds work done after the demo (")
    assert r.stderr.rstrip().endswith(
        "prov demo --fresh deletes that store with the demo's files and starts afresh, or choose another --dir"
    )
    assert store_fingerprint(demo) == before
    # --fresh deletes the demo's store whatever it holds, never a file of yours beside it
    (demo / "notes.txt").write_text("mine")
    r = prov("demo", "--dir", str(demo), "--fresh")
    assert r.exit_code == 2 and f"{demo / 'notes.txt'}: prov demo did not write it" in r.stderr, r.output
    assert store_fingerprint(demo) == {**before, "notes.txt": store_fingerprint(demo)["notes.txt"]}
    (demo / "notes.txt").unlink()
    r = prov("demo", "--dir", str(demo), "--fresh", "--json")
    assert r.exit_code == 0, r.output
    assert {p for p in (demo / ".prov").rglob("*") if p.is_file()} != saved  # a new store, the check's run gone
    r = prov("demo", "--dir", str(demo))  # and a plain rerun of an untouched demo deletes it as before
    assert r.exit_code == 0, r.output


# --- finding 8: --path naming a file that is not there ----------------------------------------------------------------


def test_diff_path_of_a_missing_file_says_it_does_not_exist(prov, workdir, store, keypair):
    pq.write_table(digits_table(100), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1").exit_code == 0
    assert _commit(prov, keypair, "train.parquet", "r2").exit_code == 0
    before = store_fingerprint(workdir / ".prov")
    r = prov("diff", "r1", "r2", "--path", "nope.parquet", "--signer", "alice.pub")
    assert r.exit_code == 2, r.output
    assert r.stderr == (
        "Error: nope.parquet: no such file or folder (--path names the data to read); r1 is a prov version: "
        "prov diff r1 r2 compares versions without --path\n"
    )
    r = prov("diff", "HEAD", "workspace", "--path", "nope.parquet", "--signer", "alice.pub")
    assert (
        r.exit_code == 2 and r.stderr == "Error: nope.parquet: no such file or folder (--path names the data to read)\n"
    )
    assert "DVC" not in r.stderr and "git" not in r.stderr
    assert store_fingerprint(workdir / ".prov") == before
    # a file that is there still gets the words on versions given as git revisions
    r = prov("diff", "r1", "r2", "--path", "train.parquet", "--signer", "alice.pub")
    assert r.exit_code == 2 and r.stderr.startswith("Error: r1: a prov version, not a git revision"), r.stderr


def test_a_base_committed_with_nan_before_the_refusal_gets_a_next_step(prov, workdir, store, keypair):
    # a store from before: the profile stage then signed "no reference profile (numeric features are null, ...)"
    from provenance import versions
    from provenance.lineage.lineage_stage import LineageStage
    from provenance.profiles.stage import PreparedProfile
    from provenance.sources.interface import DatasetSpec

    class OldProfileStage:  # what ProfileStage.prepare returned for such data before the refusal
        name = "profile"

        def prepare(self, job):
            return PreparedProfile(None, b"", "numeric features are null, NaN or infinite in 2 row(s); rows: 5, 7")

    t = digits_table(300)
    pq.write_table(t, workdir / "base.parquet")
    versions.commit(
        store, DatasetSpec("base.parquet"), "r1", keypair.private_path, stages=[LineageStage(), OldProfileStage()]
    )
    pq.write_table(pa.concat_tables([t, digits_table(360).slice(300)]), workdir / "new.parquet")
    assert _commit(prov, keypair, "new.parquet", "r2").exit_code == 0
    r = prov("check", "r2", "--base", "r1", "--signer", "alice.pub", "--format", "json")
    assert r.exit_code == 3, r.output
    (rule,) = [x for x in json.loads(r.stdout)["rules"] if x["rule"] == "detectors.run"]
    assert rule["reason"].endswith(
        "(numeric features are null, NaN or infinite in 2 row(s); rows: 5, 7): commit r1's data again with them "
        "filled or dropped, as a new version, and check against that"
    ), rule["reason"]
