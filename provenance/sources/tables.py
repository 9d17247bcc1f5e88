"""Tables as records: Parquet, CSV and JSON Lines, a file or a folder of them.

Tables are read in batches (Parquet row groups, CSV/JSONL blocks), so memory follows the
batch, not the dataset. Each file is one partition that a worker hashes on its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from provenance.encoding import (
    ROW_DIGEST_ALGORITHM,
    ROW_DIGEST_ALGORITHM_V1,
    ROW_ENCODING_V1,
    ROW_ENCODING_V2,
    EncodingError,
    table_digest_blob,
)
from provenance.errors import InputError

TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
BATCH_ROWS = 65_536
READER_VERSION = 2  # reading semantics and row encoding of new versions (1: before prov-row-v2)


@dataclass(frozen=True)
class TableOptions:
    """How to read records out of a table; every field changes which bytes are hashed."""

    label_column: str = "label"
    source_column: str | None = None
    id_column: str | None = None
    metadata_columns: tuple[str, ...] = ()
    schema: dict[str, str] = field(default_factory=dict)  # column -> Arrow type name, for CSV/JSONL
    reader_version: int = READER_VERSION  # 1 reads as versions signed before prov-row-v2 were read

    def excluded(self) -> set[str]:
        out = {self.label_column, *self.metadata_columns}
        out.update(c for c in (self.source_column, self.id_column) if c)
        return out

    def to_dict(self) -> dict:
        return {
            "label_column": self.label_column,
            "source_column": self.source_column,
            "id_column": self.id_column,
            "metadata_columns": list(self.metadata_columns),
            "schema": dict(self.schema),
            "reader_version": self.reader_version,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TableOptions:
        return cls(
            label_column=d.get("label_column", "label"),
            source_column=d.get("source_column"),
            id_column=d.get("id_column"),
            metadata_columns=tuple(d.get("metadata_columns", ())),
            schema=dict(d.get("schema", {})),
            reader_version=int(d.get("reader_version", 1)),  # written before the field existed: v1
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
    """What hashing one partition yields: digests as one blob, the rest as Arrow arrays."""

    digests: bytes = b""
    labels: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    sources: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    locators: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    columns: list[str] = field(default_factory=list)
    leaves: bytes = b""

    def __len__(self) -> int:
        return len(self.digests) // 32

    def finish(self, default_source: str | None) -> HashedPart:
        """Fill the default source and compute leaf hashes, while still in the worker."""
        from provenance.manifest import leaf_blob

        if default_source is not None:
            self.sources = pc.fill_null(self.sources, default_source)
        n = len(self)
        digests = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(self.digests)])
        self.leaves = leaf_blob(digests, self.labels, self.sources)
        return self


def table_format(path: str) -> str | None:
    return TABLE_SUFFIXES.get(PurePosixPath(path).suffix.lower())


def list_table_files(root: str, fs=None) -> list[str]:
    """The table files of ``root`` (a file, or a folder searched recursively), sorted."""
    if fs is None:
        if not os.path.exists(root):
            raise InputError(f"{root}: no such file or folder")
        if os.path.isfile(root):
            if table_format(root) is None:
                raise InputError(f"{root}: not a table (expected .parquet, .csv or .jsonl)")
            return [root]
        found = sorted(_walk_tables(root))
    else:
        if not fs.exists(root):
            raise InputError(f"{root}: no such file or folder")
        if fs.isfile(root):
            return [root]
        found = sorted(p for p in fs.find(root) if table_format(p))
    if not found:
        raise InputError(f"{root}: folder holds no .parquet, .csv or .jsonl files")
    return found


def _walk_tables(root: str, first_only: bool = False) -> list[str]:
    """Table files below ``root`` (hidden files and folders skipped), by string ops per folder."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and table_format(name):
                found.append(os.path.join(dirpath, name))
                if first_only:
                    return found
    return found


def has_table_files(root: str) -> bool:
    return bool(_walk_tables(root, first_only=True))


