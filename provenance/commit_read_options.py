"""The read options ``prov commit`` takes from its parent version when a dataset flag is not given.

A commit that forgot ``--metadata`` read the same file another way, so every record got a new digest and lost its
attestation while ``prov status`` called the data unchanged (newcomer review 11, finding 7). So every read option not
given defaults to the parent's *signed* one (``commit_defaults.parent_defaults`` reads it from the parent's verified
statement); one given that differs from the parent's is said, since it changes the records' digests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance.errors import InputError
from provenance.escaping import name_in_sentence, visible
from provenance.sources.tables import TableOptions

if TYPE_CHECKING:
    from provenance.commit_defaults import ParentDefaults

# TableOptions field -> (the dataset flag's parameter name, the flag as typed)
READ_FLAGS = {
    "label_column": ("label_column", "--label-column"),
    "source_column": ("source_column", "--source-column"),
    "id_column": ("id_column", "--id-column"),
    "metadata_columns": ("metadata", "--metadata"),
    "schema": ("schema", "--schema"),
    "encoding": ("encoding", "--encoding"),
    "tree_reader": ("tree_reader", "--tree-reader"),
}


@dataclass(frozen=True)
class ReadOptions:
    """The options a commit reads with, and what it says about them: ``carried`` flags taken from the
    parent (``--metadata annotator, labelled_at``), ``differing`` flags given here that the parent
    read otherwise (``--metadata item_id (v4: annotator, labelled_at)``)."""

    options: TableOptions
    carried: list[str]
    differing: list[str]
    carried_names: frozenset[str] = frozenset()  # the carried flags and the columns they name

    def without_carried_schema(self, path: str, rev: str | None = None) -> ReadOptions:
        """These options without a ``--schema`` carried from the parent when ``path`` (the new input, at git
        revision ``rev`` through DVC when given: attack review 32a, A32a-3) holds Parquet files only
        (``sources.schema_scope.parquet_only``): it would type nothing, yet be signed and inherited (attack review
        31d, A31d-3: a CSV parent's schema signed onto a Parquet version). The carried text then says it was not
        carried; a schema given here, or none carried, leaves them as they are."""
        from provenance.sources.schema_scope import parquet_only

        flag = READ_FLAGS["schema"][1]
        entry = next((c for c in self.carried if c.startswith(f"{flag} ")), None)
        if entry is None or not parquet_only(path, rev):
            return self
        note = f"{entry} not carried ({visible(path)} is Parquet only, which carries its own column types)"
        return dataclasses.replace(
            self,
            options=dataclasses.replace(self.options, schema=TableOptions().schema),
            carried=[note if c == entry else c for c in self.carried],
        )

    def blamed(self, message: str) -> bool:
        """Whether an error ``message`` names a carried flag or a column a carried option names."""
        return any(name in message for name in self.carried_names)

    def explained(self, exc: InputError, tag: str, way_out: str = "give the options this data needs") -> InputError:
        """``exc`` with where its carried options came from (``tag``) and ``way_out`` when it names one of
        them (a column the data no longer has), else ``exc`` itself."""
        if not self.blamed(str(exc)):
            return exc
        return InputError(f"{exc} (read options as {tag}: {'; '.join(self.carried)}; {way_out})")


def read_options(given: TableOptions, explicit: set[str] | None, parent: ParentDefaults | None) -> ReadOptions:
    """``given`` with every option not in ``explicit`` (the dataset flags' parameter names given on the
    command line; None: all of them) taken from the parent's signed options; the carried and differing
    flags as text."""
    if parent is None or parent.options is None:
        return ReadOptions(given, [], [])
    default = TableOptions()
    changes: dict[str, Any] = {}
    carried: list[str] = []
    differing: list[str] = []
    names: set[str] = set()
    # a column the options given name is not given another role by a carried one: `--metadata item_id` for a
    # parent read with `--id-column item_id` (what the no-profile note advises) drops the carried id column
    taken = _columns(
        given, set(READ_FLAGS) if explicit is None else {n for n, (p, _) in READ_FLAGS.items() if p in explicit}
    )
    for name, (param, flag) in READ_FLAGS.items():
        mine, theirs = getattr(given, name), getattr(parent.options, name)
        if name == "tree_reader" and theirs == "legacy":  # a reader-version-1 listing: new versions read as today
            continue
        if explicit is None or param in explicit:
            if _key(mine) != _key(theirs):
                differing.append(f"{flag} {_shown(mine)} ({parent.tag}: {_shown(theirs)})")
            continue
        if name in ("source_column", "id_column") and theirs in taken:
            theirs = None
        elif name == "metadata_columns":
            theirs = tuple(c for c in theirs if c not in taken)
        if mine != theirs:
            changes[name] = theirs
            if theirs != getattr(default, name):
                carried.append(f"{flag} {_shown(theirs)}")
                names.add(flag)
                names.update(repr(c) for c in (theirs if isinstance(theirs, (tuple, dict)) else [theirs]))
    return ReadOptions(dataclasses.replace(given, **changes), carried, differing, frozenset(names))


def _columns(options: TableOptions, fields: set[str]) -> set[str]:
    """The columns ``options``' ``fields`` name (label, source, id and metadata columns)."""
    out: set[str] = set()
    for name in fields & {"label_column", "source_column", "id_column"}:
        if getattr(options, name):
            out.add(getattr(options, name))
    if "metadata_columns" in fields:
        out.update(options.metadata_columns)
    return out


def _key(value: object) -> object:
    """A value compared as reading sees it: the metadata columns as a set (their order changes no digest)."""
    return tuple(sorted(value)) if isinstance(value, tuple) else value


def _shown(value: object) -> str:
    """An option's value as a user would read it: ``annotator, labelled_at``, ``x:double``, ``none``; each column
    name that is not plain quoted by ``escaping.name_in_sentence`` (``repr``), as whoever writes the
    data chose it: a name holding a newline would start a line of prov commit's own (attack review 25a, A25a-5),
    one holding ``, `` would read as two columns (attack review 26a, A26a-4)."""
    if isinstance(value, dict):
        return ", ".join(f"{name_in_sentence(str(k))}:{visible(v)}" for k, v in sorted(value.items())) or "none"
    if isinstance(value, (tuple, list)):
        return ", ".join(name_in_sentence(str(v)) for v in value) or "none"
    return "none" if value is None else name_in_sentence(str(value))
