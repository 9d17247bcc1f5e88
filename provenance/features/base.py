"""What every featuriser is, and the checks every one of them shares.

A featuriser turns record content into a float32 matrix (one row per record). Its
``name`` carries every parameter that changes the vectors, so a reference profile that
records the name can refuse a delta featurised another way (the same habit as digest
names in model-transparency).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from provenance.errors import InputError

# How many offending records an error message names before it summarises the rest.
_NAMED_IN_MESSAGE = 10


class FeatureError(InputError):
    """Features cannot be computed for some records, or do not fit the reference.

    ``records`` names the offending records (row indexes, file names or digests) so a
    user can go and fix exactly those. ``non_numeric`` names feature columns no longer numeric, with their type
    now (newcomer review 28, finding 3); ``missing_columns`` feature columns the records lack (newcomer review 32,
    finding 1). ``non_finite`` is set when their values are null, NaN or
    infinite: the feature columns holding them (empty when not known, a plug-in's output), so a commit
    can refuse such data where it enters, naming the file (newcomer review 27, finding 2). ``past_float32`` names
    the records among them whose values are finite but past float32's range (:func:`non_finite_words`).
    """

    def __init__(
        self,
        message: str,
        records: Sequence[Any] = (),
        non_finite: Sequence[str] | None = None,
        non_numeric: Sequence[tuple[str, str]] | None = None,
        past_float32: Sequence[Any] = (),
        missing_columns: Sequence[str] = (),
    ):
        self.records = list(records)
        # feature columns the records lack (a column dropped since the profile was made): columns, not records
        self.missing_columns = tuple(missing_columns)
        self.non_finite = tuple(non_finite) if non_finite is not None else None
        # of ``records``, those whose values are finite in the data but past float32's range (about 3.4e38), which
        # features are held in: a 1e39 is no NaN, and the refusal must not say it is (attack review 30a, A30a-4)
        self.past_float32 = tuple(past_float32)
        # feature columns no longer numeric, with their type now (a CSV column read as text): the columns, not records
        self.non_numeric = tuple(non_numeric) if non_numeric is not None else None
        self.problem = message  # without the records, for a caller that names them better
        if self.records:
            shown = ", ".join(str(r) for r in self.records[:_NAMED_IN_MESSAGE])
            more = len(self.records) - _NAMED_IN_MESSAGE
            suffix = f" (and {more} more)" if more > 0 else ""
            message = f"{message}: {shown}{suffix}"
        super().__init__(message)

    def diagnostics(self) -> str:
        """All offending records, one line for people after the message."""
        lines = [str(self)]
        if len(self.records) > _NAMED_IN_MESSAGE:
            lines.append("all offending records: " + ", ".join(str(r) for r in self.records))
        return "\n".join(lines)


class Featurizer(ABC):
    """Turns a batch of records into an ``n x d`` float32 matrix.

    Records are an Arrow table of the dataset's content columns (tables) or a list of
    file contents as ``bytes`` (file trees). A featuriser is identified by its registry
    name and keyword options (``features.registry.FeaturizerSpec``): a reference profile
    stores both and the registry rebuilds the same featuriser from them for the delta.
    ``name`` is the identity string that says what the vectors are; it carries every
    parameter that changes them, and a rebuilt featuriser must give the same one.
    """

    if TYPE_CHECKING:  # subclasses give ``name`` as a property (built-ins) or an attribute

        @property
        def name(self) -> str:
            """The identity string: what the vectors are, with every parameter that changes them."""
            ...

    else:
        name: str

    @abstractmethod
    def featurize(self, records: Any) -> np.ndarray:
        """Return one float32 row per record, or raise FeatureError naming bad records."""

    def resolve(self, schema: Any) -> Featurizer:
        """This featuriser fixed to what it reads from a table with ``schema`` (a ``pyarrow.Schema``).

        Featurisers that choose their columns from the data (numeric columns, the text
        column) return a copy whose options name them, so the profile records exactly
        what was read; the default returns ``self``.
        """
        return self

    def options(self) -> dict[str, Any] | None:
        """JSON-able keyword options that rebuild this featuriser through the registry.

        ``None`` (the default, e.g. for plug-ins) means: rebuild it with the options it
        was built with. Built-ins return their options after :meth:`resolve`.
        """
        return None


FLOAT32_MAX = "3.4e38"  # float32's largest finite value, about: features are float32


def non_finite_words(records: Sequence[Any], past_float32: Sequence[Any]) -> str:
    """What is wrong with the feature values of ``records``, of which ``past_float32`` are finite but too large for a
    float32: ``null, NaN or infinite``; ``finite but past float32's range (beyond about ±3.4e38, ...)`` when every
    one is; both when some are."""
    if not past_float32:
        return "null, NaN or infinite"
    past = f"finite but past float32's range (beyond about ±{FLOAT32_MAX}, the most a float32 feature holds)"
    if len(set(past_float32)) == len(set(records)):
        return past
    return f"null, NaN or infinite, or {past}"


def finite_matrix(values: Any, what: str, record_names: Sequence[Any] | None = None) -> np.ndarray:
    """Check a featuriser's output: 2-D, float32, finite; name the rows that are not.

    Used on our own output and on plug-in featurisers' output, so a user's model that
    returns NaN for some inputs is caught here, naming the inputs, not deep in a detector.
    """
    try:
        with np.errstate(over="ignore"):  # a double past float32's range is inf here, named below (no warning line)
            matrix = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise FeatureError(f"{what} returned values that are not numbers ({exc})") from exc
    if matrix.ndim == 1 and matrix.size == 0:
        matrix = matrix.reshape(0, 0)
    if matrix.ndim != 2:
        raise FeatureError(f"{what} must return a 2-D matrix, got shape {matrix.shape}")
    bad_rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if bad_rows.size:
        names = record_names if record_names is not None else range(len(matrix))
        raise FeatureError(
            f"{what} produced NaN or infinite features for {bad_rows.size} record(s)",
            [names[i] for i in bad_rows.tolist()],
            non_finite=(),
        )
    return matrix


def check_same_dimension(expected: int, matrix: np.ndarray, what: str) -> None:
    """A profile and a delta must be featurised into the same space."""
    if matrix.ndim != 2 or matrix.shape[1] != expected:
        got = matrix.shape[1] if matrix.ndim == 2 else matrix.shape
        raise FeatureError(
            f"dimension mismatch: {what} has {got} features per record but the reference "
            f"profile has {expected}; featurise both versions with the same featuriser"
        )


def named_records(exc: FeatureError, locators: list) -> FeatureError:
    """``exc`` naming the sample's records by their locators (a tree's paths, a table's ``file#row``):
    the featuriser names them by position in the sample (newcomer review 12, finding 7: the commit said
    "cannot decode image(s) (OSError): 71", and the check that could not use the version the same; a
    table's NaN in its row 7 was "rows: 218", the sample being in salted order). Escaped (``escaping.visible``):
    whoever writes the data folder names its files, and a newline in one started a line of its own (A25b-5)."""
    if exc.records and all(isinstance(r, int) and 0 <= r < len(locators) for r in exc.records):
        from provenance.escaping import visible

        named = [visible(str(locators[r])) for r in exc.records]
        past = [visible(str(locators[r])) for r in exc.past_float32 if isinstance(r, int) and 0 <= r < len(locators)]
        return FeatureError(exc.problem, named, exc.non_finite, past_float32=past)
    return exc
