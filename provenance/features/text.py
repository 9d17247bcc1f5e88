"""Text as features.

The default needs only numpy: hashed character n-gram counts (log-scaled, unit length),
which are language-agnostic and stable across machines because the hash is ours, not
Python's salted ``hash``. Sentence embeddings are an optional extra, imported lazily.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pyarrow as pa

from provenance.features.base import FeatureError, Featurizer, finite_matrix
from provenance.names import capped, did_you_mean

_MIX = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64 finaliser constant: spreads n-gram hashes
_BASE = np.uint64(1099511628211)  # FNV prime, as a polynomial base over bytes


def _ngram_hashes(data: np.ndarray, n: int) -> np.ndarray:
    if data.size < n:
        return np.zeros(0, dtype=np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(data, n)
    hashes = np.full(windows.shape[0], np.uint64(n), dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrap-around is the hash
        for k in range(n):
            hashes = hashes * _BASE + windows[:, k]
        hashes ^= hashes >> np.uint64(31)
        hashes *= _MIX
        hashes ^= hashes >> np.uint64(29)
    return hashes


def _is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def text_column(schema: pa.Schema, column: str | None) -> str:
    """The column a text featuriser reads: ``column`` if given, else ``text``, else the only string column."""
    if column is not None:
        if column not in schema.names:
            hint = did_you_mean(column, schema.names)
            raise FeatureError(f"the table has no text column {column!r}{hint}; columns: {capped(schema.names)}")
        return column
    candidates = [f.name for f in schema if _is_text(f.type)]
    if "text" in candidates:
        return "text"
    if len(candidates) == 1:
        return candidates[0]
    raise FeatureError(
        "the text featuriser needs one text column: name it with the featuriser option column=NAME "
        f"(string columns: {', '.join(candidates) or 'none'})"
    )


def texts_of(records: Any, column: str | None) -> list[str | None]:
    """Record texts from a list of strings, a list of file contents (UTF-8 bytes) or a table column."""
    if isinstance(records, pa.Table | pa.RecordBatch):
        name = text_column(records.schema, column)
        if not _is_text(records.schema.field(name).type):
            raise FeatureError(f"text column {name!r} holds {records.schema.field(name).type}, not strings")
        return records.column(name).to_pylist()
    out: list[str | None] = []
    undecodable = []
    for i, item in enumerate(records):
        if isinstance(item, bytes | bytearray):
            try:
                out.append(bytes(item).decode("utf-8"))
            except UnicodeDecodeError:
                undecodable.append(i)
                out.append(None)
        else:
            out.append(item)
    if undecodable:
        raise FeatureError("the text featuriser needs UTF-8 text; records", undecodable)
    return out


class HashedTextFeaturizer(Featurizer):
    """Character n-grams hashed into ``dim`` buckets; empty text gives a zero vector.

    Reads a list of strings, the files of a tree (UTF-8), or one string column of a
    table (``column``; by default ``text`` or the table's only string column).
    """

    def __init__(self, dim: int = 512, ngram_min: int = 3, ngram_max: int = 5, column: str | None = None):
        if dim < 8 or ngram_min < 1 or ngram_max < ngram_min:
            raise FeatureError(f"bad text featuriser options dim={dim}, ngram={ngram_min}-{ngram_max}")
        self.dim = int(dim)
        self.ngram_min = int(ngram_min)
        self.ngram_max = int(ngram_max)
        self.column = column

    @property
    def name(self) -> str:
        """``text/v1:ngram=<min>-<max>,dim=<buckets>`` plus ``,col=<column>`` for a table."""
        col = f",col={self.column}" if self.column is not None else ""
        return f"text/v1:ngram={self.ngram_min}-{self.ngram_max},dim={self.dim}{col}"

    def options(self) -> dict[str, Any]:
        """``{"dim", "ngram_min", "ngram_max"}`` and, for a table, ``"column"``."""
        opts: dict[str, Any] = {"dim": self.dim, "ngram_min": self.ngram_min, "ngram_max": self.ngram_max}
        if self.column is not None:
            opts["column"] = self.column
        return opts

    def resolve(self, schema: pa.Schema) -> HashedTextFeaturizer:
        """A copy that names the text column it reads from a table with ``schema``."""
        if self.column is not None:
            return self
        out = copy.copy(self)
        out.column = text_column(schema, None)
        return out

    def featurize(self, records: Any) -> np.ndarray:
        """One unit-length row of log n-gram counts per text (``dim`` columns)."""
        texts = texts_of(records, self.column)
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        not_text = [i for i, t in enumerate(texts) if t is not None and not isinstance(t, str)]
        if not_text:
            raise FeatureError("the text featuriser needs strings; records", not_text)
        for i, text in enumerate(texts):
            if not text:
                continue
            data = np.frombuffer(f" {text.lower()} ".encode(), dtype=np.uint8).astype(np.uint64)
            buckets = np.concatenate(
                [_ngram_hashes(data, n) for n in range(self.ngram_min, self.ngram_max + 1)]
            ) % np.uint64(self.dim)
            counts = np.log1p(np.bincount(buckets.astype(np.int64), minlength=self.dim))
            norm = np.linalg.norm(counts)
            if norm > 0:
                rows[i] = counts / norm
        return finite_matrix(rows, self.name)


class SentenceEmbeddingFeaturizer(Featurizer):
    """Optional: a sentence-transformers model (``pip install 'prov[text]'``), on the same inputs as ``text``."""

    def __init__(
        self, model: str = "sentence-transformers/all-MiniLM-L6-v2", batch_size: int = 64, column: str | None = None
    ):
        self.model_name = model
        self.batch_size = int(batch_size)
        self.column = column
        self._model: Any = None

    @property
    def name(self) -> str:
        """``sentence/v1:model=<model>`` plus ``,col=<column>`` for a table."""
        col = f",col={self.column}" if self.column is not None else ""
        return f"sentence/v1:model={self.model_name}{col}"

    def options(self) -> dict[str, Any]:
        """``{"model", "batch_size"}`` and, for a table, ``"column"``."""
        opts: dict[str, Any] = {"model": self.model_name, "batch_size": self.batch_size}
        if self.column is not None:
            opts["column"] = self.column
        return opts

    def resolve(self, schema: pa.Schema) -> SentenceEmbeddingFeaturizer:
        """A copy that names the text column it reads from a table with ``schema``."""
        out = copy.copy(self)
        out.column = text_column(schema, self.column)
        return out

    def featurize(self, records: Any) -> np.ndarray:
        """The model's sentence embedding of each text."""
        texts = texts_of(records, self.column)
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise FeatureError(
                    "the sentence featuriser needs the optional extra: "
                    "pip install sentence-transformers (or use the numpy-only 'text' featuriser)"
                ) from exc
            self._model = SentenceTransformer(self.model_name)
        vectors = self._model.encode([t or "" for t in texts], batch_size=self.batch_size, convert_to_numpy=True)
        return finite_matrix(vectors, self.name)