def _arrow_schema(options: TableOptions) -> dict[str, pa.DataType] | None:
    if not options.schema:
        return None
    out = {}
    for name, type_name in options.schema.items():
        try:
            out[name] = pa.type_for_alias(type_name)
        except (ValueError, KeyError) as exc:
            raise InputError(f"schema: unknown type {type_name!r} for column {name!r}") from exc
    return out


def iter_batches(
    path: str, options: TableOptions, fs=None, row_groups: list[int] | None = None
) -> Iterator[pa.RecordBatch]:
    """Record batches of one table file (or some of its Parquet row groups); errors name the file."""
    fmt = table_format(path)
    # A local file through Arrow's own reader, not a Python file object (half the read time);
    # no pre-buffering of every requested row group at once, and no reader threads (workers
    # are processes already): memory follows one row group.
    opener = fs.open if fs is not None else (pa.OSFile if fmt == "parquet" else open)
    try:
        with opener(path, "rb") as fh:
            if fmt == "parquet":
                yield from _parquet_batches(pq.ParquetFile(fh, pre_buffer=False), row_groups)
            elif fmt == "csv":
                types = _arrow_schema(options)
                # Only an empty cell is null: "nan" must stay a float NaN, as in Parquet and JSON.
                convert = pacsv.ConvertOptions(column_types=types or None, null_values=[""], strings_can_be_null=False)
                reader = pacsv.open_csv(fh, convert_options=convert, read_options=pacsv.ReadOptions(block_size=8 << 20))
                yield from reader
            elif fmt == "jsonl":
                types = _arrow_schema(options)
                parse = pajson.ParseOptions(explicit_schema=pa.schema(types)) if types else None
                reader = pajson.open_json(fh, parse_options=parse, read_options=pajson.ReadOptions(block_size=8 << 20))
                yield from reader
            else:
                raise InputError(f"{path}: not a table (expected .parquet, .csv or .jsonl)")
    except InputError:
        raise
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot read {fmt} ({reason})") from exc


COLUMNS_PER_READ = 16


def _parquet_batches(pf: pq.ParquetFile, row_groups: list[int] | None) -> Iterator[pa.RecordBatch]:
    """A Parquet file's row groups as record batches, each row group read 16 columns at a time.

    Arrow's reader holds several times the decoded size of what it reads at once (about 5x
    for float columns a dictionary was tried on); reading a wide row group in column groups
    bounds that part to a fraction, while the decoded row group itself is kept whole.
    """
    names = pf.schema_arrow.names
    for g in range(pf.num_row_groups) if row_groups is None else row_groups:
        if len(names) <= COLUMNS_PER_READ or len(set(names)) < len(names):  # columns are picked by name
            yield from pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[g], use_threads=False)
            continue
        pieces = [
            pf.read_row_group(g, columns=names[i : i + COLUMNS_PER_READ], use_threads=False)
            for i in range(0, len(names), COLUMNS_PER_READ)
        ]
        arrays = [column for piece in pieces for column in piece.columns]
        yield from pa.Table.from_arrays(arrays, schema=pf.schema_arrow).to_batches(max_chunksize=BATCH_ROWS)


def _labels(batch: pa.RecordBatch, options: TableOptions, path: str, first_row: int) -> pa.Array:
    column = batch.column(options.label_column)
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    if not pa.types.is_string(column.type):
        if pa.types.is_floating(column.type):
            bad = pc.is_nan(column)
            if pc.any(bad).as_py():
                row = first_row + pc.index(bad, True).as_py()
                raise InputError(f"{path}: row {row} has a NaN label in column {options.label_column!r}")
        try:
            column = pc.cast(column, pa.string())
        except pa.ArrowException as exc:
            raise InputError(
                f"{path}: label column {options.label_column!r} of type {column.type} cannot be a label"
            ) from exc
    empty = pc.or_kleene(pc.is_null(column), pc.equal(column, ""))
    if pc.any(empty).as_py():
        row = first_row + pc.index(empty, True).as_py()
        raise InputError(f"{path}: row {row} has an empty label in column {options.label_column!r}")
    return column


