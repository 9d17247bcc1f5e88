"""Helpers shared by tests: real data and store fingerprints. Import with ``from support import ...``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa


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


def store_fingerprint(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root``: equal before and after means byte-for-byte unchanged."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
