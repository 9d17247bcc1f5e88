"""Whether the facts of a well-shaped signed ``schema`` agree with each other and with the version that signs them.

``schema_delta.schema_problem`` checks each key's shape; a signer (a source's key, a stolen commit key) can still
sign shapes that contradict: ``columns`` naming a column twice (every diff and check of the version then dies in
pyarrow, which refuses duplicate field names), ``columns`` that are not the columns ``types`` names (the diff then
blames the data: "a signed column is no longer in the file"), ``classes`` naming a class twice, or ``kind: tree``
signed for a table (the diff then tells the user they compared different datasets). Attack review 26a, A26a-1/2:
these are refused as a malformed signed schema, where its signature is checked.
"""

from __future__ import annotations

from collections import Counter


def _repeated(names: list[str]) -> str | None:
    """The first name ``names`` holds more than once, repr-quoted (a name is whatever the data's writer chose)."""
    twice = [name for name, n in Counter(names).items() if n > 1]
    return repr(twice[0]) if twice else None


def schema_contradiction(schema: dict, kind: str | None = None) -> str | None:
    """What in ``schema`` (a signed ``schema`` fact that passed ``schema_problem``) contradicts itself, or ``kind``
    (the kind of the version or batch as prov reads it; None: not known), in words (``"columns names 'px00'
    twice"``); None when nothing does. Keys absent are not refused (a version signed before ``types`` has none)."""
    for key in ("columns", "classes"):
        twice = _repeated(schema[key]) if isinstance(schema.get(key), list) else None
        if twice is not None:
            return f"{key} names {twice} twice"
    columns, types = schema.get("columns"), schema.get("types")
    if isinstance(columns, list) and isinstance(types, dict) and set(columns) != set(types):
        return "columns are not the columns types names"
    if kind is not None and "kind" in schema and schema["kind"] != kind:
        return f"kind is {schema['kind']!r}, but prov reads {kind!r} records"
    return None
