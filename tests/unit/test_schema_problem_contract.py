"""One source of truth for the shape of a signed ``schema`` fact: ``sources.schema_delta.schema_problem`` (hand-written,
so that no reader of a version imports jsonschema) accepts exactly what the published
``schemas/version-statement.schema.json`` accepts at ``predicate.schema``, over a corpus of well-formed shapes and every
key of them removed or replaced by each of a set of JSON values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance.sources.schema_delta import schema_problem

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

WELL_FORMED = [
    {  # a table's, as prov commit signs it
        "kind": "table",
        "columns": ["px00", "m"],
        "digestAlgorithm": "sha256/prov-row-v2",
        "labelColumn": "label",
        "types": {"px00": "int64", "m": "struct<a\nb: int64>"},
        "label": {"type": "int64", "kind": "int"},
    },
    {  # a tree's, with its class list
        "kind": "tree",
        "columns": [],
        "digestAlgorithm": "sha256/prov-file-v1",
        "labelColumn": None,
        "types": {},
        "label": {"type": "string", "kind": "string"},
        "classes": ["cat", "dog"],
    },
    {"kind": "table", "columns": ["x"], "digestAlgorithm": "sha256/prov-row-v1"},  # signed before types and label
]
VALUES = [
    None,
    True,
    0,
    1.5,
    "",
    "x",
    "table",
    "tree",
    [],
    ["a"],
    [1],
    ["a", None],
    {},
    {"a": "int64"},
    {"a": "timestamp[us, tz=Europe/Paris]"},
    {"a": "decimal128(10, 2)"},
    {"a": "list<struct<x\ny: double>>"},
    {"a": "float64"},  # numpy's name, not Arrow's (A30c-3: a type no data of this column has)
    {"a": "Double"},
    {"a": "double\x1b[2J\nRELEASED: ok"},
    {"a": "double\n"},
    {"a": 5},
    {"a": None},
    {"type": "string", "kind": "string"},
    {"type": "string", "kind": "float"},
    {"type": "string", "kind": "text"},
    {"type": 1, "kind": "int"},
    {"type": "string"},
    {"kind": "bool"},
    {"type": "string", "kind": "bool", "more": 1},
]


def _corpus() -> list[object]:
    out: list[object] = [None, [], "schema", 3, *WELL_FORMED]
    for shape in WELL_FORMED:
        for key in [*shape, "classes", "label", "types", "labelColumn", "other"]:
            out.append({k: v for k, v in shape.items() if k != key})
            out += [shape | {key: value} for value in VALUES]
    return out


@pytest.fixture(scope="module")
def published():
    from jsonschema import Draft202012Validator

    statement = json.loads((SCHEMAS / "version-statement.schema.json").read_text())
    return Draft202012Validator(statement["properties"]["predicate"]["properties"]["schema"])


def test_schema_problem_accepts_exactly_what_the_published_schema_accepts(published):
    corpus = _corpus()
    assert len(corpus) > 500
    differ = [s for s in corpus if (schema_problem(s) is None) != published.is_valid(s)]
    assert not differ, differ[:5]
    assert all(schema_problem(s) is None for s in WELL_FORMED)


def test_the_corpus_holds_both_verdicts(published):
    """The corpus is not all well formed or all malformed: each key's wrong values are refused by both."""
    verdicts = [published.is_valid(s) for s in _corpus()]
    assert verdicts.count(True) > 50 and verdicts.count(False) > 200
