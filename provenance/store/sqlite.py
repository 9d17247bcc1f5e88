"""sqlite-utils without the pandas and numpy it imports for type guessing.

``import sqlite_utils`` imports pandas and numpy if they are installed (0.6 s here), only
to let inserts guess a column type for numpy scalars and ``pandas.Timestamp``. prov's
store needs neither at start-up, so sqlite-utils is imported with both hidden, and its
type table answers for them lazily, with the types sqlite-utils itself would give
(numpy integers INTEGER, numpy floats REAL, ``pandas.Timestamp`` TEXT), once a command
that uses them has imported them. Every module that needs sqlite-utils imports it from here.

prov opens its databases with ``execute_plugins=False``: a sqlite-utils plugin installed in
the environment must not get a hook into the store's connection (and loading the plugin
entry points costs ~0.05 s of start-up).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

_HIDDEN = ("pandas", "numpy")


class _TypeMapping(dict):
    """sqlite-utils' column-type table, completed on first use for numpy and pandas types."""

    def __missing__(self, key: Any) -> str:
        module = getattr(key, "__module__", "") or ""
        if module.startswith("numpy") and "numpy" in sys.modules:
            np = sys.modules["numpy"]
            if isinstance(key, type) and issubclass(key, np.integer):
                return self.setdefault(key, "INTEGER")
            if isinstance(key, type) and issubclass(key, np.floating):
                return self.setdefault(key, "REAL")
        if module.startswith("pandas") and getattr(key, "__name__", "") == "Timestamp":
            return self.setdefault(key, "TEXT")
        raise KeyError(key)


def _load() -> Any:
    if "sqlite_utils.db" in sys.modules:
        import sqlite_utils

        return sqlite_utils
    hidden = [m for m in _HIDDEN if m not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail: sqlite-utils skips it
    try:
        import sqlite_utils
        import sqlite_utils.db
    finally:
        for name in hidden:
            del sys.modules[name]
    if not isinstance(sqlite_utils.db.COLUMN_TYPE_MAPPING, _TypeMapping):
        sqlite_utils.db.COLUMN_TYPE_MAPPING = _TypeMapping(sqlite_utils.db.COLUMN_TYPE_MAPPING)
    return sqlite_utils


if TYPE_CHECKING:
    import sqlite_utils
else:
    sqlite_utils = _load()