def _strings(batch: pa.RecordBatch, name: str) -> pa.Array:
    column = batch.column(name)
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def parquet_row_groups(path: str, fs=None) -> list[tuple[int, int]]:
    """``(first row, rows)`` of each row group, so row groups can be hashed apart."""
    opener = fs.open if fs is not None else open
    try:
        with opener(path, "rb") as fh:
            meta = pq.ParquetFile(fh).metadata
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: cannot read parquet ({str(exc).splitlines()[0]})") from exc
    out, row = [], 0
    for i in range(meta.num_row_groups):
        n = meta.row_group(i).num_rows
        out.append((row, n))
        row += n
    return out


def hash_table_file(
    path: str,
    options: TableOptions,
    rel: str,
    prefix_locator: bool,
    fs=None,
    row_groups: list[int] | None = None,
    first_row: int = 0,
) -> HashedPart:
    """Hash the rows of one table file. Locators are row numbers (``file#row`` in a folder)."""
    digests: list[bytes] = []
    labels: list[pa.Array] = []
    sources: list[pa.Array] = []
    locators: list[pa.Array] = []
    row = first_row
    content: list[str] | None = None
    for batch in iter_batches(path, options, fs, row_groups):
        names = batch.schema.names
        if options.label_column not in names:
            raise InputError(f"{path}: no label column {options.label_column!r} (columns: {', '.join(names)})")
        for col in (options.source_column, options.id_column):
            if col and col not in names:
                raise InputError(f"{path}: no column {col!r} (columns: {', '.join(names)})")
        excluded = options.excluded()
        cols = sorted(c for c in names if c not in excluded)
        if content is None:
            content = cols
            if not content:
                raise InputError(f"{path}: no content columns left after label, source, id and metadata")
        elif cols != content:
            raise InputError(f"{path}: columns change inside the file at row {row}")
        n = batch.num_rows
        try:  # readers can let invalid UTF-8 into string columns (JSON Lines, a hostile Parquet writer)
            batch.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise InputError(f"{path}: rows {row}..{row + n - 1} are malformed ({str(exc).splitlines()[0]})") from exc
        labels.append(_labels(batch, options, path, row))
        try:
            digests.append(table_digest_blob(batch, content, options.row_encoding))
        except (pa.ArrowException, TypeError, OverflowError, EncodingError) as exc:
            raise InputError(f"{path}: cannot encode rows {row}..{row + n - 1} ({exc})") from exc
        except UnicodeDecodeError as exc:  # Arrow's JSON reader lets invalid UTF-8 into string columns
            raise InputError(f"{path}: rows {row}..{row + n - 1} hold text that is not UTF-8 ({exc.reason})") from exc
        except RecursionError as exc:  # the canonical encoder recurses into nested lists
            raise InputError(f"{path}: rows {row}..{row + n - 1} nest lists or maps too deeply to encode") from exc
        sources.append(_strings(batch, options.source_column) if options.source_column else pa.nulls(n, pa.string()))
        if options.id_column:
            ids = _strings(batch, options.id_column)
            if ids.null_count:
                raise InputError(f"{path}: row {row + pc.index(pc.is_null(ids), True).as_py()} has an empty id")
            locators.append(ids)
        else:
            numbers = pc.cast(pa.array(np.arange(row, row + n, dtype=np.int64)), pa.string())
            locators.append(pc.binary_join_element_wise(f"{rel}#", numbers, "") if prefix_locator else numbers)
        row += n
    return HashedPart(
        digests=b"".join(digests),
        labels=pa.concat_arrays(labels) if labels else pa.array([], pa.string()),
        sources=pa.concat_arrays(sources) if sources else pa.array([], pa.string()),
        locators=pa.concat_arrays(locators) if locators else pa.array([], pa.string()),
        columns=content or [],
    )
