"""Reading a few records of a version back: the rows asked, in the order asked, proven to be the signed ones."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from pathlib import PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.encoding import table_digest_blob
from provenance.errors import VerificationError
from provenance.sources.interface import DatasetSpec
from provenance.sources.records import climbs_out, read_table_records, read_tree_records


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


def test_only_the_content_columns_are_read_back_from_a_wide_table(tmp_path):
    """A table wider than one column group (read 16 columns at a time) with its label and a
    string column between the content columns: the content columns come back in the order
    asked, the same rows, and prove the same digests (the label is not content)."""
    rng = np.random.default_rng(1)
    n = 2000
    data = {f"x{i:02d}": rng.normal(size=n) for i in range(20)}
    data["label"] = [str(v) for v in rng.integers(0, 5, n)]
    data["note"] = ["n"] * n
    data["y"] = rng.integers(0, 9, n)
    table = pa.table({k: data[k] for k in ["x00", "label", *[f"x{i:02d}" for i in range(1, 20)], "note", "y"]})
    path = tmp_path / "wide.parquet"
    pq.write_table(table, path, row_group_size=250)
    spec = DatasetSpec(str(path))
    columns = sorted(c for c in table.column_names if c != "label")
    digests = table_digest_blob(table, columns, spec.options.row_encoding)
    rows = [int(r) for r in rng.choice(n, 300, replace=False)]
    got = read_table_records(spec, [str(r) for r in rows], [digests[r * 32 : r * 32 + 32] for r in rows], columns)
    assert got.table.column_names == columns
    assert got.table.equals(table.select(columns).take(rows))


def test_records_of_a_hive_partitioned_folder_read_back_with_their_partition_column(tmp_path):
    """The partition folder's value is content (pyarrow.dataset gives it to the trainer): reading
    the file's own content columns alone still adds it, so the rows prove the signed digests."""
    from provenance.executor import InlineExecutor
    from provenance.sources.build import build_manifest

    root = tmp_path / "data"
    for split, xs in (("train", range(0, 600)), ("test", range(600, 700))):
        (root / f"split={split}").mkdir(parents=True)
        part = pa.table({"x": list(xs), "label": ["a"] * len(xs), "w": [float(v) / 3 for v in xs]})
        pq.write_table(part, root / f"split={split}" / "p.parquet", row_group_size=64)
    spec = DatasetSpec(str(root))
    hashed = build_manifest(spec, executor=InlineExecutor())
    rows = hashed.manifest.table.to_pylist()[::7]
    got = read_table_records(spec, [r["locator"] for r in rows], [r["digest"] for r in rows], ["split", "w", "x"])
    assert got.table.column_names == ["split", "w", "x"]
    assert sorted(got.table.column("split").to_pylist()) == sorted(r["locator"].split("/")[0][6:] for r in rows)


@pytest.mark.parametrize(
    "locator",
    ["../out.png", "/etc/hostname", "//etc/hostname", "c/../../out.png", "c//../../out.png", "./../out.png", "c/.."],
)
def test_a_tree_locator_that_climbs_out_is_refused_as_its_path_object_says(tmp_path, locator):
    """The string test stands for ``PurePosixPath(loc).is_absolute() or ".." in its parts`` (the check it replaced)."""
    rel = PurePosixPath(locator)
    assert rel.is_absolute() or ".." in rel.parts
    (tmp_path / "tree" / "c").mkdir(parents=True)
    (tmp_path / "out.png").write_bytes(b"outside")
    with pytest.raises(VerificationError, match=f"manifest locator {re.escape(repr(locator))} climbs out of the tree"):
        read_tree_records(DatasetSpec(str(tmp_path / "tree")), [locator], [hashlib.sha256(b"outside").digest()])


