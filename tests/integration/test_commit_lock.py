"""A long commit does not hold the store's write lock while it prepares.

The commit's profile stage runs a plug-in featuriser that announces it has started
featurising and then waits until the test says go, so the commit stays in its prepare
phase for as long as the test needs. Meanwhile three other real processes write to the
store with a one-second lock timeout: each must get the lock and finish. What they
changed must then show in the commit: its default parent is the version committed
meanwhile, and its lineage counts the signed batch registered meanwhile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from provenance import keys
from provenance.lineage import batch_sign
from provenance.sources.interface import DatasetSpec
from support import digits_table, gated_featurizer

PROV = str(Path(sys.executable).parent / "prov")


def _env(workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PROV_PASSPHRASE", "PROV_STORE", "PROV_KEY")}
    site = str(workdir / "site")
    env["PYTHONPATH"] = site + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else site
    env["PROV_WORKERS"] = "1"
    return env | extra


def _prov(workdir: Path, *args, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PROV, *map(str, args)], cwd=workdir, env=_env(workdir, **env), capture_output=True, text=True, timeout=300
    )


def _wait_for(path: Path, process: subprocess.Popen) -> None:
    """Until ``path`` exists (the event), failing at once if ``process`` ended instead."""
    deadline = time.monotonic() + 300
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"commit ended before featurising (exit {process.returncode}): {err}")
        assert time.monotonic() < deadline, "the commit never reached its profile stage"
        time.sleep(0.02)


def test_other_writers_get_the_lock_while_a_commit_prepares(workdir, store, keypair):
    gated_featurizer(workdir / "site")
    gate = workdir / "gate"
    gate.mkdir()
    data = digits_table(300)
    pq.write_table(data, workdir / "train.parquet")
    pq.write_table(data.slice(0, 100), workdir / "vendor.parquet")
    pq.write_table(data.slice(0, 150), workdir / "first.parquet")
    vendor = keys.generate(workdir / "vendor")
    batch_sign.sign_batch(DatasetSpec(str(workdir / "vendor.parquet")), "vendor", vendor.private_path)

    commit = subprocess.Popen(
        [PROV, "commit", "train.parquet", "--tag", "v2", "--key", keypair.private_path, "--featurizer", "gated"],
        cwd=workdir,
        env=_env(workdir, PROV_TEST_GATE=str(gate)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(gate / "featurising", commit)
        # The commit is now inside its prepare phase and stays there until "go".
        short = {"PROV_LOCK_TIMEOUT": "1"}
        trust = _prov(workdir, "trust", "add", "vendor", vendor.public_path, "--unsigned", **short)
        assert trust.returncode == 0, trust.stderr
        add = _prov(workdir, "add", "vendor.parquet", "--source", "vendor", "--store-keys", **short)
        assert add.returncode == 0, add.stderr
        other = _prov(workdir, "commit", "first.parquet", "--tag", "v1", "--key", keypair.private_path, **short)
        assert other.returncode == 0, other.stderr
        assert commit.poll() is None  # still preparing: everything above happened during its prepare phase
    finally:
        (gate / "go").touch()
    out, err = commit.communicate(timeout=300)
    assert commit.returncode == 0, err

    shown = json.loads(_prov(workdir, "show", "v2", "--json").stdout)
    assert shown["parent"] == "v1"  # the default parent is read under the lock, not when the commit started
    assert shown["attested"] == 100  # lineage classified again: the batch signed and added meanwhile counts
    assert shown["unattributed"] == 200
    assert _prov(workdir, "audit", "verify", "--store-keys").returncode == 0
    assert _prov(workdir, "verify", "--store-keys", "v2").returncode == 0
