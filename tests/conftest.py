"""Fixtures that build real things: Parquet tables, key pairs, stores, file trees."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from provenance import keys
from provenance.cli import app
from provenance.store import Store
from support import digits_table, store_fingerprint  # noqa: F401  (re-exported for old imports)

os.environ.setdefault("PROV_WORKERS", "2")


class Prov:
    """Runs ``prov`` in-process through typer's runner, in the test's folder."""

    def __init__(self, runner: CliRunner):
        self.runner = runner

    def __call__(self, *args: str, env: dict | None = None):
        return self.runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture
def prov() -> Prov:
    return Prov(CliRunner())


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROV_PASSPHRASE", raising=False)
    monkeypatch.delenv("PROV_STORE", raising=False)
    monkeypatch.delenv("PROV_KEY", raising=False)
    return tmp_path


@pytest.fixture
def store(workdir) -> Store:
    return Store.init(workdir)


@pytest.fixture
def keypair(workdir) -> keys.KeyPair:
    return keys.generate(workdir / "alice")


@pytest.fixture
def digits_parquet(workdir) -> Path:
    path = workdir / "digits.parquet"
    pq.write_table(digits_table(600), path, row_group_size=128)
    return path
