"""A finite double past float32's range is named as such, not as a NaN (attack review 30a, A30a-4): at the commit
that refuses it, beside a NaN in the same file, and in the check of a version committed with the column left out."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from support import commit_signed, digits_table, set_column, store_fingerprint


def _as_doubles(t: pa.Table) -> pa.Table:
    return pa.table({n: c if n == "label" else c.cast(pa.float64()) for n, c in zip(t.column_names, t.columns)})


def _with(t: pa.Table, column: str, row: int, value: float) -> pa.Table:
    return set_column(t, column, [value if i == row else v for i, v in enumerate(t[column].to_pylist())])


def test_a_nan_and_a_1e39_in_one_file_are_each_named_at_the_commit(prov, workdir, store, keypair):
    t = _with(_with(_as_doubles(digits_table(300)), "px20", 7, 1e39), "px21", 9, float("nan"))
    pq.write_table(t, workdir / "mixed.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "mixed.parquet", "--tag", "v1", "--key", keypair.private_path)
    assert r.exit_code == 2 and store_fingerprint(workdir / ".prov") == before, r.output
    assert r.stderr.startswith(
        "Error: mixed.parquet: feature values null, NaN or infinite, or finite but past float32's range (beyond about "
        "±3.4e38, the most a float32 feature holds) in columns px20, px21 in 2 record(s) (0-based rows 7, 9; past float32: "
        "rows 7): no detector can score them; fill, scale or drop them and commit again, or leave them out"
    ), r.stderr


def test_a_delivery_holding_1e39_in_a_column_the_base_reads_is_named_past_float32_by_the_check(
    prov, workdir, store, keypair
):
    t = _as_doubles(digits_table(330))
    pq.write_table(t.slice(0, 300), workdir / "v1.parquet")
    commit_signed(prov, keypair, "v1", "v1.parquet")
    pq.write_table(_with(t, "px20", 310, 1e39), workdir / "v2.parquet")
    exclude = '["label","source","id","px20"]'  # committed with the column left out; v1's profile still reads it
    commit_signed(
        prov, keypair, "v2", "v2.parquet", "--featurizer", "numeric", "--featurizer-option", f"exclude={exclude}"
    )
    r = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path)
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert "new records of the delta cannot be scored: numeric features are finite but past float32's range" in line
    assert "in 1 row(s); records: 310 (" in line, line
