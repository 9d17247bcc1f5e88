"""sqlite-utils loaded without pandas and numpy, with the column types it would have guessed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from provenance.store.sqlite import sqlite_utils


def test_opening_a_store_imports_neither_pandas_nor_numpy(tmp_path):
    code = (
        "import sys\n"
        "from provenance.store import Store\n"
        f"Store.init({str(tmp_path)!r})\n"
        "print(' '.join(m for m in ('pandas', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_numpy_values_get_the_column_types_sqlite_utils_gives_them():
    db = sqlite_utils.Database(memory=True)
    db["t"].insert({"i": np.int64(3), "u": np.uint8(2), "f": np.float32(0.5), "g": np.float64(1.25), "s": "x"})
    assert db["t"].columns_dict == {"i": int, "u": int, "f": float, "g": float, "s": str}


def test_sqlite_utils_plugins_get_no_hook_into_the_store(tmp_path):
    from sqlite_utils import hookimpl
    from sqlite_utils.plugins import pm

    from provenance.store import Store

    class Plugin:
        __name__ = "prov-test-plugin"
        called: list = []

        @hookimpl
        def prepare_connection(self, conn):
            Plugin.called.append(conn)

    plugin = Plugin()
    pm.register(plugin)
    try:
        Store.init(tmp_path)
        Store.open(tmp_path)
        assert Plugin.called == []
        sqlite_utils.Database(memory=True)  # the plugin is live: plain sqlite-utils would run it
        assert len(Plugin.called) == 1
    finally:
        pm.unregister(plugin)
