"""Newcomer review 24: hints where a new user was left without a next step."""

from __future__ import annotations

import json


def test_log_of_an_empty_store_says_how_to_commit_the_first_version(prov, workdir, store):
    """`prov log` right after `prov init` said only `No versions yet.`, where `prov status` names the command."""
    r = prov("log")
    assert r.exit_code == 0 and r.stdout == "No versions yet: prov commit DATA --tag V --key K makes the first.\n"
    assert json.loads(prov("log", "--json").stdout)["versions"] == []


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
    for args in (
        ("keys", "generate", "vendor"),
        ("keys", "generate", "m"),
        ("sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key"),
        ("trust", "add", "vendor", "vendor.pub", "--key", "m.key", "--signer", "m.pub"),
        ("add", "vendor.parquet", "--source", "vendor", "--signer", "m.pub"),
    ):
        assert prov(*args).exit_code == 0, args
    r = prov("commit", "train.parquet", "--tag", "v1", "--key", "m.key", "--signer", "m.pub", "--json")
    note = json.loads(r.stdout)["retype_note"]
    assert note.endswith(
        "so those records match no signed batch: commit with --source-column source --metadata annotator to leave "
        "the columns this data adds out of the digest, or drop them"
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
