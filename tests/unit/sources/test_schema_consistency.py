"""``schema_contradiction`` on the schema facts prov itself signs for a real table and a real file tree (nothing to
refuse), and on what a signer can change in them (attack review 26a, A26a-1/2)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from provenance.executor import InlineExecutor
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.schema_consistency import schema_contradiction
from provenance.sources.tables import TableOptions
from support import digits_table


@pytest.fixture
def table_schema(tmp_path) -> dict:
    pq.write_table(digits_table(30), tmp_path / "t.parquet")
    return build_manifest(DatasetSpec(str(tmp_path / "t.parquet")), executor=InlineExecutor()).schema_fact()


@pytest.fixture
def tree_schema(tmp_path) -> dict:
    for label in ("cat", "dog"):
        (tmp_path / "tree" / label).mkdir(parents=True)
        (tmp_path / "tree" / label / "a.txt").write_text(label)
    spec = DatasetSpec(str(tmp_path / "tree"), options=TableOptions(tree_reader="files"))
    return build_manifest(spec, executor=InlineExecutor()).schema_fact()


def test_what_prov_signs_contradicts_nothing(table_schema, tree_schema):
    assert table_schema["kind"] == "table" and tree_schema["kind"] == "tree"
    assert schema_contradiction(table_schema, "table") is None
    assert schema_contradiction(tree_schema, "tree") is None
    old = {k: v for k, v in table_schema.items() if k not in ("types", "kind")}  # signed before types and kind
    assert schema_contradiction(old, "table") is None


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda s: s.__setitem__("columns", [*s["columns"], "px00"]), "columns names 'px00' twice"),
        (lambda s: s.__setitem__("classes", ["cat", "dog", "cat"]), "classes names 'cat' twice"),
        (lambda s: s.__setitem__("columns", s["columns"][1:]), "columns are not the columns types names"),
        (lambda s: s["types"].__setitem__("extra", "int64"), "columns are not the columns types names"),
        (lambda s: s.__setitem__("kind", "tree"), "kind is 'tree', but prov reads 'table' records"),
    ],
    ids=["column-twice", "class-twice", "a-typed-column-not-listed", "a-listed-column-untyped", "kind"],
)
def test_a_signed_contradiction_is_named(table_schema, change, words):
    change(table_schema)
    assert schema_contradiction(table_schema, "table") == words
