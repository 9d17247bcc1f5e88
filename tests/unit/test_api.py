"""The public API's names: lazy to import, and never hidden by a submodule of the same name."""

from __future__ import annotations

import subprocess
import sys

import pytest

import provenance
from provenance import api
from provenance.store.store import Store

NAMES = ["Pins", "Store", "add", "check", "commit", "detect", "diff", "load", "quarantine", "sign", "verify"]


def test_import_provenance_is_light():
    code = (
        "import sys, provenance; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('numpy', 'pyarrow', 'sqlite_utils', 'typer')]; "
        "print(len([m for m in sys.modules if m.startswith('provenance')]), heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 1)
    assert out[0] == "1" and out[1].strip() == "[]"


def test_every_public_name_is_documented_and_importable():
    assert sorted(provenance.__all__) == NAMES
    for name in NAMES:
        value = getattr(provenance, name)
        assert value.__doc__, name
        if name not in ("Store", "Pins"):  # each function says what it returns and raises
            assert "Returns" in value.__doc__ and "Raises" in value.__doc__, name
    assert provenance.Store is Store and provenance.commit is api.commit
    with pytest.raises(AttributeError, match="no attribute 'load_everything'"):
        provenance.load_everything  # noqa: B018


def test_sign_from_python_names_replace_not_force(workdir, keypair):
    """Newcomer review 10, finding 18: ``prov.sign`` refused an envelope already there with 'give --force to
    replace it', the command's flag; the Python caller's parameter is ``replace=True``."""
    import pyarrow.parquet as pq

    from provenance.errors import InputError
    from support import digits_table

    pq.write_table(digits_table(20), workdir / "batch.parquet")
    provenance.sign("batch.parquet", source="vendor", key=keypair.private_path)
    first = (workdir / "batch.parquet.prov.json").read_bytes()
    with pytest.raises(InputError) as refused:
        provenance.sign("batch.parquet", source="vendor", key=keypair.private_path)
    assert str(refused.value).endswith(
        "already exists (an envelope signed for source 'vendor'); give replace=True (prov sign --force) to replace it, "
        "or out= to write another"
    )
    assert (workdir / "batch.parquet.prov.json").read_bytes() == first
    provenance.sign("batch.parquet", source="vendor", key=keypair.private_path, replace=True)


def test_dataset_takes_the_encoding_and_tree_reader_the_commands_take():
    # provenance.commit carries a parent's --encoding / --tree-reader; a Python caller must be able to give them
    spec = api.dataset("data.csv", encoding="latin-1", tree_reader="files")
    assert (spec.options.encoding, spec.options.tree_reader) == ("latin-1", "files")
    with pytest.raises(provenance.errors.InputError, match="tree_reader 'torch': expected one of imagefolder"):
        api.dataset("tree", tree_reader="torch")
