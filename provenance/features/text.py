"""Text as features.

The default needs only numpy: hashed character n-gram counts (log-scaled, unit length),
which are language-agnostic and stable across machines because the hash is ours, not
Python's salted ``hash``. Sentence embeddings are an optional extra, imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from provenance.features.base import FeatureError, Featurizer, finite_matrix

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


class HashedTextFeaturizer(Featurizer):
    """Character n-grams hashed into ``dim`` buckets; empty text gives a zero vector."""

    def __init__(self, dim: int = 512, ngram_min: int = 3, ngram_max: int = 5):
        if dim < 8 or ngram_min < 1 or ngram_max < ngram_min:
            raise FeatureError(f"bad text featuriser options dim={dim}, ngram={ngram_min}-{ngram_max}")
        self.dim = int(dim)
        self.ngram_min = int(ngram_min)
        self.ngram_max = int(ngram_max)

    @property
    def name(self) -> str:
        return f"text/v1:ngram={self.ngram_min}-{self.ngram_max},dim={self.dim}"

    def featurize(self, records: Sequence[str | None]) -> np.ndarray:
        rows = np.zeros((len(records), self.dim), dtype=np.float32)
        not_text = [i for i, t in enumerate(records) if t is not None and not isinstance(t, str)]
        if not_text:
            raise FeatureError("the text featuriser needs strings; records", not_text)
        for i, text in enumerate(records):
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
    """Optional: a sentence-transformers model (``pip install 'prov[text]'``)."""

    def __init__(self, model: str = "sentence-transformers/all-MiniLM-L6-v2", batch_size: int = 64):
        self.model_name = model
        self.batch_size = int(batch_size)
        self._model = None

    @property
    def name(self) -> str:
        return f"sentence/v1:model={self.model_name}"

    def featurize(self, records: Sequence[str | None]) -> np.ndarray:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise FeatureError(
                    "the sentence featuriser needs the optional extra: "
                    "pip install sentence-transformers (or use the numpy-only 'text' featuriser)"
                ) from exc
            self._model = SentenceTransformer(self.model_name)
        texts = [t or "" for t in records]
        vectors = self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True)
        return finite_matrix(vectors, self.name)
