"""The lines ``prov commit`` prints after its write, each read back from the verified statements of the version it
wrote and of its parent, never from a row.

Four notes read the same two statements; each verified them itself, so one commit checked the same signatures up to
seven times (session 30's own review). :func:`with_notes` verifies each version once for all four
(``version_facts.statement_cache``, for that call only).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from provenance.commit_schema_note import retyped_since_parent
from provenance.commit_unfeatured_note import unfeatured_columns_note
from provenance.errors import InputError
from provenance.escaping import name_in_sentence, visible
from provenance.features.numeric import identity_columns, numeric_type, signed_columns
from provenance.store.store import Store
from provenance.version_facts import statement_cache, verified_predicate

if TYPE_CHECKING:
    from provenance.versions import CommitResult


def with_notes(store: Store, result: CommitResult, schema_flag_applies: bool = True) -> CommitResult:
    """``result`` with its notes (``retype_note``, ``schema_note``, ``features_note``, ``unfeatured_note``;
    ``schemas/commit.schema.json``), each None when it has nothing to say. Reads the version ``result.tag`` and its
    parent from ``store`` under its pins, each verified once; raises what ``version_facts.verified_statement`` raises
    where a note does not say None for it (a version erased since the write is None). ``schema_flag_applies``: the
    data read holds a CSV or JSON Lines file, so a note may offer ``--schema`` (``unfeatured_columns_note``)."""
    with statement_cache():
        return dataclasses.replace(
            result,
            retype_note=retype_note(store, result),
            schema_note=retyped_since_parent(store, result.tag, result.parent),
            features_note=features_left_note(store, result),
            unfeatured_note=unfeatured_columns_note(store, result, schema_flag_applies),
        )


def features_left_note(store: Store, result: CommitResult) -> str | None:
    """``column 'x' left the features (r1's profile read it; it is string now)``: the parent's numeric feature columns
    this version's profile does not read, named with their type now (newcomer review 27, finding 4: a CSV column
    read as text dropped out of detection and nothing said so); None when none did, or either side has no numeric
    profile. Read from both versions' statements, verified under ``store``'s pins."""
    from provenance.lineage.retyped import schema_flags

    if not result.parent or identity_columns(result.featurizer or "") is None:
        return None
    try:
        parent = verified_predicate(store, result.parent)
        now = verified_predicate(store, result.tag)
    except InputError:  # erased after the commit's write: its --checkpoint-out says so, not this note
        return None
    # split into the signed schemas' column names: a column named 'x,y' is one (attack review 29b, A29b-3)
    kept = signed_columns(now)
    if kept is None:
        return None
    left = [c for c in signed_columns(parent) or () if c not in set(kept)]
    if not left:
        return None
    types = (now.get("schema") or {}).get("types") or {}
    named = ", ".join(
        f"{name_in_sentence(c, quote_plain=True)} ({visible(types[c]) + ' now' if c in types else 'gone'})"
        for c in left
    )
    one = len(left) == 1
    # a --schema flag reads a column of text as numbers; one that is numbers already left on purpose (an exclude)
    still = {c: "double" for c in left if c in types and not numeric_type(str(types[c]))}
    # the parent's profile reads a column of text as numbers, so every check against it refuses this version's
    # records (exit 2, unscorable._not_numeric): said here, at commit, not first by that check (newcomer review 29, #5)
    them = "it" if len(still) == 1 else "them"
    way = (
        f"; prov check {result.tag} --base {result.parent} will refuse this version (exit 2: {result.parent}'s profile "
        f"reads {them} as numbers); to read {them} as numbers: fix {'its' if len(still) == 1 else 'their'} values "
        f"(a '?' or text), or, for a CSV or JSON Lines file read as text by mistake, commit with {schema_flags(still)}"
        if still
        else ""
    )
    return (
        f"column{'' if one else 's'} {named} left the features {result.parent}'s profile read: no detector scores "
        f"{'it' if one else 'them'} in this version{way}"
    )


def retype_note(store: Store, result: CommitResult) -> str | None:
    """Why ``result``'s unattributed records are so when trusted signed batches signed other column types
    than the version's data has (newcomer review 11, finding 9: a cast drops every attestation); None
    when nothing is unattributed or no such batch exists, or the version is no longer in the store (a
    ``.prov/`` writer erased it once the lock was free: ``--checkpoint-out``'s state, kept before this
    read, shows the erasure)."""
    if not result.lineage or not result.lineage["unattributed"]:
        return None
    from provenance.lineage.retyped import retyped_batches

    try:
        store.version(result.tag)
    except InputError:  # erased after the commit's write: a note is not the step that says so (F19b-3)
        return None
    schema = verified_predicate(store, result.tag).get("schema") or {}
    parent_types = None
    if result.parent:
        try:
            parent_types = (verified_predicate(store, result.parent).get("schema") or {}).get("types")
        except InputError:  # erased after the commit's write: the note then offers the cast, as before
            parent_types = None
    return retyped_batches(store, schema, parent_types=parent_types)
