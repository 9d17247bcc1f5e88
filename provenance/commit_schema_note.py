"""The line ``prov commit`` prints when columns changed type since the parent.

A record's digest includes its column types, so a column retyped since the parent (``int64 -> double`` from
another writer, a number column read as text) gives every record a new digest; the commit said nothing of it, and
only ``prov diff`` named the columns (newcomer review 29). The columns are named as the diff names them
(``report.schema_words.grouped_schema_changes``: columns retyped alike on one line), read from the two versions'
verified statements, never from a row.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from provenance.errors import InputError
from provenance.report.schema_words import grouped_schema_changes
from provenance.sources.schema_delta import column_delta, schema_problem

if TYPE_CHECKING:
    from provenance.version_facts import VerifiedPredicates


def retyped_since_parent(statements: VerifiedPredicates, tag: str, parent: str | None) -> str | None:
    """``column 'magnesium' changed type: int64 -> double since v1 (a record's digest includes its column types: prov
    diff v1 v2 pairs the re-keyed records with v1's)`` for version ``tag`` against ``parent``, columns retyped alike
    grouped and each group joined with ``; ``; None without a parent, when no column both sides signed changed type,
    or when either side signed no column types (or malformed ones, ``schema_delta.schema_problem``) or is no longer
    in the store (erased after the commit's write: its ``--checkpoint-out`` says so, not this note). Both read from
    ``statements`` (verified under its store's pins); raises what ``VerifiedPredicates.predicate`` raises but
    ``InputError``."""
    if not parent:
        return None
    try:
        old = statements.predicate(parent).get("schema")
        now = statements.predicate(tag).get("schema")
    except InputError:
        return None
    if schema_problem(old) or schema_problem(now) or not isinstance(old, dict) or not isinstance(now, dict):
        return None  # not the shape prov writes (a dict, schema_problem says, but the type checker needs telling)
    if "types" not in old or "types" not in now:
        return None
    retyped = column_delta(old["types"], now["types"])["retyped"]
    if not retyped:
        return None
    return (
        f"{'; '.join(grouped_schema_changes({'retyped': retyped}))} since {parent} (a record's digest includes its "
        f"column types: prov diff {shlex.quote(parent)} {shlex.quote(tag)} pairs the re-keyed records with {parent}'s)"
    )
