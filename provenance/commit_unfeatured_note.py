"""The line ``prov commit`` prints when the automatic numeric featuriser left columns out because they are not numbers.

One ``?`` in a CSV column reads the whole column as text, and the automatic numeric featuriser reads only numeric
columns: the commit printed ``features numeric/v1 over 29 columns`` and never named the column no detector would
score (newcomer review 30, finding 6). The note names such columns from the version's verified statement (its signed
schema and featuriser), never from a row, and says how to bring one back.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from provenance.errors import InputError
from provenance.escaping import name_in_sentence, shell_word, visible
from provenance.version_facts import verified_predicate

if TYPE_CHECKING:
    from provenance.store.store import Store
    from provenance.versions import CommitResult

NAMED = 5  # columns named in the line; more are counted ("and 3 more")


def unfeatured_columns_note(store: Store, result: CommitResult, schema_flag_applies: bool = True) -> str | None:
    """``column 'mean_radius' (string) is not in the features: not numeric, so no detector scores it; if it holds
    numbers, fix its values (a '?' or text) and commit with --schema mean_radius:double; if it is text, leave it out on
    purpose with --featurizer numeric --featurizer-option 'exclude=["mean_radius"]'`` for version ``result.tag``: its
    content
    columns of a non-numeric type that its automatic numeric featuriser does not read, at most ``NAMED`` named then
    ``and N more``. None when there are none, when the featuriser is another or was given its columns or exclusions
    (then the choice was the user's), or when the version is no longer in the store. Columns the parent's profile read
    are left to ``features_note``, which says they left the features. ``schema_flag_applies`` is False when the data
    read holds no CSV or JSON Lines file (Parquet carries its own types and ``--schema`` exits 2 on it: newcomer
    review 33, finding 6); the way to numbers is then a cast in the file. Both versions read from ``store`` and
    verified under its pins (``version_facts.verified_predicate``); raises what that raises but ``InputError``."""
    from provenance.features.numeric import numeric_type, signed_columns
    from provenance.lineage.retyped import schema_flags

    if (result.featurizer_requested or {}).get("options"):  # columns or exclusions the user chose
        return None
    try:
        now = verified_predicate(store, result.tag)
        parent = verified_predicate(store, result.parent) if result.parent else {}
    except InputError:  # erased after the commit's write: its --checkpoint-out says so, not this note
        return None
    read = signed_columns(now)
    types = (now.get("schema") or {}).get("types") or {}
    if read is None or not isinstance(types, dict):
        return None
    said = set(read) | set(signed_columns(parent) or ())
    left = [c for c, t in sorted(types.items()) if c not in said and not numeric_type(str(t))]
    if not left:
        return None
    one = len(left) == 1
    named = ", ".join(f"{name_in_sentence(c, quote_plain=True)} ({visible(str(types[c]))})" for c in left[:NAMED])
    more = f" and {len(left) - NAMED} more" if len(left) > NAMED else ""
    first = left[0]
    to_numbers = (
        f"fix its values (a '?' or text) and commit with {schema_flags({first: 'double'})}"
        if schema_flag_applies
        else "cast it in the file (pyarrow: table.cast; pandas: astype) and commit again"
    )
    return (
        f"column{'' if one else 's'} {named}{more} {'is' if one else 'are'} not in the features: not numeric, so no "
        f"detector scores {'it' if one else 'them'}; if {'it' if one else 'one'} holds numbers, {to_numbers}; if it "
        f"is text, leave it out on purpose with --featurizer numeric --featurizer-option "
        f"{shell_word('exclude=' + json.dumps([first]))}"
    )
