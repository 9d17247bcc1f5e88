"""Records of a delta the base's featuriser cannot score, named with the file they are in.

``detectors.pipeline.featurize_delta`` names such records by row (or path) and digest; ``prov check`` and ``prov diff
--detect`` then said which records but not which file, nor what to do (newcomer review 27, finding 2). Both go
through :func:`detect_naming_file` (the check through :func:`name_file`), so the words are the same on both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance.errors import InputError
from provenance.features.base import FeatureError

if TYPE_CHECKING:
    from provenance.detectors.pipeline import Detection
    from provenance.store.store import Store


class UnscorableRecords(InputError):
    """Records of the delta the base's featuriser cannot score, named with the file they are in (exit 2).
    ``cause``: the featuriser's error, whose every offending record ``--verbose`` lists after the line."""

    def __init__(self, message: str, cause: FeatureError | None = None):
        super().__init__(message)
        self.cause = cause

    def diagnostics(self) -> str:
        """The line, then the featuriser's list of every offending record (``FeatureError.diagnostics``)."""
        more = self.cause.diagnostics().splitlines()[1:] if self.cause is not None else []
        return "\n".join([str(self), *more])


def name_file(store: Store, new: str, exc: FeatureError, base: str | None = None) -> UnscorableRecords:
    """``exc`` naming the file version ``new`` signed, and, for null, NaN or infinite values (``non_finite`` on the
    featuriser's error), what to do: ``/data/t.parquet (v2's data): new records of the delta cannot be scored: ...;
    fill or drop them in /data/t.parquet, commit it again and check that version``. For feature columns the
    ``base``'s profile reads that are no longer numeric (``non_numeric``: one '?' in a CSV column), the columns and
    the way on, not a list of every record (newcomer review 28, finding 3)."""
    from provenance.escaping import visible
    from provenance.version_facts import version_dataset

    path = visible(str(version_dataset(store, store.version(new)).path))
    cause = exc.__cause__ if isinstance(exc.__cause__, FeatureError) else exc
    if cause.non_numeric:
        return UnscorableRecords(_not_numeric(path, new, base, cause.non_numeric), exc)
    todo = (
        f"; fill or drop them in {path}, commit it again and check that version" if cause.non_finite is not None else ""
    )
    if cause.missing_columns:  # a featuriser whose profile cannot be narrowed to the columns left (not numeric)
        them = "it" if len(cause.missing_columns) == 1 else "them"
        todo = (
            f" ({base or 'the base'}'s profile reads {them}); put {them} back in {path}, commit it again and check "
            "that version"
        )
    return UnscorableRecords(f"{path} ({new}'s data): {exc}{todo}", exc)


def detect_naming_file(store: Store, base: str, new: str, delta: dict, **options: Any) -> Detection:
    """``detectors.pipeline.detect_diff`` (its ``options`` passed on), a ``FeatureError`` naming the file
    (:func:`name_file`)."""
    from provenance.detectors.pipeline import detect_diff

    try:
        return detect_diff(store, base, new, delta, **options)
    except UnscorableRecords:
        raise
    except FeatureError as exc:
        raise name_file(store, new, exc, base) from exc


def _not_numeric(path: str, new: str, base: str | None, columns: tuple[tuple[str, str], ...]) -> str:
    """The refusal of feature columns ``new``'s data holds as another type than numbers (``(name, type now)``)."""
    from provenance.escaping import name_in_sentence, visible
    from provenance.lineage.retyped import schema_flags

    one = len(columns) == 1
    named = ", ".join(f"{name_in_sentence(c, quote_plain=True)} ({visible(t)} now)" for c, t in columns)
    reads = f"{base}'s profile reads {'it' if one else 'them'}" if base else "the base's profile reads them"
    flags = schema_flags({c: "double" for c, _ in columns})
    return (
        f"{path} ({new}'s data): column{'' if one else 's'} {named} {'is' if one else 'are'} not numeric, and "
        f"{reads} as features, so no detector can score {new}'s new records; "
        f"fix the values in {path} that are not numbers (a '?' or text; reading with {flags} refuses them, "
        "naming the row) and commit it again, then check that version; leaving "
        f"{'it' if one else 'them'} out of the features would not let a check against "
        f"{base or 'this base'} pass"
    )
