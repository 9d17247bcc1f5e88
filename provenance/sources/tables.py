"""Tables as records: Parquet, CSV and JSON Lines, a file or a folder of them.

Reading semantics (reader version 2, every new version): the files ``pyarrow.dataset``
reads (``table_files.py``: hidden ``.``/``_`` names skipped, Parquet parts whatever their
names, hive partition folders as columns); Parquet with its own types; CSV and JSON Lines
with types inferred from the whole file (``text_tables.py``) and CSV labels as the text
the file holds. Every column but the label, source, id, metadata and pandas index
(``__index_level_N__``) columns is content. Duplicate column names are refused, and so is a name holding a
NUL byte (no command line can carry one, so no option could name that column), or a column with a struct field
named so at any depth.

Tables are read in batches (Parquet row groups, CSV/JSONL blocks: ``table_reading.py``), so
memory follows the batch, not the dataset. Each file (or range of row groups) is one
partition that a worker hashes on its own. This module holds the read options
(``TableOptions``) and hashing one partition (``hash_table_file``); the label texts and the
rows errors name are ``table_labels.py``'s.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.encoding import (
    ROW_DIGEST_ALGORITHM,
    ROW_DIGEST_ALGORITHM_V1,
    ROW_ENCODING_V1,
    ROW_ENCODING_V2,
    EncodingError,
    table_digest_blob,
    type_name,
)
from provenance.errors import InputError
from provenance.names import capped, did_you_mean
from provenance.sources.table_files import TableFile, list_table_files, table_format
from provenance.sources.table_labels import NOT_UTF8_WAY, label_texts, rows_text
from provenance.sources.table_reading import file_batches, iter_batches, parquet_row_groups, with_partitions
from provenance.sources.text_tables import Restart

if TYPE_CHECKING:
    from provenance.sources.sample_capture import CapturedSample, SampleCapture

# reading is table_reading's and labels table_labels'; their functions are named here too for the modules
# that read through ``tables``
__all__ = [
    "HashedPart",
    "TableFile",
    "TableOptions",
    "file_batches",
    "hash_table_file",
    "iter_batches",
    "label_texts",
    "list_table_files",
    "parquet_row_groups",
    "rows_text",
    "table_format",
    "with_partitions",
]

READER_VERSION = 2  # reading semantics and row encoding of new versions (1: before prov-row-v2)
INDEX_COLUMN = re.compile(r"__index_level_\d+__")


@dataclass(frozen=True)
class TableOptions:
    """How to read records out of a dataset; every field changes which bytes are hashed.

    ``label_column`` holds each record's label; ``source_column`` (optional) its source;
    ``id_column`` (optional) a record id that becomes its locator instead of the row
    number; ``metadata_columns`` are read but not hashed;
    ``schema`` maps CSV/JSONL columns to Arrow type names (``x: "int64"``);
    ``encoding`` is the text encoding of CSV/JSONL files (None: UTF-8, anything else refused);
    ``tree_reader`` names the loader whose rules list a file tree (see ``trees.py``);
    ``reader_version`` is 2 for new versions, 1 for versions read as before prov-row-v2.
    """

    label_column: str = "label"
    source_column: str | None = None
    id_column: str | None = None
    metadata_columns: tuple[str, ...] = ()
    schema: dict[str, str] = field(default_factory=dict)
    reader_version: int = READER_VERSION
    encoding: str | None = None
    tree_reader: str = "imagefolder"

    def excluded(self) -> set[str]:
        """Columns that are not content: label, source, id and metadata columns."""
        out = {self.label_column, *self.metadata_columns}
        out.update(c for c in (self.source_column, self.id_column) if c)
        return out

    def is_content(self, name: str) -> bool:
        """Whether a column goes into the record digest (pandas index columns do not, from v2)."""
        if name in self.excluded():
            return False
        return self.reader_version == 1 or not INDEX_COLUMN.fullmatch(name)

    def to_dict(self) -> dict:
        """Plain JSON-able data, stored with each version (and signed batch)."""
        return {
            "label_column": self.label_column,
            "source_column": self.source_column,
            "id_column": self.id_column,
            "metadata_columns": list(self.metadata_columns),
            "schema": dict(self.schema),
            "reader_version": self.reader_version,
            "encoding": self.encoding,
            "tree_reader": self.tree_reader,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TableOptions:
        """The options ``to_dict`` wrote; options stored before reader versions read as version 1."""
        return cls(
            label_column=d.get("label_column", "label"),
            source_column=d.get("source_column"),
            id_column=d.get("id_column"),
            metadata_columns=tuple(d.get("metadata_columns", ())),
            schema=dict(d.get("schema", {})),
            reader_version=int(d.get("reader_version", 1)),
            encoding=d.get("encoding"),
            tree_reader=d.get("tree_reader", "imagefolder" if "reader_version" in d else "legacy"),
        )

    @property
    def row_encoding(self) -> str:
        """The canonical row encoding these options hash with (``prov-row-v1`` or ``-v2``)."""
        return ROW_ENCODING_V1 if self.reader_version == 1 else ROW_ENCODING_V2

    @property
    def digest_algorithm(self) -> str:
        """The manifest's digest algorithm name for tables read with these options."""
        return ROW_DIGEST_ALGORITHM_V1 if self.reader_version == 1 else ROW_DIGEST_ALGORITHM


