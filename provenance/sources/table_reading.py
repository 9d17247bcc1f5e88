"""Reading one table file as the dataset reads it: Parquet, CSV and JSON Lines, in record batches.

Parquet with its own types, a wide row group decoded 16 columns at a time; CSV and JSON
Lines through ``text_tables`` (types inferred from the whole file; a file whose types widen
part-way is read again from its start). Hive partition folders become columns
(``with_partitions``), as ``pyarrow.dataset`` adds them. Hashing (``tables``), the
verifying loader and ``prov quarantine`` all read through here, so they read the same rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from provenance.errors import InputError
from provenance.sources import legacy_tables, text_tables
from provenance.sources.file_identity import Identity, check_handle, check_path, opener
from provenance.sources.table_files import TableFile, table_format
from provenance.sources.text_tables import Restart

if TYPE_CHECKING:
    from provenance.sources.tables import TableOptions

BATCH_ROWS = 65_536  # rows per record batch read from a Parquet row group
_ARROW_ROW = re.compile(r"\bin row (\d+)\b")  # where Arrow's JSON reader says a parse error is
COLUMNS_PER_READ = 16  # columns of a wide Parquet row group decoded at once (see _parquet_batches)


def _parquet_batches(
    pf: pq.ParquetFile, row_groups: list[int] | None, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """A Parquet file's row groups as record batches, each row group read 16 columns at a time.

    Arrow's reader holds several times the decoded size of what it reads at once (about 5x
    for float columns a dictionary was tried on); reading a wide row group in column groups
    bounds that part to a fraction, while the decoded row group itself is kept whole. What a
    row group needs is checked against ``PROV_MEMORY_LIMIT`` before hashing (``memory.py``).

    ``columns``: read only the file's columns of these names, in the file's order (every
    column when None, or when the file repeats a name: columns are picked by name).
    """
    schema = pf.schema_arrow
    names = schema.names
    if columns and len(set(names)) == len(names) and set(columns) & set(names):
        wanted = set(columns)
        names = [n for n in names if n in wanted]
        schema = pa.schema([schema.field(n) for n in names], metadata=schema.metadata)
    else:
        columns = None
    for g in range(pf.num_row_groups) if row_groups is None else row_groups:
        claimed, read = pf.metadata.row_group(g).num_rows, 0
        if len(names) <= COLUMNS_PER_READ or len(set(names)) < len(names):  # columns are picked by name
            for batch in pf.iter_batches(
                batch_size=BATCH_ROWS, row_groups=[g], columns=columns and names, use_threads=False
            ):
                read += batch.num_rows
                yield batch
        else:
            pieces = [
                pf.read_row_group(g, columns=names[i : i + COLUMNS_PER_READ], use_threads=False)
                for i in range(0, len(names), COLUMNS_PER_READ)
            ]
            arrays = [column for piece in pieces for column in piece.columns]
            table = pa.Table.from_arrays(arrays, schema=schema)
            read = table.num_rows
            yield from table.to_batches(max_chunksize=BATCH_ROWS)
        if read != claimed:  # a footer that lies: partitions start at its counts (attack review 26g)
            raise ValueError(f"row group {g} holds {read} rows where the file's footer says {claimed}")


def iter_batches(
    path: str,
    options: TableOptions,
    fs=None,
    row_groups: list[int] | None = None,
    fmt: str | None = None,
    forced: dict[str, pa.DataType] | None = None,
    columns: list[str] | None = None,
    identity: Identity | None = None,
) -> Iterator:
    """Record batches of one table file (or some of its Parquet row groups).

    A CSV/JSONL file whose types widen part-way is read again from its start: that first
    batch comes wrapped in :class:`~provenance.sources.text_tables.Restart`. ``forced``
    gives CSV/JSONL column types decided for the whole dataset (``build.py``). ``columns``
    lets a Parquet file be read for those of its columns alone (see ``_parquet_batches``);
    other formats are read whole. ``identity``: the file's when it was listed (``TableFile.identity``);
    each handle opened is checked against it before and after it is read (``file_identity.py``).

    Raises:
        InputError: the file cannot be read as its format; the message names the file.
        FileChanged: the file is not the one listed, or changed while it was read (exit 2).
    """
    fmt = fmt or table_format(path)
    if options.reader_version == 1:
        yield from legacy_tables.iter_batches(path, options, fs, row_groups, fmt, opener(fs, identity))
        check_path(path, identity)
        return
    try:
        if fmt == "parquet":
            # A local file through Arrow's own reader, not a Python file object (half the read
            # time); no pre-buffering or reader threads (workers are processes already).
            with (fs.open if fs is not None else pa.OSFile)(path, "rb") as fh:
                if fs is None:
                    check_handle(path, fh.fileno(), identity)
                yield from _parquet_batches(pq.ParquetFile(fh, pre_buffer=False), row_groups, columns)
                if fs is None:  # written to in place while it was read
                    check_handle(path, fh.fileno(), identity)
        elif fmt == "csv":
            text = {c for c in (options.label_column, options.source_column, options.id_column) if c}
            types = {**(forced or {}), **text_tables.arrow_types(options.schema)}
            yield from text_tables.csv_batches(opener(fs, identity), path, text, types, options.encoding)
            check_path(path, identity)
        elif fmt == "jsonl":
            types = {**(forced or {}), **text_tables.arrow_types(options.schema)}
            yield from text_tables.jsonl_batches(opener(fs, identity), path, types, options.encoding)
            check_path(path, identity)
        else:
            raise InputError(f"{path}: not a table (expected Parquet, .csv or .jsonl)")
    except InputError:
        raise
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if fmt == "jsonl":  # Arrow counts rows from 0: an editor shows "row 50" as line 51
            reason = _ARROW_ROW.sub(lambda m: f"on line {int(m.group(1)) + 1}", reason)
        raise InputError(f"{path}: cannot read {fmt} ({reason})") from exc


def parquet_row_groups(path: str, fs=None, identity: Identity | None = None) -> list[tuple[int, int]]:
    """``(first row, rows)`` of each row group, so row groups can be hashed apart.

    Reads the Parquet footer only. ``fs`` is an fsspec filesystem (None: local); ``identity``
    the file's when listed (the footer read must be of that file: ``file_identity.py``).

    Raises:
        InputError: the file cannot be opened or is not Parquet, naming it (exit 2).
        FileChanged: the file is not the one listed (exit 2).
    """
    try:
        with opener(fs, identity)(path, "rb") as fh:
            meta = pq.ParquetFile(fh).metadata
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: cannot read parquet ({str(exc).splitlines()[0]})") from exc
    out, row = [], 0
    for i in range(meta.num_row_groups):
        n = meta.row_group(i).num_rows
        out.append((row, n))
        row += n
    return out


def file_batches(
    file: TableFile,
    options: TableOptions,
    fs=None,
    row_groups: list[int] | None = None,
    columns: list[str] | None = None,
) -> Iterator:
    """Batches of one dataset file as the dataset reads it, partition columns included, in one
    pass with its final types (a CSV/JSONL file whose types widen is first read to settle them).
    ``columns``: of a Parquet file, read only these (partition columns are added all the same).

    Raises:
        InputError: as :func:`iter_batches`, and a partition column that is also in the file.
    """
    forced = None
    if file.format in ("csv", "jsonl") and options.reader_version > 1:
        settled = None
        for item in iter_batches(file.path, options, fs, row_groups, file.format, identity=file.identity):
            if settled is None or isinstance(item, Restart):
                settled = (item.batch if isinstance(item, Restart) else item).schema
        forced = {f.name: f.type for f in settled} if settled is not None else None
    for item in iter_batches(file.path, options, fs, row_groups, file.format, forced, columns, file.identity):
        batch = item.batch if isinstance(item, Restart) else item
        yield with_partitions(batch, file) if options.reader_version > 1 else batch


def with_partitions(batch: pa.RecordBatch, file: TableFile) -> pa.RecordBatch:
    """The batch with the file's hive partition values as columns (what pyarrow.dataset adds).

    Raises:
        InputError: a partition key that is also a column of the file.
    """
    for name, type_name_, value in file.partition:
        if name in batch.schema.names:
            raise InputError(f"{file.path}: column {name!r} is both in the file and a partition folder ({name}=...)")
        batch = batch.append_column(name, pa.array([value] * batch.num_rows, pa.type_for_alias(type_name_)))
    return batch
