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
from provenance.sources.schema_delta import column_delta
from provenance.version_facts import verified_predicate

if TYPE_CHECKING:
    from provenance.store.store import Store


def retyped_since_parent(store: Store, tag: str, parent: str | None) -> str | None:
    """``column 'magnesium' changed type: int64 -> double since v1 (a record's digest includes its column types: prov
    diff v1 v2 pairs the re-keyed records with v1's)`` for version ``tag`` against ``parent``, columns retyped alike
    grouped and each group joined with ``; ``; None without a parent, when no column both sides signed changed type,
    or when either side signed no column types or is no longer
    in the store (erased after the commit's write: its ``--checkpoint-out`` says so, not this note). Both read from
    ``store`` and verified under its pins (``version_facts.verified_predicate``, which refuses signed types that are not the
    shape prov writes); raises what that raises but ``InputError``."""
    if not parent:
        return None
    try:
        old = verified_predicate(store, parent).get("schema")
        now = verified_predicate(store, tag).get("schema")
    except InputError:
        return None
    # verified_predicate refused a signed schema that is not the shape prov writes (schema_problem): one is a dict
    if not isinstance(old, dict) or not isinstance(now, dict):
        return None
    if "types" not in old or "types" not in now:
        return None
    retyped = column_delta(old["types"], now["types"])["retyped"]
    if not retyped:
        return None
    return (
        f"{'; '.join(grouped_schema_changes({'retyped': retyped}))} since {parent} (a record's digest includes its "
        f"column types: prov diff {shlex.quote(parent)} {shlex.quote(tag)} pairs the re-keyed records with {parent}'s)"
    )
