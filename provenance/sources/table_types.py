"""Whether the files of one table dataset agree: content columns, their types, the label's type.

Each file is hashed on its own, so the types it was read with are compared after hashing
(``check_parts``). CSV and JSON Lines infer their types per file; where files disagree the
dataset is read again with the widest type of each column (``widest``), as a reader of the
whole folder would settle it. Type names are ``encoding.type_name``'s (``arrow_type_named``
turns them back into Arrow types).
"""

from __future__ import annotations

import pyarrow as pa

from provenance.errors import InputError
from provenance.sources import text_tables
from provenance.sources.interface import DatasetSpec


def widest(types: list[pa.DataType]) -> pa.DataType:
    """The type every one of ``types`` widens to, in CSV inference's order (else string).

    Types in ``text_tables.CSV_ORDER`` (timestamps of one time zone ranked by unit) widen
    to the latest of them; any others are unified with Arrow's permissive promotion, and
    ``string`` when they do not unify. ``types`` must not be empty.
    """
    order = [str(t) for t in text_tables.CSV_ORDER]
    zones = {t.tz for t in types if pa.types.is_timestamp(t)}
    if all(str(t) in order or pa.types.is_timestamp(t) for t in types) and len(zones) <= 1:
        rank = {t: order.index(str(pa.timestamp(t.unit) if pa.types.is_timestamp(t) else t)) for t in types}
        top = max(types, key=lambda t: rank[t])
        return pa.timestamp(top.unit, zones.pop()) if pa.types.is_timestamp(top) else top
    try:
        return pa.unify_schemas([pa.schema([("x", t)]) for t in types], promote_options="permissive").field(0).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.string()


def check_parts(parts: list, spec: DatasetSpec) -> tuple[list[str], dict[str, str], str, str]:
    """Every file must read as the same content columns, types and label type.

    ``parts`` are the hashed parts of every file (those with no columns, i.e. no rows read,
    are not compared).

    Returns ``(columns, types, label type, label kind)`` of the first part read (type
    names as ``encoding.type_name`` gives them); ``([], {}, "string", "string")`` if none was.

    Raises:
        InputError: naming two files that disagree and how.
    """
    read = [p for p in parts if p.columns]
    if not read:
        return [], {}, "string", "string"
    first = read[0]
    for p in read[1:]:
        if p.columns != first.columns:
            raise InputError(f"{spec.path}: files have different content columns ({first.where} and {p.where})")
        if p.types != first.types:
            col = next(c for c in first.columns if p.types.get(c) != first.types.get(c))
            raise InputError(
                f"{spec.path}: column {col!r} is {first.types.get(col)} in {first.where} but {p.types.get(col)} "
                f"in {p.where}; give its type with --schema {col}:TYPE"
            )
        if (p.label_type, p.label_kind) != (first.label_type, first.label_kind):
            raise InputError(
                f"{spec.path}: the label column is {first.label_type} in {first.where} but {p.label_type} in {p.where}"
            )
    return list(first.columns), dict(first.types), first.label_type, first.label_kind


def settle_text_types(parts: list) -> dict[str, pa.DataType] | None:
    """Types to read every CSV/JSONL file with, when files inferred different ones (else None)."""
    text = [p for p in parts if p.text and p.types]
    seen: dict[str, set[str]] = {}
    for p in text:
        for name, type_name in p.types.items():
            seen.setdefault(name, set()).add(type_name)
    mixed = {name: names for name, names in seen.items() if len(names) > 1}
    if not mixed:
        return None
    return {name: widest([arrow_type_named(n) for n in names]) for name, names in mixed.items()}


def arrow_type_named(name: str) -> pa.DataType:
    """A type named by ``encoding.type_name`` back as Arrow's (the scalar types CSV/JSONL inference gives;
    anything else is ``string``). The loader reads text tables with a version's signed types through it."""
    for t in text_tables.CSV_ORDER:
        if str(t) == name:
            return t
    if name.startswith("timestamp[") and name.endswith("]"):
        unit, _, zone = name[len("timestamp[") : -1].partition(", tz=")
        return pa.timestamp(unit, zone or None)
    try:
        return pa.type_for_alias(name)
    except (ValueError, KeyError):
        return pa.string()