@dataclass
class HashedPart:
    """What hashing one partition yields: digests as one blob, the rest as Arrow arrays.

    ``digests`` is the records' 32-byte SHA-256 digests concatenated in row order;
    ``labels``, ``sources`` (null: no source column) and ``locators`` are string arrays,
    one entry per record; ``columns`` the sorted content columns; ``leaves`` the RFC 6962
    leaf hashes once :meth:`finish` ran. ``types`` maps each content column to its type name; ``label_type`` is the label
    column's type name and ``label_kind`` its kind (``string``, ``int``, ``float``, ``bool``).
    """

    digests: bytes = b""
    labels: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    sources: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    locators: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    columns: list[str] = field(default_factory=list)
    leaves: bytes = b""
    types: dict[str, str] = field(default_factory=dict)
    label_type: str = "string"
    label_kind: str = "string"
    where: str = ""  # the file it came from, for messages
    text: bool = False  # read from CSV/JSONL, whose types were inferred
    sample: CapturedSample | None = None  # the profile sample's candidates, if captured (``sample_capture.py``)

    def __len__(self) -> int:
        """The number of records (32-byte digests)."""
        return len(self.digests) // 32

    def finish(self, default_source: str | None) -> HashedPart:
        """Fill the default source and compute leaf hashes, while still in the worker; returns ``self``.

        ``default_source`` replaces null sources (None leaves them null); each leaf hashes a
        record's digest, label (with ``label_kind``) and source (``manifest.leaf_blob``).
        """
        from provenance.manifest import leaf_blob

        if default_source is not None:
            self.sources = pc.fill_null(self.sources, default_source)
        n = len(self)
        digests = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(self.digests)])
        self.leaves = leaf_blob(digests, self.labels, self.sources, self.label_kind)
        return self


def _strings(batch: pa.RecordBatch, name: str) -> pa.Array:
    column = batch.column(name)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


# --- hashing one partition --------------------------------------------------------------


def _nul_field(t: pa.DataType) -> str | None:
    """The first struct field name holding a NUL byte anywhere inside ``t`` (structs, lists, maps, dictionaries and
    extension types, at any depth), or None. A loop, not recursion: a column can nest deeper than Python recurses."""
    stack = [t]
    while stack:
        t = stack.pop()
        if pa.types.is_dictionary(t) or pa.types.is_run_end_encoded(t):
            stack.append(t.value_type)
        elif isinstance(t, pa.ExtensionType):
            stack.append(t.storage_type)
        else:  # a list's item, a map's entries, a struct's fields
            for i in range(t.num_fields):
                child = t.field(i)
                if pa.types.is_struct(t) and "\x00" in child.name:
                    return child.name
                stack.append(child.type)
    return None


def _could_hold_labels(t: pa.DataType, integers: bool = False) -> bool:
    """Whether a column of type ``t`` reads as class labels: text or a dictionary (categorical) column; with
    ``integers``, also an integer or boolean one (class numbers). A float column never does."""
    text = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t)
    return text or (integers and (pa.types.is_integer(t) or pa.types.is_boolean(t)))


