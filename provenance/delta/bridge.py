"""Records a schema change re-keyed, paired with base records by content (attack review 11b, R11-1).

A retyped or added column changes every record digest. Pairing the old and new records by
locator (the same row) lets whoever writes the new table choose the pairs: reorder the
rows and a flipped label sits where the base had the new label, so no relabel is counted,
and an honest re-export in another row order reads as a thousand relabels. So the new
side's records are re-encoded under the **base's signed types** and their digests matched
against the base manifest instead: a record whose re-encoding is the digest of a base record
*is* that record (its values are the same numbers), whatever row it sits at.

What counts as re-encoding without loss (``LOSSLESS``), per value, so one changed value leaves
only its own record unpaired:

- a numeric column retyped between integer and floating types (``int64 -> double`` and back,
  widths, signedness) when the value converts exactly both ways: an integral float within
  the integer type's range, an integer a float type holds exactly (within 2^53 for ``double``,
  2^24 for ``float``), a ``double`` that ``float`` holds exactly; nulls stay null. ``0.5``
  cast to an integer is not exact, so that record does not pair;
- a column the new side **added** that holds one value in every re-keyed record (a constant
  ``split = "train"``): it carries nothing about any one record, so it is left out. A column
  that varies could carry a trigger, so then no record pairs by content;
- a column **renamed** one to one (:func:`renamed`: a base column the new side lacks and exactly
  one added column of the same signed type): its values are read under the base's name. A
  record whose values changed with the rename re-encodes to no base digest and stays added.

A **removed** column cannot be bridged this way (the base's values are not in its manifest), so
``delta.content_pairs`` compares both sides on the columns they share instead (:func:`dropped` and
:func:`on_shared_columns`): the base's removed records are read again too, each re-hashed against
its signed digest, and both sides re-encoded without the dropped columns.

Nothing else is bridged: a rename
that is ambiguous or changes the type, another type (strings, dates, decimals), or another row encoding. Then the
records are paired by locator as before (``schema.rekey``) and scored as changed.

The base's types come from its signed statement (``Side.schema``), never from a row; the new
side's records are read from where the new version signed its data and each is re-hashed
against its own manifest digest first (``version_facts.read_version_records``), so a record
pairs only when its signed content is the base record's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.encoding import ROW_ENCODING_V1, ROW_ENCODING_V2, table_digest_blob

NUMERIC: dict[str, np.dtype[Any]] = {f"{s}int{w}": np.dtype(f"{s}int{w}") for s in ("", "u") for w in (8, 16, 32, 64)}
NUMERIC |= {"float": np.dtype(np.float32), "double": np.dtype(np.float64)}
EXACT_INT_IN_FLOAT: dict[np.dtype[Any], int] = {np.dtype(np.float32): 2**24, np.dtype(np.float64): 2**53}
LOSSLESS = "integer <-> float of exact values; an added column constant over the re-keyed records; a one-to-one rename"

Reader = Callable[[list[str], list[bytes]], pa.Table]  # locators, digests -> the rows' content columns, verified


def row_encoding(schema: dict) -> str:
    """The row encoding (``prov-row-v2``) of a signed schema's ``digestAlgorithm`` (``sha256/prov-row-v2``)."""
    return str(schema.get("digestAlgorithm") or "").removeprefix("sha256/")


def not_bridgeable(base: dict, new: dict) -> str | None:
    """Why the new side's records cannot be re-encoded under the base's signed schema (None: they may be).

    ``base``/``new`` are the two sides' signed ``schema`` facts."""
    if base.get("kind") != "table" or new.get("kind") != "table":
        return "file trees have no column types"
    if "types" not in base or "types" not in new:
        return "a version signed before column types were"
    if base.get("digestAlgorithm") != new.get("digestAlgorithm"):
        return f"the row encoding changed ({base.get('digestAlgorithm')} -> {new.get('digestAlgorithm')})"
    if row_encoding(base) not in (ROW_ENCODING_V1, ROW_ENCODING_V2):
        return f"unknown row encoding {base.get('digestAlgorithm')!r}"
    old, now = base["types"], new["types"]
    renames = renamed(old, now)
    gone = sorted(old.keys() - now.keys() - renames.keys())
    if gone:
        return f"column {gone[0]!r} removed (the base's values are not in its manifest)"
    for column in sorted(old.keys() & now.keys()):
        if old[column] != now[column] and not (old[column] in NUMERIC and now[column] in NUMERIC):
            # old -> new, as every schema line says it (newcomer review 27, finding 4: this one alone said new -> old)
            return f"column {column!r} changed type: {old[column]} -> {now[column]}, which is not a numeric cast"
    return None


