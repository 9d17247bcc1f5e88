"""Newcomer review 31, finding 1: a drift warning on a clean delta never named the column that moved.

palmerpenguins as Parquet: the base is the 2007-08 birds, the station's batch the 2009 ones. ``prov check``
warned "mean_shift 4.9x ..., spectral 10.2x" and neither its text nor its JSON said which column; the cause was
``year``. The warning now names the columns the batch moved in most, with each one's effect size and share of
the move, and, when one column carries most of it with every added value beyond the base's (a year, a counter),
says how to leave it out if it is no measurement.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from support import check_json_and_drift, commit_signed, validate_output

SPECIES = {"Adelie": (38.8, 18.3, 190.0, 3700.0), "Chinstrap": (48.8, 18.4, 196.0, 3730.0),
           "Gentoo": (47.5, 15.0, 217.0, 5080.0)}  # fmt: skip
SPREAD = (2.7, 1.2, 6.6, 460.0)


def _birds(n: int, years: list[int], seed: int) -> pa.Table:
    """``n`` penguin-like rows: three species, four measurements drawn about each species' means, and ``year``
    drawn from ``years``."""
    rng = np.random.default_rng(seed)
    species = np.array(list(SPECIES))[rng.integers(0, 3, n)]
    columns = {"species": species.tolist(), "island": [f"isle {i % 3}" for i in range(n)]}
    for j, name in enumerate(("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")):
        columns[name] = [round(float(SPECIES[s][j] + rng.normal(0, SPREAD[j])), 1) for s in species]
    columns["year"] = sorted(rng.choice(years, n).tolist())  # in the order collected, as palmerpenguins holds them
    return pa.table(columns)


def test_a_batch_of_a_later_year_names_year_and_how_to_leave_it_out(prov, workdir, keypair):
    base = _birds(240, [2007, 2008], seed=1)
    pq.write_table(base, "base.parquet")
    pq.write_table(pa.concat_tables([base, _birds(120, [2009], seed=2)]), "train.parquet")
    assert prov("init").exit_code == 0
    commit_signed(prov, keypair, "b", "base.parquet", "--label-column", "species")
    commit_signed(prov, keypair, "n", "train.parquet", "--label-column", "species", "--parent", "b")
    r, report, drift = check_json_and_drift(prov, keypair)
    assert r.exit_code == 0 and drift["status"] == "warn", r.output
    validate_output("check", report)
    columns = drift["statistic"]["columns"]
    assert columns[0]["column"] == "year" and columns[0]["beyond_base"] and columns[0]["share"] > 0.9, columns
    assert columns[0]["effect"] > 1.5 and len(columns) == 5
    assert not any(c["beyond_base"] for c in columns[1:])
    assert abs(sum(c["share"] for c in columns) - 1.0) < 1e-3  # all five feature columns listed
    reason = drift["reason"]
    assert "it moved most in year (+" in reason and "within-class SD, 9" in reason, reason
    # the combined verdict flags a few of these clean birds (as a clean delta may), so the way out of reading year
    # as metadata is not offered before they are reviewed: a trigger column looks the same (attack review 31d,
    # A31d-1)
    assert (
        "year carries most of it and every added record lies beyond the base's values in it, and records of this "
        "delta are flagged: review them before you read it as anything but a measurement"
    ) in reason, reason
    assert "--featurizer-option" not in reason
    text = " ".join(prov("check", "n", "--base", "b", "--signer", keypair.public_path).stdout.split())
    assert "it moved most in year (+" in text and "review them before you read it" in text
    # prov diff --detect says it too: its batch drift line and detection.drift_columns
    r = prov("diff", "b", "n", "--detect", "--signer", keypair.public_path, "--format", "json")
    diff = json.loads(r.stdout)
    validate_output("diff", diff)
    assert diff["detection"]["drift_columns"] == columns
    text = " ".join(prov("diff", "b", "n", "--detect", "--signer", keypair.public_path).stdout.split())
    assert "batch drift: WARNING" in text and "it moved most in year (+" in text, text

    # the way on works: year read as metadata, the same birds pass without the warning
    for tag, data, parent in (("b2", "base.parquet", ()), ("n2", "train.parquet", ("--parent", "b2"))):
        commit_signed(prov, keypair, tag, data, "--label-column", "species", "--metadata", "year", *parent)
    r, report, drift = check_json_and_drift(prov, keypair, "n2", "b2")
    assert r.exit_code == 0 and drift["status"] == "pass", drift["reason"]
    assert drift["statistic"]["columns"] is None


def test_a_batch_moved_in_a_measurement_names_it_without_suggesting_metadata(prov, workdir, keypair):
    """A scale that weighs every bird 1.5 kg heavier moves body_mass_g, whose values overlap the base's: the
    column is named, and nothing suggests reading it as metadata."""
    base = _birds(240, [2007, 2008], seed=1)
    heavier = _birds(120, [2007, 2008], seed=2)
    heavier = heavier.set_column(
        heavier.schema.get_field_index("body_mass_g"),
        "body_mass_g",
        pa.array([m + 1500.0 for m in heavier.column("body_mass_g").to_pylist()]),
    )
    pq.write_table(base, "base.parquet")
    pq.write_table(pa.concat_tables([base, heavier]), "train.parquet")
    assert prov("init").exit_code == 0
    commit_signed(prov, keypair, "b", "base.parquet", "--label-column", "species")
    commit_signed(prov, keypair, "n", "train.parquet", "--label-column", "species", "--parent", "b")
    r, report, drift = check_json_and_drift(prov, keypair)
    assert drift["status"] == "warn", r.output
    columns = drift["statistic"]["columns"]
    assert columns[0]["column"] == "body_mass_g" and not columns[0]["beyond_base"], columns
    assert "it moved most in body_mass_g (+" in drift["reason"]
    assert "--metadata" not in drift["reason"]
