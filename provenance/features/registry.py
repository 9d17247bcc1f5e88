"""Featurisers by name: the built-ins, ones registered in Python, and plug-ins.

A plug-in package declares an entry point in the ``prov.featurizers`` group whose
object is a factory (a Featurizer subclass or any callable taking keyword options and
returning a Featurizer). That is how users hand in their own model's embeddings,
which is where the detectors work best.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

import numpy as np

from provenance.errors import InputError
from provenance.features.base import FeatureError, Featurizer, finite_matrix
from provenance.features.embedding import EmbeddingFeaturizer
from provenance.features.image import ImageFeaturizer
from provenance.features.numeric import NumericFeaturizer
from provenance.features.text import HashedTextFeaturizer, SentenceEmbeddingFeaturizer

ENTRY_POINT_GROUP = "prov.featurizers"

FeaturizerFactory = Callable[..., Featurizer]

_BUILT_IN: dict[str, FeaturizerFactory] = {
    "numeric": NumericFeaturizer,
    "embedding": EmbeddingFeaturizer,
    "image": ImageFeaturizer,
    "text": HashedTextFeaturizer,
    "sentence": SentenceEmbeddingFeaturizer,
}
_registered: dict[str, FeaturizerFactory] = {}


class CallableFeaturizer(Featurizer):
    """Wraps a user's function (records -> array) and checks what it returns."""

    def __init__(self, name: str, function: Callable[[Any], Any]):
        self.name = name
        self.function = function

    def featurize(self, records: Any) -> np.ndarray:
        matrix = finite_matrix(self.function(records), f"featuriser {self.name!r}")
        if len(matrix) != len(records):
            raise FeatureError(f"featuriser {self.name!r} returned {len(matrix)} rows for {len(records)} records")
        return matrix


def register_featurizer(name: str, factory: FeaturizerFactory, *, replace: bool = False) -> None:
    """Make ``get_featurizer(name, **opts)`` call ``factory(**opts)``."""
    if not replace and (name in _registered or name in _BUILT_IN):
        raise InputError(f"a featuriser named {name!r} is already registered; pass replace=True")
    _registered[name] = factory


def _entry_point_factories() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_featurizers() -> list[str]:
    """Every name ``get_featurizer`` accepts, sorted."""
    return sorted(set(_BUILT_IN) | set(_registered) | set(_entry_point_factories()))


def get_featurizer(name: str, **options: Any) -> Featurizer:
    """Build the featuriser called ``name``; registered names win over plug-ins."""
    factory = _registered.get(name) or _BUILT_IN.get(name)
    if factory is None:
        entry_point = _entry_point_factories().get(name)
        if entry_point is None:
            raise InputError(f"unknown featuriser {name!r}; known: {', '.join(available_featurizers())}")
        try:
            factory = entry_point.load()
        except Exception as exc:  # a broken plug-in must be named, not hidden
            raise InputError(f"featuriser plug-in {name!r} ({entry_point.value}) failed to load: {exc}") from exc
    featurizer = factory(**options)
    if not isinstance(featurizer, Featurizer):
        raise InputError(f"featuriser factory {name!r} returned {type(featurizer).__name__}, not a Featurizer")
    return featurizer


def featurize_checked(featurizer: Featurizer, records: Sequence[Any] | Any) -> np.ndarray:
    """Run any featuriser (ours or a plug-in) and check its output shape and values."""
    matrix = finite_matrix(featurizer.featurize(records), f"featuriser {featurizer.name!r}")
    expected = records.num_rows if hasattr(records, "num_rows") else len(records)
    if len(matrix) != expected:
        raise FeatureError(f"featuriser {featurizer.name!r} returned {len(matrix)} rows for {expected} records")
    return matrix
