"""A labels CSV named or naming files with a NUL or an undecodable byte (perf32's note, replayed).

``trees.read_labels_csv`` let Python's ``ValueError: embedded null byte`` out of ``open`` and of the
confinement check (``os.path.realpath``), so ``prov commit TREE --labels-csv F`` ended in "internal error".
Bad input is one line naming the file (and the row), exit 2, the store unchanged.
"""

from __future__ import annotations

import pytest

from support import one_line, store_fingerprint

UNDECODABLE = "lab\udcffels.csv"  # the name b"lab\xffels.csv" as Python reads it from argv (surrogateescape)


def _tree(workdir) -> None:
    (workdir / "tree" / "cat").mkdir(parents=True)
    (workdir / "tree" / "cat" / "1.png").write_bytes(b"x")
    (workdir / "tree" / "cat" / "2.png").write_bytes(b"y")


def _commit(prov, keypair, labels_csv: str):
    return prov(
        "commit", "tree", "--labels-csv", labels_csv, "--tag", "t1", "--key", keypair.private_path,
        "--signer", keypair.public_path,
    )  # fmt: skip


@pytest.mark.parametrize("csv_name", ["labels.csv", UNDECODABLE])
def test_a_row_naming_a_path_with_a_nul_is_one_line_exit_2(prov, workdir, store, keypair, csv_name):
    _tree(workdir)
    (workdir / csv_name).write_bytes(b'path,label\ncat/1.png,cat\n"cat/2\x00.png",cat\n')
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, csv_name)
    assert r.exit_code == 2, r.output
    named = csv_name if csv_name == "labels.csv" else "lab\\udcffels.csv"  # escaping.visible's form
    assert one_line(r) == (
        f"Error: {named}: row 1 path 'cat/2\\x00.png' holds a NUL character, which no file name can; fix the row"
    )
    assert store_fingerprint(workdir / ".prov") == before


def test_a_labels_csv_name_with_a_nul_is_one_line_exit_2(prov, workdir, store, keypair):
    _tree(workdir)
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "lab\x00els.csv")
    assert r.exit_code == 2, r.output
    assert one_line(r) == "Error: lab\\x00els.csv: cannot read labels CSV (a file name cannot hold a NUL character)"
    assert store_fingerprint(workdir / ".prov") == before