def _check_columns(schema: pa.Schema, options: TableOptions, path: str) -> None:
    names = schema.names
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise InputError(f"{path}: column {name!r} appears twice; rename one (readers disagree on which to use)")
        if "\x00" in name:  # attack review 25a, A25a-2: no command line carries a NUL, so no flag could name it
            raise InputError(
                f"{path}: column {name!r} holds a NUL byte, which no command line can carry (--metadata could not "
                "name it); rename it"
            )
        # nor a struct field's name, at any depth: it is part of the column's signed type string, which every
        # reader and tool that keeps names as C strings cuts at the NUL (review 26 leftover of A25a-2)
        field = _nul_field(schema.field(i).type)
        if field is not None:
            raise InputError(
                f"{path}: column {name!r} has a struct field {field!r} holding a NUL byte, which tools that keep "
                "names as C strings cut short; rename the field"
            )
        seen.add(name)
    if options.label_column not in seen:
        # the option to give, and the nearest name (newcomer 9, #11; newcomer 11, #20.3: a did-you-mean alone named no option)
        # the nearest column that could hold labels (text, categorical, integer): 'label' is not 'table', a float
        # column (newcomer review 34, finding 9); the text and categorical columns are named after the columns
        near = did_you_mean(options.label_column, [f.name for f in schema if _could_hold_labels(f.type, True)])
        near = near.strip().removeprefix("(").removesuffix(")")
        labels_like = [f.name for f in schema if _could_hold_labels(f.type)]
        hint = f" (give --label-column NAME{'; ' + near if near else ''})"
        text = f"; text or categorical columns: {capped(labels_like)}" if labels_like else ""
        raise InputError(f"{path}: no label column {options.label_column!r}{hint}; columns: {capped(names)}{text}")
    # newcomer review 11, finding 8: a misspelt --metadata/--schema column, or one naming the label,
    # was accepted and the real column hashed as content: every signed record lost its attestation.
    named = [("--source-column", options.source_column), ("--id-column", options.id_column)]
    named += [("--metadata", c) for c in options.metadata_columns] + [("--schema", c) for c in options.schema]
    for flag, col in named:
        if col and col not in seen:
            hint = did_you_mean(col, names)
            raise InputError(f"{path}: {flag} {col!r}: no such column{hint}; columns: {capped(names)}")
        if col == options.label_column and flag != "--schema":
            raise InputError(f"{path}: {flag} {col!r} is the label column; name another column")


@dataclass
class BatchHashes:
    """What hashing a file's batches collects: per batch its digests, label texts, sources and locators,
    the content types seen first and the label's (type, kind). :func:`hash_batch` appends to it."""

    digests: list[bytes] = field(default_factory=list)
    labels: list[pa.Array] = field(default_factory=list)
    sources: list[pa.Array] = field(default_factory=list)
    locators: list[pa.Array] = field(default_factory=list)
    types: dict[str, str] | None = None
    label: tuple[str, str] = ("string", "string")


def hash_table_file(
    file: TableFile | str,
    options: TableOptions,
    rel: str | None = None,
    prefix_locator: bool = False,
    fs=None,
    row_groups: list[int] | None = None,
    first_row: int = 0,
    forced: dict[str, pa.DataType] | None = None,
    capture: SampleCapture | None = None,
) -> HashedPart:
    """Hash the rows of one table file. Locators are row numbers (``file#row`` in a folder), or the id column's values.

    Each row's content columns are encoded canonically (``options.row_encoding``:
    ``prov-row-v2``, or ``-v1`` for old versions) and hashed with SHA-256.

    Args:
        file: the file (a ``TableFile`` from ``table_files``, or a path).
        options: how to read it.
        rel: the file's name in locators when ``file`` is a path (default its base name).
        prefix_locator: ``file#row`` locators (a folder or several files); else bare row numbers.
        fs: an fsspec filesystem (None: local).
        row_groups: the Parquet row groups to hash (None: all), starting at row ``first_row``.
        first_row: the row number of the first row read, for locators and messages.
        forced: CSV/JSONL column types decided for the whole dataset (``build.py``).
        capture: offered every hashed batch (the profile sample's candidates, ``sample_capture.py``).

    Returns:
        The ``HashedPart`` (not yet finished: no leaf hashes).

    Raises:
        InputError: unreadable file, missing or duplicate columns, columns that change inside
            the file, a bad label, a value with no canonical encoding; each names the file.
    """
    if isinstance(file, str):
        file = TableFile(file, rel or os.path.basename(file), table_format(file) or "")
    if not prefix_locator:
        file = replace(file, rel="")  # a single file's locators are bare row numbers
    acc = BatchHashes()
    row = first_row
    for item in iter_batches(file.path, options, fs, row_groups, file.format, forced, identity=file.identity):
        if isinstance(item, Restart):  # the file's types widened part-way: start it again
            acc, row, item = BatchHashes(), first_row, item.batch
            if capture is not None:
                capture.reset()
        batch = with_partitions(item, file) if options.reader_version > 1 else item
        names = batch.schema.names
        _check_columns(batch.schema, options, file.path)
        content = sorted(c for c in names if options.is_content(c))
        try:
            types = {c: type_name(batch.schema.field(c).type) for c in content}
        except RecursionError as exc:
            raise InputError(f"{file.path}: a column nests lists or maps too deeply to encode") from exc
        if acc.types is None:
            if not content:
                raise InputError(f"{file.path}: no content columns left after label, source, id and metadata")
            acc.types = types
        elif types != acc.types:
            raise InputError(f"{file.path}: columns change inside the file at row {row}")
        hash_batch(batch, content, options, file, row, acc)
        if capture is not None:
            capture.add_batch(batch, content, acc.digests[-1], acc.labels[-1], acc.sources[-1], acc.locators[-1])
        row += batch.num_rows
    return HashedPart(
        digests=b"".join(acc.digests),
        labels=pa.concat_arrays(acc.labels) if acc.labels else pa.array([], pa.string()),
        sources=pa.concat_arrays(acc.sources) if acc.sources else pa.array([], pa.string()),
        locators=pa.concat_arrays(acc.locators) if acc.locators else pa.array([], pa.string()),
        columns=sorted(acc.types or ()),
        types=acc.types or {},
        label_type=acc.label[0],
        label_kind=acc.label[1],
        where=file.path,
        text=file.format in ("csv", "jsonl"),
    )


