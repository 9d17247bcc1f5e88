"""Differential tests, one per input kind: what a real consumer library loads equals what prov signed.

Tables are loaded by pyarrow (``pyarrow.parquet.read_table`` / ``pyarrow.dataset``, which
pandas uses too), CSV and JSON Lines by pyarrow's whole-file readers; image trees by the
transcription of torchvision's ``ImageFolder`` in ``test_tree_readers.py`` and by Hugging
Face ``datasets`` itself when it is installed.
"""

from __future__ import annotations

import decimal
import hashlib
import io
import json
from collections import Counter

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from PIL import Image

from provenance.encoding import table_digests
from provenance.executor import InlineExecutor
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions


def signed_pairs(path, **options) -> Counter:
    hashed = build_manifest(DatasetSpec(str(path), options=TableOptions(**options)), executor=InlineExecutor())
    return Counter(zip(hashed.manifest.digests, hashed.manifest.labels))


def loaded_pairs(table: pa.Table, label: str = "label", metadata=()) -> Counter:
    content = [c for c in table.column_names if c != label and c not in metadata and not c.startswith("__index")]
    labels = table.column(label).combine_chunks()
    if pa.types.is_dictionary(labels.type):
        labels = labels.dictionary_decode()
    texts = [str(v) if not isinstance(v, float) else repr(v) for v in labels.to_pylist()]
    return Counter(zip(table_digests(table, content), texts))


def test_a_parquet_folder_signs_what_pyarrow_and_pandas_load(tmp_path):
    data = tmp_path / "data"
    schema = pa.schema(
        [
            ("x", pa.float64()),
            ("when", pa.timestamp("ns")),
            ("amount", pa.decimal128(7, 2)),
            ("tags", pa.list_(pa.string())),
            ("label", pa.string()),
        ]
    )
    frame = pd.DataFrame(
        {
            "x": [1.5, -0.0, 2.25, 3.0],
            "when": pd.to_datetime(
                ["2024-01-01 00:00:00.000000001", "1900-01-01", "2024-06-01", "2262-01-01"], format="ISO8601"
            ),
            "amount": [decimal.Decimal("1.50"), decimal.Decimal("2.00"), None, decimal.Decimal("-0.01")],
            "tags": [["a"], [], None, ["b", "c"]],
            "label": ["cat", "dog", "cat", "bird"],
        },
        index=[10, 11, 12, 13],
    )
    for split, part in (("train", frame.iloc[:3]), ("test", frame.iloc[3:])):
        (data / f"split={split}").mkdir(parents=True)
        table = pa.Table.from_pandas(part, schema=schema, preserve_index=True)  # a pandas index column
        pq.write_table(table, data / f"split={split}" / "part-0")  # no suffix
    (data / "_SUCCESS").write_bytes(b"")
    loaded = pq.read_table(data)  # what pd.read_parquet(data) uses
    assert sorted(ds.dataset(data, format="parquet", partitioning="hive").files) == sorted(
        str(p) for p in data.rglob("part-0")
    )
    assert signed_pairs(data) == loaded_pairs(loaded)
    assert len(pd.read_parquet(data)) == 4


def test_a_csv_file_signs_what_pyarrow_loads_from_the_whole_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PROV_MAX_ROW_BYTES", "8192")
    lines = [f"{i},{i * 0.5},2024-01-{1 + i % 28:02d},{'NA' if i % 7 == 0 else i},{i % 4:03d}" for i in range(3000)]
    lines.append("3000,x,2024-02-01,5,007")  # a text value thousands of rows after the first block
    (tmp_path / "t.csv").write_text("n,f,day,maybe,label\n" + "\n".join(lines) + "\n")
    convert = pacsv.ConvertOptions(column_types={"label": pa.string()})
    loaded = pacsv.read_csv(tmp_path / "t.csv", convert_options=convert)
    assert loaded.schema.field("f").type == pa.string()  # widened by the last row
    assert signed_pairs(tmp_path / "t.csv") == loaded_pairs(loaded)


def test_a_jsonl_file_signs_what_pyarrow_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("PROV_MAX_ROW_BYTES", "4096")
    rows = [{"x": i, "nested": {"a": [i, None]}, "label": "even" if i % 2 else "odd"} for i in range(2000)]
    rows.append({"x": 1.5, "nested": {"a": [], "b": "new"}, "label": "odd"})  # widens x, adds a field
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = pajson.read_json(tmp_path / "t.jsonl")
    assert loaded.schema.field("x").type == pa.float64()
    assert signed_pairs(tmp_path / "t.jsonl") == loaded_pairs(loaded)


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (3, 3), color=(seed, 0, 0)).save(out, format="PNG")
    return out.getvalue()


def test_an_image_tree_signs_what_huggingface_datasets_loads(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tree = tmp_path / "tree"
    layout = {f"train/{c}/{i}.png": _png(10 * n + i) for n, c in enumerate(["cat", "dog", "eel"]) for i in range(3)}
    layout.update({"test/cat/t.PNG": _png(90), "test/dog/u.jpeg.png": _png(91), "train/.DS_Store": b"x"})
    layout.update({"train/dog/Thumbs.db": b"x", "test/eel/.hidden.png": _png(92), "README.md": b"# card"})
    for rel, data in layout.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    loaded = datasets.load_dataset("imagefolder", data_dir=str(tree), cache_dir=str(tmp_path / "cache"))
    expected = Counter()
    for split, part in loaded.items():
        part = part.cast_column("image", datasets.Image(decode=False))
        names = part.features["label"].names
        for row in part:
            data = open(row["image"]["path"], "rb").read() if row["image"]["bytes"] is None else row["image"]["bytes"]
            expected[(hashlib.sha256(data).digest(), f"{split}/{names[row['label']]}")] += 1
    spec = DatasetSpec(str(tree), options=TableOptions(tree_reader="hf-imagefolder"))
    hashed = build_manifest(spec, executor=InlineExecutor())
    assert Counter(zip(hashed.manifest.digests, hashed.manifest.labels)) == expected
    assert hashed.schema_fact()["classes"] == loaded["train"].features["label"].names


def test_timestamps_keep_nanoseconds_as_the_trainer_loads_them(tmp_path):
    arr = pa.array([1_704_067_200_000_000_001, 1_704_067_200_000_000_002], pa.timestamp("ns"))
    pq.write_table(pa.table({"t": arr, "label": ["a", "a"]}), tmp_path / "ts.parquet")
    loaded = pd.read_parquet(tmp_path / "ts.parquet")
    assert loaded["t"].nunique() == 2  # pandas sees two instants (prov-row-v1 signed them as one)
    assert len(signed_pairs(tmp_path / "ts.parquet")) == 2
