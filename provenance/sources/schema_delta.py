"""A schema change between two signed schemas, as data, and the lines people read for it.

``prov diff`` reports a schema change twice: ``summary["schema_delta"]`` (:func:`schema_delta`), the
change as data, and ``summary["schema_changes"]`` (:func:`delta_lines`), one line per difference for
people. Everything that decides or advises (the check's added-columns advice, the grouping of
columns retyped alike) reads the data: a column name is whatever whoever writes the data chose, and
a type string can hold any struct field name, so a line such as ``column 'meta' added (struct<x)
added (y: int64>)`` does not parse back into what changed (schema review 25: the check read an added
column as a retype and advised casting it back). The lines are made from the data, never the other
way round.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from provenance.escaping import name_in_sentence, visible

# the non-column parts of a schema change, each ``[old, new]`` in ``schema_delta`` when it differs
OTHER_KEYS = ("label_column", "label_type", "classes", "digest_algorithm")


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# An Arrow type name as ``encoding.type_name`` writes it: a plain or parametrised type on one line, or a nested type
# (``list<``, ``struct<`` ...) whose field names are whatever the data's writer chose. The same pattern is the published
# schema's (``schemas/version-statement.schema.json``, held equal by tests/unit/test_schema_problem_contract.py). Attack
# review 30c, A30c-3: a source key signed ``double\x1b[2J\nRELEASED: ok`` as a column's type, and advice repeated it.
TYPE_NAME_PATTERN = (
    r"^((?![^\n]*\n)(null|bool|u?int(8|16|32|64)|halffloat|float|double|string|binary|date32\[day\]|date64\[ms\]"
    r"|month_day_nano_interval|(time32|time64|duration)\[(s|ms|us|ns)\]|timestamp\[(s|ms|us|ns)(, tz=[^\x00-\x1f\x7f]+)?\]"
    r"|decimal(32|64|128|256)\([0-9]+, -?[0-9]+\)|fixed_size_binary\[[0-9]+\])$"
    r"|(list|fixed_size_list|map|struct|extension)<)"
)
_TYPE_NAME = re.compile(TYPE_NAME_PATTERN)


def arrow_type_name(value: object) -> bool:
    """Whether ``value`` is a column type name Arrow gives (``double``, ``timestamp[us, tz=UTC]``, ``list<...>``):
    not ``Double``, ``float64`` or a name holding a newline outside a nested type's field names."""
    return isinstance(value, str) and _TYPE_NAME.search(value) is not None


def _type_names(value: object) -> bool:
    return isinstance(value, dict) and all(arrow_type_name(v) for v in value.values())


LABEL_KINDS = ("string", "int", "float", "bool")  # encoding.values.label_kind's


def _label(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str) and value.get("kind") in LABEL_KINDS


# The published ``schemas/version-statement.schema.json`` describes the same shape (its ``predicate.schema``); a test
# holds the two equal over a corpus of shapes (tests/unit/test_schema_problem_contract.py). Hand-written, not
# validated with jsonschema: every reader of a version checks it (``prov show`` too, whose start-up aim is 0.15 s), and
# importing jsonschema costs more than that aim leaves (bench/schema_check_bench.py, bench/results/schema_check.md).
REQUIRED = ("kind", "columns", "digestAlgorithm")
# each key of a signed ``schema`` fact (``sources.interface.HashedDataset.schema_fact``; a batch envelope's too),
# when present: what its value must be, and those words
_SHAPES: tuple[tuple[str, Callable[[object], bool], str], ...] = (
    ("kind", lambda v: v in ("table", "tree"), "'table' or 'tree'"),
    ("columns", _strings, "a list of column names"),
    ("digestAlgorithm", lambda v: isinstance(v, str), "a string"),
    ("labelColumn", lambda v: v is None or isinstance(v, str), "a column name or null"),
    ("types", _type_names, "an object of type names (strings)"),
    ("label", _label, "an object with a string type and a kind of string, int, float or bool"),
    ("classes", _strings, "a list of class names"),
)


def schema_problem(schema: object) -> str | None:
    """What makes ``schema`` (signed ``schema`` facts: a version's, or a source's batch envelope's) other than the
    shape prov writes, in words (``"types is not an object of type names (strings)"``); None when it is that shape.

    A signature says who wrote the facts, not that they are well formed: a source's key or a stolen commit key can
    sign ``types`` as a list or a type as ``5`` (attack review 25a, A25a-3/4/6), which :func:`schema_delta` and
    ``lineage/retyped.py`` would crash on or carry into JSON its schema rejects. Only :data:`REQUIRED` keys must be
    there (prov wrote them from the start; a version signed before ``types`` has none of the others)."""
    if not isinstance(schema, dict):
        return f"is {type(schema).__name__ if schema is not None else 'null'}, not an object"
    missing = next((key for key in REQUIRED if key not in schema), None)
    if missing is not None:
        return f"{missing} is missing"
    for key, ok, words in _SHAPES:
        if key in schema and not ok(schema[key]):
            return f"{key} is not {words}"
    return None