def hash_batch(batch, content: list[str], options: TableOptions, file: TableFile, row: int, acc: BatchHashes) -> None:
    """Hash one batch of ``file`` (its first row being row ``row``) as a version signs it, appending to ``acc``:
    the digests of ``content`` (32 bytes a row), the label texts, sources and locators (``file#row``, or ids).

    ``prov commit`` and the verifying loader both hash through here, so the two cannot differ.

    Raises:
        InputError: malformed rows, a label that cannot be signed, a value with no canonical
            encoding, an empty id, a label column that changes type; each names the file and rows.
    """
    n, path = batch.num_rows, file.path
    rows = rows_text(file.format, row, row + n - 1)
    try:  # readers can let invalid UTF-8 into string columns (JSON Lines, a hostile Parquet writer)
        batch.validate(full=True)
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc):  # Arrow's index into the string is not the byte's: name the way, not the index
            raise InputError(f"{path}: {rows} hold text that is not UTF-8; {NOT_UTF8_WAY}") from exc
        raise InputError(f"{path}: {rows} are malformed ({str(exc).splitlines()[0]})") from exc
    fmt = file.format
    labels, kind = label_texts(batch.column(options.label_column), options, path, row, fmt == "csv", fmt)
    label = (type_name(batch.schema.field(options.label_column).type), kind)
    if acc.labels and label != acc.label:
        raise InputError(f"{path}: the label column changes type at row {row}")
    acc.label = label
    acc.labels.append(labels)
    try:
        acc.digests.append(table_digest_blob(batch, content, options.row_encoding))
    except (pa.ArrowException, TypeError, OverflowError, EncodingError) as exc:
        raise InputError(f"{path}: cannot encode {rows} ({exc})") from exc
    except UnicodeDecodeError as exc:  # Arrow's JSON reader lets invalid UTF-8 into string columns
        raise InputError(f"{path}: {rows} hold text that is not UTF-8 ({exc.reason}); {NOT_UTF8_WAY}") from exc
    except RecursionError as exc:  # the canonical encoder recurses into nested lists
        raise InputError(f"{path}: {rows} nest lists or maps too deeply to encode") from exc
    acc.sources.append(_strings(batch, options.source_column) if options.source_column else pa.nulls(n, pa.string()))
    if options.id_column:
        ids = _strings(batch, options.id_column)
        if ids.null_count:
            at = row + pc.index(pc.is_null(ids), True).as_py()
            raise InputError(f"{path}: {rows_text(file.format, at)} has an empty id")
        acc.locators.append(ids)
    else:
        numbers = pc.cast(pa.array(np.arange(row, row + n, dtype=np.int64)), pa.string())
        acc.locators.append(pc.binary_join_element_wise(f"{file.rel}#", numbers, "") if file.rel else numbers)
