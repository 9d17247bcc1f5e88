"""Featurisers (content -> vectors) and reference profiles of trusted versions."""

from provenance.features.base import FeatureError, Featurizer, check_same_dimension, finite_matrix
from provenance.features.embedding import EmbeddingFeaturizer
from provenance.features.image import ImageFeaturizer
from provenance.features.numeric import NumericFeaturizer, numeric_columns
from provenance.features.profile import DEFAULT_MAX_PER_CLASS, ReferenceProfile, build_profile
from provenance.features.registry import (
    ENTRY_POINT_GROUP,
    CallableFeaturizer,
    available_featurizers,
    featurize_checked,
    get_featurizer,
    register_featurizer,
)
from provenance.features.text import HashedTextFeaturizer, SentenceEmbeddingFeaturizer

__all__ = [
    "DEFAULT_MAX_PER_CLASS", "ENTRY_POINT_GROUP", "CallableFeaturizer", "EmbeddingFeaturizer",
    "FeatureError", "Featurizer", "HashedTextFeaturizer", "ImageFeaturizer", "NumericFeaturizer",
    "ReferenceProfile", "SentenceEmbeddingFeaturizer", "available_featurizers", "build_profile",
    "check_same_dimension", "featurize_checked", "finite_matrix", "get_featurizer",
    "numeric_columns", "register_featurizer",
]
