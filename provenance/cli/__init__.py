"""The ``prov`` command line: parse, make one library call, render.

Each command module adds its commands to ``app``; the modules are imported lazily, one
per command run (``provenance.cli._lazy``: the command table and the order of ``prov --help``).
"""

from __future__ import annotations

from provenance.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """The ``prov`` console script."""
    from provenance.cli._imports import load_pandas_on_request

    load_pandas_on_request()
    app()
