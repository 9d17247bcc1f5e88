"""Property: any single change to an accepted input changes what is signed; the normalisations
the format documents do not; and data written back by pyarrow or pandas signs the same.

"What is signed" is the Merkle root, the schema (column types, label type) and the listing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from provenance.encoding import type_name
from provenance.executor import InlineExecutor
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
from support import arrow_array, arrow_types, arrow_values

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tables(draw) -> pa.Table:
    n = draw(st.integers(1, 4))
    columns = {}
    for name in draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2, unique=True)):
        t = draw(arrow_types())
        columns[name] = arrow_array(t, draw(st.lists(arrow_values(t), min_size=n, max_size=n)))
    columns["label"] = pa.array(draw(st.lists(st.text(min_size=1, max_size=3), min_size=n, max_size=n)))
    columns["note"] = pa.array([str(i) for i in range(n)])  # a metadata column
    return pa.table(columns)


def signed(table: pa.Table, folder: Path, name: str = "part.parquet") -> tuple:
    """(root, types, label, listing digest) of ``table`` written as the one file of a folder."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        pq.write_table(table, folder / name)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # Parquet cannot store it (timestamp[s] past ms range)
        assume(False)
    options = TableOptions(metadata_columns=("note",))
    hashed = build_manifest(DatasetSpec(str(folder), options=options), executor=InlineExecutor())
    return hashed.manifest.root, hashed.types, hashed.schema_fact()["label"], hashed.listing_fact()["sha256"]


def _same_stored(arr: pa.Array, i: int, j: int) -> bool:
    return arr.slice(i, 1).equals(arr.slice(j, 1))


@SETTINGS
@given(tables(), st.data())
def test_any_single_change_changes_what_is_signed(table, data):
    work = Path(tempfile.mkdtemp())
    try:
        before = signed(table, work / "d")
        content = [c for c in table.column_names if c not in ("label", "note")]
        kind = data.draw(st.sampled_from(["value", "type", "name", "label", "file name"]))
        if kind == "value":
            col = data.draw(st.sampled_from(content))
            arr = table.column(col).combine_chunks()
            row = data.draw(st.integers(0, len(arr) - 1))
            new = arrow_array(arr.type, [data.draw(arrow_values(arr.type))])
            assume(not _same_value(arr.slice(row, 1), new))
            changed = pa.concat_arrays([arr.slice(0, row), new, arr.slice(row + 1)])
            table = table.set_column(table.column_names.index(col), col, changed)
        elif kind == "type":
            col = data.draw(st.sampled_from(content))
            t = data.draw(arrow_types(nested=False))
            assume(type_name(t) != type_name(table.column(col).type))  # dictionary vs plain is one type
            try:
                retyped = pc.cast(table.column(col), t)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                assume(False)
            table = table.set_column(table.column_names.index(col), col, retyped)
        elif kind == "name":
            col = data.draw(st.sampled_from(content))
            new_name = data.draw(st.sampled_from(["x", "y", "a2"]).filter(lambda s: s not in table.column_names))
            table = table.rename_columns([new_name if c == col else c for c in table.column_names])
        elif kind == "label":
            row = data.draw(st.integers(0, table.num_rows - 1))
            labels = table.column("label").to_pylist()
            new = data.draw(st.text(min_size=1, max_size=3).filter(lambda s: s != labels[row]))
            labels[row] = new
            table = table.set_column(table.column_names.index("label"), "label", pa.array(labels))
        after = signed(table, work / "d", "renamed.parquet" if kind == "file name" else "part.parquet")
        assert after != before, kind
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _normal(v):
    """A Python value as the encoding compares it: -0.0 is 0.0, every NaN one NaN."""
    if isinstance(v, float):
        return "nan" if v != v else (0.0 if v == 0 else v)
    if isinstance(v, (list, tuple)):
        return [_normal(x) for x in v]
    if isinstance(v, dict):
        return {k: _normal(x) for k, x in v.items()}
    return v


def _same_value(a: pa.Array, b: pa.Array) -> bool:
    """Whether two one-value arrays of a type hold the same stored value (up to -0.0 and NaN)."""
    try:
        return _normal(a.to_pylist()) == _normal(b.to_pylist()) and (a.to_pylist() == [None]) == (
            b.to_pylist() == [None]
        )
    except (OverflowError, ValueError):  # temporal values Python cannot hold: compare what Arrow stores
        return a.equals(b)


@SETTINGS
@given(tables(), st.randoms(use_true_random=False))
def test_documented_normalisations_and_written_back_data_sign_the_same(table, rnd):
    work = Path(tempfile.mkdtemp())
    try:
        before = signed(table, work / "d")
        order = list(range(table.num_rows))
        rnd.shuffle(order)
        rows = pa.concat_tables([table.slice(i, 1) for i in order])  # take() has no kernel for every type
        shuffled = rows.select(list(reversed(table.column_names)))
        notes = pa.array([f"changed {i}" for i in range(table.num_rows)])
        shuffled = shuffled.set_column(shuffled.column_names.index("note"), "note", notes)
        assert signed(shuffled, work / "d") == before  # row order, column order, metadata columns
        again = pq.read_table(work / "d" / "part.parquet")
        assert signed(again, work / "d") == before  # written back by pyarrow
        frame = pd.read_parquet(work / "d" / "part.parquet", dtype_backend="pyarrow")
        back = pa.Table.from_pandas(frame, preserve_index=False)
        logical = {f.name: type_name(f.type) for f in back.schema}
        assume(logical == {f.name: type_name(f.type) for f in table.schema})  # pandas kept every type
        shutil.rmtree(work / "d")
        (work / "d").mkdir()
        frame.to_parquet(work / "d" / "part.parquet", index=False)
        options = TableOptions(metadata_columns=("note",))
        hashed = build_manifest(DatasetSpec(str(work / "d"), options=options), executor=InlineExecutor())
        assert hashed.manifest.root == before[0]  # written back by pandas
    finally:
        shutil.rmtree(work, ignore_errors=True)
