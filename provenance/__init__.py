"""prov: signed, record-level dataset versions, lineage and poisoning checks for training data.

The public API, one function per command, each doing exactly what the command does
(their docstrings give argument and return shapes, units, errors and formats)::

    import provenance as prov

    pins = prov.Pins.load(["maintainer.pub"])              # the keys you trust: --signer / PROV_SIGNERS
    store = prov.Store.init("project")                     # prov init
    prov.sign("batch.parquet", source="vendor", key="vendor.key")      # prov sign
    prov.add(store, "batch.parquet", source="vendor")       # prov add
    prov.commit(store, "train.parquet", tag="v1", key="maintainer.key")  # prov commit
    prov.verify(store, "v1", pins=pins)                     # prov verify
    report = prov.diff(store, "v1", "v2", detect=True)      # prov diff --detect
    results = prov.detect(store, "v1", "v2")                # the detectors alone
    result = prov.check(store, "v2", "v1", pins=pins)       # prov check (needs pins); result.exit_code
    prov.quarantine(store, from_version="v2", source="crowd", tag="v3", key="maintainer.key")
    X, y = prov.load("v1", store=store, pins=pins).arrays()  # a training job reads only signed records

Every function that works on a store takes it first; ``verify`` and ``load`` also take it as ``store=`` after the
version's name (``prov.verify("v1", store=store, pins=pins)``, ``prov.load(store, "v1", pins=pins)``).

Trust is pinned by the caller, never read from the store: ``Pins`` (``provenance.trust.pins``)
names the public keys (and optionally a root-of-trust file) signatures are checked against;
pass it as ``pins=`` (``check`` and verifying an attestation require it).

Errors are :class:`provenance.errors.ProvError` subclasses whose ``exit_code`` is the
command's. Names are imported on first use, so ``import provenance`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_API = {
    "Store": "provenance.store.store",
    "Pins": "provenance.trust.pins",
    "commit": "provenance.api",
    "verify": "provenance.api",
    "diff": "provenance.api",
    "detect": "provenance.api",
    "check": "provenance.api",
    "sign": "provenance.api",
    "add": "provenance.api",
    "quarantine": "provenance.api",
    "load": "provenance.api",
}
__all__ = ["Pins", "Store", "add", "check", "commit", "detect", "diff", "load", "quarantine", "sign", "verify"]

if TYPE_CHECKING:
    from provenance.api import add, check, commit, detect, diff, load, quarantine, sign, verify
    from provenance.store.store import Store
    from provenance.trust.pins import Pins


if not TYPE_CHECKING:  # type checkers see the imports above; a module __getattr__ would let any name pass

    def __getattr__(name: str) -> Any:
        """Import a public name on first use (PEP 562)."""
        module = _API.get(name)
        if module is None:
            raise AttributeError(f"module 'provenance' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
