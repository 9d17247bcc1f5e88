"""The command line is assembled from an explicit list of command modules; none is left out."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import provenance.cli


def test_every_command_module_is_imported_by_the_cli():
    modules = sorted(m.name for m in pkgutil.iter_modules(provenance.cli.__path__) if not m.name.startswith("_"))
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, provenance.cli; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    missing = [m for m in modules if f"provenance.cli.{m}" not in loaded]
    assert not missing, f"provenance/cli/__init__.py does not import {missing}: their commands would not exist"
