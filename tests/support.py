"""Helpers shared by tests: real data and store fingerprints. Import with ``from support import ...``."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def digits_table(n: int | None = None, seed: int = 0) -> pa.Table:
    """scikit-learn's handwritten digits (real data), 64 pixel columns plus a label."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = d.data.astype(np.int64), d.target
    if n is not None:
        X, y = X[:n], y[:n]
    cols = {f"px{i:02d}": X[:, i] for i in range(X.shape[1])}
    cols["label"] = [str(v) for v in y]
    return pa.table(cols)


SCHEMAS = Path(__file__).resolve().parent / "data" / "schemas"
SARIF_SCHEMA = SCHEMAS / "sarif-schema-2.1.0.json"  # vendored: see tests/data/schemas/README.md
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


def validate_sarif(document: dict) -> None:
    """Validate against the official SARIF 2.1.0 JSON Schema (draft-04), vendored unmodified."""
    from jsonschema import Draft4Validator

    raw = SARIF_SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SARIF_SCHEMA_SHA256, f"{SARIF_SCHEMA} is not the published schema"
    Draft4Validator(json.loads(raw)).validate(document)


def store_fingerprint(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root``: equal before and after means byte-for-byte unchanged."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


DVC = shutil.which("dvc") or os.path.join(os.path.dirname(sys.executable), "dvc")


def run(*args, cwd) -> None:
    subprocess.run([str(a) for a in args], cwd=cwd, check=True, capture_output=True)


def make_dvc_repo(
    repo: Path, tagged: dict[str, pa.Table], working_copy: pa.Table, path: str = "data/train.parquet"
) -> Path:
    """A real git + DVC repository: each table committed with `dvc add` and tagged, in order;
    the working copy then holds yet other data, so revisions must be read through DVC."""
    (repo / Path(path).parent).mkdir(parents=True, exist_ok=True)
    run("git", "init", "-q", cwd=repo)
    run("git", "config", "user.email", "t@example.com", cwd=repo)
    run("git", "config", "user.name", "t", cwd=repo)
    run(DVC, "init", "-q", cwd=repo)
    run(DVC, "config", "core.analytics", "false", cwd=repo)
    for tag, table in tagged.items():
        pq.write_table(table, repo / path)
        run(DVC, "add", "-q", path, cwd=repo)
        run("git", "add", "-A", cwd=repo)
        run("git", "commit", "-qm", f"data {tag}", cwd=repo)
        run("git", "tag", tag, cwd=repo)
    pq.write_table(working_copy, repo / path)
    return repo


@contextlib.contextmanager
def crashing_detector(message: str, name: str = "broken"):
    """A registered detector that raises ``message``: the gate must report it, never skip it."""
    from provenance.detectors.base import Detector
    from provenance.detectors.registry import _detectors, register_detector

    class Broken(Detector):
        families = ("outlier",)

        def run(self, profile, delta, fpr):
            raise RuntimeError(message)

    Broken.name = name
    register_detector(name, Broken)
    try:
        yield name
    finally:
        _detectors.pop(name, None)


def plugin_distribution(folder: Path, module: str, source: str, featurizers: dict[str, str]) -> Path:
    """A real installed plug-in: ``module.py`` plus a ``.dist-info`` whose entry points name
    ``featurizers`` (``{name: "module:Factory"}``) in the ``prov.featurizers`` group.

    Put ``folder`` on ``sys.path`` (or ``PYTHONPATH`` for a subprocess) and
    ``importlib.metadata`` finds it, exactly as it finds a pip-installed package.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(source)
    dist = folder / f"{module}-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in featurizers.items())
    (dist / "entry_points.txt").write_text(f"[prov.featurizers]\n{lines}")
    return folder
