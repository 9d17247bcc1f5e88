"""A column that already holds an embedding per record (a user's own model output)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from provenance.features.base import FeatureError, Featurizer, finite_matrix


def _is_list_of_numbers(arrow_type: pa.DataType) -> bool:
    if not (
        pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type)
    ):
        return False
    value_type = arrow_type.value_type
    return pa.types.is_floating(value_type) or pa.types.is_integer(value_type)


class EmbeddingFeaturizer(Featurizer):
    """One list<float> or fixed_size_list<float> column -> float32 matrix."""

    def __init__(self, column: str = "embedding"):
        self.column = column

    @property
    def name(self) -> str:
        """``embedding/v1:col=<column>``."""
        return f"embedding/v1:col={self.column}"

    def options(self) -> dict[str, str]:
        """``{"column": name}``."""
        return {"column": self.column}

    def featurize(self, records: pa.Table | pa.RecordBatch) -> np.ndarray:
        """The embedding column as an ``(n, length)`` float32 matrix; null, ragged or non-finite rows are a FeatureError naming them."""
        if self.column not in records.schema.names:
            raise FeatureError(
                f"the table has no embedding column {self.column!r} (columns: {', '.join(records.schema.names)})"
            )
        arrow_type = records.schema.field(self.column).type
        if not _is_list_of_numbers(arrow_type):
            raise FeatureError(f"embedding column {self.column!r} must be a list of numbers, not {arrow_type}")
        column = records.column(self.column)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if len(column) == 0:
            return np.zeros((0, getattr(arrow_type, "list_size", 0)), dtype=np.float32)

        null_rows = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False)).tolist()
        if null_rows:
            raise FeatureError(f"embedding column {self.column!r} is null in rows", null_rows)
        lengths = np.asarray(column.value_lengths().to_numpy(zero_copy_only=False))
        expected = int(np.bincount(lengths).argmax())  # the most common length is the intended one
        ragged = np.flatnonzero(lengths != expected).tolist()
        if ragged or expected == 0:
            raise FeatureError(
                f"embedding column {self.column!r} has rows whose length is not {expected}; rows",
                ragged or list(range(len(lengths))),
            )
        flat = column.flatten()
        values = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float64)
        if flat.null_count:
            values = np.where(flat.is_null().to_numpy(zero_copy_only=False), np.nan, values)
        matrix = values.reshape(len(lengths), expected)
        return finite_matrix(matrix, self.name)
