"""Why a commit's records match no signed batch when only their column types changed (newcomer review 11, finding 9).

A record's digest encodes its content columns' names and types (``7`` as int64 and ``7.0`` as float are
different content), and lineage matches digests exactly: it never re-encodes a record under a batch's
signed types, so it attests nothing a source did not sign byte for byte. A team whose ETL casts a
vendor's int64 pixels to float32 therefore commits every record as ``unattributed``, and used to be told
nothing about why. :func:`retyped_batches` names the trusted signed batches whose signed schema differs
from the version's, so the commit can say so.
"""

from __future__ import annotations

from provenance.errors import InputError
from provenance.escaping import name_in_sentence, shell_word
from provenance.lineage.signed_types import signed_batch_types
from provenance.sources.schema_delta import arrow_type_name, column_delta
from provenance.store.store import Store

# the way a corrected signed delivery comes back signed (the README's `prov sign` row): the source signs
# the file it changed (filled gaps, fixed types), the maintainer registers it; never `prov add --unsigned`, which
# would carry the source's labels over unsigned (attack review 32d, A32d-3)
SIGNED_AGAIN = (
    "on the source's side: prov sign FILE --source SOURCE --key SOURCE_KEY; here: prov add FILE --source SOURCE"
)


def retyped_batches(store: Store, schema: dict, shown: int = 3, parent_types: dict | None = None) -> str | None:
    """A sentence naming trusted signed batches whose signed columns differ from ``schema`` (a version's
    signed ``schema``), with the differences grouped; None when every such batch matches its columns or
    no batch is signed. Judged under the store's pins (``standing.judge_envelope``), so a batch no
    pinned key trusts says nothing here. ``parent_types``: the parent version's signed types; where the data keeps
    them and another trusted signed batch signs the data's types, the batches disagree and the way on is to withdraw
    the differing one, not a cast (a cast to its types would re-key the parent's records: newcomer review 32, #2)."""
    from provenance.report.schema_words import grouped_schema_changes

    now = schema.get("types")
    if not now:
        return None
    differing: list[tuple[str, dict, dict[str, str], list[str]]] = []
    signed = signed_batch_types(store)
    for batch, old in signed:
        retyped = {c: t for c, t in sorted(old.items()) if c in now and now[c] != t}
        if retyped or (old.keys() < now.keys()):  # a cast, or a column added to the batch's: not another dataset
            added = sorted(set(now) - set(old))
            differing.append((batch, column_delta(old, now), retyped, added))
    if not differing:
        return None
    batch, changes, retyped, added = differing[0]
    others = f" (and {len(differing) - 1} more signed batches)" if len(differing) > 1 else ""
    ways = []
    kept = parent_types is not None and all(parent_types.get(c) == now[c] for c in retyped)
    agreeing = [
        b for b, types in signed if kept and b != batch and retyped and all(types.get(c) == now[c] for c in retyped)
    ]
    if agreeing:  # two signed batches disagree on the types: no cast matches both (newcomer review 32, finding 2)
        ways.append(
            f"signed batch {agreeing[0]} signs {'it' if len(retyped) == 1 else 'them'} as this data has "
            f"{'it' if len(retyped) == 1 else 'them'}, and one column holds one type, so no cast matches both: "
            f"if you ship {batch}'s records changed (filled, edited), have its source sign the changed file "
            f"({SIGNED_AGAIN}) and withdraw {shell_word(batch)} (prov withdraw {shell_word(batch)} --reason R --key K), "
            "then commit again; if you do not ship them, withdraw it only"
        )
    elif retyped:
        flags = schema_flags(retyped)
        ways.append(f"keep the signed types (commit a CSV or JSON Lines file with {flags}, or cast the columns back)")
    if added:  # newcomer review 24: "cast the columns back" is no way on for a column the batch does not have
        from provenance.lineage.vendor_columns import content_signed, signs_again_way

        signing = content_signed(store, added)  # a source signed them: it added them (newcomer review 33, #5)
        ways.append(signs_again_way(signing) if signing else added_columns_way(added))
    return (
        f"signed batch {batch}{others} signed other column types than this data has "
        f"({'; '.join(grouped_schema_changes(changes, shown))}, from the batch to this data), and a record's "
        f"digest includes its column names and types, so those records match no signed batch: {'; '.join(ways)}"
    )


