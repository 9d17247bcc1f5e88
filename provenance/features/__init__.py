"""Featurisers: record content -> feature vectors, one module per kind, found through one registry."""

from provenance.features.base import FeatureError, Featurizer, check_same_dimension, finite_matrix
from provenance.features.embedding import EmbeddingFeaturizer
from provenance.features.image import ImageFeaturizer
from provenance.features.numeric import NumericFeaturizer, numeric_columns
from provenance.features.registry import (
    ENTRY_POINT_GROUP,
    CallableFeaturizer,
    FeaturizerSpec,
    available_featurizers,
    featurize_checked,
    get_featurizer,
    register_featurizer,
)
from provenance.features.text import HashedTextFeaturizer, SentenceEmbeddingFeaturizer

__all__ = [
    "ENTRY_POINT_GROUP",
    "CallableFeaturizer",
    "EmbeddingFeaturizer",
    "FeatureError",
    "Featurizer",
    "FeaturizerSpec",
    "HashedTextFeaturizer",
    "ImageFeaturizer",
    "NumericFeaturizer",
    "SentenceEmbeddingFeaturizer",
    "available_featurizers",
    "check_same_dimension",
    "featurize_checked",
    "finite_matrix",
    "get_featurizer",
    "numeric_columns",
    "register_featurizer",
]