def column_delta(old_types: dict, new_types: dict) -> dict:
    """``{"added": {name: type}, "removed": {name: type}, "retyped": {name: [old, new]}}`` between two
    signed ``schema.types`` (names sorted by code point)."""
    a, b = old_types, new_types
    return {
        "added": {c: b[c] for c in sorted(b.keys() - a.keys())},
        "removed": {c: a[c] for c in sorted(a.keys() - b.keys())},
        "retyped": {c: [a[c], b[c]] for c in sorted(a.keys() & b.keys()) if a[c] != b[c]},
    }


def schema_delta(base: dict, new: dict) -> dict:
    """The difference between two sides' signed ``schema`` facts, as data.

    ``typed``: both sides signed their column types; when one did not (versions signed before types),
    columns are compared by name alone, an added or removed column's type is null and a retype cannot
    be seen. ``added``/``removed``/``retyped`` as :func:`column_delta`; each of :data:`OTHER_KEYS`
    present, as ``[old, new]``, only when that part differs.
    """
    typed = "types" in base and "types" in new
    if typed:
        delta: dict = {"typed": True, **column_delta(base["types"], new["types"])}
    else:
        a, b = set(base.get("columns") or []), set(new.get("columns") or [])
        delta = {"typed": False, "added": dict.fromkeys(sorted(b - a)), "removed": dict.fromkeys(sorted(a - b))}
        delta["retyped"] = {}
    if base.get("labelColumn") != new.get("labelColumn"):
        delta["label_column"] = [base.get("labelColumn"), new.get("labelColumn")]
    old_label, new_label = base.get("label") or {}, new.get("label") or {}
    if old_label and new_label and old_label.get("type") != new_label.get("type"):
        delta["label_type"] = [old_label.get("type"), new_label.get("type")]
    if "classes" in base and "classes" in new and base["classes"] != new["classes"]:
        delta["classes"] = [base["classes"], new["classes"]]
    if base.get("digestAlgorithm") != new.get("digestAlgorithm"):
        delta["digest_algorithm"] = [base.get("digestAlgorithm"), new.get("digestAlgorithm")]
    return delta


def changed(delta: dict) -> bool:
    """Whether ``delta`` (:func:`schema_delta`) holds any difference."""
    return any(delta.get(k) for k in ("added", "removed", "retyped")) or any(k in delta for k in OTHER_KEYS)


def added_and_other(delta: object) -> tuple[list[str], bool]:
    """``(added, other)`` of a diff's ``schema_delta``: the columns it adds (sorted), and whether it changes
    anything else too (a column removed or retyped, the label column or type, the class list, the encoding,
    or columns compared by name alone, where a retype cannot be ruled out). A delta that is not one (a
    report from before ``schema_delta``) is unknown: no added columns, ``other`` true (fail closed)."""
    if not isinstance(delta, dict) or not isinstance(delta.get("added"), dict):
        return [], True
    other = bool(delta.get("removed") or delta.get("retyped") or not delta.get("typed"))
    return [str(c) for c in delta["added"]], other or any(k in delta for k in OTHER_KEYS)


def _quoted(name: object) -> str:
    """A column named in a schema line, quoted however plain (``escaping.name_in_sentence``)."""
    return repr(name) if name is None else name_in_sentence(name, quote_plain=True)


def column_lines(delta: dict, kinds: tuple[str, ...] = ("added", "removed", "retyped")) -> list[str]:
    """One line per column of ``delta``'s ``kinds``: ``column 'x' added (double)``, ``column 'x' removed (was
    int64)``, ``column 'x' changed type: int64 -> string`` (no type for a column compared by name alone). A type
    string is shown through ``escaping.visible``: a struct's field names are whatever the data's writer chose, and a
    newline in one would start a line of its own (attack review 25a, A25a-1)."""
    added, removed, retyped = (delta.get(k) or {} for k in ("added", "removed", "retyped"))
    lines = []
    if "added" in kinds:
        lines += [f"column {_quoted(c)} added" + ("" if t is None else f" ({visible(t)})") for c, t in added.items()]
    if "removed" in kinds:
        lines += [
            f"column {_quoted(c)} removed" + ("" if t is None else f" (was {visible(t)})") for c, t in removed.items()
        ]
    if "retyped" in kinds:
        lines += [f"column {_quoted(c)} changed type: {visible(t[0])} -> {visible(t[1])}" for c, t in retyped.items()]
    return lines


def other_lines(delta: dict) -> list[str]:
    """One line per non-column difference of ``delta`` (:data:`OTHER_KEYS`), its values through ``visible``."""
    out = []
    if "label_column" in delta:
        out.append("label column {} -> {}".format(*map(_quoted, delta["label_column"])))
    if "label_type" in delta:
        out.append("label type {} -> {}".format(*map(visible, delta["label_type"])))
    if "classes" in delta:
        out.append("class list {} -> {} (class indexes shift)".format(*map(visible, delta["classes"])))
    if "digest_algorithm" in delta:
        out.append("digest algorithm {} -> {}".format(*map(visible, delta["digest_algorithm"])))
    return out


def delta_lines(delta: dict) -> list[str]:
    """A diff's ``schema_changes``: one line per difference of ``delta``, columns first (empty: none)."""
    return column_lines(delta) + other_lines(delta)
