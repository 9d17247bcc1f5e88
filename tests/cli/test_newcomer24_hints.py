"""Newcomer review 24: hints where a new user was left without a next step."""

from __future__ import annotations

import json


def test_log_of_an_empty_store_says_how_to_commit_the_first_version(prov, workdir, store):
    """`prov log` right after `prov init` said only `No versions yet.`, where `prov status` names the command."""
    r = prov("log")
    assert r.exit_code == 0 and r.stdout == "No versions yet: prov commit DATA --tag V --key K makes the first.\n"
    assert json.loads(prov("log", "--json").stdout)["versions"] == []


def vendor_signed(prov, *then: tuple[str, ...]) -> None:
    """Keys ``vendor`` and ``m``; vendor.parquet signed by the vendor, its key trusted under ``m`` and the batch added;
    then each command of ``then``, every one exit 0."""
    for args in (
        ("keys", "generate", "vendor"),
        ("keys", "generate", "m"),
        ("sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key"),
        ("trust", "add", "vendor", "vendor.pub", "--key", "m.key", "--signer", "m.pub"),
        ("add", "vendor.parquet", "--source", "vendor", "--signer", "m.pub"),
        *then,
    ):
        assert prov(*args).exit_code == 0, args


def test_a_column_added_to_a_signed_batch_names_the_flags_that_leave_it_out_of_the_digest(prov, workdir, store):
    """The vendor signed its batch; the team's training file adds a `source` and an `annotator` column. Every
    record was unattributed and the commit said to `keep the signed types (cast the columns back before
    committing)`, which is no way on for a column the batch does not have."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from support import digits_table

    batch = digits_table(60)
    pq.write_table(batch, "vendor.parquet")
    n = batch.num_rows
    train = batch.append_column("source", pa.array(["vendor"] * n)).append_column("annotator", pa.array(["a"] * n))
    pq.write_table(train, "train.parquet")
    vendor_signed(prov)
    r = prov("commit", "train.parquet", "--tag", "v1", "--key", "m.key", "--signer", "m.pub", "--json")
    note = json.loads(r.stdout)["retype_note"]
    assert note.endswith(
        "so those records match no signed batch: if your own pipeline adds the columns annotator, source, commit "
        "with --source-column source --metadata annotator to leave them out of the digest (their values are then "
        "signed by no source and scored by no detector); if not, drop them"
    ), note
    assert "cast the columns back" not in note
    r = prov("commit", "train.parquet", "--tag", "v2", "--key", "m.key", "--signer", "m.pub", "--json",
             "--source-column", "source", "--metadata", "annotator")  # fmt: skip
    assert json.loads(r.stdout)["lineage"]["attested"] == n  # the way on works


def test_init_says_when_commands_will_not_use_the_new_store(prov, workdir, monkeypatch):
    """`prov init` in a subfolder of a project silently made a second store that every command there then used
    (the versions and trusted sources above gone from view); with PROV_STORE set, it made a store no command
    used. Either way it now says so on stderr, and the store is made as before."""
    assert prov("init").exit_code == 0
    (workdir / "sub").mkdir()
    monkeypatch.chdir(workdir / "sub")
    r = prov("init")
    assert r.exit_code == 0 and (workdir / "sub" / ".prov" / "prov.db").is_file()
    assert r.stderr == (
        f"Note: {workdir / '.prov'} in a folder above is no longer the store commands here and below use: this one "
        "is, with none of its versions, keys or trusted sources (one store per dataset; see the README on where the "
        "store lives)\n"
    )
    (workdir / "other").mkdir()
    monkeypatch.chdir(workdir / "other")
    r = prov("init", "--json", env={"PROV_STORE": str(workdir)})
    assert r.exit_code == 0 and json.loads(r.stdout)["store"] == ".prov"
    assert r.stderr == (
        f"Note: PROV_STORE names {workdir / '.prov'}, so commands open that store, not this new one; unset "
        "PROV_STORE to use it\n"
    )
    monkeypatch.chdir(workdir)
    r = prov("init")  # the store is already there: exit 2 as before, no note
    assert r.exit_code == 2 and "Note:" not in r.stderr


def test_a_check_of_data_that_adds_a_column_to_the_signed_base_names_the_flags_not_a_cast(prov, workdir, store):
    """Newcomer review 24 (left by nc24): the commit's note named `--metadata` for a column the data adds to a
    signed batch, but `prov check` of that commit against the signed base still said to `cast the columns back`,
    for a column no cast removes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from support import digits_table

    batch = digits_table(60)
    pq.write_table(batch, "vendor.parquet")
    pq.write_table(batch.append_column("annotator", pa.array(["a"] * batch.num_rows)), "train.parquet")
    vendor_signed(
        prov,
        ("commit", "vendor.parquet", "--tag", "v1", "--key", "m.key", "--signer", "m.pub"),
        ("commit", "train.parquet", "--tag", "v2", "--key", "m.key", "--signer", "m.pub"),
    )
    r = prov("check", "v2", "--base", "v1", "--signer", "m.pub", "--format", "json")
    report = json.loads(r.stdout)
    rule = next(x for x in report["rules"] if x["rule"] == "lineage.unattributed_beside_signed")
    assert r.exit_code == 1 and rule["status"] == "block", (r.exit_code, rule)
    assert (
        "If your own pipeline adds the column annotator, commit with --metadata annotator to leave it out of the "
        "digest (its values are then signed by no source and scored by no detector); if not, drop it" in rule["reason"]
    ), rule["reason"]
    assert "cast the columns back" not in rule["reason"], rule["reason"]
    assert rule["statistic"]["added_columns"] == ["annotator"], rule["statistic"]
    from support import validate_output

    validate_output("check", report)
    text = prov("check", "v2", "--base", "v1", "--signer", "m.pub").output
    assert "cast the columns back" not in text and "--schema COLUMN:TYPE" not in text, text
    step = text[text.index("To release:") :]
    assert "the column annotator the data adds: if your own pipeline adds it, commit the data again" in " ".join(
        step.split()
    ), step
    command = "prov commit DATA --parent v2 --tag NEW --metadata annotator --key K"
    assert command in " ".join(step.split()), step
    # the step's way works: committed again with the flag, every record is the signed batch's again
    r = prov("commit", "train.parquet", "--tag", "v3", "--parent", "v2", "--metadata", "annotator", "--key", "m.key",
             "--signer", "m.pub")  # fmt: skip
    assert r.exit_code == 0, r.output
    rule = next(
        x
        for x in json.loads(prov("check", "v3", "--base", "v1", "--signer", "m.pub", "--format", "json").stdout)[
            "rules"
        ]
        if x["rule"] == "lineage.unattributed_beside_signed"
    )
    assert rule["status"] == "pass", rule