def test_tree_locators_that_stay_inside_are_read_whole_and_checked(tmp_path):
    tree = tmp_path / "tree"
    (tree / "c" / "..a").mkdir(parents=True)
    files = {"c/x.png": b"x" * 70_000, "c/..a/y.png": b"", "c/./z..png": b"z", "c//w.png": b"w" * 3}
    for loc, data in files.items():
        (tree / loc).write_bytes(data)
    for loc in files:
        rel = PurePosixPath(loc)
        assert not rel.is_absolute() and ".." not in rel.parts
    digests = [hashlib.sha256(data).digest() for data in files.values()]
    assert read_tree_records(DatasetSpec(str(tree)), list(files), digests).blobs == list(files.values())
    digests[0] = bytes(32)
    with pytest.raises(VerificationError, match=r"1 record\(s\) differ from the signed manifest \(at c/x\.png\)"):
        read_tree_records(DatasetSpec(str(tree)), list(files), digests)


HOSTILE_LOCATORS = [
    "a/../../x", "a/./b", "//x", "///x", "a\\..\\b", "..\\x", "a/", "a/..", "a/../", "..", ".", "", "./", "a//b",
    "a/\u2024\u2024/b", "\uff0e\uff0e/x", "a/.\u0307./b", "a/. ./b", "a/.. /b", "a/ ../b", "a/...", "\0/../x", "a\0/b",
]  # fmt: skip


@pytest.mark.parametrize("locator", HOSTILE_LOCATORS)
def test_the_climb_out_check_is_the_path_object_check_on_hostile_locators(locator):
    rel = PurePosixPath(locator)
    assert climbs_out(locator) == (rel.is_absolute() or ".." in rel.parts)


def test_the_climb_out_check_is_the_path_object_check_on_every_short_string():
    """Every string of up to five characters from the characters that matter ("." "/" a backslash, a Unicode
    one-dot leader, a full-width full stop, NUL, a letter): 19,608 locators, the same answer each."""
    alphabet = "./\\\u2024\uff0e\0a"
    for n in range(6):
        for chars in itertools.product(alphabet, repeat=n):
            loc = "".join(chars)
            rel = PurePosixPath(loc)
            assert climbs_out(loc) == (rel.is_absolute() or ".." in rel.parts), loc


def test_hostile_locators_that_stay_inside_read_the_file_they_name_or_fail_closed(tmp_path):
    """A backslash and Unicode dots are characters of a name on POSIX: the file so named inside the tree is read,
    never one outside; a folder (trailing slash) or a NUL is a one-line refusal, not a crash."""
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "\u2024\u2024").mkdir()
    (tmp_path / "x").write_bytes(b"outside")
    files = {"a\\..\\x": b"backslashes", "\u2024\u2024/x": b"leader dots", "a/./b": b"dot part", "a//c": b"twice"}
    for loc, data in files.items():
        (tree / loc).write_bytes(data)
    digests = [hashlib.sha256(data).digest() for data in files.values()]
    assert read_tree_records(DatasetSpec(str(tree)), list(files), digests).blobs == list(files.values())
    with pytest.raises(VerificationError, match=r"tree/a/: record of the version cannot be read \(Is a directory\)"):
        read_tree_records(DatasetSpec(str(tree)), ["a/"], [bytes(32)])
    with pytest.raises(VerificationError, match=r"manifest locator 'a\\x00/b' cannot name a file \(embedded null"):
        read_tree_records(DatasetSpec(str(tree)), ["a\0/b"], [bytes(32)])


def test_a_fifo_at_a_records_path_is_refused_without_waiting_for_a_writer(tmp_path):
    """``prov check`` re-reads the delta's files: a FIFO planted at one would block the read for ever."""
    tree = tmp_path / "tree"
    (tree / "c").mkdir(parents=True)
    os.mkfifo(tree / "c" / "x.png")
    with pytest.raises(VerificationError, match=r"tree/c/x\.png: record of the version cannot be read \(not a regular"):
        read_tree_records(DatasetSpec(str(tree)), ["c/x.png"], [bytes(32)])
