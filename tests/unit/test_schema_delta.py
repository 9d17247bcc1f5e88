"""The schema change as data (``sources/schema_delta.py``) and the lines made from it (schema review 25)."""

from __future__ import annotations

import json

import pytest

from provenance.report.schema_words import grouped_schema_changes, summary_schema_changes
from provenance.sources.schema_delta import added_and_other, changed, delta_lines, schema_delta

BASE = {
    "kind": "table",
    "types": {"a": "int64", "b": "int64", "c": "int64", "gone": "string"},
    "columns": ["a", "b", "c", "gone"],
    "labelColumn": "label",
    "label": {"type": "string", "kind": "string"},
    "digestAlgorithm": "prov-row-v2",
}
LABEL_WORDS = "an object with a string type and a kind of string, int, float or bool"


def test_the_lines_are_the_ones_a_diff_printed_before_and_come_from_the_data():
    new = BASE | {
        "types": {"a": "double", "b": "double", "c": "int64", "new": "struct<x) added (y: int64>"},
        "columns": ["a", "b", "c", "new"],
        "labelColumn": "target",
        "label": {"type": "int64", "kind": "integer"},
    }
    delta = schema_delta(BASE, new)
    assert delta == {
        "typed": True,
        "added": {"new": "struct<x) added (y: int64>"},
        "removed": {"gone": "string"},
        "retyped": {"a": ["int64", "double"], "b": ["int64", "double"]},
        "label_column": ["label", "target"],
        "label_type": ["string", "int64"],
    }
    assert delta_lines(delta) == [
        "column 'new' added (struct<x) added (y: int64>)",
        "column 'gone' removed (was string)",
        "column 'a' changed type: int64 -> double",
        "column 'b' changed type: int64 -> double",
        "label column 'label' -> 'target'",
        "label type string -> int64",
    ]
    assert grouped_schema_changes(delta) == [
        "column 'new' added (struct<x) added (y: int64>)",
        "column 'gone' removed (was string)",
        "2 columns changed type int64 -> double: 'a', 'b'",
        "label column 'label' -> 'target'",
        "label type string -> int64",
    ]
    assert added_and_other(delta) == (["new"], True)
    label_only = {**delta, "removed": {}, "retyped": {}}
    del label_only["label_column"]
    assert added_and_other(label_only) == (["new"], True)  # the label type changed too
    only_added = schema_delta({"types": {"a": "int64"}}, {"types": {"a": "int64", "new": "string"}})
    assert added_and_other(only_added) == (["new"], False) and changed(only_added)
    assert not changed(schema_delta(BASE, dict(BASE)))


def test_columns_compared_by_name_alone_are_another_change():
    """A side signed before column types: added columns have no type, and a retype cannot be ruled out."""
    delta = schema_delta({"columns": ["a"]}, {"columns": ["a", "b"]})
    assert delta == {"typed": False, "added": {"b": None}, "removed": {}, "retyped": {}}
    assert delta_lines(delta) == ["column 'b' added"]
    assert added_and_other(delta) == (["b"], True)


def test_a_summary_without_schema_delta_is_unknown_and_its_lines_are_never_parsed():
    """A report saved before schema_delta: the check's reading fails closed, the lines show as written."""
    lines = ["column 'a' changed type: int64 -> double", "column 'b' changed type: int64 -> double"]
    assert added_and_other(None) == ([], True)
    assert added_and_other({"added": ["not", "a", "mapping"]}) == ([], True)
    assert summary_schema_changes({"schema_changes": lines}) == lines  # not grouped: grouping would parse them


def test_the_check_schema_holds_the_diff_schemas_schema_delta():
    """schemas/check.schema.json repeats diff.schema.json's schema_delta (no cross-file references): kept equal."""
    from support import OUTPUT_SCHEMAS

    diff = json.loads((OUTPUT_SCHEMAS / "diff.schema.json").read_text())["properties"]["summary"]["properties"]
    check = json.loads((OUTPUT_SCHEMAS / "check.schema.json").read_text())["properties"]["summary"]["properties"]
    drop = lambda d: {k: v for k, v in d.items() if k != "description"}  # noqa: E731
    assert drop(check["schema_delta"]) == drop(diff["schema_delta"])


