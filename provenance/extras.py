"""Optional parts of prov installed as extras: a clear exit-2 message when one is asked for and missing."""

from __future__ import annotations

import importlib.util

from provenance.errors import InputError


def install_hint(extra: str) -> str:
    """How to install ``extra``: first from a clone (``prov-data`` is on no package index yet),
    then by its package name, for an index that has it."""
    return f"pip install -e '.[{extra}]' in a clone of prov (or pip install 'prov-data[{extra}]')"


def require_dvc(path: str, rev: str | None) -> None:
    """Raise ``InputError`` (exit 2) naming ``path`` and the ``dvc`` extra when DVC is not installed.

    Reading data at a git revision (``--rev``, ``prov diff --path``) goes through
    ``dvc.api``; the core install (``pip install -e .`` in a clone) leaves DVC out so that a
    vendor who only signs batches does not pull in DVC and its dependencies.
    """
    try:
        found = importlib.util.find_spec("dvc") is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken install
        found = False
    if not found:
        at = f" ({rev!r})" if rev else ""
        raise InputError(f"{path}: reading at a git revision{at} needs DVC: {install_hint('dvc')}")
