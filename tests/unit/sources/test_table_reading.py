"""Tables are read as pyarrow.dataset / pandas read them, and what they read is what is signed."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from provenance.encoding import row_digest
from provenance.errors import InputError
from provenance.executor import InlineExecutor
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions


def build(path, **options):
    return build_manifest(DatasetSpec(str(path), options=TableOptions(**options)), executor=InlineExecutor())


def test_a_parquet_part_without_a_suffix_is_read_and_hidden_files_are_listed(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"x": [1, 2], "label": ["a", "b"]}), data / "part-0.parquet")
    pq.write_table(pa.table({"x": [3], "label": ["c"]}), data / "part-1")  # no suffix: pyarrow reads it
    (data / "_SUCCESS").write_bytes(b"")
    (data / ".cache").mkdir()
    pq.write_table(pa.table({"x": [9], "label": ["z"]}), data / ".cache" / "old.parquet")
    hashed = build(data)
    assert hashed.manifest.label_counts() == {"a": 1, "b": 1, "c": 1}
    assert len(pq.read_table(data)) == 3  # what the trainer's loader reads
    fact = hashed.listing_fact()
    assert fact["files"] == 2 and fact["ignoredPaths"] == [".cache/", "_SUCCESS"]


def test_a_file_the_loader_would_read_but_prov_cannot_decode_is_refused_by_name(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"x": [1], "label": ["a"]}), data / "part-0.parquet")
    (data / "NOTES").write_text("not a table")
    with pytest.raises(InputError, match="NOTES: pyarrow.dataset would read this file"):
        build(data)


def test_hive_partition_columns_are_content_so_a_leak_changes_the_root(tmp_path):
    def write(train_rows, test_rows, root):
        for split, rows in (("train", train_rows), ("test", test_rows)):
            (root / f"split={split}").mkdir(parents=True)
            pq.write_table(pa.table({"x": rows, "label": ["a"] * len(rows)}), root / f"split={split}" / "p.parquet")

    write(list(range(100)), list(range(100, 130)), tmp_path / "v1")
    write(list(range(130)), [], tmp_path / "v2")  # 30 test rows moved into train
    v1, v2 = build(tmp_path / "v1"), build(tmp_path / "v2")
    assert v1.types == {"split": "string", "x": "int64"}
    assert len(set(v1.manifest.digests) - set(v2.manifest.digests)) == 30
    assert v1.manifest.root != v2.manifest.root
    read = pq.read_table(tmp_path / "v1")  # pandas and pyarrow give the trainer this column
    assert sorted(read.column("split").to_pylist()) == ["test"] * 30 + ["train"] * 100


def test_duplicate_column_names_are_an_input_error(tmp_path):
    (tmp_path / "dup.csv").write_text("x,label,label\n1,a,b\n")
    with pytest.raises(InputError, match="column 'label' appears twice"):
        build(tmp_path / "dup.csv")
    pq.write_table(
        pa.Table.from_arrays([pa.array([1]), pa.array([2]), pa.array(["a"])], ["x", "x", "label"]),
        tmp_path / "d.parquet",
    )
    with pytest.raises(InputError, match="column 'x' appears twice"):
        build(tmp_path / "d.parquet")


def test_csv_labels_are_the_text_the_file_holds(tmp_path):
    (tmp_path / "v1.csv").write_text("x,label\n1,007\n2,012\n3, cat\n")
    (tmp_path / "v2.csv").write_text("x,label\n1,007\n2,012\n3, cat\n4,A07\n")
    v1, v2 = build(tmp_path / "v1.csv"), build(tmp_path / "v2.csv")
    assert v1.manifest.label_counts() == {" cat": 1, "007": 1, "012": 1}  # not 7, 12 or "cat"
    assert v2.manifest.label_counts() == {" cat": 1, "007": 1, "012": 1, "A07": 1}
    assert set(zip(v1.manifest.digests, v1.manifest.labels)) < set(zip(v2.manifest.digests, v2.manifest.labels))
    assert v1.label_type == "string" and v1.label_kind == "string"


def test_a_label_retyped_or_written_as_1_1_or_1_0_gives_three_roots(tmp_path):
    roots = set()
    for name, labels in (("s", ["1", "2"]), ("i", [1, 2]), ("f", [1.0, 2.0])):
        pq.write_table(pa.table({"x": [10, 20], "label": labels}), tmp_path / f"{name}.parquet")
        hashed = build(tmp_path / f"{name}.parquet")
        roots.add(hashed.manifest.root)
    assert len(roots) == 3
    floats = build(tmp_path / "f.parquet")
    assert floats.manifest.label_counts() == {"1.0": 1, "2.0": 1} and floats.label_kind == "float"


def test_csv_types_come_from_the_whole_file_not_its_first_block(tmp_path, monkeypatch):
    monkeypatch.setenv("PROV_MAX_ROW_BYTES", "4096")  # blocks of 4 KiB: the odd value is blocks away
    rows = [f"{i},{i % 3}" for i in range(5000)] + ["A07,2"]
    (tmp_path / "zip.csv").write_text("zip,label\n" + "\n".join(rows) + "\n")
    hashed = build(tmp_path / "zip.csv")
    assert hashed.types == {"zip": "string"}  # what read_csv infers on the whole file
    assert pacsv.read_csv(tmp_path / "zip.csv").schema.field("zip").type == pa.string()
    assert row_digest({"zip": "0"}) in hashed.manifest.digests


def test_text_that_is_not_utf8_needs_an_encoding(tmp_path):
    (tmp_path / "latin.csv").write_bytes("x,label\ncafé,a\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8 text; pass --encoding"):
        build(tmp_path / "latin.csv")
    hashed = build(tmp_path / "latin.csv", encoding="latin-1")
    assert hashed.manifest.digests == [row_digest({"x": "café"})]


def test_a_row_past_the_row_limit_names_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("PROV_MAX_ROW_BYTES", "4096")
    (tmp_path / "wide.csv").write_text("x,label\n" + "y" * 10_000 + ",a\n")
    with pytest.raises(InputError, match="larger than the 4096-byte limit.*PROV_MAX_ROW_BYTES"):
        build(tmp_path / "wide.csv")


def test_a_parquet_row_group_past_the_memory_limit_names_the_limit(tmp_path, monkeypatch):
    # 16 MiB of one repeated byte compresses to a few KiB: the file is small, its row group is not
    table = pa.table({"blob": [b"\x00" * (16 << 20)], "label": ["a"]})
    pq.write_table(table, tmp_path / "bomb.parquet", compression="zstd")
    assert os.path.getsize(tmp_path / "bomb.parquet") < 64 << 10
    monkeypatch.setenv("PROV_MEMORY_LIMIT", "64MiB")
    with pytest.raises(
        InputError, match="bomb.parquet.*above the memory limit of 64 MiB; raise it with PROV_MEMORY_LIMIT"
    ):
        build(tmp_path / "bomb.parquet")
    monkeypatch.delenv("PROV_MEMORY_LIMIT")
    assert len(build(tmp_path / "bomb.parquet").manifest) == 1


def test_uint64_with_a_null_and_a_value_past_int64_is_signed_exactly(tmp_path):
    pq.write_table(
        pa.table({"u": pa.array([2**64 - 1, None, 2**63], pa.uint64()), "label": ["a", "b", "c"]}),
        tmp_path / "u.parquet",
    )
    hashed = build(tmp_path / "u.parquet")
    assert len(set(hashed.manifest.digests)) == 3 and hashed.types == {"u": "uint64"}


def test_the_pandas_index_column_is_metadata(tmp_path):
    df = pd.DataFrame({"x": [1.5, 2.5, 3.5, 4.5], "label": ["a", "b", "a", "b"]})
    df.to_parquet(tmp_path / "all.parquet")
    df[df.x != 2.5].to_parquet(tmp_path / "some.parquet")  # writes __index_level_0__ = 0, 2, 3
    assert "__index_level_0__" in pq.read_schema(tmp_path / "some.parquet").names
    every, some = build(tmp_path / "all.parquet"), build(tmp_path / "some.parquet")
    assert some.columns == ["x"]
    assert set(some.manifest.digests) < set(every.manifest.digests)


def test_labels_are_never_folded_nfc_and_nfd_are_two_labels(tmp_path):
    pq.write_table(pa.table({"x": [1, 2], "label": ["caf\u00e9", "cafe\u0301"]}), tmp_path / "l.parquet")
    assert len(build(tmp_path / "l.parquet").manifest.label_counts()) == 2


def test_csv_files_of_one_folder_agree_on_types_by_widening(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.csv").write_text("zip,label\n02139,a\n")
    (tmp_path / "d" / "b.csv").write_text("zip,label\nA1234,b\n")
    hashed = build(tmp_path / "d")
    assert hashed.types == {"zip": "string"}
    assert row_digest({"zip": "02139"}) in hashed.manifest.digests  # not 2139, as a.csv alone would read it


def test_options_stored_before_reader_versions_read_as_version_1(tmp_path):
    """A version committed before prov-row-v2 stored options without ``reader_version``: it is
    read as it was then (labels cast by Arrow, suffixed files only, prov-row-v1), so it verifies."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "t.csv").write_text("x,label\n1,007\n")
    pq.write_table(pa.table({"x": [2], "label": ["a"]}), tmp_path / "d" / "part-0")
    old = TableOptions.from_dict({"label_column": "label", "metadata_columns": [], "schema": {}})
    assert old.reader_version == 1 and old.digest_algorithm == "sha256/prov-row-v1"
    hashed = build_manifest(DatasetSpec(str(tmp_path / "d"), options=old), executor=InlineExecutor())
    assert hashed.manifest.label_counts() == {"7": 1}  # version 1 read the label as an integer
    assert hashed.files == 1 and hashed.listing is None  # and did not read the suffix-less part
    new = build(tmp_path / "d", schema={})
    assert new.manifest.label_counts() == {"007": 1, "a": 1}
