"""How ``--kind auto`` tells a folder of tables from a file tree (``table_files.has_table_files``)."""

import pyarrow as pa
import pyarrow.parquet as pq

from provenance.sources.table_files import has_table_files


def test_a_tree_of_images_and_other_files_holds_no_table(tmp_path):
    names = (
        "cat/a.png",
        "cat/deep/b.JPG",
        "dog/c.jpeg",
        "dog/notes.txt",
        "dog/d.tar.gz",
        "dog/e.",
        "dog/f.parquet.png",
    )
    for rel in (*names, "dog/parquet", "dog/csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"not a table")
    assert has_table_files(str(tmp_path)) is False


def test_a_table_suffix_in_any_case_or_a_parquet_file_without_one_is_a_table(tmp_path):
    table = pa.table({"x": [1], "label": ["a"]})
    for name in ("t.PARQUET", "t.Csv", "t.ndjson", "v1.2.parquet", "a.png.jsonl"):
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        (folder / "img.png").write_bytes(b"png")
        (folder / name).write_bytes(b"x")
        assert has_table_files(str(folder)) is True, name
    for name in ("part-0", "part-0."):  # no suffix (or an empty one): opened to look for Parquet's magic
        folder = tmp_path / f"sniff_{name}"
        folder.mkdir()
        pq.write_table(table, folder / name)
        assert has_table_files(str(folder)) is True, name
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "img.png").write_bytes(b"png")
    (hidden / ".t.parquet").write_bytes(b"x")  # pyarrow.dataset skips names starting with . and _
    (hidden / "_t.csv").write_bytes(b"x")
    assert has_table_files(str(hidden)) is False
