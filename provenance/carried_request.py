"""A parent's signed featuriser request, held against the parent's own signed profile before a commit carries it.

A commit key signs both the request (``featurizerRequested``, options as the committer gave them) and the profile
an honest commit resolved it into; a request signed apart from its profile (a stolen commit key re-signing the
parent: attack review 28d, A28d-1) would be carried into the maintainer's later versions without a word. So a
carried request must build here, and must be the profile's featuriser: the same name, and the same columns for a
numeric one, or the same identity once resolved on the parent's signed schema for any other (attack review 30a,
A30a-2: a request re-signed as the text featuriser over a constant caption was carried against a numeric profile of
64 pixels, and a pixel poison then passed against the maintainer's next version). Each refusal is one line naming
the parent, exit 2, before any data is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provenance.errors import InputError
from provenance.escaping import name_in_sentence, visible
from provenance.features.registry import FeaturizerSpec, build

_NOT_CARRIED = (
    "a key that could sign {tag} chose it, and it is not carried; check {tag}'s signer, or give --featurizer to "
    "choose the features"
)


@dataclass(frozen=True)
class SignedProfile:
    """What a parent's signed profile says of its featuriser: the ``spec`` it stores (``featurizer_spec``, or read
    back from the identity for a profile written before specs were kept), its ``identity`` string (``numeric/v1:
    cols=a,b``), the ``columns`` a numeric one reads (exactly, from the stored spec; () when not known) and the
    parent's signed ``schema`` (``{"kind", "columns", "types", ...}``)."""

    spec: FeaturizerSpec
    identity: str
    columns: tuple[str, ...] = ()
    schema: dict | None = None


def hold_carried_request(spec: FeaturizerSpec, profile: SignedProfile, tag: str) -> None:
    """Raise ``InputError`` (exit 2) unless ``spec``, ``tag``'s signed featuriser request, builds a featuriser here
    and is the one ``tag``'s signed ``profile`` was made with (module docstring)."""
    _request_builds(spec, tag)
    if spec.name != profile.spec.name:
        raise InputError(
            f"{tag}'s signed featuriser request {visible(str(spec))} is not the featuriser of {tag}'s signed profile "
            f"({visible(profile.identity)}): {_NOT_CARRIED.format(tag=tag)}"
        )
    if spec.name == "numeric":
        _numeric_fits(spec, profile.columns, tag)
    elif spec.to_dict() != profile.spec.to_dict():
        _same_identity(spec, profile, tag)


def _request_builds(spec: FeaturizerSpec, tag: str) -> None:
    """Refuse (exit 2) a parent's signed featuriser request that builds no featuriser here: a name prov does not know
    (no built-in, registration or installed plug-in) or an option its featuriser does not take (attack review 28d,
    A28d-4: carried without a word, the next version had no reference profile and could be no check's base)."""
    try:
        build(spec)
    except InputError as exc:
        raise InputError(
            f"{tag}'s signed featuriser request {visible(str(spec))} builds no featuriser here ({exc}): it is not "
            f"carried; give --featurizer to choose the features (or install the plug-in {tag} was committed with)"
        ) from exc


def _numeric_fits(spec: FeaturizerSpec, read: tuple[str, ...], tag: str) -> None:
    """Refuse (exit 2) a numeric request that leaves out, or does not name, a column the profile reads (``read``):
    it would read fewer columns than the parent did (A28d-1)."""
    if not read:  # fail closed: a numeric request is carried only when held against the profile's exact list
        raise InputError(
            f"{tag}'s signed featuriser request {visible(str(spec))} cannot be held against {tag}'s signed profile "
            f"(it keeps no numeric column list), so it is not carried; give --featurizer to choose the features"
        )
    # _request_builds ran first, and NumericFeaturizer refuses columns or exclude that is not a list of strings; a
    # plug-in registered as "numeric" may take more, so any other value contradicts every column (A29b-1: an
    # exclude written as a JSON object was compared with nothing and carried)
    columns, exclude = spec.options.get("columns"), spec.options.get("exclude", [])
    if columns is not None:
        contradicted = sorted(set(read) ^ set(columns)) if _is_name_list(columns) else list(read)
    else:
        contradicted = sorted(set(read) & set(exclude)) if _is_name_list(exclude) else list(read)
    if contradicted:
        shown = ", ".join(name_in_sentence(c) for c in contradicted[:5])
        raise InputError(
            f"{tag}'s signed featuriser request does not match its signed profile (it reads {len(read)} columns; the "
            f"request differs on {shown}{' and more' if len(contradicted) > 5 else ''}): "
            + _NOT_CARRIED.format(tag=tag)
        )


def _same_identity(spec: FeaturizerSpec, profile: SignedProfile, tag: str) -> None:
    """Refuse (exit 2) a request other than the stored spec that does not resolve, on the parent's signed schema,
    to the profile's identity: the request as given leaves out what the commit resolved (``text`` picks the text
    column), so only its identity on the same columns says it is the same featuriser. Fails closed when the request
    cannot be resolved there (no signed schema, a column it names that the schema lacks)."""
    featurizer = build(spec)
    schema = profile.schema or {}
    resolved: str | None = None
    if schema.get("kind") == "tree":
        resolved = featurizer.name  # a tree's files are featurised as they are (profiles.featurize)
    elif isinstance(schema.get("columns"), list) and isinstance(schema.get("types"), dict):
        try:
            resolved = featurizer.resolve(_arrow_schema(schema["columns"], schema["types"])).name
        except InputError:  # FeatureError too: resolving needs a column the signed schema lacks
            resolved = None
    if resolved != profile.identity:
        said = f"resolves to {visible(resolved)}" if resolved is not None else f"cannot be resolved on {tag}'s columns"
        raise InputError(
            f"{tag}'s signed featuriser request {visible(str(spec))} does not match its signed profile (the request "
            f"{said}; the profile was made with {visible(profile.identity)}): " + _NOT_CARRIED.format(tag=tag)
        )


def _arrow_schema(columns: list[Any], types: dict[str, Any]) -> Any:
    """A ``pyarrow.Schema`` of a signed schema's content ``columns`` with their signed ``types`` (Arrow's names);
    a type Arrow does not name back (a nested one) is ``null``, which no built-in resolves a column to."""
    import pyarrow as pa

    def arrow_type(name: Any) -> pa.DataType:
        try:
            return pa.type_for_alias(str(name))
        except (ValueError, KeyError):
            return pa.null()

    return pa.schema([pa.field(str(c), arrow_type(types.get(str(c)))) for c in columns])


def _is_name_list(value: Any) -> bool:
    """Whether a featuriser option is a list of column names (strings)."""
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