def test_the_schema_facts_prov_writes_have_the_shape_schema_problem_accepts(tmp_path):
    """``schema_problem`` (attack review 25a) refuses no schema prov signs: a table's, a tree's (its class list), and
    a version's from before types and the label were signed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from provenance.sources.build import build_manifest
    from provenance.sources.interface import DatasetSpec
    from provenance.sources.schema_delta import schema_problem
    from provenance.sources.tables import TableOptions

    pq.write_table(
        pa.table({"x": [1, 2], "m": [{"a\nb": 1}, {"a\nb": 2}], "label": ["a", "b"]}), tmp_path / "t.parquet"
    )
    for label in ("cat", "dog"):
        (tmp_path / "tree" / label).mkdir(parents=True)
        (tmp_path / "tree" / label / "1.bin").write_bytes(label.encode())
    table = build_manifest(DatasetSpec(str(tmp_path / "t.parquet"))).schema_fact()
    files = TableOptions(tree_reader="files")  # a tree of .bin files, not images
    tree = build_manifest(DatasetSpec(str(tmp_path / "tree"), kind="tree", options=files)).schema_fact()
    assert table["types"] and tree["kind"] == "tree"
    old = {"kind": "table", "columns": ["x"], "digestAlgorithm": "prov-row-v1"}
    assert [schema_problem(s) for s in (table, tree, old, BASE)] == [None] * 4


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (["x"], "is list, not an object"),
        (None, "is null, not an object"),
        (BASE | {"label": "x"}, f"label is not {LABEL_WORDS}"),
        (BASE | {"label": {"type": "string"}}, f"label is not {LABEL_WORDS}"),
        (BASE | {"label": {"type": "string", "kind": "text"}}, f"label is not {LABEL_WORDS}"),
        ({k: v for k, v in BASE.items() if k != "columns"}, "columns is missing"),
        (BASE | {"columns": [1, "a"]}, "columns is not a list of column names"),
        (BASE | {"types": ["px00"]}, "types is not an object of type names (strings)"),
        (BASE | {"types": {"a": 5}}, "types is not an object of type names (strings)"),
        (BASE | {"labelColumn": ["x"]}, "labelColumn is not a column name or null"),
        (BASE | {"classes": "ab"}, "classes is not a list of class names"),
        (BASE | {"kind": "rows"}, "kind is not 'table' or 'tree'"),
        (BASE | {"digestAlgorithm": 2}, "digestAlgorithm is not a string"),
    ],
)
def test_a_schema_of_another_shape_is_named_by_what_is_wrong(schema, problem):
    from provenance.sources.schema_delta import schema_problem

    assert schema_problem(schema) == problem


def test_type_strings_in_the_lines_are_escaped_and_columns_retyped_alike_group_by_the_types_signed():
    """A25a-1: a struct's field names are the writer's; a newline in one starts no line. Two types that read alike
    once escaped (a real newline, and the four characters ``\\x0a``) are not grouped as one retype."""
    struct = "struct<a\nb: int64>"
    delta = schema_delta(
        BASE | {"types": {"a": "int64", "b": "int64", "m": "int64"}},
        BASE | {"types": {"a": struct, "b": "struct<a\\x0ab: int64>", "m": "double", "n": struct}},
    )
    lines = grouped_schema_changes(delta) + delta_lines(delta)
    assert all("\n" not in line for line in lines), lines
    assert "column 'n' added (struct<a\\x0ab: int64>)" in lines
    assert [line for line in grouped_schema_changes(delta) if "changed type" in line] == [
        "column 'a' changed type: int64 -> struct<a\\x0ab: int64>",
        "column 'b' changed type: int64 -> struct<a\\x0ab: int64>",
        "column 'm' changed type: int64 -> double",
    ]


def test_schema_advice_offers_only_arrow_type_names():
    # A30c-3: a signed type no data gave is never repeated as a flag to paste (it could hold a terminal escape)
    from provenance.lineage.retyped import schema_flags

    assert schema_flags({"m": "double", "x y": "int64"}) == "--schema m:double --schema 'x y:int64'"
    assert schema_flags({"m": "double\x1b[2J\nRELEASED: ok"}) == "--schema COLUMN:TYPE"
    assert schema_flags({"m": "Float64"}) == "--schema COLUMN:TYPE"
