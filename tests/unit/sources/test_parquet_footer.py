"""Filling in a Parquet file's metadata value after the write (the merge names the Merkle root so)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.manifest import PARQUET_OPTIONS
from provenance.sources.parquet_footer import fill_placeholder


def _write(path: str, value: str) -> None:
    """The same 300 rows every call, in three row groups, with ``value`` as the root in the metadata."""
    rng = np.random.default_rng(1)
    digests = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), 300, [None, pa.py_buffer(rng.bytes(32 * 300))])
    table = pa.table({"digest": digests, "label": [f"c{i % 3}" for i in range(300)]})
    table = table.replace_schema_metadata({"prov.digest_algorithm": "sha256", "prov.merkle_root": value})
    with pq.ParquetWriter(path, table.schema, **PARQUET_OPTIONS) as writer:
        for start in (0, 128, 256):
            writer.write_table(table.slice(start, 128), row_group_size=128)


def test_a_filled_placeholder_gives_the_file_written_with_the_value(workdir):
    root, placeholder = os.urandom(32).hex(), os.urandom(32).hex()
    _write("direct.parquet", root)
    _write("filled.parquet", placeholder)
    assert Path("filled.parquet").read_bytes() != Path("direct.parquet").read_bytes()
    fill_placeholder("filled.parquet", placeholder, root)
    assert Path("filled.parquet").read_bytes() == Path("direct.parquet").read_bytes()
    assert pq.read_schema("filled.parquet").metadata[b"prov.merkle_root"] == root.encode()


@pytest.mark.parametrize(
    "placeholder, value, error",
    [
        ("ab" * 32, "cd" * 32, "placeholder once"),  # not in the file
        ("PLACE", "cd" * 32, "cannot replace"),  # another length
    ],
)
def test_a_placeholder_not_found_once_leaves_the_file_as_it_was(workdir, placeholder, value, error):
    _write("m.parquet", os.urandom(32).hex())
    before = Path("m.parquet").read_bytes()
    with pytest.raises(ValueError, match=error):
        fill_placeholder("m.parquet", placeholder, value)
    assert Path("m.parquet").read_bytes() == before


def test_a_file_that_is_not_parquet_is_refused(workdir):
    _write("m.parquet", "ab" * 32)
    data = Path("m.parquet").read_bytes()
    Path("m.parquet").write_bytes(data[:-4] + b"XXXX")
    with pytest.raises((ValueError, OSError, pa.ArrowException)):
        fill_placeholder("m.parquet", "ab" * 32, "cd" * 32)
    assert Path("m.parquet").read_bytes() == data[:-4] + b"XXXX"
