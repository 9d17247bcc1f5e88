"""A table's labels as text, and the rows and lines that errors name.

``label_texts`` turns a label column into the text each label is compared and shown by
(and signed with its kind: ``encoding.encode_label``); ``rows_text`` names rows the way an
editor shows them. Both serve hashing (``tables.hash_batch``) and the loader's pre-check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from provenance.encoding import label_kind
from provenance.errors import InputError
from provenance.sources import legacy_tables

if TYPE_CHECKING:
    from provenance.sources.tables import TableOptions


def _float_text(value: float) -> str:
    return "0.0" if value == 0 else repr(value)


CSV_MISSING = frozenset(pacsv.ConvertOptions().null_values) - {""}  # "NA", "nan", "null", ...
NOT_UTF8_WAY = "pass --encoding ENC with the file's encoding (e.g. --encoding latin-1)"
TEXT_FIRST_LINE = {"csv": 2, "jsonl": 1}  # the line of row 0 in a text table: a CSV's header is line 1


def rows_text(fmt: str | None, first: int, last: int | None = None) -> str:
    """``row 7`` / ``rows 0..127`` of a table, as errors name them; in a CSV or JSON Lines file the line an editor
    shows, 1-based (``line 9`` / ``lines 2..129``; newcomer review 12, finding 11: "row 50" was line 51)."""
    start = TEXT_FIRST_LINE.get(fmt or "")
    word, shift = ("line", start) if start is not None else ("row", 0)
    if last is None or last == first:
        return f"{word} {first + shift}"
    return f"{word}s {first + shift}..{last + shift}"


def label_texts(
    column: pa.Array,
    options: TableOptions,
    path: str,
    first_row: int,
    from_text: bool = False,
    fmt: str | None = None,
) -> tuple[pa.Array, str]:
    """A label column as the text each label is compared and shown by, and its kind.

    Text labels are kept exactly (no stripping, no Unicode folding); integers are their
    decimal digits, floats the shortest text that gives the same float64 back, booleans
    ``true``/``false``. The kind goes into each Merkle entry (``encode_label``).
    ``from_text``: a CSV label that pandas and pyarrow read as missing (``nan``, ``NA``,
    ``null``...) is refused rather than signed as text a trainer never sees.

    Raises:
        InputError: a type that cannot be a label, or a null, empty or NaN label (named by row).
    """
    if options.reader_version == 1:
        return legacy_tables.labels(column, options, path, first_row), "string"
    name = options.label_column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = label_kind(column.type)
    if kind is None:
        raise InputError(
            f"{path}: label column {name!r} has type {column.type}; a label is text, an integer, a float or a boolean"
        )
    if column.null_count:
        row = first_row + pc.index(pc.is_null(column), True).as_py()
        raise InputError(f"{path}: {rows_text(fmt, row)} has an empty label in column {name!r}")
    if kind == "float":
        nan = pc.is_nan(column)
        if pc.any(nan).as_py():
            raise InputError(
                f"{path}: {rows_text(fmt, first_row + pc.index(nan, True).as_py())} has a NaN label in column {name!r}"
            )
        encoded = pc.dictionary_encode(column.cast(pa.float64()))
        texts = pa.array([_float_text(v) for v in encoded.dictionary.to_pylist()], pa.string())
        return texts.take(encoded.indices), kind
    if kind == "string":
        column = column.cast(pa.string())
        empty = pc.equal(column, "")
        if pc.any(empty).as_py():
            raise InputError(
                f"{path}: {rows_text(fmt, first_row + pc.index(empty, True).as_py())} has an empty label in column "
                f"{name!r}"
            )
        if from_text:
            missing = pc.is_in(column, pa.array(sorted(CSV_MISSING), pa.string()))
            if pc.any(missing).as_py():
                at = pc.index(missing, True).as_py()
                raise InputError(
                    f"{path}: {rows_text(fmt, first_row + at)} has a NaN label in column {name!r} "
                    f"({column[at].as_py()!r} is read as missing by pandas and pyarrow)"
                )
        return column, kind
    return column.cast(pa.string()), kind  # int: its digits; bool: true/false
