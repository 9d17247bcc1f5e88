"""The demo's data: scikit-learn's handwritten digits (1,797 real 8x8 images) as an Arrow table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from provenance.errors import InputError
from provenance.extras import install_hint

PIXELS = [f"px{i:02d}" for i in range(64)]
"""The 64 pixel columns (int64, intensity 0..16), row by row from the top left."""

PIXEL_MAX = 16
"""The brightest pixel intensity."""


def digits(shuffle_seed: int | None = None) -> pa.Table:
    """The digits as a table: the 64 pixel columns and ``label`` (the digit, a string).

    With ``shuffle_seed``, rows are in a fixed random order (the digits come ordered by
    writer; random draws keep later steps free of writer drift).

    Raises:
        InputError: scikit-learn (the ``demo`` extra) is not installed.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise InputError(f"prov demo needs scikit-learn for its data: {install_hint('demo')}") from exc
    d = load_digits()
    order = (
        np.arange(len(d.target))
        if shuffle_seed is None
        else np.random.default_rng(shuffle_seed).permutation(len(d.target))
    )
    cols = {name: d.data[order, i].astype(np.int64) for i, name in enumerate(PIXELS)}
    cols["label"] = [str(v) for v in d.target[order]]
    return pa.table(cols)


def pixels(table: pa.Table) -> np.ndarray:
    """The pixel columns of a digits table as an ``n x 64`` int64 matrix."""
    return np.stack([table.column(name).to_numpy() for name in PIXELS], axis=1).astype(np.int64)


def digits_table(X: np.ndarray, labels: list[str], source: str) -> pa.Table:
    """A digits table from pixels and labels, every record from ``source`` (a ``source`` column)."""
    cols = {name: X[:, i].astype(np.int64) for i, name in enumerate(PIXELS)}
    return pa.table(cols | {"label": labels, "source": [source] * len(labels)})


def commit_summary(result) -> str:
    """The line the demo prints under a ``prov commit``: records, Merkle root, parent (a ``versions.commit`` result)."""
    return (
        f"  {result.records} records, Merkle root {result.merkle_root[:16]}…, parent {result.parent or '-'}, "
        "signed DSSE envelope"
    )


def quoted(lines: list[str]) -> str:
    """A command's own output lines as the demo shows them: indented two spaces under its ``$ prov ...``."""
    return "\n".join(f"  {line}" for line in lines)
