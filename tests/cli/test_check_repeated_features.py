"""Clean data whose records repeat the same feature values (small integer codes, preset
readings; told apart by a column that is not a feature) through `prov commit` + `prov check`
on a real store: the detectors run and the clean delta passes."""

from __future__ import annotations

import json
from pathlib import Path

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
def test_a_clean_delta_of_records_with_repeated_feature_values_passes_once_the_policy_says_so(
    prov, workdir, store, keypair, kind
):
    """``codes``: on the old code `duplicates` crashed (the base's median nearest-record distance is
    0, so its closeness score was NaN: "scores outside [0, 1]") and the check could not evaluate
    (exit 3). ``presets``: the tight-cluster rule blocks dozens of clean records as floods (groups
    of identical readings, as the base has them too). The rule no longer stands down by itself (a
    source can spread planted twins over the file order: attack review 10, D10-1): the duplicates
    rule's reason says the base repeats its values and names the setting; with it, the delta passes."""
    code, report = commit_and_check(prov, keypair, *tables(kind))
    rules = {x["rule"]: x for x in report["rules"]}
    assert rules["detectors.duplicates"]["status"] == "pass", rules["detectors.duplicates"]["reason"]
    assert "[detectors] duplicates_tight_cluster = false" in rules["detectors.duplicates"]["reason"]
    assert code == 1 and rules["detectors.extreme"]["status"] == "block"
    Path("policy.toml").write_text("[detectors]\nduplicates_tight_cluster = false\n")
    r = prov("check", "cand", "--base", "base", "--policy", "policy.toml", "--format", "json")
    rules = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    assert "off by the policy" in rules["detectors.duplicates"]["reason"]
    assert rules["detectors.extreme"]["status"] == "pass", rules["detectors.extreme"]["reason"]
    assert r.exit_code == 0, [x for x in rules.values() if x["status"] != "pass"]
