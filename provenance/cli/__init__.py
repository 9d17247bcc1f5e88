"""The ``prov`` command line: parse, make one library call, render.

Each module below adds its commands to ``app``; ``prov --help`` lists them in this order.
A new command module is imported here (a test fails on a module left out).
"""

from __future__ import annotations

# The order of these modules is the order of `prov --help`.
# isort: off
from provenance.cli import (  # noqa: F401  (each module registers its commands on import)
    core,
    audit,
    lineage,
    roots,
    diff,
    findings,
    check,
    fsck,
    demo,
)

# isort: on
from provenance.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """The ``prov`` console script."""
    app()
