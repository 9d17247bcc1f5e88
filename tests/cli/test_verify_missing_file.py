"""``prov verify ARG`` where ARG names a file that is not there (newcomer review 9, finding 5).

Outside a store it said "no prov store here or above; run 'prov init' first" (a vendor following
that advice makes a store it must not need); inside one, "no such version". A name with a suffix
or a folder is a file: it is named as missing, with the closest file of its folder.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from provenance import keys
from support import digits_table, ok, one_line


def test_a_mistyped_batch_is_no_such_file_without_a_store(prov, workdir):
    vendor = keys.generate(workdir / "vendor")
    pq.write_table(digits_table(20), Path("batch.parquet"))
    ok(prov, "sign", "batch.parquet", "--source", "vendor", "--key", vendor.private_path)
    for name, meant in (("batch.prquet", "batch.parquet"), ("./batch.prquet", "./batch.parquet")):
        r = prov("verify", name, "--signer", vendor.public_path)
        assert r.exit_code == 2, r.output  # "no prov store here or above; run 'prov init' first" before
        assert one_line(r) == f"Error: {name}: no such file (did you mean '{meant}'?)", r.output
    assert not Path(".prov").exists()
    r = prov("verify", "sub/none.parquet", "--signer", vendor.public_path)
    assert r.exit_code == 2 and one_line(r) == "Error: sub/none.parquet: no such file", r.output


def test_a_mistyped_file_in_a_store_is_no_such_file_and_a_dotted_version_still_verifies(prov, workdir, store, keypair):
    pq.write_table(digits_table(20), Path("batch.parquet"))
    ok(prov, "-q", "commit", "batch.parquet", "--tag", "r1.0", "--key", keypair.private_path)
    r = prov("verify", "batch.prquet", "--signer", keypair.public_path)
    assert r.exit_code == 2, r.output  # "no such version in .prov; known: r1.0" before
    assert one_line(r) == "Error: batch.prquet: no such file (did you mean 'batch.parquet'?)", r.output
    ok(prov, "verify", "r1.0", "--signer", keypair.public_path)  # a version whose name has a dot is a version


def test_a_data_file_with_no_envelope_names_the_fix_without_markdown(prov, workdir, store, keypair):
    """Newcomer review 9, finding 10: "sign the batch with `prov sign`" printed its backticks."""
    pq.write_table(digits_table(20), Path("batch.parquet"))
    r = prov("verify", "batch.parquet", "--signer", keypair.public_path)
    assert r.exit_code == 2, r.output
    line = one_line(r)
    assert line.startswith("Error: batch.parquet.prov.json: cannot read envelope (no such file)"), line
    assert "sign the batch with 'prov sign'" in line and "`" not in line


def test_a_versions_own_data_file_says_how_to_check_it_against_the_version(prov, workdir, store, keypair):
    """Newcomer review 9, finding 5: `prov verify train-new.v5.parquet` said "cannot read envelope (no such file);
    sign the batch ..."; the file is a version's data, and `prov status FILE --version V` checks it."""
    Path("data").mkdir()
    pq.write_table(digits_table(20), Path("data/train.parquet"))
    ok(prov, "-q", "commit", "data/train.parquet", "--tag", "v1", "--key", keypair.private_path)
    for typed in ("data/train.parquet", "./data/train.parquet"):
        r = prov("verify", typed, "--signer", keypair.public_path)
        assert r.exit_code == 2, r.output
        assert one_line(r) == (
            f"Error: {typed}: the data of version v1, not a signed batch (no train.parquet.prov.json); "
            f"to check it against that version: prov status {typed} --version v1"
        )
    assert "unchanged since v1" in ok(
        prov, "status", "data/train.parquet", "--version", "v1", "--signer", keypair.public_path
    )
