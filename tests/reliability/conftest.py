"""Fixtures for the reliability tests: a fully populated store, and the counts to run.

Counts are small here so the suite stays fast in CI; ``bench/reliability_harness.py``
runs the same machinery (``faults.py``) at full size and writes the figures. Set
``PROV_RELIABILITY_SCALE`` (e.g. 5) to run the tests bigger.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import faults  # noqa: E402


@pytest.fixture(scope="session")
def world_template(tmp_path_factory) -> faults.World:
    env = {k: os.environ.pop(k) for k in ("PROV_PASSPHRASE", "PROV_STORE", "PROV_KEY") if k in os.environ}
    try:
        return faults.build_world(tmp_path_factory.mktemp("template") / "world")
    finally:
        os.environ.update(env)


@pytest.fixture
def world(world_template, tmp_path, monkeypatch) -> faults.World:
    """A store with versions of a Parquet table, a CSV, a file tree and a quarantine,
    a signed and an unsigned batch, a trusted and a revoked source key (a fresh copy per test)."""
    monkeypatch.delenv("PROV_PASSPHRASE", raising=False)
    monkeypatch.delenv("PROV_STORE", raising=False)
    monkeypatch.delenv("PROV_KEY", raising=False)
    monkeypatch.setenv("PROV_WORKERS", "1")
    return world_template.copy_to(tmp_path / "world")
