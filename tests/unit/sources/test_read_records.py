"""Reading a few records of a version back: the rows asked, in the order asked, proven to be the signed ones."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.encoding import table_digest_blob
from provenance.errors import VerificationError
from provenance.sources.interface import DatasetSpec
from provenance.sources.records import read_table_records


def test_rows_from_many_row_groups_come_back_in_the_order_asked(tmp_path):
    """Rows spread over many row groups (decoded two at a time) and asked out of order."""
    rng = np.random.default_rng(0)
    table = pa.table({"a": rng.normal(size=5000), "b": rng.integers(0, 9, 5000), "label": ["x"] * 5000})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=300)
    spec = DatasetSpec(str(path))
    columns = ["a", "b"]
    digests = table_digest_blob(table, columns, spec.options.row_encoding)
    rows = [int(r) for r in rng.choice(5000, 400, replace=False)] + [17, 4999, 0]
    got = read_table_records(spec, [str(r) for r in rows], [digests[r * 32 : r * 32 + 32] for r in rows], columns)
    assert got.table.equals(table.select(columns).take(rows))
    bad = [digests[r * 32 : r * 32 + 32] for r in rows]
    bad[200] = bytes(32)
    with pytest.raises(VerificationError, match="differ from the signed manifest"):
        read_table_records(spec, [str(r) for r in rows], bad, columns)


def test_rows_of_a_row_group_larger_than_a_read_batch_are_found_batch_by_batch(tmp_path):
    """A row group is read 65,536 rows at a time, keeping only the wanted rows (a wide table's
    decoded row group is hundreds of MiB); rows in its later batches come back right too."""
    n = 150_000
    table = pa.table({"a": np.arange(n, dtype=np.int64) * 7, "label": ["x"] * n})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=n)
    spec = DatasetSpec(str(path))
    digests = table_digest_blob(table, ["a"], spec.options.row_encoding)
    rows = [140_000, 5, 70_000, 65_535, 65_536, 149_999]
    got = read_table_records(spec, [str(r) for r in rows], [digests[r * 32 : r * 32 + 32] for r in rows], ["a"])
    assert got.table.column("a").to_pylist() == [7 * r for r in rows]
