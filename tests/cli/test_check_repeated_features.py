"""Clean data whose records repeat the same feature values (small integer codes, preset
readings; told apart by a column that is not a feature) through `prov commit` + `prov check`
on a real store: the detectors run and the clean delta passes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from support import commit_and_check


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def tables(kind: str) -> tuple[pa.Table, pa.Table]:
    """A base of 1,000 records and a clean candidate adding 300 more from the same process,
    each record with its own ``id`` (not a feature). ``codes``: four columns of integer codes
    0-3 (256 possible records, so most have exact feature twins); ``presets``: 70% Gaussian
    readings, 30% one of 20 preset readings repeated exactly."""
    rng = np.random.default_rng(1)

    def rows(n: int, start: int) -> pa.Table:
        if kind == "codes":
            X = rng.integers(0, 4, (n, 4)).astype(np.float64)
        else:
            presets = np.random.default_rng(2).normal(size=(20, 4))
            X = rng.normal(size=(n, 4))
            repeated = rng.random(n) < 0.3
            X[repeated] = presets[rng.integers(0, 20, int(repeated.sum()))]
        label = np.where(X[:, 0] + X[:, 1] > X[:, 2], "a", "b")
        return pa.table(
            {**{f"f{i}": X[:, i] for i in range(4)}, "id": [f"r{start + i}" for i in range(n)], "label": label}
        )

    base = rows(1000, 0)
    return base, pa.concat_tables([base, rows(300, 1000)])


@pytest.mark.parametrize("kind", ["codes", "presets"])
def test_a_clean_delta_of_records_with_repeated_feature_values_passes(prov, workdir, store, keypair, kind):
    """``codes``: on the old code `duplicates` crashed (the base's median nearest-record distance is
    0, so its closeness score was NaN: "scores outside [0, 1]") and the check could not evaluate
    (exit 3). ``presets``: the tight-cluster rule blocked dozens of clean records as floods (groups
    of identical readings, as the base has them too). Both pass now."""
    code, report = commit_and_check(prov, keypair, *tables(kind))
    rules = {x["rule"]: x for x in report["rules"]}
    assert rules["detectors.duplicates"]["status"] == "pass", rules["detectors.duplicates"]["reason"]
    assert rules["detectors.extreme"]["status"] == "pass", rules["detectors.extreme"]["reason"]
    assert code == 0, [r for r in report["rules"] if r["status"] != "pass"]
