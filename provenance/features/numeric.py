"""Numeric columns of a table as features.

With no options a table's numeric columns (ints, floats, bools) other than the label,
source, id and metadata columns are its features, taken in name order so that the same
table in another column order gives the same vectors.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.escaping import name_in_sentence, shell_word
from provenance.features.base import FeatureError, Featurizer, finite_matrix
from provenance.names import capped

DEFAULT_EXCLUDED = ("label", "source", "id")
IDENTITY_PREFIX = "numeric/v1:cols="  # a resolved numeric featuriser's identity (``NumericFeaturizer.name``)


def identity_columns(identity: str) -> tuple[str, ...] | None:
    """The columns a resolved numeric featuriser reads, from its identity string (``numeric/v1:cols=a,b``, as a
    signed statement's ``featurizer`` and a profile's header keep it), in its order; None for any other identity
    (another featuriser's, or an unresolved ``numeric/v1:cols=auto;exclude=...``). The one reading of that string:
    commit's parent defaults and feature note, status's refusal and ``registry.legacy_spec`` all ask here. A column
    whose name holds ``,`` reads as two: the string joins names with ``,`` (a profile's ``featurizer_spec`` lists
    them exactly)."""
    if not identity.startswith(IDENTITY_PREFIX):
        return None
    rest = identity[len(IDENTITY_PREFIX) :]
    if rest.startswith("auto;"):
        return None
    return tuple(c for c in rest.split(",") if c)


def _is_numeric(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_decimal(arrow_type)
    )


def numeric_columns(schema: pa.Schema, exclude: Iterable[str] = DEFAULT_EXCLUDED) -> list[str]:
    """The feature columns a table gives with no options: numeric, not excluded, sorted."""
    excluded = set(exclude)
    return sorted(f.name for f in schema if f.name not in excluded and _is_numeric(f.type))


def fitting(schema: pa.Schema, exclude: Iterable[str]) -> str:
    """The featuriser a table with no numeric column would take, as the flags to type ("" when none fits):
    a commit of text data said only that no numeric column was found (newcomer review 11, finding 7). Whoever
    writes the data names its columns: in prose a name is quoted (``repr``), and the advised flags are shell words
    that paste back as the same argv (attack review 26a, A26a-5: a newline faked a lineage line, ``emb;touch X``
    ran a command)."""
    fields = [f for f in schema if f.name not in set(exclude)]
    vectors = [f.name for f in fields if pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type)]
    texts = [f.name for f in fields if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    if vectors:
        flags = f"--featurizer embedding {column_option(vectors[0])}"
        return f"; column {vectors[0]!r} holds vectors: commit with {flags}"
    if not texts:
        return ""
    name = "text" if "text" in texts else texts[0]
    option = "" if name == "text" or len(texts) == 1 else f" {column_option(name)}"
    return f"; text column {name!r} found: commit with --featurizer text{option}"


def column_option(name: str) -> str:
    """``--featurizer-option column=NAME`` as shell words naming the column ``name``: a value that parses as JSON
    is read as JSON (``FeaturizerSpec.parse``), so a column named ``5`` or ``true`` is given as a JSON string."""
    try:
        json.loads(name)
    except ValueError:
        value = name
    else:
        value = json.dumps(name)
    return f"--featurizer-option {shell_word('column=' + value)}"


def _quoted(names: Iterable[str]) -> list[str]:
    """Column names as prose shows them (``escaping.name_in_sentence``: ``repr`` unless plain)."""
    return [name_in_sentence(n) for n in names]


class NumericFeaturizer(Featurizer):
    """Numeric table columns -> float32 matrix; nulls and NaNs are errors naming the rows."""

    def __init__(self, columns: Sequence[str] | None = None, exclude: Iterable[str] = DEFAULT_EXCLUDED):
        self.columns = sorted(columns) if columns is not None else None
        self.exclude = tuple(sorted(set(exclude)))

    @property
    def name(self) -> str:
        """``numeric/v1:cols=a,b,...`` once resolved (``cols=auto;exclude=...`` before)."""
        if self.columns is None:
            return IDENTITY_PREFIX + "auto;exclude=" + ",".join(self.exclude)
        return IDENTITY_PREFIX + ",".join(self.columns)

    def options(self) -> dict[str, Any]:
        """``{"columns": [...]}`` once resolved, else ``{"exclude": [...]}``."""
        if self.columns is not None:
            return {"columns": list(self.columns)}
        return {"exclude": list(self.exclude)}

    def resolve(self, schema: pa.Schema) -> NumericFeaturizer:
        """A featuriser with explicit columns, whose name records exactly what it reads."""
        if self.columns is not None:
            return self
        columns = numeric_columns(schema, self.exclude)
        if not columns:
            raise FeatureError(
                "the numeric featuriser found no numeric feature columns in the table "
                f"(columns: {capped(_quoted(schema.names))}; excluded: {', '.join(_quoted(self.exclude))})"
                + fitting(schema, self.exclude)
            )
        resolved = copy.copy(self)  # a subclass (a plug-in) stays itself
        resolved.columns = columns
        return resolved

    def featurize(self, records: pa.Table | pa.RecordBatch) -> np.ndarray:
        """The feature columns as an ``(n, columns)`` float32 matrix; nulls, NaN and infinities are a FeatureError naming the rows."""
        resolved = self.resolve(records.schema)
        columns = resolved.columns or []
        missing = [c for c in columns if c not in records.schema.names]
        if missing:
            raise FeatureError("the table lacks feature columns", missing)
        non_numeric = [
            (c, str(records.schema.field(c).type)) for c in columns if not _is_numeric(records.schema.field(c).type)
        ]
        if non_numeric:
            named = ", ".join(f"{name_in_sentence(c)} ({t})" for c, t in non_numeric)
            raise FeatureError(
                f"the numeric featuriser cannot use non-numeric columns: {named}", non_numeric=non_numeric
            )

        matrix = np.empty((records.num_rows, len(columns)), dtype=np.float32)
        bad_rows: set[int] = set()
        bad_columns: list[str] = []
        for j, column_name in enumerate(columns):
            column = records.column(column_name)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            nulls = np.asarray(pc.is_null(column, nan_is_null=True).to_numpy(zero_copy_only=False))
            bad_rows.update(np.flatnonzero(nulls).tolist())
            # unsafe: a uint64 past 2^53 becomes the nearest float (features are float32 anyway)
            values = pc.cast(column, pa.float64(), safe=False).fill_null(0.0).to_numpy(zero_copy_only=False)
            with np.errstate(over="ignore"):  # a double past float32's range is inf here, refused below
                matrix[:, j] = values
            if nulls.any() or not np.isfinite(matrix[:, j]).all():
                bad_columns.append(column_name)
        bad_rows.update(np.flatnonzero(~np.isfinite(matrix).all(axis=1)).tolist())
        if bad_rows:
            raise FeatureError(
                f"numeric features are null, NaN or infinite in {len(bad_rows)} row(s); rows",
                sorted(bad_rows),
                non_finite=bad_columns,
            )
        return finite_matrix(matrix, resolved.name)