def type_conflicts(store: Store, batches: list[str], keep: dict[str, str]) -> dict[str, dict[str, str]]:
    """``{batch: {column: its signed type}}`` of the trusted signed ``batches`` that sign a column with another type
    than ``keep`` (the base version's signed ``types``) while another of ``batches`` signs it with ``keep``'s type:
    two signed deliveries that disagree on a column's type (clinic A's 2023 batch int64, its 2024 batch double, as
    NaNs made it). One column of a file holds one type, so no data matches both, and "cast the columns to the signed
    types" sent the user back and forth (newcomer review 32, finding 2). Empty when they agree; judged from the
    batches' envelopes under ``store.pins`` (:func:`signed_batch_types`), never from a row."""
    found = signed_batch_types(store, set(batches))
    out: dict[str, dict[str, str]] = {}
    for column, kept in sorted(keep.items()):
        signed = {batch: types[column] for batch, types in found if column in types}
        if kept not in signed.values():
            continue
        for batch, t in signed.items():
            if t != kept:
                out.setdefault(batch, {})[column] = t
    return out


def type_conflict_way(conflicts: dict[str, dict[str, str]], keep: dict[str, str], base: str) -> str:
    """The sentence for :func:`type_conflicts`: ``"the signed batches disagree on column types (bp: double in batch
    A, int64 in v2's): one column holds one type, so no data matches them all; keep v2's types and have the source
    sign the records you ship in the other batch's place (on its side: prov sign FILE --source SOURCE --key
    SOURCE_KEY; here: prov add FILE --source SOURCE), withdraw the other batch (prov withdraw A --reason R --key K)
    and commit again"``. The source signs again, never the team: records registered ``--unsigned`` in a withdrawn
    signed batch's place bound none of its signed labels, so labels flipped in the "filled" file passed every rule
    (attack review 32d, A32d-3)."""
    named = "; ".join(
        f"{', '.join(name_in_sentence(c) for c in cols)}: {'/'.join(sorted(set(cols.values())))} in {batch}"
        for batch, cols in conflicts.items()
    )
    columns = sorted({c for cols in conflicts.values() for c in cols})
    kept = ", ".join(f"{name_in_sentence(c)}: {keep[c]}" for c in columns)
    one = len(conflicts) == 1
    batch = next(iter(conflicts)) if one else "BATCH"
    place = "batch's" if one else "batches'"
    return (
        f"the signed batches disagree on column types ({named}; {kept} in {base}'s): one column of a file holds one "
        f"type, so no data matches them all; keep {base}'s types and have the source sign the records you ship in "
        f"the other {place} place ({SIGNED_AGAIN}), withdraw the other batch{'' if one else 'es'} "
        f"(prov withdraw {shell_word(batch)} --reason R --key K{'' if one else ', for each'}) and commit again; "
        "records registered as your own (--unsigned) would bind none of the labels the source signed"
    )


def type_conflict_step(conflicts: dict[str, dict[str, str]], base: str, new: str) -> tuple[str, str, str]:
    """The "To release:" step for :func:`type_conflicts` (``(what, command, after)``, ``report.next_steps.Step``'s
    fields), in the words of :func:`type_conflict_way`: the source signs the records shipped in the differing
    batch's place (``prov add FILE --source SOURCE`` registers its envelope), the batch is withdrawn beside that."""
    batches = list(conflicts)
    columns = ", ".join(name_in_sentence(c) for c in sorted({c for cols in conflicts.values() for c in cols}))
    withdraw = " && ".join(f"prov withdraw {shell_word(b)} --reason R --key K" for b in batches)
    one = len(batches) == 1
    place = "batch's" if one else "batches'"
    return (
        f"the signed batches disagree on column types ({columns}: {', '.join(batches)} against {base}'s): no file "
        f"matches them all; keep {base}'s types, have the source sign the records you ship in the other "
        f"{place} place (prov sign FILE --source SOURCE --key SOURCE_KEY, on its side), withdraw "
        f"the other batch{'' if one else 'es'}, then commit again",
        f"prov add FILE --source SOURCE && {withdraw} && prov commit DATA --parent {new} --tag NEW --key K",
        " (records added --unsigned instead would bind none of the labels the source signed)",
    )


