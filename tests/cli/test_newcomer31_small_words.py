"""Newcomer review 31, finding 4: a features list of five columns hid one name behind "...", and a missing-value
refusal naming "rows 3" did not say whether 3 counts from 0 or 1."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq


def _five_columns(n: int = 12) -> dict:
    return {name: [float(i * (j + 1)) for i in range(n)] for j, name in enumerate(("a", "b", "c", "d", "year"))}


def test_a_profile_of_five_columns_names_all_five(prov, workdir, keypair):
    pq.write_table(pa.table({**_five_columns(), "label": ["x", "y"] * 6}), "five.parquet")
    assert prov("init").exit_code == 0
    r = prov("commit", "five.parquet", "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    assert "features numeric/v1 over 5 columns (a, b, c, d, year)" in r.output, r.output
    assert "features numeric/v1 over 5 columns (a, b, c, d, year)" in prov("show", "v1").output


def test_a_missing_value_refusal_says_its_rows_count_from_zero(prov, workdir, keypair):
    columns = _five_columns()
    columns["b"][3] = None  # the file's fourth row
    pq.write_table(pa.table({**columns, "label": ["x", "y"] * 6}), "gap.parquet")
    assert prov("init").exit_code == 0
    r = prov("commit", "gap.parquet", "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path)
    assert r.exit_code == 2
    assert "in column b in 1 record(s) (0-based rows 3): no detector can score them" in r.stderr, r.stderr
