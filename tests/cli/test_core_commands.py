"""The core commands through the CLI: exit codes, messages, and effects in the store."""

from __future__ import annotations

import json
import os
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.store import Store
from support import digits_table, store_fingerprint


def test_init_commit_log_show_verify(prov, workdir, store, keypair, digits_parquet):
    r = prov(
        "commit",
        digits_parquet,
        "--tag",
        "v1",
        "--key",
        keypair.private_path,
        "--signer",
        keypair.public_path,
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["records"] == 600 and out["key_registered"] is True and out["parent"] is None
    assert (
        prov(
            "commit", digits_parquet, "--tag", "v2", "--key", keypair.private_path, "--signer", keypair.public_path
        ).exit_code
        == 0
    )
    log = json.loads(prov("log", "--json").stdout)["versions"]
    assert [v["tag"] for v in log] == ["v1", "v2"] and log[1]["parent"] == "v1"
    # newcomer review 8, finding 14: the key id as long as every message prints it (16), not 12
    assert prov("log").stdout.splitlines()[0].endswith(f"  key {keypair.keyid[:16]}")
    show = json.loads(prov("show", "v1", "--json", "--signer", keypair.public_path).stdout)
    assert show["records"] == 600 and sum(show["labels"].values()) == 600 and show["signature"] == "ok"
    r = prov("verify", "--store-keys", "v2")
    assert r.exit_code == 0 and "data ok" in r.stdout
    assert prov("audit", "verify", "--store-keys").exit_code == 0


def test_verify_names_the_records_that_changed(prov, workdir, store, keypair, digits_parquet):
    prov("commit", digits_parquet, "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path)
    t = pq.read_table(digits_parquet)
    labels = t.column("label").to_pylist()
    labels[5] = "relabeled"
    px = t.column("px10").to_pylist()
    px[9] += 1
    t = t.set_column(t.schema.get_field_index("label"), "label", pa.array(labels))
    t = t.set_column(t.schema.get_field_index("px10"), "px10", pa.array(px))
    pq.write_table(t.slice(0, 599), digits_parquet)  # and the last record removed
    r = prov("verify", "--store-keys", "v1")
    assert r.exit_code == 1
    assert "no longer matches its signed manifest" in r.stderr
    # The same words as `prov verify` of a signed batch: one comparator names every record.
    assert "(1 changed, 1 removed, 1 relabeled)" in r.stderr
    assert "relabeled row 5 (digest " in r.stderr and "): 5 -> relabeled" in r.stderr
    assert "changed row 9: content digest " in r.stderr  # the changed pixel: new content at a signed row
    assert "removed row 599 (digest " in r.stderr


BAD_INPUTS = [
    (["commit", "missing.parquet", "--tag", "v9"], "missing.parquet: no such file or folder"),
    (["commit", "truncated.parquet", "--tag", "v9"], "truncated.parquet: cannot read parquet"),
    (
        ["commit", "nolabel.parquet", "--tag", "v9"],
        "nolabel.parquet: no label column 'label' (give --label-column NAME)",
    ),
    (["commit", "bad.csv", "--tag", "v9"], "bad.csv: cannot read csv"),
    (["commit", "bad.jsonl", "--tag", "v9"], "bad.jsonl: cannot read jsonl"),
    (["commit", "digits.parquet", "--tag", "v1"], "v1: a version of that name already exists"),
    (["commit", "digits.parquet", "--tag", "v9", "--parent", "nope"], "nope: no such version in"),
    (["commit", "emptylabel.parquet", "--tag", "v9"], "row 1 has an empty label"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS, ids=[m.split(":")[0] for _, m in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_leaves_the_store_unchanged(
    prov, workdir, store, keypair, digits_parquet, args, message
):
    prov("commit", digits_parquet, "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path)
    data = digits_parquet.read_bytes()
    (workdir / "truncated.parquet").write_bytes(data[: len(data) // 2])
    pq.write_table(digits_table(10).drop(["label"]), workdir / "nolabel.parquet")
    (workdir / "bad.csv").write_bytes(b"a,label\n1,x\n2,y,extra\n")
    (workdir / "bad.jsonl").write_bytes(b'{"a": 1, "label": "x"}\n{"a": \n')
    pq.write_table(pa.table({"a": [1, 2], "label": ["x", ""]}), workdir / "emptylabel.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = prov(*args, "--key", keypair.private_path, "--signer", keypair.public_path)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1
    assert store_fingerprint(workdir / ".prov") == before


def test_encrypted_key_without_passphrase_is_exit_2_and_changes_nothing(prov, workdir, store, digits_parquet):
    assert prov("keys", "generate", "sealed", env={"PROV_PASSPHRASE": "s3cret"}).exit_code == 0
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", digits_parquet, "--tag", "v1", "--key", "sealed.key", "--signer", "sealed.pub")
    assert r.exit_code == 2 and "sealed.key: private key is encrypted; set PROV_PASSPHRASE" in r.stderr
    assert store_fingerprint(workdir / ".prov") == before
    r = prov(
        "commit",
        digits_parquet,
        "--tag",
        "v1",
        "--key",
        "sealed.key",
        "--signer",
        "sealed.pub",
        env={"PROV_PASSPHRASE": "s3cret"},
    )
    assert r.exit_code == 0
    assert "s3cret" not in r.output and "PRIVATE KEY" not in r.output


def test_commands_outside_a_store_say_so(prov, workdir):
    r = prov("log")
    assert r.exit_code == 2 and "run 'prov init' first" in r.stderr


def test_edited_removed_or_reordered_audit_entries_are_detected(prov, workdir, store, keypair, digits_parquet):
    for tag in ("v1", "v2", "v3"):
        prov("commit", digits_parquet, "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path)
    db = workdir / ".prov" / "prov.db"
    pristine = db.read_bytes()
    edits = [
        "update audit set subject = 'vX' where seq = 2",
        "update audit set detail = replace(detail, 'parent', 'parnet') where seq = 4",
        "delete from audit where seq = 3",
        "update audit set seq = -3 where seq = 3; update audit set seq = 3 where seq = 4;"
        " update audit set seq = 4 where seq = -3",
        "delete from audit where seq = (select max(seq) from audit)",
    ]
    for sql in edits:
        db.write_bytes(pristine)
        con = sqlite3.connect(db)
        con.executescript(sql)
        con.commit()
        con.close()
        r = prov("audit", "verify", "--store-keys")
        assert r.exit_code == 1, sql
        assert "audit log is broken" in r.stderr
    db.write_bytes(pristine)
    assert prov("audit", "verify", "--store-keys").exit_code == 0


def test_altered_or_missing_objects_fail_verification(prov, workdir, store, keypair, digits_parquet):
    prov("commit", digits_parquet, "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path)
    row = Store.open().version("v1")
    manifest = next((workdir / ".prov" / "objects").glob(row["manifest_object"] + ".*"))
    data = bytearray(manifest.read_bytes())
    data[100] ^= 1
    manifest.write_bytes(bytes(data))
    r = prov("verify", "--store-keys", "v1")
    assert r.exit_code == 1 and "was altered" in r.stderr
    manifest.unlink()
    r = prov("verify", "--store-keys", "v1")
    assert r.exit_code == 1 and "is missing from the store" in r.stderr


def test_a_swapped_envelope_or_edited_version_row_fails(prov, workdir, store, keypair, digits_parquet):
    prov("commit", digits_parquet, "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path)
    pq.write_table(digits_table(300), workdir / "small.parquet")
    prov("commit", "small.parquet", "--tag", "v2", "--key", keypair.private_path, "--signer", keypair.public_path)
    con = sqlite3.connect(workdir / ".prov" / "prov.db")
    v2 = con.execute("select envelope_object, merkle_root from versions where tag='v2'").fetchone()
    con.execute("update versions set envelope_object = ? where tag = 'v1'", [v2[0]])
    con.commit()
    r = prov("verify", "--store-keys", "v1")
    assert r.exit_code == 1 and "v1" in r.stderr


def test_file_tree_records_are_file_bytes(prov, workdir, store, keypair):
    import hashlib

    for label, names in {"cat": ["a.bin", "b.bin"], "dog": ["c.bin"]}.items():
        (workdir / "tree" / label).mkdir(parents=True)
        for n in names:
            (workdir / "tree" / label / n).write_bytes(os.urandom(100))
    r = prov(
        "commit",
        "tree",
        "--tag",
        "t1",
        "--key",
        keypair.private_path,
        "--signer",
        keypair.public_path,
        "--json",
        "--tree-reader",
        "files",
    )
    assert r.exit_code == 0, r.output
    from provenance.versions import load_manifest

    s = Store.open()
    m = load_manifest(s, s.version("t1"))
    expected = {
        hashlib.sha256((workdir / "tree" / loc).read_bytes()).digest(): loc
        for loc in ("cat/a.bin", "cat/b.bin", "dog/c.bin")
    }
    assert dict(zip(m.digests, m.table.column("locator").to_pylist())) == expected
    assert m.label_counts() == {"cat": 2, "dog": 1}
    (workdir / "tree" / "dog" / "c.bin").write_bytes(b"changed")
    r = prov("verify", "--store-keys", "t1")
    assert r.exit_code == 1 and "dog/c.bin" in r.stderr


def test_tree_symlink_leaving_the_tree_or_unreadable_file_is_an_input_error(prov, workdir, store, keypair):
    (workdir / "tree" / "cat").mkdir(parents=True)
    (workdir / "tree" / "cat" / "ok.bin").write_bytes(b"x")
    (workdir / "secret").write_text("outside")
    os.symlink(workdir / "secret", workdir / "tree" / "cat" / "escape.bin")
    r = prov(
        "commit",
        "tree",
        "--tag",
        "t1",
        "--key",
        keypair.private_path,
        "--signer",
        keypair.public_path,
        "--tree-reader",
        "files",
    )
    assert r.exit_code == 2 and "escape.bin: symlink leaves the tree" in r.stderr
    os.unlink(workdir / "tree" / "cat" / "escape.bin")
    (workdir / "labels.csv").write_text("path,label\n../secret,cat\n")
    r = prov(
        "commit",
        "tree",
        "--labels-csv",
        "labels.csv",
        "--tag",
        "t1",
        "--key",
        keypair.private_path,
        "--signer",
        keypair.public_path,
    )
    assert r.exit_code == 2 and "climbs out" in r.stderr
    if os.geteuid() != 0:  # root reads files whatever their mode
        p = workdir / "tree" / "cat" / "ok.bin"
        p.chmod(0)
        r = prov(
            "commit",
            "tree",
            "--tag",
            "t1",
            "--key",
            keypair.private_path,
            "--signer",
            keypair.public_path,
            "--tree-reader",
            "files",
        )
        assert r.exit_code == 2 and "cannot read file" in r.stderr


def test_a_version_committed_from_a_url_verifies_from_the_url(prov, workdir, store, keypair, digits_parquet):
    url = f"file://{digits_parquet}"
    r = prov("commit", url, "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    assert prov("verify", "--store-keys", "v1").exit_code == 0
    t = pq.read_table(digits_parquet)
    pq.write_table(t.slice(1), digits_parquet)
    r = prov("verify", "--store-keys", "v1")
    assert r.exit_code == 1 and "1 removed" in r.stderr


def test_commit_and_quarantine_refuse_the_same_names(prov, workdir, store, keypair, digits_parquet):
    r = prov("commit", digits_parquet, "--tag", "a/b", "--key", keypair.private_path, "--signer", keypair.public_path)
    assert r.exit_code == 2 and "a version name is" in r.stderr
    assert (
        prov(
            "commit", digits_parquet, "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path
        ).exit_code
        == 0
    )
    r = prov("quarantine", "--from", "v1", "--source", "x", "--tag", "v 2", "--key", keypair.private_path)
    assert r.exit_code == 2 and "a version name is" in r.stderr
