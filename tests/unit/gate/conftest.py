"""A real store with versions that each make some rule block, built once per test session.

``gate_world``: the digits, shuffled; ``v1`` = a trusted 60% committed by the
maintainer; a vendor signs the other 40% at source. Candidates against ``v1``:
``clean`` (v1 + the vendor's batch), ``relabeled`` (clean, with one vendor-signed
record and 30 base records relabeled), ``crowd`` (clean + 150 new records of class 3
from an unsigned crowd batch) and ``crowd-q`` (crowd with the crowd quarantined).
``profileless``: a second small store whose base has no reference profile (a table
with no numeric columns). Tests that change a store copy it first (``copy_world``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from provenance.cli import app
from provenance.gate.context import GateContext
from provenance.store import Store
from provenance.trust.pins import Pins
from support import digits_table

N_CROWD = 150
RELABELED_BASE = 30
N_OUTLIERS = 3
PINNED = ("--signer", "maintainer.pub")  # a commit onto a store that holds a version needs a pin (as its owner runs it)


@dataclass
class GateWorld:
    root: Path
    n_base: int  # records in v1; the vendor's batch is the rest of the digits

    def store(self) -> Store:
        """The store, opened by a verifier who pins the maintainer's key."""
        return Store.open(self.root, pins=Pins.load([self.root / "maintainer.pub"]))

    def context(self, new: str, base: str = "v1") -> GateContext:
        return GateContext(self.store(), base, new)


def _run(runner: CliRunner, *args: str) -> None:
    r = runner.invoke(app, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.output


def _build(root: Path) -> GateWorld:
    runner = CliRunner()
    prov = lambda *a: _run(runner, *a)  # noqa: E731
    t = digits_table()
    t = t.take(np.random.default_rng(7).permutation(t.num_rows))
    n = int(t.num_rows * 0.6)
    labels = t.column("label").to_pylist()
    prov("init")
    prov("keys", "generate", "maintainer")
    prov("keys", "generate", "vendor")
    pq.write_table(t.slice(0, n), "v1.parquet")
    pq.write_table(t.slice(n), "vendor.parquet")
    prov("sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key")
    prov("trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key")
    prov("add", "vendor.parquet", "--source", "vendor", "--envelope", "vendor.parquet.prov.json", *PINNED)
    prov("commit", "v1.parquet", "--tag", "v1", "--key", "maintainer.key")

    pq.write_table(t, "clean.parquet")
    prov("commit", "clean.parquet", "--tag", "clean", "--parent", "v1", "--key", "maintainer.key", *PINNED)

    flipped = list(labels)
    for i in [n + 3, *range(RELABELED_BASE)]:  # one vendor-signed record, then base records
        flipped[i] = str((int(flipped[i]) + 5) % 10)
    pq.write_table(t.set_column(t.schema.get_field_index("label"), "label", pa.array(flipped)), "relabeled.parquet")
    prov("commit", "relabeled.parquet", "--tag", "relabeled", "--parent", "v1", "--key", "maintainer.key", *PINNED)

    extra = digits_table(N_CROWD)
    px = np.array(extra.column("px10").to_pylist()) + 1  # new content nobody signed, all called "3"
    extra = extra.set_column(extra.schema.get_field_index("px10"), "px10", pa.array(px))
    extra = extra.set_column(extra.schema.get_field_index("label"), "label", pa.array(["3"] * N_CROWD))
    pq.write_table(extra, "crowd-batch.parquet")
    prov("add", "crowd-batch.parquet", "--source", "crowd", "--unsigned")
    pq.write_table(pa.concat_tables([t, extra]), "crowd.parquet")
    prov("commit", "crowd.parquet", "--tag", "crowd", "--parent", "v1", "--key", "maintainer.key", *PINNED)
    prov("quarantine", "--from", "crowd", "--source", "crowd", "--tag", "crowd-q", "--key", "maintainer.key")

    far = t.slice(0, N_OUTLIERS)  # new records far outside anything the base holds
    for i in range(64):
        far = far.set_column(i, far.schema.names[i], pa.array([200 + 10 * j + i for j in range(N_OUTLIERS)]))
    pq.write_table(pa.concat_tables([t, far]), "outlier.parquet")
    prov("commit", "outlier.parquet", "--tag", "outlier", "--parent", "v1", "--key", "maintainer.key", *PINNED)
    return GateWorld(root, n)


@pytest.fixture(scope="session")
def gate_world(tmp_path_factory) -> GateWorld:
    root = tmp_path_factory.mktemp("gate-world")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for name in ("PROV_PASSPHRASE", "PROV_STORE", "PROV_KEY"):
            mp.delenv(name, raising=False)
        return _build(root)


@pytest.fixture
def copy_world(gate_world, tmp_path):
    """A private copy of the gate world, for a test that tampers with it."""

    def copy() -> GateWorld:
        target = tmp_path / "world"
        shutil.copytree(gate_world.root, target, symlinks=True)
        return GateWorld(target, gate_world.n_base)

    return copy


@pytest.fixture(scope="session")
def profileless(tmp_path_factory) -> GateWorld:
    """``s1`` (a base with no reference profile: no numeric columns) and ``s2`` (three more rows)."""
    root = tmp_path_factory.mktemp("profileless")
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for name in ("PROV_PASSPHRASE", "PROV_STORE", "PROV_KEY"):
            mp.delenv(name, raising=False)
        for n, tag in ((30, "s1"), (33, "s2")):
            names = pa.table({"name": [f"n{i}" for i in range(n)], "label": [str(i % 3) for i in range(n)]})
            pq.write_table(names, f"{tag}.parquet")
        _run(runner, "init")
        _run(runner, "keys", "generate", "maintainer")
        _run(runner, "commit", "s1.parquet", "--tag", "s1", "--key", "maintainer.key")
        _run(runner, "commit", "s2.parquet", "--tag", "s2", "--key", "maintainer.key", *PINNED)
    return GateWorld(root, 30)
