"""A small flood of near-identical copies in a clean batch of new writers, replayed through
`prov commit` + `prov check` on a real store (gate bench, seattle_weather: six jittered
copies passed the default gate because the "beyond the reference" budget, widened by the
drift between the base's batches, allowed seven)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.datasets import load_digits

from support import commit_and_check


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def tables(copies: int, start: int = 1200, size: int = 200) -> tuple[pa.Table, pa.Table]:
    """scikit-learn's digits in file order: the base is the first ``start`` rows, the candidate
    adds the next ``size`` (new writers) and ``copies`` copies of base row 7, each pixel
    jittered by 0.01 of its base standard deviation (the demo catalogue's near-duplicate flood),
    labels kept."""
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    rng = np.random.default_rng(0)
    flood = (X[7] + rng.normal(0, 0.01, (copies, X.shape[1])) * X[:start].std(0)).astype(np.float32)

    def table(x, label):
        return pa.table({**{f"p{i}": x[:, i] for i in range(x.shape[1])}, "label": label.astype(str)})

    base = table(X[:start], y[:start])
    added = slice(start, start + size)
    return base, pa.concat_tables([base, table(X[added], y[added]), table(flood, np.full(copies, y[7]))])


def check(prov, keypair, copies: int) -> tuple[int, dict]:
    return commit_and_check(prov, keypair, *tables(copies))


def test_five_near_identical_copies_block_as_a_tight_cluster(prov, workdir, store, keypair):
    """On the old code the candidate passed (exit 0: its flags and the records beyond the
    reference within their budgets). Five records closer to each other than any two base
    records are is a flood whatever the budget: `detectors.extreme` blocks and names them
    (rows 1400-1404 of cand.parquet)."""
    code, report = check(prov, keypair, 5)
    assert code == 1, report["decision"]
    rules = {x["rule"]: x for x in report["rules"]}
    assert rules["detectors.extreme"]["status"] == "block"
    listed = rules["detectors.extreme"]["records"]
    assert len(listed) == 5
    assert all("closer to it than the closest two base records" in r["explanation"] for r in listed)
    rows = sorted(f["location"]["row"] for f in report["findings"] if "closer to it than" in f["explanation"])
    assert rows == [1400, 1401, 1402, 1403, 1404]


def test_the_same_batch_of_new_writers_without_the_copies_passes(prov, workdir, store, keypair):
    code, report = check(prov, keypair, 0)
    assert code == 0, [r for r in report["rules"] if r["status"] != "pass"]
    assert not [f for f in report["findings"] if "closer to it than" in f["explanation"]]


def test_one_near_twin_planted_a_release_earlier_does_not_switch_the_rule_off(prov, workdir, store, keypair):
    """Attack review 6, finding 4: a contributor gets one near-twin of a base record (one pixel
    + 1e-3) into release v2; it passes, and as the base's closest pair it shrank the tight-pair
    radius so the next release's five jittered copies passed (exit 0 on the old code). The
    radius is now a low order statistic of the base's pair distances, which one plant does not move."""
    import json

    import pyarrow.parquet as pq

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    rng = np.random.default_rng(0)
    flood = (X[7] + rng.normal(0, 0.01, (5, X.shape[1])) * X[:1200].std(0)).astype(np.float32)
    twin = X[100:101].copy()
    twin[0, 30] += np.float32(1e-3)

    def table(x, label):
        return pa.table({**{f"p{i}": x[:, i] for i in range(x.shape[1])}, "label": np.asarray(label).astype(str)})

    v1 = table(X[:1200], y[:1200])
    v2 = pa.concat_tables([v1, table(X[1200:1300], y[1200:1300]), table(twin, y[100:101])])
    v3 = pa.concat_tables([v2, table(X[1300:1400], y[1300:1400]), table(flood, np.full(5, y[7]))])
    for tag, t in (("v1", v1), ("v2", v2), ("v3", v3)):
        pq.write_table(t, f"{tag}.parquet")
        assert prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path).exit_code == 0
    assert prov("check", "v2", "--base", "v1").exit_code == 0  # the plant itself passes
    r = prov("check", "v3", "--base", "v2", "--format", "json")
    assert r.exit_code == 1, r.output
    rules = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    assert rules["detectors.extreme"]["status"] == "block"
    assert len(rules["detectors.extreme"]["records"]) == 5


def test_two_near_twins_planted_over_two_releases_do_not_switch_the_rule_off(prov, workdir, store, keypair):
    """Attack review 6b, finding 2: a contributor plants one near-twin of a base record (one pixel
    + 1e-3) in release v2 and another in v3; each release passes `prov check` against the one
    before, and together they are the base's four smallest first-neighbour distances. With the
    radius at the base's 3rd smallest, v4's five jittered copies among 300 new writers then passed
    (exit 0 on the old code). The radius now has a floor, from the bulk of the base's distances,
    that a handful of plants does not move."""
    import json

    import pyarrow.parquet as pq

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    rng = np.random.default_rng(0)
    flood = (X[7] + rng.normal(0, 0.01, (5, X.shape[1])) * X[:1200].std(0)).astype(np.float32)
    twins = X[[100, 200]].copy()
    twins[:, 30] += np.float32(1e-3)

    def table(x, label):
        return pa.table({**{f"p{i}": x[:, i] for i in range(x.shape[1])}, "label": np.asarray(label).astype(str)})

    v1 = table(X[:1200], y[:1200])
    v2 = pa.concat_tables([v1, table(X[1200:1300], y[1200:1300]), table(twins[:1], y[100:101])])
    v3 = pa.concat_tables([v2, table(X[1300:1400], y[1300:1400]), table(twins[1:], y[200:201])])
    v4 = pa.concat_tables([v3, table(X[1400:1700], y[1400:1700]), table(flood, np.full(5, y[7]))])
    for tag, t in (("v1", v1), ("v2", v2), ("v3", v3), ("v4", v4)):
        pq.write_table(t, f"{tag}.parquet")
        assert prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path).exit_code == 0
    # each plant passes the gate against the release before it
    assert prov("check", "v2", "--base", "v1").exit_code == 0
    assert prov("check", "v3", "--base", "v2").exit_code == 0
    r = prov("check", "v4", "--base", "v3", "--format", "json")
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    rules = {x["rule"]: x for x in report["rules"]}
    assert rules["detectors.extreme"]["status"] == "block"
    listed = rules["detectors.extreme"]["records"]
    assert len(listed) == 5
    assert all("closer to it than" in x["explanation"] for x in listed)
