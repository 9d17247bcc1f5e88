"""A column named by `--metadata`, `--schema` or `--id-column` must exist and must not be the label
(newcomer review 11, finding 8).

A misspelt `--metadata anotator` was accepted: the envelope signed `metadata_columns: ['anotator']`
and hashed the real `annotator` column as content, so the team's digests (read without the typo)
never matched and every record lost its attestation without a word. Now `prov sign` and
`prov commit` exit 2 naming the file, the option and the column, and write nothing.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from support import digits_table, ok, one_line, store_fingerprint

PINNED = ("--signer", "alice.pub")

BAD = [
    (("--metadata", "anotator"), "--metadata 'anotator': no such column (did you mean 'annotator'?)"),
    (("--metadata", "nosuchcol"), "--metadata 'nosuchcol': no such column; columns: "),
    (("--schema", "pz00:double"), "--schema 'pz00': no such column (did you mean 'px00'?)"),
    (("--id-column", "label"), "--id-column 'label' is the label column; name another column"),
    (("--metadata", "label"), "--metadata 'label' is the label column; name another column"),
]


@pytest.fixture
def batch_csv(workdir):
    table = digits_table(30)
    table = table.append_column("annotator", pa.array([f"a{i % 3}" for i in range(30)]))
    table = table.append_column("item_id", pa.array([f"it{i:03d}" for i in range(30)]))
    pcsv.write_csv(table, "batch.csv")
    return "batch.csv"


@pytest.mark.parametrize(("flags", "message"), BAD, ids=[" ".join(f) for f, _ in BAD])
def test_sign_refuses_a_column_option_naming_no_column_or_the_label(prov, keypair, workdir, batch_csv, flags, message):
    before = sorted(os.listdir(workdir))
    r = prov("sign", batch_csv, "--source", "vendor", "--key", str(keypair.private_path), "--id-column", "item_id",
             *flags)  # fmt: skip
    assert r.exit_code == 2, r.output
    assert one_line(r).startswith(f"Error: batch.csv: {message}"), r.stderr
    assert sorted(os.listdir(workdir)) == before  # no envelope written


@pytest.mark.parametrize(("flags", "message"), BAD, ids=[" ".join(f) for f, _ in BAD])
def test_commit_refuses_a_column_option_naming_no_column_or_the_label(
    prov, keypair, workdir, batch_csv, flags, message
):
    ok(prov, "init")
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", batch_csv, "--tag", "v1", "--key", str(keypair.private_path), *PINNED, *flags)
    assert r.exit_code == 2, r.output
    assert one_line(r).startswith(f"Error: batch.csv: {message}"), r.stderr
    assert store_fingerprint(workdir / ".prov") == before


def test_correctly_named_columns_still_sign_and_commit(prov, keypair, workdir, batch_csv):
    key = str(keypair.private_path)
    flags = ("--id-column", "item_id", "--metadata", "annotator", "--schema", "px00:double")
    ok(prov, "sign", batch_csv, "--source", "vendor", "--key", key, *flags)
    assert os.path.isfile("batch.csv.prov.json")
    ok(prov, "init")
    out = ok(prov, "commit", batch_csv, "--tag", "v1", "--key", key, *PINNED, *flags)
    assert out.startswith("Committed v1: 30 records")
