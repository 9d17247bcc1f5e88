"""The schema change as data (``sources/schema_delta.py``) and the lines made from it (schema review 25)."""

from __future__ import annotations

import json

from provenance.report.schema_words import grouped_schema_changes, summary_schema_changes
from provenance.sources.schema_delta import added_and_other, changed, delta_lines, schema_delta

BASE = {
    "types": {"a": "int64", "b": "int64", "c": "int64", "gone": "string"},
    "columns": ["a", "b", "c", "gone"],
    "labelColumn": "label",
    "label": {"type": "string", "kind": "text"},
    "digestAlgorithm": "prov-row-v2",
}


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
