"""A delta object's content part is read a batch at a time, keeping only its rows (``delta_content.content_rows``).

A commit writes null in the ``content`` column on every row outside the content part. A commit-key holder's object
that fills those cells instead (a string far larger decoded than in the file, say) is refused at the first batch
holding one, so the memory a read takes follows the batch and the content rows, never the object's other rows
(attack review 21d, finding 3). Real Parquet; the peak is Arrow's own count in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.delta import delta_content
from provenance.errors import VerificationError

OUTSIDE = 16 * delta_content.BATCH_ROWS  # rows outside the content part
CELL = 4096  # bytes of text in each filled cell: 64 MiB decoded over all of them, a few KiB in the file


def _object(path: Path, filled: bool) -> None:
    """A delta object's part, digest, locator and content columns: ``OUTSIDE`` rows of part ``row`` (their
    content cells null, or ``filled`` with one large string), then two content rows."""
    big = "x" * CELL
    struct = pa.struct([("text", pa.string())])
    outside = [{"text": big}] * OUTSIDE if filled else [None] * OUTSIDE
    table = pa.table(
        {
            "part": ["row"] * OUTSIDE + ["content", "content"],
            "digest": pa.array([None] * OUTSIDE + [b"\1" * 32, b"\2" * 32], pa.binary(32)),
            "locator": [None] * OUTSIDE + ["7", "9"],
            "content": pa.array([*outside, {"text": "a"}, {"text": "b"}], struct),
        }
    )
    pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)


def test_the_content_rows_are_read_and_nothing_else(tmp_path):
    _object(tmp_path / "delta.parquet", filled=False)
    rows = delta_content.content_rows(pq.ParquetFile(tmp_path / "delta.parquet"), "delta object of v2")
    assert rows.column("locator").to_pylist() == ["7", "9"]
    assert rows.column("content").to_pylist() == [{"text": "a"}, {"text": "b"}]


def test_filled_cells_outside_the_content_part_are_refused(tmp_path):
    _object(tmp_path / "delta.parquet", filled=True)
    assert (tmp_path / "delta.parquet").stat().st_size < 1 << 20  # small signed bytes, large decoded
    with pytest.raises(VerificationError, match="delta object of v2 holds content on rows outside its content part"):
        delta_content.content_rows(pq.ParquetFile(tmp_path / "delta.parquet"), "delta object of v2")


def test_refusing_them_decodes_one_batch_not_the_whole_column(tmp_path):
    _object(tmp_path / "delta.parquet", filled=True)
    script = textwrap.dedent(
        """
        import json, sys
        import pyarrow as pa, pyarrow.parquet as pq
        from provenance.delta import delta_content
        from provenance.errors import VerificationError
        try:
            delta_content.content_rows(pq.ParquetFile(sys.argv[1]), "delta object of v2")
            refused = False
        except VerificationError:
            refused = True
        print(json.dumps({"refused": refused, "peak": pa.default_memory_pool().max_memory()}))
        """
    )
    env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "system"}  # a pool that counts its peak
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "delta.parquet")], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    whole = OUTSIDE * CELL  # what reading the whole content column decodes
    assert result["refused"] and result["peak"] < whole // 4, (result, whole)
