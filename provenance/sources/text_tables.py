"""CSV and JSON Lines read as pyarrow reads a whole file: types inferred from every row.

Arrow's streaming readers infer column types from the first block (8 MiB) and fail on a
later value that does not fit, so what a file "is" would depend on where its blocks fall.
``pyarrow.csv.read_csv`` instead widens a column's type until every value converts, in a
fixed order (null, int64, bool, float64, date32, time32[s], timestamp[s], timestamp[ns],
string, binary). We stream (memory follows the block) and, when a later block needs a
wider type, read the file again with that column's type forced to the next one in the same
order, so the result equals ``read_csv`` on the whole file. JSON Lines: types unified over
every block (``pyarrow.json.read_json``'s rules: null < int64 < double, fields merged).

CSV carries no types, so the label, source and id columns are always text: ``007`` stays
``007`` and a padded label keeps its spaces. Text must be UTF-8 unless an ``--encoding``
is given; a row larger than the row limit is an input error naming the limit.
"""

from __future__ import annotations

import codecs
import io
import os
import re
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from provenance.errors import InputError

ROW_LIMIT_ENV = "PROV_MAX_ROW_BYTES"
DEFAULT_ROW_LIMIT = 16 << 20  # also the read block: one block holds at least one whole row
CSV_ORDER = [
    pa.null(),
    pa.int64(),
    pa.bool_(),
    pa.float64(),
    pa.date32(),
    pa.time32("s"),
    pa.timestamp("s"),
    pa.timestamp("ns"),
    pa.string(),
]
_CSV_ERROR = re.compile(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to ([^:]+):")
_JSON_TYPE_ERROR = re.compile(r"(changed from \w+ to \w+|Failed to convert JSON to|unexpected field)")


def row_limit() -> int:
    """The largest CSV/JSONL row prov reads, in bytes (``PROV_MAX_ROW_BYTES``, default 16 MiB)."""
    raw = os.environ.get(ROW_LIMIT_ENV)
    if not raw:
        return DEFAULT_ROW_LIMIT
    try:
        value = int(raw)
    except ValueError as exc:
        raise InputError(f"{ROW_LIMIT_ENV}={raw!r}: expected a number of bytes") from exc
    if value < 1024:
        raise InputError(f"{ROW_LIMIT_ENV}={raw!r}: must be at least 1024 bytes")
    return value


def arrow_types(schema: dict[str, str]) -> dict[str, pa.DataType]:
    """``--schema`` type names as Arrow types.

    Raises:
        InputError: a type name Arrow does not know, naming the column.
    """
    out = {}
    for name, type_name in schema.items():
        try:
            out[name] = pa.type_for_alias(type_name)
        except (ValueError, KeyError) as exc:
            raise InputError(f"schema: unknown type {type_name!r} for column {name!r}") from exc
    return out


def check_encoding(name: str | None) -> None:
    """Refuse an ``--encoding`` Python does not know, before any file is read."""
    if name is None:
        return
    try:
        codecs.lookup(name)
    except LookupError as exc:
        raise InputError(
            f"--encoding {name!r}: not a text encoding Python knows (e.g. utf-8, latin-1, cp1252)"
        ) from exc


def _too_big(path: str) -> InputError:
    return InputError(
        f"{path}: a row is larger than the {row_limit()}-byte limit for one CSV/JSON Lines row; "
        f"raise it with {ROW_LIMIT_ENV}=<bytes> if the file is trusted"
    )


def _check_header_utf8(fh, path: str) -> None:
    head = fh.read(1 << 16)
    fh.seek(0)
    line = head.split(b"\n", 1)[0]
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(line) < len(head) or len(head) < (1 << 16):  # the whole header was read: it is not UTF-8
            raise InputError(f"{path}: header is not UTF-8 text; pass --encoding (e.g. --encoding latin-1)") from exc


def _next_csv_type(current: pa.DataType) -> pa.DataType | None:
    if pa.types.is_timestamp(current):
        return pa.timestamp("ns", current.tz) if current.unit == "s" else pa.string()
    try:
        i = CSV_ORDER.index(current)
    except ValueError:
        return None
    return CSV_ORDER[i + 1] if i + 1 < len(CSV_ORDER) else None  # past string: not UTF-8, refused


def _csv_reader(fh, forced: dict[str, pa.DataType], encoding: str | None):
    read = pacsv.ReadOptions(block_size=row_limit(), encoding=encoding or "utf8")
    convert = pacsv.ConvertOptions(column_types=forced or None)
    return pacsv.open_csv(fh, read_options=read, convert_options=convert)


def _header_names(fh, path: str, encoding: str | None) -> list[str]:
    """The column names, parsed by Arrow from the header line alone (no values converted)."""
    head = fh.read(1 << 20)
    fh.seek(0)
    quoted, cut = False, len(head)
    for i, byte in enumerate(head):
        if byte == 0x22:  # '"'
            quoted = not quoted
        elif byte == 0x0A and not quoted:
            cut = i + 1
            break
    read = pacsv.ReadOptions(encoding=encoding or "utf8")
    convert = pacsv.ConvertOptions(include_columns=None)
    try:
        return pacsv.read_csv(io.BytesIO(head[:cut] + b"\n"), read_options=read, convert_options=convert).column_names
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise InputError(f"{path}: empty CSV file (no header)") from exc
        raise


def csv_batches(
    opener, path: str, text_columns: set[str], schema: dict[str, pa.DataType], encoding: str | None
) -> Iterator:
    """Record batches of a CSV file with whole-file type inference.

    Args:
        opener: a function that opens ``path`` for binary reading.
        text_columns: columns always read as text (label, source, id).
        schema: explicit types (``--schema``); they are not inferred.
        encoding: the file's text encoding, or None for UTF-8 (anything else is refused).

    Yields record batches; a batch wrapped in :class:`Restart` begins the file again with
    wider types (a later block needed them), and every batch after it has the final schema.

    Raises:
        InputError: unreadable CSV, not UTF-8, a row past the limit, duplicate names.
    """
    forced = dict(schema)
    yielded = False
    for _ in range(64 * len(CSV_ORDER)):
        with opener(path, "rb") as fh:
            if encoding is None:
                _check_header_utf8(fh, path)
            names = _header_names(fh, path, encoding)
            _check_names(names, path)
            forced.update({n: pa.string() for n in text_columns if n in names and n not in schema})
            reader = None
            try:
                reader = _csv_reader(fh, forced, encoding)
                _check_text(reader.schema, path)
                first = True
                for batch in reader:
                    yield Restart(batch) if first and yielded else batch
                    first, yielded = False, True
                return
            except pa.ArrowInvalid as exc:
                message = str(exc)
                if "straddling" in message:
                    raise _too_big(path) from exc
                found = _CSV_ERROR.search(message)
                if not found or int(found.group(1)) >= len(names):
                    raise
                name = names[int(found.group(1))]
                if name in schema or name in text_columns:  # a type the user (or CSV's rules) fixed
                    raise _conversion_error(path, name, forced.get(name, pa.string()), message) from exc
                current = forced.get(name) or (reader.schema.field(name).type if reader else pa.string())
                wider = _next_csv_type(current)
                if wider is None:
                    raise _conversion_error(path, name, current, message) from exc
                forced[name] = wider
    raise InputError(f"{path}: column types did not settle")  # unreachable: each retry widens a column


class Restart:
    """A first batch after a re-read with wider types: callers drop what they kept of the file."""

    def __init__(self, batch: pa.RecordBatch):
        self.batch = batch


def _conversion_error(path: str, name: str, current, message: str) -> InputError:
    if "UTF8" in message or "UTF-8" in message:
        return InputError(f"{path}: column {name!r} is not UTF-8 text; pass --encoding (e.g. --encoding latin-1)")
    detail = message.split(": ", 2)[-1] if ": " in message else message
    return InputError(f"{path}: column {name!r} cannot be read as {current} ({detail})")


def _check_text(schema: pa.Schema, path: str) -> None:
    for f in schema:
        if pa.types.is_binary(f.type):
            raise InputError(f"{path}: column {f.name!r} is not UTF-8 text; pass --encoding (e.g. --encoding latin-1)")


def _check_names(names: list[str], path: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(
                f"{path}: column {name!r} appears twice; rename one (readers would disagree on which to use)"
            )
        seen.add(name)


# --- JSON Lines ---------------------------------------------------------------------------


def _json_block_schemas(opener, path: str, encoding: str | None) -> pa.Schema:
    """Every block's inferred schema, unified as ``read_json`` unifies them (whole file)."""
    schemas = []
    block = row_limit()
    with opener(path, "rb") as fh:
        rest = b""
        while True:
            chunk = fh.read(block)
            data = rest + chunk
            if not chunk:
                cut = len(data)
            else:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    if len(data) > block:
                        raise _too_big(path)
                    rest = data
                    continue
            piece, rest = data[:cut], data[cut:]
            if piece.strip():
                if encoding is not None:
                    piece = piece.decode(encoding).encode("utf-8")
                schemas.append(pajson.read_json(io.BytesIO(piece)).schema)
            if not chunk:
                break
    try:
        return pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"{path}: a JSON Lines column holds values of two types ({str(exc).splitlines()[0]})") from exc


def jsonl_batches(opener, path: str, schema: dict[str, pa.DataType], encoding: str | None) -> Iterator:
    """Record batches of a JSON Lines file, types unified over the whole file (see module doc).

    Raises:
        InputError: unreadable JSON, a column mixing numbers and text, a row past the limit.
    """
    explicit = pa.schema(list(schema.items())) if schema else None
    for attempt in range(2):
        with opener(path, "rb") as fh:
            source = fh
            if encoding is not None:
                source = io.BytesIO(fh.read().decode(encoding).encode("utf-8"))
            parse = pajson.ParseOptions(explicit_schema=explicit) if explicit is not None else None
            read = pajson.ReadOptions(block_size=row_limit())
            try:
                reader = pajson.open_json(source, parse_options=parse, read_options=read)
                _check_names(reader.schema.names, path)
                first = True
                for batch in reader:
                    yield Restart(batch) if first and attempt else batch
                    first = False
                return
            except pa.ArrowInvalid as exc:
                message = str(exc)
                if "straddling" in message:
                    raise _too_big(path) from exc
                if attempt or not _JSON_TYPE_ERROR.search(message):
                    raise
        unified = _json_block_schemas(opener, path, encoding)
        fields = [schema.get(f.name, f.type) for f in unified] if schema else None
        explicit = pa.schema(list(zip(unified.names, fields))) if fields else unified
