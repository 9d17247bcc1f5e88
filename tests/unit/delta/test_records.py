"""Where a report says a flagged record is: the data file and row (a table) or file (a tree)."""

from __future__ import annotations

from provenance.delta.records import location
from provenance.delta.report import DEFAULT_ALPHA
from provenance.gate.detection import ALPHA


def test_a_table_row_a_file_in_a_folder_of_tables_and_a_file_of_a_tree():
    assert location({"path": "data/v2.parquet", "kind": "table"}, "17") == {"path": "data/v2.parquet", "row": 17}
    assert location({"path": "data/parts", "kind": "table"}, "b/part-1.parquet#3") == {
        "path": "data/parts/b/part-1.parquet",
        "row": 3,
    }
    assert location({"path": "images", "kind": "tree"}, "cat/7.png") == {"path": "images/cat/7.png"}


def test_nothing_is_made_up_when_the_data_or_the_locator_is_unknown():
    assert location(None, "3") is None
    assert location({"path": None, "kind": "table"}, "3") is None
    assert location({"path": "v.parquet", "kind": "table"}, None) is None


def test_a_diff_budgets_flags_as_the_default_policy_does():
    assert DEFAULT_ALPHA == ALPHA.default