def dropped(base: dict, new: dict) -> list[str]:
    """The columns of the base's signed ``types`` that the new side's lack and did not rename (sorted); empty
    when the schemas carry no types. ``base``/``new`` are the two sides' signed ``schema`` facts."""
    old, now = base.get("types"), new.get("types")
    if not isinstance(old, dict) or not isinstance(now, dict):
        return []
    return sorted(old.keys() - now.keys() - renamed(old, now).keys())


def on_shared_columns(base: dict, gone: list[str]) -> dict:
    """The base's signed ``schema`` without the columns ``gone`` (``types`` and ``columns``): the schema both
    sides are re-encoded under to pair records a dropped column re-keyed (newcomer review 32)."""
    out = dict(base)
    out["types"] = {c: t for c, t in base["types"].items() if c not in gone}
    if isinstance(base.get("columns"), list):
        out["columns"] = [c for c in base["columns"] if c not in gone]
    return out


def renamed(old: dict, now: dict) -> dict[str, str]:
    """Columns renamed one to one: base column -> the new side's, for each base column the new side lacks
    whose signed type exactly one added column has, that no other missing base column's type shares (two
    same-typed renames cannot be told apart). Its values re-encode unchanged under the base's name, so a
    record whose re-encoding is a base record's digest holds that record's values, whatever the name."""
    gone = sorted(old.keys() - now.keys())
    came = sorted(now.keys() - old.keys())
    out = {}
    for column in gone:
        same = [c for c in came if now[c] == old[column]]
        rivals = [g for g in gone if old[g] == old[column]]
        if len(same) == 1 and rivals == [column]:
            out[column] = same[0]
    return out


def _cast(column: pa.ChunkedArray | pa.Array, source: str, target: str) -> tuple[pa.Array, np.ndarray]:
    """``column`` (of type ``source``) as ``target``, and which rows converted exactly."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    src, dst = NUMERIC[source], NUMERIC[target]
    v = np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False)).astype(src, copy=False)
    if dst.kind == "f":
        if src.kind == "f":
            with np.errstate(over="ignore", invalid="ignore"):
                w = v.astype(dst)
                ok = (w.astype(np.float64) == v.astype(np.float64)) | np.isnan(v)
        else:
            bound = EXACT_INT_IN_FLOAT[dst]
            ok = (v >= -bound) & (v <= bound) if src.kind == "i" else v <= bound
            w = np.where(ok, v, 0).astype(dst)
    else:
        info = np.iinfo(dst)
        if src.kind == "f":
            # compared in float64, which holds every bound of a type up to 32 bits exactly: in float32, uint32's max
            # rounds up to 2^32, so 2^32 passed as exact and wrapped to 0 (attack review 30b, A30b-1)
            wide = v.astype(np.float64)
            with np.errstate(invalid="ignore"):
                # float(info.max) rounds up for 64-bit types: keep strictly below it there
                top = wide < float(info.max) if info.bits == 64 else wide <= float(info.max)
                ok = np.isfinite(wide) & (wide == np.floor(wide)) & (wide >= float(info.min)) & top
        else:
            ok = (v >= int(info.min)) & (v <= int(info.max))  # numpy 2 compares beyond a dtype's range exactly
        w = np.where(ok, v, 0).astype(dst)
    out = pa.array(w, type=pa.from_numpy_dtype(dst), mask=~valid)
    return out, np.asarray(ok, dtype=bool) | ~valid


def _constant(column: pa.ChunkedArray) -> bool:
    """Whether every value of ``column`` is the same (nulls count as one value)."""
    try:
        return int(pc.count_distinct(column, mode="all").as_py()) <= 1
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return False


def bridged_digests(table: pa.Table, base: dict, new: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each row's digest re-encoded under the base's signed schema (``S32``), and which rows
    re-encoded without loss (``bool``); the schemas must pass :func:`not_bridgeable`.

    ``table`` holds the new side's content columns (as its schema's ``types``). An added
    column that is not constant over ``table`` makes every row lossy."""
    n = table.num_rows
    old, now = base["types"], new["types"]
    renames = renamed(old, now)
    exact = np.ones(n, bool)
    for column in sorted(now.keys() - old.keys() - set(renames.values())):
        if not _constant(table.column(column)):
            return np.zeros(n, "S32"), np.zeros(n, bool)
    columns = {}
    for column in sorted(old):
        name = renames.get(column, column)
        values = table.column(name)
        if old[column] != now[name]:
            cast, ok = _cast(values, now[name], old[column])
            columns[column] = cast
            exact &= ok
        else:
            columns[column] = values
    blob = table_digest_blob(pa.table(columns), list(columns), row_encoding(base))
    return np.frombuffer(blob, dtype="S32").copy(), exact
