"""A dataset with one label (every record of the same class) through `prov commit` + `prov check`
on a real store: the detectors run and a clean delta passes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from support import commit_and_check


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def rows(rng: np.random.Generator, n: int, start: int) -> pa.Table:
    X = rng.normal(size=(n, 4))
    return pa.table(
        {**{f"f{i}": X[:, i] for i in range(4)}, "id": [f"r{start + i}" for i in range(n)], "label": ["a"] * n}
    )


def test_a_clean_delta_of_a_one_class_dataset_passes(prov, workdir, store, keypair):
    """On the old code `collision` raised (no base record has a nearest record of another class, so
    there was no reference score to calibrate on) and the check could not evaluate (exit 3). Now it
    runs, flags nothing and says why; the combined verdict is the other detectors'."""
    rng = np.random.default_rng(3)
    base = rows(rng, 1000, 0)
    code, report = commit_and_check(prov, keypair, base, pa.concat_tables([base, rows(rng, 300, 1000)]))
    rules = {x["rule"]: x for x in report["rules"]}
    assert rules["detectors.collision"]["status"] == "pass", rules["detectors.collision"]["reason"]
    assert code == 0, [r for r in report["rules"] if r["status"] != "pass"]
    collision = next(d for d in report["detectors"] if d["detector"] == "collision")
    assert collision["status"] == "ran" and collision["flagged"] == 0
