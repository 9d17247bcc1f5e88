"""Attack review 26g: the within-pseudo-batch copies the commit's merge counts (merge26, bd63f20).

For one table file read without an id column, ``ExternalSort.finish(row_numbers=True)`` counts the copies while it
sorts, taking the locators to be the row numbers 0..rows-1 "by construction", and the profile stage signs that
count instead of reading every manifest row back (``manifest_batch_copies``, which checks that the locators are
row numbers and ranks them otherwise). Each test here builds a real file, hashes it as ``prov commit`` does
(``build_manifest``) and compares the merge's count with the full pass over the manifest's rows (the old count,
and the count the copies rule makes again from the signed manifest at check time: ``profiles.base_clumping``).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.errors import InputError
from provenance.executor import InlineExecutor, LocalExecutor
from provenance.manifest import Manifest
from provenance.profiles.batch_copies import COPY_PSEUDO_BATCHES, BatchCopies, manifest_batch_copies
from provenance.profiles.stage import manifest_within_batches
from provenance.sources import build
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
from support import Prov, digits_table, store_fingerprint


def _full_pass(manifest: Manifest) -> BatchCopies | None:
    """The count of every manifest row read back (the profile stage's before merge26; the check's recount)."""
    return manifest_batch_copies(
        lambda: manifest.iter_batches(["digest", "locator"], rows=1 << 16), len(manifest), COPY_PSEUDO_BATCHES
    )


def _arrays(c: BatchCopies | None):
    return None if c is None else (c.rows.tolist(), c.copies.tolist(), c.most.tolist())


def _clumped(table: pa.Table) -> pa.Table:
    """``table`` with copies: its first 300 rows again at the end, 50 from the middle twice, 20 near the start."""
    return pa.concat_tables(
        [table, table.slice(0, 300), table.slice(1000, 50), table.slice(1000, 50), table.slice(5, 20)]
    )


def _write_shapes(folder: Path) -> dict[str, DatasetSpec]:
    """Every shape of input that takes the merge's count: one file, no id column."""
    folder.mkdir()
    digits = digits_table()
    clumped = _clumped(digits)
    shapes: dict[str, DatasetSpec] = {}

    pq.write_table(clumped, folder / "groups.parquet", row_group_size=137)  # many row groups, one partition
    shapes["parquet, row groups of 137"] = DatasetSpec(str(folder / "groups.parquet"))

    # several partitions (build._ROWS_PER_PARTITION rows each): locators from each partition's first row
    n = build._ROWS_PER_PARTITION + 4000
    x = np.r_[np.arange(n - 4000), np.arange(2000), np.arange(1000), np.arange(1000)]
    big = pa.table({"x": pa.array(x, pa.int64()), "label": pa.array((x % 3).astype(str))})
    pq.write_table(big, folder / "partitions.parquet", row_group_size=100_000)
    shapes["parquet, three partitions"] = DatasetSpec(str(folder / "partitions.parquet"))

    frame = clumped.to_pandas()
    frame.index = np.random.default_rng(1).permutation(len(frame)) + 10**6  # an index column, not a RangeIndex
    pq.write_table(pa.Table.from_pandas(frame), folder / "indexed.parquet", row_group_size=500)
    shapes["parquet with __index_level_0__"] = DatasetSpec(str(folder / "indexed.parquet"))

    meta = clumped.append_column("note", pa.array([f"n{i}" for i in range(len(clumped))]))
    meta = meta.append_column("vendor", pa.array([f"v{i % 4}" for i in range(len(clumped))]))
    pq.write_table(meta, folder / "meta.parquet", row_group_size=400)
    options = TableOptions(source_column="vendor", metadata_columns=("note",))
    shapes["parquet, --metadata and --source-column"] = DatasetSpec(str(folder / "meta.parquet"), options=options)

    same = pa.table({"x": pa.array([7] * 3001), "label": pa.array(["a"] * 3001)})
    pq.write_table(same, folder / "one_record.parquet", row_group_size=1000)
    shapes["one record, every row"] = DatasetSpec(str(folder / "one_record.parquet"))

    pq.write_table(clumped, folder / "legacy.parquet", row_group_size=300)
    shapes["reader version 1"] = DatasetSpec(str(folder / "legacy.parquet"), options=TableOptions(reader_version=1))

    small = clumped.select(["label"]).append_column("a", clumped.column(0))
    small.to_pandas().to_csv(folder / "t.csv", index=False)
    shapes["CSV"] = DatasetSpec(str(folder / "t.csv"))

    # a CSV whose column widens from int to float far into the file (text_tables.Restart: the file read again)
    rows = [f"{i % 500},{i % 3}" for i in range(150_000)] + ["0.5,1", "0.5,1"]
    (folder / "widens.csv").write_text("a,label\n" + "\n".join(rows) + "\n")
    shapes["CSV widening part-way"] = DatasetSpec(str(folder / "widens.csv"))

    lines = [json.dumps({"a": int(v), "label": str(v % 3)}) for v in np.r_[np.arange(800), np.arange(0, 800, 7)]]
    (folder / "t.jsonl").write_text("\n".join(lines) + "\n")
    shapes["JSON Lines"] = DatasetSpec(str(folder / "t.jsonl"))
    return shapes


