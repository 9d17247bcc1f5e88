"""Numeric columns of a table as features.

With no options a table's numeric columns (ints, floats, bools) other than the label,
source, id and metadata columns are its features, taken in name order so that the same
table in another column order gives the same vectors.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.errors import InputError
from provenance.escaping import name_in_sentence, shell_word, visible
from provenance.features.base import FeatureError, Featurizer, finite_matrix, non_finite_words
from provenance.names import capped

DEFAULT_EXCLUDED = ("label", "source", "id")
IDENTITY_PREFIX = "numeric/v1:cols="  # a resolved numeric featuriser's identity (``NumericFeaturizer.name``)


def identity_columns(identity: str, names: Collection[str] | None = None) -> tuple[str, ...] | None:
    """The columns a resolved numeric featuriser reads, from its identity string (``numeric/v1:cols=a,b``, as a
    signed statement's ``featurizer`` and a profile's header keep it), in its order; None for any other identity
    (another featuriser's, or an unresolved ``numeric/v1:cols=auto;exclude=...``). Commit's parent defaults and
    feature note, status's refusal and ``registry.legacy_spec`` ask here; a profile's ``featurizer_spec`` lists the
    columns exactly and is read first where there is one.

    The string joins names with ``,`` and a data source names the columns: ``x,y`` reads as two, and a resolved
    list whose first name starts ``auto;exclude=`` reads as the unresolved form (attack review 29b, A29b-2/-5). With
    ``names`` (the columns the data or its signed schema holds) the string is split only into those names, and None
    is returned unless exactly one split fits; without them a name holding ``,`` still reads as two."""
    if not identity.startswith(IDENTITY_PREFIX):
        return None
    rest = identity[len(IDENTITY_PREFIX) :]
    if names is None:
        if rest.startswith("auto;exclude="):  # unresolved (or a first column so named: the caller fails closed)
            return None
        return tuple(c for c in rest.split(",") if c)
    return _only_split(rest, sorted(set(names)))


def signed_columns(predicate: dict) -> tuple[str, ...] | None:
    """The columns a version's numeric profile reads, from its verified ``predicate``'s featuriser identity, split
    only into the column names its signed schema holds (``features.numeric.identity_columns``: exact unless two splits
    fit); None for another featuriser or an identity that does not split one way. Read where the profile itself
    (whose ``featurizer_spec`` lists them exactly) is not loaded."""
    schema = predicate.get("schema")
    names = schema.get("columns") if isinstance(schema, dict) else None
    if not isinstance(names, list):  # a statement without a signed schema: the plain split
        return identity_columns(str(predicate.get("featurizer") or ""))
    return identity_columns(str(predicate.get("featurizer") or ""), [str(n) for n in names])


def numeric_type(arrow_type: str) -> bool:
    """Whether a signed column type (Arrow's name: ``double``, ``int64``, ``bool``) holds numbers."""
    return arrow_type in {"double", "float", "halffloat", "bool"} or arrow_type.startswith(("int", "uint", "decimal"))


def _only_split(joined: str, names: Sequence[str]) -> tuple[str, ...] | None:
    """The one way ``joined`` is ``names`` members joined with ``,`` in sorted order (a resolved featuriser sorts
    its columns); None when there is none or more than one. Dynamic programming from the end: ``ways[i]`` counts the
    splits of ``joined[i:]`` (capped at 2), tried only where a name can start (0 and after each ``,``) and with one
    set look-up per distinct name length, so a table of thousands of columns splits in milliseconds."""
    n = len(joined)
    known = set(names)
    lengths = sorted({len(m) for m in known if m})
    ways = {n + 1: 1}  # past the end: the split is done
    step: dict[int, str] = {}
    for i in [0, *(k + 1 for k, c in enumerate(joined) if c == ",")][::-1]:
        count = 0
        for length in lengths:
            end = i + length
            if end > n:
                break
            if (end == n or joined[end] == ",") and joined[i:end] in known and ways.get(end + 1, 0):
                count = min(2, count + ways[end + 1])
                step[i] = joined[i:end]
        ways[i] = count
    if not joined or ways.get(0) != 1:
        return None
    out: list[str] = []
    i = 0
    while i <= n:
        taken = step[i]  # ways[i] == 1 on the one split's path: its one name
        out.append(taken)
        i += len(taken) + 1
    return tuple(out) if out == sorted(out) else None


def _is_numeric(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_decimal(arrow_type)
    )


def numeric_columns(schema: pa.Schema, exclude: Iterable[str] = DEFAULT_EXCLUDED) -> list[str]:
    """The feature columns a table gives with no options: numeric, not excluded, sorted."""
    excluded = set(exclude)
    return sorted(f.name for f in schema if f.name not in excluded and _is_numeric(f.type))


def fitting(schema: pa.Schema, exclude: Iterable[str]) -> str:
    """The featuriser a table with no numeric column would take, as the flags to type ("" when none fits):
    a commit of text data said only that no numeric column was found (newcomer review 11, finding 7). Whoever
    writes the data names its columns: in prose a name is quoted (``repr``), and the advised flags are shell words
    that paste back as the same argv (attack review 26a, A26a-5: a newline faked a lineage line, ``emb;touch X``
    ran a command)."""
    fields = [f for f in schema if f.name not in set(exclude)]
    vectors = [f.name for f in fields if pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type)]
    texts = [f.name for f in fields if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    if vectors:
        flags = f"--featurizer embedding {column_option(vectors[0])}"
        return f"; column {vectors[0]!r} holds vectors: commit with {flags}"
    if not texts:
        return ""
    name = "text" if "text" in texts else texts[0]
    option = "" if name == "text" or len(texts) == 1 else f" {column_option(name)}"
    return f"; text column {name!r} found: commit with --featurizer text{option}"


def column_option(name: str) -> str:
    """``--featurizer-option column=NAME`` as shell words naming the column ``name``: a value that parses as JSON
    is read as JSON (``FeaturizerSpec.parse``), so a column named ``5`` or ``true`` is given as a JSON string."""
    try:
        json.loads(name)
    except ValueError:
        value = name
    else:
        value = json.dumps(name)
    return f"--featurizer-option {shell_word('column=' + value)}"


def _quoted(names: Iterable[str]) -> list[str]:
    """Column names as prose shows them (``escaping.name_in_sentence``: ``repr`` unless plain)."""
    return [name_in_sentence(n) for n in names]


def _names(value: Any, option: str) -> list[str]:
    """``value`` (the numeric featuriser's ``option``) as a list of column names; InputError unless it is a list or
    tuple of strings."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        shown = type(value).__name__ if not isinstance(value, (list, tuple)) else "a list holding a non-string"
    elif option == "columns" and not value:  # a profile of no features: every check against it failed (A30a-3)
        shown = "an empty list (a profile of no features)"
    elif option == "columns" and len(set(value)) < len(value):
        twice = sorted({v for v in value if list(value).count(v) > 1})
        shown = f"a list naming {', '.join(_quoted(twice[:5]))} more than once"
    else:
        return list(value)
    raise InputError(
        f"the numeric featuriser's option {option!r} must be a list of column names (strings)"
        f"{', each once' if option == 'columns' else ''}, not {shown}: give it as --featurizer-option "
        f"{shell_word(option + '=' + json.dumps(['a', 'b']))}"
    )


class AbsentFeatureColumns(InputError):
    """A numeric featuriser's ``columns`` name columns the data being committed cannot give as features: columns
    that are not its content columns, or content columns whose type holds no numbers."""


def check_named_columns(
    options: Mapping[str, Any],
    content: Collection[str],
    roles: Collection[str],
    path: str,
    types: Mapping[str, str] | None = None,
) -> None:
    """Raise ``AbsentFeatureColumns`` (exit 2) naming ``path`` and the columns when the numeric featuriser's
    ``columns`` option (in ``options``, a spec's as given) names one that is not among ``content`` (the content
    columns read from ``path``); one among ``roles`` (the label, source, id and metadata columns) is said to be read
    as such. A commit with such a list made a version of no reference profile, exit 0 (attack review 30a, A30a-3).
    With ``types`` (each content column's signed type name, ``encoding.type_name``) a named column whose type holds
    no numbers (``string``, ``list<double>``) is refused too, naming its type (attack review 30c, A30c-2), and an
    ``exclude`` list that leaves no numeric content column (attack review 31b, A31b-3)."""
    columns = options.get("columns")
    if not isinstance(columns, (list, tuple)):
        _check_excluded_leaves_one(options.get("exclude"), content, types or {}, path)
        return
    absent = [c for c in columns if c not in set(content)]
    if not absent:
        _check_named_types(columns, types or {}, path)
        return
    kept = [c for c in absent if c in set(roles)]
    unknown = [c for c in absent if c not in set(roles)]
    said = (
        [f"{capped(_quoted(unknown))}, not {'a column' if len(unknown) == 1 else 'columns'} of this data"]
        if unknown
        else []
    )
    if kept:
        said.append(f"{capped(_quoted(kept))}, read as the label, source, id or metadata column (no feature)")
    raise AbsentFeatureColumns(
        f"{path}: the numeric featuriser's option 'columns' names {'; and '.join(said)}; the data's content columns: "
        f"{capped(_quoted(sorted(content)))}"
    )


def _check_excluded_leaves_one(exclude: object, content: Collection[str], types: Mapping[str, str], path: str) -> None:
    """Raise ``AbsentFeatureColumns`` naming ``path`` when an ``exclude`` list (a list of names) leaves none of the
    numeric ``content`` columns (by ``types``) that there were before it: a version of no reference profile is a
    flag's mistake here as with ``columns=[]`` (attack review 31b, A31b-3)."""
    if not isinstance(exclude, (list, tuple)) or not exclude:
        return
    numeric = [c for c in content if c in types and numeric_type(types[c])]
    if not numeric or any(c not in set(exclude) for c in numeric):
        return
    raise AbsentFeatureColumns(
        f"{path}: the numeric featuriser's option 'exclude' leaves out every numeric content column "
        f"({capped(_quoted(sorted(numeric)))}): a numeric profile needs at least one; exclude fewer or give another "
        "--featurizer"
    )


def _check_named_types(columns: Sequence[str], types: Mapping[str, str], path: str) -> None:
    """Raise ``AbsentFeatureColumns`` naming ``path`` and each of ``columns`` whose type in ``types`` holds no
    numbers, with its type (printable-escaped: a type name is as the data's writer made it)."""
    wrong = [(c, types[c]) for c in columns if c in types and not numeric_type(types[c])]
    if not wrong:
        return
    named = capped([f"{name_in_sentence(c)} ({visible(t)})" for c, t in wrong])
    raise AbsentFeatureColumns(
        f"{path}: the numeric featuriser's option 'columns' names {named}, not numeric: a numeric profile reads "
        "int, float, bool and decimal columns; leave it out of 'columns' or give another --featurizer"
    )


def check_options(options: Mapping[str, Any]) -> None:
    """Raise ``InputError`` when the numeric featuriser's ``columns`` or ``exclude`` in ``options`` (a spec's, as
    given) is not a list of column names: ``prov commit`` refuses such a ``--featurizer-option`` before any work,
    rather than commit a version with no profile whose signed request the next commit must refuse (A29b-1)."""
    for option in ("columns", "exclude"):
        if option in options and not (option == "columns" and options[option] is None):
            _names(options[option], option)


class NumericFeaturizer(Featurizer):
    """Numeric table columns -> float32 matrix; nulls and NaNs are errors naming the rows."""

    def __init__(self, columns: Sequence[str] | None = None, exclude: Iterable[str] = DEFAULT_EXCLUDED):
        """``columns``: the feature columns (None: every numeric column not in ``exclude``); each a list or tuple
        of column names (strings). Raises ``InputError`` for any other value: a JSON object's keys or a string's
        letters would be taken as names, and a signed request so written slipped past the check that holds a
        carried request against its parent's profile (attack review 29b, A29b-1)."""
        self.columns = sorted(_names(columns, "columns")) if columns is not None else None
        self.exclude = tuple(sorted(set(_names(exclude, "exclude"))))

    @property
    def name(self) -> str:
        """``numeric/v1:cols=a,b,...`` once resolved (``cols=auto;exclude=...`` before)."""
        if self.columns is None:
            return IDENTITY_PREFIX + "auto;exclude=" + ",".join(self.exclude)
        return IDENTITY_PREFIX + ",".join(self.columns)

    def options(self) -> dict[str, Any]:
        """``{"columns": [...]}`` once resolved, else ``{"exclude": [...]}``."""
        if self.columns is not None:
            return {"columns": list(self.columns)}
        return {"exclude": list(self.exclude)}

    def resolve(self, schema: pa.Schema) -> NumericFeaturizer:
        """A featuriser with explicit columns, whose name records exactly what it reads."""
        if self.columns is not None:
            return self
        columns = numeric_columns(schema, self.exclude)
        if not columns:
            raise FeatureError(
                "the numeric featuriser found no numeric feature columns in the table "
                f"(columns: {capped(_quoted(schema.names))}; excluded: {', '.join(_quoted(self.exclude))})"
                + fitting(schema, self.exclude)
            )
        resolved = copy.copy(self)  # a subclass (a plug-in) stays itself
        resolved.columns = columns
        return resolved

    def featurize(self, records: pa.Table | pa.RecordBatch) -> np.ndarray:
        """The feature columns as an ``(n, columns)`` float32 matrix; nulls, NaN and infinities are a FeatureError naming the rows."""
        resolved = self.resolve(records.schema)
        columns = resolved.columns or []
        missing = [c for c in columns if c not in records.schema.names]
        if missing:  # columns, not records: named in the message (newcomer review 32, finding 1: "records: skin")
            named = ", ".join(name_in_sentence(c, quote_plain=True) for c in missing)
            raise FeatureError(
                f"the table lacks feature column{'' if len(missing) == 1 else 's'} {named}", missing_columns=missing
            )
        non_numeric = [
            (c, str(records.schema.field(c).type)) for c in columns if not _is_numeric(records.schema.field(c).type)
        ]
        if non_numeric:
            named = ", ".join(f"{name_in_sentence(c)} ({t})" for c, t in non_numeric)
            raise FeatureError(
                f"the numeric featuriser cannot use non-numeric columns: {named}", non_numeric=non_numeric
            )

        matrix = np.empty((records.num_rows, len(columns)), dtype=np.float32)
        bad_rows: set[int] = set()
        past_float32: set[int] = set()  # finite doubles the float32 cast made infinite
        bad_columns: list[str] = []
        for j, column_name in enumerate(columns):
            column = records.column(column_name)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            nulls = np.asarray(pc.is_null(column, nan_is_null=True).to_numpy(zero_copy_only=False))
            bad_rows.update(np.flatnonzero(nulls).tolist())
            # unsafe: a uint64 past 2^53 becomes the nearest float (features are float32 anyway)
            values = pc.cast(column, pa.float64(), safe=False).fill_null(0.0).to_numpy(zero_copy_only=False)
            with np.errstate(over="ignore"):  # a double past float32's range is inf here, refused below
                matrix[:, j] = values
            past_float32.update(np.flatnonzero(np.isfinite(values) & ~np.isfinite(matrix[:, j])).tolist())
            if nulls.any() or not np.isfinite(matrix[:, j]).all():
                bad_columns.append(column_name)
        bad_rows.update(np.flatnonzero(~np.isfinite(matrix).all(axis=1)).tolist())
        if bad_rows:
            words = non_finite_words(sorted(bad_rows), sorted(past_float32))
            raise FeatureError(
                f"numeric features are {words} in {len(bad_rows)} row(s); rows",
                sorted(bad_rows),
                non_finite=bad_columns,
                past_float32=sorted(past_float32),
            )
        return finite_matrix(matrix, resolved.name)