def test_status_names_a_stray_file_in_an_image_tree_that_verify_fails_on(prov, workdir, store):
    """Newcomer review 24: a README.txt dropped into an image tree left `prov status` saying "unchanged" while
    `prov verify` exits 1 on the tree's signed file listing. Status compares the signed facts as verify does."""
    from PIL import Image

    from support import validate_output

    for label in ("cat", "dog"):
        (workdir / "tree" / label).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (4, 4), (i * 40 + (0 if label == "cat" else 17)) % 256).save(
                workdir / "tree" / label / f"{i}.png"
            )
    assert prov("keys", "generate", "m").exit_code == 0
    assert prov("commit", "tree", "--tag", "t1", "--key", "m.key").exit_code == 0
    r = prov("status", "--signer", "m.pub")
    assert r.exit_code == 0 and "unchanged since t1" in r.stdout, r.output
    (workdir / "tree" / "README.txt").write_text("how the photos were taken\n")
    assert prov("verify", "t1", "--signer", "m.pub").exit_code == 1
    r = prov("status", "--signer", "m.pub")
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert "unchanged" not in text.replace("records unchanged", ""), text
    assert "records unchanged since t1 (8 records), but the data no longer matches its signed facts" in text, text
    assert "README.txt" in text, text
    doc = json.loads(prov("status", "--signer", "m.pub", "--json").stdout)
    assert doc["clean"] is False and doc["counts"] == {"changed": 0, "added": 0, "removed": 0, "relabeled": 0}, doc
    assert len(doc["facts"]) == 1 and "README.txt" in doc["facts"][0], doc["facts"]
    validate_output("status", doc)


def test_a_column_read_as_metadata_that_the_base_did_not_is_named_by_diff_and_check(prov, workdir, store):
    """Attack review 24d, A24d-2: whoever writes the data folder adds a column (`label_v2`) to the vendor's signed
    records; committed with `--metadata label_v2` (what the check's step offers for a column your pipeline adds),
    the check passed and no line named the column. Its values are in no digest: diff and check now say so."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from support import digits_table, validate_output

    batch = digits_table(60)
    pq.write_table(batch, "vendor.parquet")
    pq.write_table(batch.append_column("label_v2", pa.array([(i * 7) % 10 for i in range(60)])), "train.parquet")
    vendor_signed(
        prov,
        ("commit", "vendor.parquet", "--tag", "v1", "--key", "m.key", "--signer", "m.pub"),
        ("commit", "train.parquet", "--tag", "v2", "--metadata", "label_v2", "--key", "m.key", "--signer", "m.pub"),
    )
    doc = json.loads(prov("diff", "v1", "v2", "--format", "json", "--signer", "m.pub").stdout)
    assert doc["summary"]["metadata_added"] == ["label_v2"], doc["summary"]
    validate_output("diff", doc)
    r = prov("check", "v2", "--base", "v1", "--signer", "m.pub")
    line = (
        "metadata column 'label_v2' read by this version and not by the base: in no digest, so its values are signed "
        "by no source and scored by no detector"
    )
    assert line in " ".join(r.stdout.split()), r.output
    # the same records read the same way name nothing
    doc = json.loads(prov("diff", "v2", "v1", "--format", "json", "--signer", "m.pub").stdout)
    assert doc["summary"]["metadata_added"] == [], doc["summary"]
