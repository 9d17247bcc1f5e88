"""Reading as versions signed before prov-row-v2 were read (reader version 1), kept so they verify.

Version 1 read CSV and JSON Lines with Arrow's streaming readers (types from the first
block; only an empty CSV cell was null), and turned every label into text with Arrow's
cast (so ``007`` read as an integer became ``7`` and ``1.0`` became ``1``). New versions
never read this way; see ``tables.py`` for the semantics they use.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from provenance.errors import InputError
from provenance.sources.text_tables import arrow_types


def iter_batches(
    path: str, options, fs, row_groups: list[int] | None, fmt: str | None, opener=None
) -> Iterator[pa.RecordBatch]:
    """Record batches of one file as reader version 1 read them; ``opener`` opens it (default ``fs.open`` or ``open``).

    Raises:
        InputError: the file cannot be read as its format; the message names the file.
    """
    opener = opener or (fs.open if fs is not None else open)
    try:
        with opener(path, "rb") as fh:
            if fmt == "parquet":
                yield from pq.ParquetFile(fh).iter_batches(batch_size=65_536, row_groups=row_groups)
            elif fmt == "csv":
                convert = pacsv.ConvertOptions(
                    column_types=(arrow_types(options.schema) or None), null_values=[""], strings_can_be_null=False
                )
                read = pacsv.ReadOptions(block_size=8 << 20)
                yield from pacsv.open_csv(fh, convert_options=convert, read_options=read)
            elif fmt == "jsonl":
                types = arrow_types(options.schema) or None
                parse = pajson.ParseOptions(explicit_schema=pa.schema(types)) if types else None
                yield from pajson.open_json(
                    fh, parse_options=parse, read_options=pajson.ReadOptions(block_size=8 << 20)
                )
            else:
                raise InputError(f"{path}: not a table (expected .parquet, .csv or .jsonl)")
    except InputError:
        raise
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot read {fmt} ({reason})") from exc


def labels(column: pa.Array, options, path: str, first_row: int) -> pa.Array:
    """A label column as reader version 1 made it text (Arrow's cast; NaN and empty refused).

    Raises:
        InputError: a NaN or empty label, or a type Arrow cannot cast to text.
    """
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
