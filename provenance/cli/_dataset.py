"""The flags that say how to read a dataset, as one bundle every reading command shares.

``@dataset_flags`` adds them to a command's signature (so they read the same everywhere)
and hands the command one ``DatasetFlags`` value, which turns a path into a DatasetSpec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Optional

import typer

from provenance.cli._flags import flag_group
from provenance.errors import InputError

if TYPE_CHECKING:
    from provenance.commit_read_options import ReadOptions
    from provenance.sources.interface import DatasetSpec
    from provenance.store import Store

_FLAGS = [
    ("label_column", str, typer.Option("label", "--label-column", help="Column holding the label.")),
    ("source_column", Optional[str], typer.Option(None, "--source-column", help="Column naming each record's source.")),
    (
        "id_column",
        Optional[str],
        typer.Option(
            None,
            "--id-column",
            help="Column with record ids (used as locators, not hashed). A version read so cannot be a detection "
            "base yet: --metadata COL gives the same digests (attestations hold), with row numbers as locators.",
        ),
    ),
    (
        "metadata",
        list[str],
        typer.Option([], "--metadata", help="Column left out of the content digest (repeatable)."),
    ),
    ("schema", list[str], typer.Option([], "--schema", help="COLUMN:TYPE for CSV/JSONL, e.g. x:double (repeatable).")),
    (
        "labels_csv",
        Optional[str],
        typer.Option(None, "--labels-csv", help="For a file tree: CSV with path,label columns."),
    ),
    ("kind", str, typer.Option("auto", "--kind", help="table, tree or auto.")),
    (
        "encoding",
        Optional[str],
        typer.Option(None, "--encoding", help="Text encoding of CSV/JSON Lines files (default: UTF-8 only)."),
    ),
    (
        "tree_reader",
        str,
        typer.Option(
            "imagefolder",
            "--tree-reader",
            help="Whose rules list a file tree: imagefolder (torchvision), files (every file), hf-imagefolder.",
        ),
    ),
]


@dataclass(frozen=True)
class DatasetFlags:
    label_column: str = "label"
    source_column: str | None = None
    id_column: str | None = None
    metadata: list[str] = field(default_factory=list)
    schema: list[str] = field(default_factory=list)
    labels_csv: str | None = None
    kind: str = "auto"
    encoding: str | None = None
    tree_reader: str = "imagefolder"

    def spec(self, path: str, rev: str | None = None) -> DatasetSpec:
        types = {}
        for item in self.schema:
            # at the last ':': a type name never holds one (``pa.type_for_alias``), a column's name may (attack
            # review 28c, A28c-3: ``ratio:raw:double`` was read as column 'ratio' of type 'raw:double')
            name, sep, type_name = item.rpartition(":")
            if not sep or not name or not type_name:
                raise InputError(f"--schema {item!r}: expected COLUMN:TYPE, e.g. x:double")
            types[name] = type_name
        if self.kind not in ("auto", "table", "tree"):
            raise InputError(f"--kind {self.kind!r}: expected table, tree or auto")
        from provenance.sources.interface import DatasetSpec
        from provenance.sources.tables import TableOptions  # with pyarrow: only commands that read data
        from provenance.sources.trees import READERS

        if self.tree_reader not in READERS:
            raise InputError(f"--tree-reader {self.tree_reader!r}: expected one of {', '.join(READERS)}")
        options = TableOptions(
            self.label_column,
            self.source_column,
            self.id_column,
            tuple(self.metadata),
            types,
            encoding=self.encoding,
            tree_reader=self.tree_reader,
        )
        if rev is not None:
            from provenance.extras import require_dvc

            require_dvc(path, rev)
        if self.kind != "tree":  # at a --rev too, listed through DVC (attack review 32a, A32a-3)
            from provenance.sources.schema_scope import refuse_schema_without_text

            refuse_schema_without_text(path, types, rev=rev)
        return DatasetSpec(path=path, kind=self.kind, options=options, labels_csv=self.labels_csv, rev=rev)


@dataclass(frozen=True)
class VersionReading:
    """How a command reads DATA the way a version read its data (newcomer review 14, findings 5 and 11):
    ``spec`` with every read option not given on the command line taken from version ``tag``'s signed
    options, as ``prov commit`` takes its parent's (``chosen.carried`` says which, ``--label-column target``).
    ``tag`` and ``chosen`` are None when no version gave anything (no version, or none that verifies)."""

    spec: DatasetSpec
    tag: str | None = None
    chosen: ReadOptions | None = None

    def carried(self) -> str | None:
        """``read options as v1: --label-column target``, or None when nothing was taken from the version."""
        if self.chosen is None or not self.chosen.carried:
            return None
        return f"read options as {self.tag}: {'; '.join(self.chosen.carried)}"

    @contextmanager
    def errors_explained(self) -> Iterator[None]:
        """Re-raise an ``InputError`` that names a carried option (a column this data lacks) with where the
        option came from; any other error as it is."""
        try:
            yield
        except InputError as exc:
            explained = exc if self.chosen is None else self.chosen.explained(exc, str(self.tag))
            if explained is exc:
                raise
            raise explained from exc


def read_as_version(
    store: Store, tag: str | None, spec: DatasetSpec, only: frozenset[str] | None = None
) -> VersionReading:
    """``spec`` read with version ``tag``'s signed read options (None: the newest version) for every dataset
    flag this invocation did not give (of ``only``, parameter names such as ``label_column``, when given).
    Taken only from the version's verified statement (``commit_defaults.parent_defaults``); a version that
    does not verify gives nothing (the command then judges it in its own words). Raises ``InputError`` for
    an unknown ``tag``."""
    from provenance.commit_defaults import parent_defaults
    from provenance.commit_read_options import READ_FLAGS, read_options

    defaults = parent_defaults(store, tag)
    if defaults is None or defaults.options is None:
        return VersionReading(spec)
    kept = given_flags() | ({p for p, _ in READ_FLAGS.values()} - only if only is not None else set())
    chosen = read_options(spec.options, kept, defaults)
    return VersionReading(replace(spec, options=chosen.options), defaults.tag, chosen)


def given_flags() -> set[str]:
    """The dataset flags this invocation was given (on the command line or through the environment), by
    parameter name (``metadata``, ``label_column``, ...): what ``prov commit`` must not take from the parent."""
    return {name for name, _, _ in _FLAGS if flag_given(name)}


def flag_given(name: str) -> bool:
    """Whether the running command's parameter ``name`` was given rather than left at its default."""
    # typer (pinned below 0.29) vendors click as typer._click, as cli/_lazy.py imports it
    from typer._click.core import ParameterSource
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    source = ctx.get_parameter_source(name) if ctx is not None else None
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT)


def dataset_flags(fn: Callable) -> Callable:
    """Give a command the dataset flags; it receives them as its ``flags`` argument."""
    return flag_group(fn, "flags", _FLAGS, lambda values: DatasetFlags(**values))
