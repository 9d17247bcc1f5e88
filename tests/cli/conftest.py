"""Worlds for the CLI tests, each built once per session and copied into every test's folder.

- ``world``: a store, a vendor that signs its batch at source (trusted), a crowd batch
  that is not signed, keys for vendor, other (trusted for source "other"), stranger (in
  no trust store) and owner (signs versions).
- ``registered``: ``world`` with both batches added; ``committed``: both added and
  ``train.parquet`` (crowd, vendor, crowd) committed as v1 by owner.
- ``three_versions``: v1, v2, v3 of scikit-learn's digits with planted changes (below),
  committed by alice (the ``keypair`` fixture's key).
- ``demo``: the store ``prov demo`` builds (v1, v2, r1, rc1, rc2, ...), its maintainer's key pinned.
- ``legacy``: the store ``tests/data/legacy-store/build.py`` made with prov's code from before store ids.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys
from provenance.lineage import batch_sign
from provenance.sources.interface import DatasetSpec
from provenance.store import Store
from provenance.trust import source_keys as trust
from support import N_CROWD, N_VENDOR, Prov, World, build_template, build_trust_world, digits_table, run_bound

KEY_NAMES = ("vendor", "other", "stranger", "owner")
LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy-store" / "world"


@pytest.fixture
def legacy(workdir) -> Path:
    """The store ``build.py`` made with prov's code from before store ids (v1, v2 by maintainer.key, naming no
    store), copied here with its keys and data; ``world/other-project`` (``build_other.py``) is left where it is."""
    for p in LEGACY.iterdir():
        if p.name not in ("prov-store", "other-project"):
            shutil.copy2(p, workdir / p.name)
            if p.suffix == ".key":  # git keeps no mode 600: a fresh clone checks the keys out readable by others
                (workdir / p.name).chmod(0o600)
    shutil.copytree(LEGACY / "prov-store", workdir / ".prov")
    return workdir


# --- world: a signing vendor and an unsigned crowd ---------------------------------------------


def build_world(prov: Prov, folder: Path) -> None:
    store = Store.init(folder)
    data = digits_table(N_VENDOR + N_CROWD)
    pq.write_table(data.slice(0, N_VENDOR), folder / "vendor.parquet")
    pq.write_table(data.slice(N_VENDOR), folder / "crowd.parquet")
    pairs = {n: keys.generate(folder / n) for n in KEY_NAMES}
    batch_sign.sign_batch(DatasetSpec(str(folder / "vendor.parquet")), "vendor", pairs["vendor"].private_path)
    trust.add_key(store, "vendor", pairs["vendor"].public_path, unsigned=True)
    trust.add_key(store, "other", pairs["other"].public_path, unsigned=True)
    store.close()


def build_registered(prov: Prov, folder: Path) -> None:
    build_world(prov, folder)
    r = prov("add", "vendor.parquet", "--source", "vendor", "--json", "--store-keys")  # the world pins nothing
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["signed"] and out["records"] == N_VENDOR
    assert out["keyid"] == keys.key_id(keys.load_public(folder / "vendor.pub"))
    r = prov("add", "crowd.parquet", "--source", "crowd", "--unsigned", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["signed"] is False


def build_committed(prov: Prov, folder: Path) -> None:
    build_world(prov, folder)
    assert prov("add", "vendor.parquet", "--source", "vendor", "--store-keys").exit_code == 0  # nothing pinned
    assert prov("add", "crowd.parquet", "--source", "crowd", "--unsigned").exit_code == 0
    crowd = pq.read_table(folder / "crowd.parquet")
    train = pa.concat_tables([crowd.slice(0, 30), pq.read_table(folder / "vendor.parquet"), crowd.slice(30)])
    pq.write_table(train, folder / "train.parquet")
    r = prov("commit", "train.parquet", "--tag", "v1", "--key", "owner.key")
    assert r.exit_code == 0, r.output


def world_in(root: Path, store: Store) -> World:
    """The world whose files are in ``root`` (a copy of a template), with its open store."""

    def pair(name: str) -> keys.KeyPair:
        public = root / f"{name}.pub"
        return keys.KeyPair(root / f"{name}.key", public, keys.key_id(keys.load_public(public)))

    vendor, other, stranger, owner = (pair(n) for n in KEY_NAMES)
    envelope = root / "vendor.parquet.prov.json"
    return World(root, store, vendor, other, stranger, owner, root / "vendor.parquet", root / "crowd.parquet", envelope)


# Small batches: forking workers costs more than it saves.
ONE_WORKER = {"PROV_WORKERS": "1"}


@pytest.fixture(scope="session")
def template_world(tmp_path_factory):
    return build_template(tmp_path_factory, "world", build_world, **ONE_WORKER)


@pytest.fixture(scope="session")
def template_registered(tmp_path_factory):
    return build_template(tmp_path_factory, "registered", build_registered, **ONE_WORKER)


@pytest.fixture(scope="session")
def template_committed(tmp_path_factory):
    return build_template(tmp_path_factory, "committed", build_committed, **ONE_WORKER)


@pytest.fixture
def world(template_world, workdir, store, monkeypatch) -> World:
    monkeypatch.setenv("PROV_WORKERS", "1")
    return world_in(workdir, store)


@pytest.fixture
def registered(template_registered, workdir, store, monkeypatch) -> World:
    """``world`` with the vendor's signed batch and the crowd's unsigned batch added."""
    monkeypatch.setenv("PROV_WORKERS", "1")
    return world_in(workdir, store)


@pytest.fixture
def committed(template_committed, workdir, store, monkeypatch) -> World:
    """``registered``, and ``train.parquet`` (30 crowd, 120 vendor, 30 crowd) committed as v1 by owner."""
    monkeypatch.setenv("PROV_WORKERS", "1")
    return world_in(workdir, store)


# --- three versions with planted changes -------------------------------------------------------
# v1: 800 records from vendor-a (rows 0-399) and vendor-b (400-799); v2 adds 200 more from
# vendor-a (its usual volume). v3, the version under review, plants: 30 removals, 200
# ordinary additions from vendor-a, 60 additions from a new source crowd-x all labelled
# "3", 25 vendor-b records of class 1 taken over by crowd-x and relabelled 7, and one
# record carried twice with two labels (a conflicting label).


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.int64), [str(v) for v in d.target]


def _write(path: Path, rows: list[tuple[int, str, str]]) -> None:
    X, _ = _digits()
    idx = [r[0] for r in rows]
    cols = {f"px{i:02d}": X[idx, i] for i in range(X.shape[1])}
    cols["label"] = [r[1] for r in rows]
    cols["source"] = [r[2] for r in rows]
    pq.write_table(pa.table(cols), path, row_group_size=256)


def planted(folder: Path) -> dict:
    _, y = _digits()
    v1 = [(i, y[i], "vendor-a" if i < 400 else "vendor-b") for i in range(800)]
    v2 = v1 + [(i, y[i], "vendor-a") for i in range(800, 1000)]
    flipped = [i for i in range(400, 800) if y[i] == "1"][:25]
    conflict = 700 if 700 not in flipped else 701
    v3 = [(i, lab, src) for i, lab, src in v2 if i >= 30]  # 30 removals, all vendor-a
    v3 = [(i, "7", "crowd-x") if i in flipped else (i, lab, src) for i, lab, src in v3]
    v3 += [(i, y[i], "vendor-a") for i in range(1000, 1200)]
    v3 += [(i, "3", "crowd-x") for i in range(1200, 1260)]
    other = "0" if y[conflict] != "0" else "9"
    v3 += [(conflict, other, "vendor-b")]
    for name, rows in (("v1", v1), ("v2", v2), ("v3", v3)):
        _write(folder / f"{name}.parquet", rows)
    return {"flipped": flipped, "conflict": conflict, "other": other, "old_conflict_label": y[conflict]}


def build_three_versions(prov: Prov, folder: Path) -> dict:
    Store.init(folder).close()
    keys.generate(folder / "alice")
    facts = planted(folder)
    for tag in ("v1", "v2", "v3"):
        r = prov(
            "commit",
            f"{tag}.parquet",
            "--tag",
            tag,
            "--key",
            "alice.key",
            "--signer",
            "alice.pub",
            "--source-column",
            "source",
        )
        assert r.exit_code == 0, r.output
    return facts


@pytest.fixture(scope="session")
def template_three_versions(tmp_path_factory):
    return build_template(tmp_path_factory, "three_versions", build_three_versions)


@pytest.fixture
def three_versions(template_three_versions, workdir) -> dict:
    """v1, v2, v3 committed by alice (``keypair``); returns the planted facts."""
    return dict(template_three_versions.facts)


@pytest.fixture(scope="session")
def template_trust(tmp_path_factory):
    """The trust world (``support.build_trust_world``), built once per session and copied per test."""
    return build_template(tmp_path_factory, "trust", build_trust_world)


# --- demo: the store `prov demo` builds ---------------------------------------------------------


def build_demo(prov: Prov, folder: Path) -> None:
    r = prov("demo", "--dir", str(folder), "--json")
    assert r.exit_code == 0, r.output


@pytest.fixture(scope="session")
def template_demo(tmp_path_factory):
    return build_template(tmp_path_factory, "demo_words", build_demo)


@pytest.fixture
def demo(template_demo, workdir, monkeypatch) -> Path:
    """The demo's store (versions v1, v2, r1, rc1, rc2, ...), the maintainer's key pinned."""
    monkeypatch.setenv("PROV_SIGNERS", str(workdir / "maintainer.pub"))
    return workdir


@pytest.fixture
def mount(workdir: Path) -> Iterator[Path]:
    """An empty folder outside the test's folder to bind-mount a folder onto (``support.run_bound``); skips where
    private mount namespaces are not allowed (not root, no ``unshare``)."""
    where = workdir.parent / f"{workdir.name}-mnt"
    where.mkdir()
    probe = run_bound(workdir, workdir, where, "--version")
    if probe.returncode != 0:
        pytest.skip(f"no private bind mount here: {probe.stderr.strip()[:120]}")
    yield where
    shutil.rmtree(where, ignore_errors=True)