@pytest.mark.parametrize("executor", [InlineExecutor(), LocalExecutor(2)], ids=["inline", "processes"])
def test_the_merge_count_equals_the_full_pass_on_every_shape_that_takes_it(executor, workdir):
    # the claim under attack: on every input that takes the new path, the signed count is the full pass's
    for name, spec in _write_shapes(workdir / "shapes").items():
        manifest = build_manifest(spec, executor=executor).manifest
        assert manifest.within_batches is not None, name  # the new path was taken
        assert manifest_within_batches(manifest) is manifest.within_batches, name
        assert _arrays(manifest.within_batches) == _arrays(_full_pass(manifest)), name
        assert sorted(map(int, manifest.table.column("locator").to_pylist())) == list(range(len(manifest))), name


def test_an_id_column_and_a_folder_keep_the_full_pass(workdir):
    clumped = _clumped(digits_table())
    clumped = clumped.append_column("id", pa.array([f"r{i:05d}" for i in range(len(clumped))]))
    pq.write_table(clumped, "ids.parquet")
    spec = DatasetSpec("ids.parquet", options=TableOptions(id_column="id"))
    manifest = build_manifest(spec, executor=InlineExecutor()).manifest
    assert manifest.within_batches is None
    Path("one").mkdir()
    pq.write_table(clumped.drop_columns(["id"]), "one/only.parquet")  # a folder of one file: file#row locators
    manifest = build_manifest(DatasetSpec("one"), executor=InlineExecutor()).manifest
    assert manifest.within_batches is None and _full_pass(manifest) is not None


def _with_row_group_rows_claimed(path: Path, claimed: int) -> None:
    """Rewrite the footer of ``path`` (two row groups, the first of 2**18 rows, uncompressed, no statistics) so
    that its first row group's metadata says ``claimed`` rows (the same varint length) while its pages still hold
    2**18: Arrow reads the pages' 2**18 rows and does not refuse the footer."""
    data = bytearray(path.read_bytes())
    length = struct.unpack("<I", data[-8:-4])[0]
    start = len(data) - 8 - length
    footer = bytes(data[start:-8])
    field = bytes([0x16, 0x80, 0x80, 0x20])  # compact thrift: i64 field (delta 1), zigzag varint of 2**18
    new = claimed * 2
    varint = bytes([0x80 | (new & 0x7F), 0x80 | ((new >> 7) & 0x7F), new >> 14])
    for at in [i for i in range(len(footer)) if footer.startswith(field, i)]:
        edited = bytearray(data)
        edited[start + at + 1 : start + at + 4] = varint
        path.write_bytes(edited)
        meta = pq.ParquetFile(path).metadata
        if meta.row_group(0).num_rows == claimed and meta.row_group(0).column(0).num_values == 1 << 18:
            return
    raise AssertionError("no RowGroup.num_rows field found")


def _hostile_parquet(path: Path, tail: int, claimed: int) -> None:
    """2**18 distinct rows, then ``tail`` rows that repeat 0..tail/2-1 twice, the first row group's rows
    claimed to be ``claimed`` in the footer (``_with_row_group_rows_claimed``)."""
    n = 1 << 18
    assert build._ROWS_PER_PARTITION <= n  # the second row group is a partition of its own
    x = np.r_[np.arange(n), np.arange(tail // 2), np.arange(tail // 2)]
    table = pa.table({"x": pa.array(x, pa.int64()), "label": pa.array((x % 3).astype(str))})
    pq.write_table(table, path, row_group_size=n, compression="none", write_statistics=False, use_dictionary=False)
    _with_row_group_rows_claimed(path, claimed)


def test_a26g_1_a_footer_claiming_more_rows_keeps_the_merge_count_equal_to_the_full_pass(workdir):
    # whoever writes the data file: the first row group's footer says 2**18 + 8 rows, its pages hold 2**18
    # (A26g-1, fixed: a row group that reads another number of rows than its footer says is refused, so
    # partitions never start at a lying count and the merge's locators are the row numbers)
    _hostile_parquet(Path("hostile.parquet"), 1000, (1 << 18) + 8)
    with pytest.raises(InputError) as caught:
        build_manifest(DatasetSpec("hostile.parquet"), executor=InlineExecutor())
    message = str(caught.value)
    assert message.startswith("hostile.parquet: ") and "\n" not in message, message
    assert f"row group 0 holds {1 << 18} rows where the file's footer says {(1 << 18) + 8}" in message, message


def test_a26g_2_a_footer_lie_leaves_the_base_profile_loadable(workdir, keypair):
    prov = Prov()
    n = 1 << 18
    x = np.r_[np.arange(n) // 2, 10**7 + np.arange(20_000) // 10]  # every record twice; then 2,000 records x 10
    table = pa.table({"x": pa.array(x, pa.int64()), "label": pa.array((x % 3).astype(str))})
    pq.write_table(table, "base.parquet", row_group_size=n, compression="none", write_statistics=False)
    _with_row_group_rows_claimed(Path("base.parquet"), n + 24_000)  # the tail's locators all past the rows
    assert prov("init").exit_code == 0
    signer = ("--key", keypair.private_path, "--signer", keypair.public_path)
    before = store_fingerprint(Path(".prov"))
    r = prov("-q", "commit", "base.parquet", "--tag", "base", *signer)
    # (A26g-2, fixed: the file is refused, exit 2, one line naming it; nothing is signed or stored)
    assert r.exit_code == 2 and r.output.startswith("Error: base.parquet: "), r.output
    assert r.output.count("\n") == 1 and "footer says" in r.output, r.output
    assert store_fingerprint(Path(".prov")) == before