def types_only_differences(store: Store, schema: dict, batches: list[str]) -> dict[str, tuple[str, str]]:
    """``{column: (signed type, data's type)}`` where the trusted signed ``batches`` sign the same columns as
    ``schema`` (a version's signed ``schema``) with other types, and nothing else differs (no column added or
    removed); empty when any of them differs otherwise, signs no types, or none differs. A record's digest
    includes its column types, so data read with other types (a CSV column of whole numbers read as int64
    where the vendor's Parquet holds double) matches none of the batch's records (newcomer review 30, #4)."""
    now = schema.get("types") or {}
    found = dict(signed_batch_types(store, set(batches)))
    if not now or set(found) != set(batches):
        return {}
    differences: dict[str, tuple[str, str]] = {}
    for types in found.values():
        if set(types) != set(now):
            return {}
        differences.update({c: (t, now[c]) for c, t in sorted(types.items()) if now[c] != t})
    return differences


MAX_SCHEMA_FLAGS = 8  # more columns than this are named as one COLUMN:TYPE pattern with an example


def schema_flags(types: dict[str, str]) -> str:
    """``--schema x:double --schema y:int64``: the exact flags that read each column as ``types`` gives it (newcomer
    review 27, finding 6: the note said only ``--schema COL:TYPE``), each word pasteable (``escaping.shell_word``:
    a column's name is whatever the data's writer chose); past ``MAX_SCHEMA_FLAGS`` columns, ``--schema COLUMN:TYPE
    for each of the 64 columns (--schema px00:double ...)``. A type that is no Arrow type name (a signed string no
    data gave: attack review 30c, A30c-3) is never offered: ``--schema COLUMN:TYPE`` then."""
    if not all(arrow_type_name(t) for t in types.values()):
        return "--schema COLUMN:TYPE"
    flags = [f"--schema {shell_word(f'{c}:{t}')}" for c, t in sorted(types.items())]
    if len(flags) <= MAX_SCHEMA_FLAGS:
        return " ".join(flags)
    return f"--schema COLUMN:TYPE for each of the {len(flags)} columns ({flags[0]} ...)"


def added_column_flags(added: list[str]) -> list[str]:
    """The commit flags that leave columns the data adds to a signed batch's out of the digest:
    ``--source-column`` for one named like a source column, ``--metadata`` for the others (``escaping.shell_word``:
    a name holding a newline or an invisible character pastes back as the same bytes)."""
    source = next((c for c in added if c.lower() in ("source", "src", "provider", "vendor")), None)
    rest = [c for c in added if c != source]
    return ([f"--source-column {shell_word(source)}"] if source else []) + [f"--metadata {shell_word(c)}" for c in rest]


def column_names_text(names: list[str]) -> str:
    """``annotator, source``: columns named in a sentence (``escaping.name_in_sentence``: one not plain ASCII is
    quoted as ``repr`` does)."""
    return ", ".join(name_in_sentence(c) for c in names)


def added_columns_way(added: list[str]) -> str:
    """``"if your own pipeline adds the column annotator, commit with --metadata annotator to leave it out of the
    digest (its values are then signed by no source and scored by no detector); if not, drop it"``
    (:func:`added_column_flags`; newcomer review 24, attack review 24d A24d-2: a column whoever writes the data
    folder adds must not be waved through)."""
    one = len(added) == 1
    names = column_names_text(added)
    return (
        f"if your own pipeline adds the column{'' if one else 's'} {names}, commit with "
        f"{' '.join(added_column_flags(added))} to leave {'it' if one else 'them'} out of the digest ("
        f"{'its' if one else 'their'} values are then signed by no source and scored by no detector); if not, drop "
        f"{'it' if one else 'them'}"
    )


def reads_parquet_only(store: Store, tag: str) -> bool | None:
    """Whether version ``tag``'s signed data location is Parquet only (a ``.parquet`` file, or a folder whose table
    files are all Parquet): ``--schema`` cannot re-read it with other types, as Parquet carries its own (newcomer
    review 31, #1: "re-commit the base with --schema" on a Parquet base changed nothing). False when a CSV or JSON
    Lines file is read; None when unknown (no such folder here, a URL, a revision). Advice only: no check relies
    on it."""
    import os

    from provenance.sources.table_files import list_table_files, table_format
    from provenance.version_facts import verified_statement

    dataset = (verified_statement(store, store.version(tag)).get("predicate") or {}).get("dataset") or {}
    path = str(dataset.get("path") or "")
    if not path or dataset.get("rev") or "://" in path or dataset.get("kind") == "tree":
        return None
    fmt = table_format(path)
    if fmt is not None:
        return fmt == "parquet"
    local = os.path.join(store.base, path)
    try:
        formats = {f.format for f in list_table_files(local).files} if os.path.isdir(local) else set()
    except (InputError, OSError):
        return None
    return formats == {"parquet"} if formats else None
