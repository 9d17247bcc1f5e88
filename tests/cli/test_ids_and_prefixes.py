"""How ids and errors read (newcomer review 9, finding 10): key ids at 16 hex wherever text names a key,
``Error: <file or version>: <problem>`` lines, and a did-you-mean for a name that differs only in case."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from support import digits_table, ok, one_line


def test_key_ids_read_at_16_hex_in_keys_generate_and_show(prov, workdir, store, keypair):
    out = ok(prov, "keys", "generate", "mallory")
    keyid = next(line for line in out.splitlines() if line.startswith("Key id: ")).removeprefix("Key id: ")
    assert len(keyid) == 16 and Path("mallory.pub").exists()  # it printed all 64 before
    pq.write_table(digits_table(20), Path("d.parquet"))
    ok(prov, "-q", "commit", "d.parquet", "--tag", "v1", "--key", keypair.private_path)
    shown = ok(prov, "show", "v1", "--signer", keypair.public_path)
    assert f"  signed by key {keypair.keyid[:16]}\n" in shown and keypair.keyid not in shown


def test_a_version_named_in_another_case_gets_a_did_you_mean(prov, workdir, store, keypair):
    pq.write_table(digits_table(20), Path("d.parquet"))
    ok(prov, "-q", "commit", "d.parquet", "--tag", "v1", "--key", keypair.private_path)
    r = prov("show", "V1", "--signer", keypair.public_path)
    assert r.exit_code == 2 and one_line(r).startswith("Error: V1: no such version in .prov (did you mean 'v1'?)")


def test_check_usage_errors_name_the_command(prov, workdir, store, keypair):
    pq.write_table(digits_table(20), Path("d.parquet"))
    ok(prov, "-q", "commit", "d.parquet", "--tag", "v1", "--key", keypair.private_path)
    r = prov("check", "v1", "--signer", keypair.public_path)
    assert r.exit_code == 2 and one_line(r) == (
        "Error: prov check: needs a VERSION and --base BASE, e.g. prov check v4 --base v3"
    )
    r = prov("check", "v1", "--base", "v1", "--signer", keypair.public_path)
    assert r.exit_code == 2 and one_line(r) == "Error: prov check v1 --base v1: the base must be another version"
    # the help says both are needed (finding 11: "[version]" and an unmarked --base read as optional)
    text = " ".join(prov("check", "--help", env={"COLUMNS": "200"}).stdout.split())
    assert "The candidate version (required)." in text and "base version to check against (required)." in text


def test_log_shows_the_message_each_version_signed(prov, workdir, store, keypair):
    """Newcomer review 9, finding 11: only prov show printed the -m message; git log users expect it in the log."""
    import json

    from jsonschema import Draft202012Validator

    pq.write_table(digits_table(20), Path("d.parquet"))
    ok(prov, "-q", "commit", "d.parquet", "--tag", "v1", "--key", keypair.private_path, "-m", "first delivery")
    pq.write_table(digits_table(30), Path("d.parquet"))
    ok(prov, "-q", "commit", "d.parquet", "--tag", "v2", "--key", keypair.private_path, "--signer", keypair.public_path)
    lines = ok(prov, "log").splitlines()
    assert lines[0].startswith("v1 ") and lines[1] == "    first delivery" and lines[2].startswith("v2 ")
    assert len(lines) == 3
    doc = json.loads(ok(prov, "log", "--json"))
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "log.schema.json").read_text())
    Draft202012Validator(schema).validate(doc)
    assert [v["message"] for v in doc["versions"]] == ["first delivery", None]


def test_a_prov_signers_path_that_does_not_read_says_it_came_from_prov_signers(prov, workdir, store, keypair):
    """Newcomer review 9, finding 11: in a subfolder, PROV_SIGNERS=keys/maintainer.pub said only
    "keys/maintainer.pub: cannot read public key", not where the path came from."""
    pq.write_table(digits_table(20), Path("d.parquet"))
    ok(prov, "-q", "commit", "d.parquet", "--tag", "v1", "--key", keypair.private_path)
    Path("sub").mkdir()
    import os

    os.chdir("sub")
    r = prov("verify", "v1", env={"PROV_SIGNERS": "alice.pub"})
    assert r.exit_code == 2
    assert one_line(r).startswith("Error: PROV_SIGNERS: alice.pub: cannot read public key"), r.stderr
    assert one_line(r).endswith(f"(relative to {workdir / 'sub'})"), r.stderr
    r = prov("verify", "v1", "--signer", "alice.pub")  # a flag the user just typed: named as typed
    assert r.exit_code == 2 and one_line(r).startswith("Error: alice.pub: cannot read public key"), r.stderr


def test_keys_list_lists_the_registered_keys(prov, workdir, store, keypair):
    """Newcomer review 9, finding 11: 'prov keys list' was "No such command 'list'"."""
    import json

    from jsonschema import Draft202012Validator

    pq.write_table(digits_table(20), Path("d.parquet"))
    ok(prov, "-q", "commit", "d.parquet", "--tag", "v1", "--key", keypair.private_path)
    bob = ok(prov, "keys", "generate", "bob")
    assert "Key id: " in bob
    ok(prov, "keys", "register", "bob.pub", "--name", "bob the reviewer")
    lines = ok(prov, "keys", "list").splitlines()
    assert lines[0].split() == ["key", "status", "registered", "name"]
    assert lines[1].startswith(f"{keypair.keyid[:16]}  active ") and lines[2].endswith(" bob the reviewer")
    doc = json.loads(ok(prov, "keys", "list", "--json"))
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "keys-list.schema.json").read_text())
    Draft202012Validator(schema).validate(doc)
    assert [k["keyid"] for k in doc["keys"]][0] == keypair.keyid and doc["keys"][1]["name"] == "bob the reviewer"


def test_a_missing_key_or_input_file_names_the_closest_file_of_its_kind(prov, workdir, store):
    """Newcomer review 24: `--key keys/maintainer.key` beside keys/maint.key said only `cannot read private key
    (No such file or directory)`, where a mistyped data path gets a did-you-mean. A private key is matched only
    to a `.key`, a public key only to a `.pub`: the other half of the same pair is never offered."""
    ok(prov, "keys", "generate", "keys/maint")
    pq.write_table(digits_table(20), Path("d.parquet"))
    r = prov("commit", "d.parquet", "--tag", "v1", "--key", "keys/maintainer.key")
    assert r.exit_code == 2 and r.stderr == (
        "Error: keys/maintainer.key: cannot read private key (No such file or directory) "
        "(did you mean 'keys/maint.key'?)\n"
    ), r.stderr
    r = prov("commit", "d.parquet", "--tag", "v1", "--key", "keys/maint.pu")  # closer to maint.pub, never offered
    assert r.exit_code == 2 and one_line(r) == (
        "Error: keys/maint.pu: cannot read private key (No such file or directory) (did you mean 'keys/maint.key'?)"
    )
    r = prov("commit", "d.parquet", "--tag", "v1", "--key", "keys/other.key")  # nothing close: no guess
    assert (
        r.exit_code == 2 and one_line(r) == "Error: keys/other.key: cannot read private key (No such file or directory)"
    )
    ok(prov, "-q", "commit", "d.parquet", "--tag", "v1", "--key", "keys/maint.key")
    r = prov("verify", "v1", "--signer", "keys/maint.key.pub")
    assert r.exit_code == 2 and one_line(r) == (
        "Error: keys/maint.key.pub: cannot read public key (No such file or directory) (did you mean 'keys/maint.pub'?)"
    )
    Path("report.json").write_text("{}")
    r = prov("report", "reprot.json")
    assert r.exit_code == 2 and one_line(r) == (
        "Error: reprot.json: cannot read report (No such file or directory) (did you mean 'report.json'?)"
    )
