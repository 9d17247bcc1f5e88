"""Helpers for the examples' tests: the venv's tools, a clean environment, a project copy,
and the trusted project they all start from (built through the installed ``prov``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from support import digits_table

BIN = Path(sys.executable).parent
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
POISONED_ROWS = 36  # 5% of the 719 records the vendor delivers


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise RuntimeError(f"{path} not found: the examples' tests need {name} installed beside {sys.executable}")
    return str(path)


def clean_env(home: Path) -> dict:
    """The environment a user's shell would have: the venv first on PATH, no prov settings leaking in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROV_STORE", "PROV_KEY", "PROV_PASSPHRASE", "GIT_", "DVC_"))
        and k not in ("COLUMNS", "LINES")  # reports wrap at the default width, as in a CI log, whatever ran before
    }
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "HOME": str(home),
            "DVC_NO_ANALYTICS": "1",
            "PROV_WORKERS": "2",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Data Engineer",
            "GIT_AUTHOR_EMAIL": "de@example.org",
            "GIT_COMMITTER_NAME": "Data Engineer",
            "GIT_COMMITTER_EMAIL": "de@example.org",
        }
    )
    return env


def pinned_env(env: dict, project: Path) -> dict:
    """``env`` with the maintainer's public key pinned (``PROV_SIGNERS``), as the project's maintainers set it."""
    return env | {"PROV_SIGNERS": str(project / "keys" / "maintainer.pub")}


def run(args, cwd: Path, env: dict, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{args} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r


@dataclass
class Project:
    """A copy of the trusted project, in its own folder, with the environment to run commands in."""

    root: Path
    candidates: Path
    env: dict

    def prov(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([tool("prov"), *args], self.root, self.env, check)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["git", *args], self.root, self.env, check)

    def use_candidate(self, name: str) -> None:
        """Put a candidate table where the dataset lives, as a new delivery would."""
        shutil.copyfile(self.candidates / f"{name}.parquet", self.root / "data" / "train.parquet")


def _candidates(folder: Path) -> tuple[pa.Table, int]:
    t = digits_table()
    t = t.take(np.random.default_rng(7).permutation(t.num_rows))
    n = int(t.num_rows * 0.6)
    folder.mkdir(parents=True)
    pq.write_table(t.slice(0, n), folder / "base.parquet")
    pq.write_table(t.slice(n), folder / "vendor-batch.parquet")
    pq.write_table(t, folder / "clean.parquet")  # base + the signed vendor batch, as delivered

    # a backdoor: a bright 2x2 patch in a corner of 5% of the delivered images, relabelled '0'
    X = np.stack([np.array(t.column(f"px{i:02d}").to_pylist()) for i in range(64)], axis=1)
    labels = t.column("label").to_pylist()
    for i in np.random.default_rng(3).choice(np.arange(n, t.num_rows), size=POISONED_ROWS, replace=False):
        X[i, [0, 1, 8, 9]] = 16
        labels[i] = "0"
    pq.write_table(
        pa.table({f"px{i:02d}": X[:, i] for i in range(64)} | {"label": labels}), folder / "backdoor.parquet"
    )

    # one record the vendor signed, relabelled on the way in
    labels = t.column("label").to_pylist()
    labels[n + 3] = "0" if labels[n + 3] != "0" else "1"
    pq.write_table(
        t.set_column(t.schema.get_field_index("label"), "label", pa.array(labels)), folder / "relabeled.parquet"
    )
    return t, n


def build_trusted_project(top: Path) -> tuple[Path, Path]:
    """(project folder, candidates folder): a store with base v1 signed, the vendor trusted and its batch added."""
    home, project, vendor, candidates = top / "home", top / "project", top / "vendor", top / "candidates"
    for d in (home, project / "data", project / "keys", project / "deliveries", vendor):
        d.mkdir(parents=True)
    env = clean_env(home)
    _candidates(candidates)
    prov = tool("prov")

    # at the vendor (no store): a key, and the batch signed at source
    shutil.copyfile(candidates / "vendor-batch.parquet", vendor / "batch.parquet")
    run([prov, "keys", "generate", "vendor"], vendor, env)
    run([prov, "sign", "batch.parquet", "--source", "vendor", "--key", "vendor.key"], vendor, env)

    # in the project: the store, the maintainer's key, the trusted vendor and its delivery, base v1
    shutil.copyfile(candidates / "base.parquet", project / "data" / "train.parquet")
    shutil.copyfile(vendor / "batch.parquet", project / "deliveries" / "vendor-batch.parquet")
    shutil.copyfile(vendor / "batch.parquet.prov.json", project / "deliveries" / "vendor-batch.parquet.prov.json")
    shutil.copyfile(vendor / "vendor.pub", project / "keys" / "vendor.pub")
    env = pinned_env(env, project)
    for args in (
        ["init"],
        ["keys", "generate", "keys/maintainer"],
        ["trust", "add", "vendor", "keys/vendor.pub", "--key", "keys/maintainer.key"],
        ["add", "deliveries/vendor-batch.parquet", "--source", "vendor"],
        ["commit", "data/train.parquet", "--tag", "v1", "--key", "keys/maintainer.key"],
    ):
        run([prov, *args], project, env)
    return project, candidates
