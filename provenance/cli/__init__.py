"""The ``prov`` command line: parse, make one library call, render.

Each module in this package adds its commands to ``app``; they are found by name, so a
new command group is a new module and nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil

from provenance.cli._app import app

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_mod}")


def main() -> None:
    app()
