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
