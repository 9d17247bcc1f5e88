"""A blob of jittered copies of one record, wider than the near-copy radius (attack review 3,
finding 10), replayed through `prov check` on a real store."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from support import commit_and_check, reviewer_tables


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def check(prov, keypair, copies: int) -> tuple[int, dict]:
    return commit_and_check(prov, keypair, *reviewer_tables(copies))


def test_forty_copies_jittered_wider_than_the_near_copy_radius_block(prov, workdir, store, keypair):
    """On the old code (one radius, the base's 1% nearest-neighbour quantile) the blob passed:
    5 of 340 records flagged, budget 12, exit 0. Counted at the base's median nearest and
    second-nearest distances too, 40 copies within ~0.4 of one point where a base record
    has about one neighbour are a flood."""
    code, report = check(prov, keypair, 40)
    assert code == 1, report["decision"]
    rules = {x["rule"]: x for x in report["rules"]}
    assert rules["detectors.combined"]["status"] == "block"
    statistic = rules["detectors.combined"]["statistic"]
    assert statistic["flagged"] > statistic["allowed"]
    # the findings are the flagged records; the blob is rows 1300-1339 of cand.parquet (a clean
    # record that happens to sit inside the blob has its near copies too)
    rows = [f["location"]["row"] for f in report["findings"] if "near copies within" in f["explanation"]]
    assert sum(row >= 1300 for row in rows) >= 30 and sum(row < 1300 for row in rows) <= 2


def test_the_same_delta_without_the_blob_passes(prov, workdir, store, keypair):
    code, report = check(prov, keypair, 0)
    assert code == 0, report["rules"]
    assert not [f for f in report["findings"] if "near copies within" in f["explanation"]]


def pairs_and_triples_tables(groups: int) -> tuple[pa.Table, pa.Table]:
    """Attack review 15b, A15b-2: the base and 300 clean records of ``reviewer_tables``, then
    ``groups`` new records, each delivered in 2 or 3 near copies (every feature jittered by 0.01;
    labels kept). No group is a tight cluster (fewer than ``NEAR_FLOOD_MIN`` mates) and no copy is
    near a base record: the flood's weight is in how many records repeat themselves."""
    base, candidate = reviewer_tables(0)
    rng = np.random.default_rng(15)
    label = rng.choice(["a", "b"], groups)
    x = rng.normal(size=(groups, 4))
    x[:, 0] += np.where(label == "a", 1.0, -1.0)
    sizes = 2 + (np.arange(groups) % 2)  # pairs and triples in turn
    copies = np.repeat(x, sizes, axis=0) + rng.normal(scale=0.01, size=(int(sizes.sum()), 4))
    flood = pa.table({**{f"f{i}": copies[:, i] for i in range(4)}, "label": np.repeat(label, sizes)})
    return base, pa.concat_tables([candidate, flood])


def test_a_flood_of_near_copies_in_pairs_and_triples_blocks(prov, workdir, store, keypair):
    """Session 15's duplicates change scored a record's closeness against the base only (other delta
    records only in a tight cluster of NEAR_FLOOD_MIN or more): 120 new records delivered as 300 near
    copies in pairs and triples then passed the gate (attack review 15b, A15b-2), and the change was
    reverted. Each copy's nearest record is its twin, far closer than any two base records."""
    code, report = commit_and_check(prov, keypair, *pairs_and_triples_tables(120))
    assert code == 1, report["rules"]
    rules = {x["rule"]: x for x in report["rules"]}
    assert rules["detectors.combined"]["status"] == "block"
    flood_rows = [f["location"]["row"] for f in report["findings"] if f["location"]["row"] >= 1300]
    assert len(flood_rows) >= 200  # of the 300 copies
