"""Featurisers by name: the built-ins, ones registered in Python, and plug-ins.

A featuriser is identified by a :class:`FeaturizerSpec`: its registry name and the
keyword options that build it (``("embedding", {"column": "emb"})``). A reference
profile stores the spec it was made with, and :func:`rebuild` makes the same featuriser
again from it for the delta, through this one registry, for built-ins and plug-ins
alike.

A plug-in package declares an entry point in the ``prov.featurizers`` group whose
object is a factory (a Featurizer subclass or any callable taking keyword options and
returning a Featurizer). That is how users hand in their own model's embeddings,
which is where the detectors work best.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from provenance.errors import InputError
from provenance.features.base import FeatureError, Featurizer, finite_matrix
from provenance.features.embedding import EmbeddingFeaturizer
from provenance.features.image import ImageFeaturizer
from provenance.features.numeric import NumericFeaturizer, identity_columns
from provenance.features.text import HashedTextFeaturizer, SentenceEmbeddingFeaturizer

if TYPE_CHECKING:
    from importlib import metadata

ENTRY_POINT_GROUP = "prov.featurizers"

FeaturizerFactory = Callable[..., Featurizer]

BUILT_IN: dict[str, FeaturizerFactory] = {
    "numeric": NumericFeaturizer,
    "embedding": EmbeddingFeaturizer,
    "image": ImageFeaturizer,
    "text": HashedTextFeaturizer,
    "sentence": SentenceEmbeddingFeaturizer,
}
_registered: dict[str, FeaturizerFactory] = {}


@dataclass(frozen=True)
class FeaturizerSpec:
    """A featuriser's identity: registry ``name`` and JSON-able keyword ``options``.

    ``build(spec)`` calls the factory registered under ``name`` with ``**options``. The
    JSON form (``to_dict``) is ``{"name": str, "options": {str: value}}``; it is stored in
    the reference profile's header, which the version's signature covers.
    """

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "options": {...}}`` with options in key order."""
        return {"name": self.name, "options": dict(sorted(self.options.items()))}

    @classmethod
    def from_dict(cls, data: Any, what: str = "featuriser") -> FeaturizerSpec:
        """The spec in ``data`` (``to_dict``'s shape); ``FeatureError`` naming ``what`` if malformed."""
        if (
            not isinstance(data, Mapping)
            or not isinstance(data.get("name"), str)
            or not isinstance(data.get("options", {}), Mapping)
        ):
            raise FeatureError(f"{what}: not a featuriser spec ({{'name': str, 'options': {{...}}}}): {data!r}")
        return cls(data["name"], dict(data.get("options", {})))

    @classmethod
    def parse(cls, name: str, options: Sequence[str] = ()) -> FeaturizerSpec:
        """A spec from the command line: ``NAME`` and ``KEY=VALUE`` items (a value is JSON if it parses, else text)."""
        parsed: dict[str, Any] = {}
        for item in options:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise InputError(f"--featurizer-option {item!r}: expected KEY=VALUE, e.g. column=embedding")
            try:
                parsed[key.strip()] = json.loads(raw)
            except ValueError:
                parsed[key.strip()] = raw
        return cls(name, parsed)

    def __str__(self) -> str:
        if not self.options:
            return self.name
        return self.name + ":" + ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(self.options.items()))


class CallableFeaturizer(Featurizer):
    """Wraps a user's function (records -> array) and checks what it returns."""

    def __init__(self, name: str, function: Callable[[Any], Any]):
        self.label = name
        self.function = function

    @property
    def name(self) -> str:
        """The name it was registered under."""
        return self.label

    def featurize(self, records: Any) -> np.ndarray:
        """``function(records)`` as a checked float32 matrix with one row per record."""
        matrix = finite_matrix(self.function(records), f"featuriser {self.name!r}")
        if len(matrix) != len(records):
            raise FeatureError(f"featuriser {self.name!r} returned {len(matrix)} rows for {len(records)} records")
        return matrix


def register_featurizer(name: str, factory: FeaturizerFactory, *, replace: bool = False) -> None:
    """Make ``get_featurizer(name, **opts)`` call ``factory(**opts)``.

    Raises ``InputError`` if ``name`` is taken (a built-in or registered name) unless
    ``replace`` is true. Registration lasts for this process; a profile made with a
    registered featuriser needs the same registration wherever the delta is scored
    (an entry point, see the module docstring, makes that automatic).
    """
    if not replace and (name in _registered or name in BUILT_IN):
        raise InputError(f"a featuriser named {name!r} is already registered; pass replace=True")
    _registered[name] = factory


