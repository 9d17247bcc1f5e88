"""Fixtures for every test: the test's folder, a store, a key pair, a real Parquet table, ``prov``.

Slow worlds (stores with versions, git+DVC repositories) are built once per session by a
session-scoped fixture named ``template_<world>`` that returns a ``support.FolderTemplate``
(see ``support.build_template``). ``workdir`` copies every such template the test needs
into the test's own folder before any other fixture runs, so ``store`` and ``keypair``
then find the world's store and key, and each test gets a private copy to change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import settings

from provenance import keys
from provenance.store import Store
from support import PROV_ENV_VARS, FolderTemplate, Prov, digits_table

os.environ.setdefault("PROV_WORKERS", "2")
# A developer's shell may pin keys or name a store (PROV_SIGNERS=maintainer.pub after the demo's
# last line): no test, and no prov process a test starts, inherits them.
for _var in PROV_ENV_VARS:
    os.environ.pop(_var, None)

# Property tests draw the same examples on every run and replay nothing saved by an earlier
# run: the suite's result must not depend on a seed or on a local .hypothesis folder.
settings.register_profile("prov", derandomize=True, database=None)
settings.load_profile("prov")

TEMPLATE_PREFIX = "template_"

# Reports lay out at COLUMNS when it is set (else 120): a width inherited from the shell, or left behind by
# whatever ran earlier in the same worker, made a test's result depend on the order tests ran in (a Rules table
# wrapped at 80 columns in one full-suite run). Each test starts with neither; one that needs a width passes it.
TERMINAL_SIZE_VARS = ("COLUMNS", "LINES")


@pytest.fixture(autouse=True)
def _default_terminal_size(monkeypatch) -> None:
    for var in TERMINAL_SIZE_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def prov() -> Prov:
    return Prov()


@pytest.fixture
def workdir(tmp_path, monkeypatch, request) -> Path:
    """The test's own folder, made current, with prov's environment variables unset."""
    monkeypatch.chdir(tmp_path)
    for var in PROV_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    templates = [n for n in request.fixturenames if n.startswith(TEMPLATE_PREFIX)]
    assert len(templates) <= 1, f"one world per test, not {templates}: they would overwrite each other's store"
    for name in templates:
        template = request.getfixturevalue(name)
        assert isinstance(template, FolderTemplate), f"{name} must return a support.FolderTemplate"
        template.copy_into(tmp_path)
    return tmp_path


@pytest.fixture
def store(workdir) -> Store:
    """The store in the test's folder: the world's, when a template made one, else a new one."""
    if (workdir / ".prov" / "prov.db").is_file():
        return Store(workdir / ".prov")
    return Store.init(workdir)


@pytest.fixture
def pins(keypair):
    """The caller's pins naming Alice's public key (``--signer alice.pub``), as a training job pins its maintainer's."""
    from provenance.trust.pins import Pins

    return Pins.load([keypair.public_path])


@pytest.fixture
def keypair(workdir) -> keys.KeyPair:
    """Alice's key pair in the test's folder (``alice.key``, ``alice.pub``)."""
    private, public = workdir / "alice.key", workdir / "alice.pub"
    if private.is_file():  # a template made it
        return keys.KeyPair(private, public, keys.key_id(keys.load_public(public)))
    return keys.generate(workdir / "alice")


@pytest.fixture
def digits_parquet(workdir) -> Path:
    path = workdir / "digits.parquet"
    pq.write_table(digits_table(600), path, row_group_size=128)
    return path


@pytest.fixture
def verified_tags(monkeypatch) -> list[str]:
    """The tags of the version statements verified from now on, in order: the real ``version_facts._verify_statement``
    wrapped in a counter that calls it, so every signature is still checked against the pins."""
    from provenance import version_facts

    seen: list[str] = []
    real = version_facts._verify_statement

    def counting(store, row):
        seen.append(row["tag"])
        return real(store, row)

    monkeypatch.setattr(version_facts, "_verify_statement", counting)
    return seen