def _entry_point_factories() -> dict[str, metadata.EntryPoint]:
    # imported here: ``importlib.metadata`` (with ``email``, ``zipfile``, ``csv``) is only needed for a
    # name that is not built in or registered, and every commit, diff and check imports this module
    from importlib import metadata

    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_featurizers() -> list[str]:
    """Every name ``get_featurizer`` accepts, sorted."""
    return sorted(set(BUILT_IN) | set(_registered) | set(_entry_point_factories()))


def get_featurizer(name: str, **options: Any) -> Featurizer:
    """Build the featuriser called ``name`` with keyword ``options``; registered names win over plug-ins.

    Raises ``InputError`` for an unknown name, a plug-in that fails to load, options the
    factory does not take, or a factory that returns something that is not a Featurizer.
    """
    factory = _registered.get(name) or BUILT_IN.get(name)
    if factory is None:
        entry_point = _entry_point_factories().get(name)
        if entry_point is None:
            raise InputError(f"unknown featuriser {name!r}; known: {', '.join(available_featurizers())}")
        try:
            factory = entry_point.load()
        except Exception as exc:  # a broken plug-in must be named, not hidden
            raise InputError(f"featuriser plug-in {name!r} ({entry_point.value}) failed to load: {exc}") from exc
    try:
        featurizer = factory(**options)
    except TypeError as exc:
        raise InputError(f"featuriser {name!r} does not take options {sorted(options)}: {exc}") from exc
    if not isinstance(featurizer, Featurizer):
        raise InputError(f"featuriser factory {name!r} returned {type(featurizer).__name__}, not a Featurizer")
    return featurizer


def build(spec: FeaturizerSpec) -> Featurizer:
    """The featuriser ``spec`` names (``get_featurizer(spec.name, **spec.options)``)."""
    return get_featurizer(spec.name, **dict(spec.options))


def spec_of(featurizer: Featurizer, built_from: FeaturizerSpec) -> FeaturizerSpec:
    """The spec that rebuilds ``featurizer`` (made from ``built_from``, possibly then resolved)."""
    options = featurizer.options()
    return built_from if options is None else FeaturizerSpec(built_from.name, options)


def rebuild(spec: FeaturizerSpec, identity: str) -> Featurizer:
    """The featuriser a profile was made with, from its stored spec and identity string.

    Raises ``InputError`` if the name is not registered here (install the plug-in) and
    ``FeatureError`` if what it builds now identifies differently (a plug-in changed
    its model, say): its vectors would not be comparable with the profile's.
    """
    featurizer = build(spec)
    if featurizer.name != identity:
        raise FeatureError(
            f"featuriser {spec} now builds {featurizer.name!r}, but the reference profile was made with "
            f"{identity!r}; its vectors would not be comparable (commit the base again with this featuriser)"
        )
    return featurizer


def legacy_spec(identity: str) -> FeaturizerSpec:
    """The spec of a profile written before profiles stored one, read from its identity string.

    Built-in identities (``numeric/v1:cols=a,b``, ``image/v1:mode=L,size=16``,
    ``embedding/v1:col=e``, ``text/v1:ngram=3-5,dim=512``) give their options; any other
    string is taken as a registry name with no options, as it was looked up before.
    """
    kind, _, rest = identity.partition(":")
    fields = dict(item.split("=", 1) for item in rest.split(",") if "=" in item) if rest else {}
    try:
        columns = identity_columns(identity)
        if columns is not None:
            return FeaturizerSpec("numeric", {"columns": list(columns)})
        if kind == "image/v1":
            image: dict[str, Any] = {"size": int(fields["size"]), "mode": fields["mode"]}
            if "resample" in fields:
                image["resample"] = fields["resample"]
            return FeaturizerSpec("image", image)
        if kind == "embedding/v1":
            return FeaturizerSpec("embedding", {"column": rest[len("col=") :]})
        if kind == "text/v1":
            low, high = fields["ngram"].split("-")
            options: dict[str, Any] = {"dim": int(fields["dim"]), "ngram_min": int(low), "ngram_max": int(high)}
            if "col" in fields:
                options["column"] = fields["col"]
            return FeaturizerSpec("text", options)
        if kind == "sentence/v1":
            return FeaturizerSpec("sentence", {"model": rest[len("model=") :]})
    except (KeyError, ValueError) as exc:
        raise FeatureError(f"featuriser {identity!r}: cannot read its options ({exc})") from exc
    return FeaturizerSpec(identity)


def featurize_checked(featurizer: Featurizer, records: Sequence[Any] | Any) -> np.ndarray:
    """Run any featuriser (ours or a plug-in) and check its output shape and values."""
    matrix = finite_matrix(featurizer.featurize(records), f"featuriser {featurizer.name!r}")
    expected = records.num_rows if hasattr(records, "num_rows") else len(records)
    if len(matrix) != expected:
        raise FeatureError(f"featuriser {featurizer.name!r} returned {len(matrix)} rows for {expected} records")
    return matrix
