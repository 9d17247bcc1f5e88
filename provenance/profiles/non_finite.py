"""The commit's refusal of feature values no detector can score (null, NaN, infinite), in the words that fit the
parent: leaving a column out of the features releases nothing when the parent's signed profile reads it, since a
check against that parent featurises the new records with the parent's featuriser (newcomer review 28, finding 1)."""

from __future__ import annotations

import json
from collections.abc import Collection

from provenance.errors import InputError
from provenance.escaping import name_in_sentence, shell_word, visible
from provenance.features.base import FeatureError, non_finite_words
from provenance.features.registry import FeaturizerSpec


class NonFiniteValues(InputError):
    """``path``'s feature values that are null, NaN or infinite, or finite but past float32's range
    (``problem.non_finite`` names the columns, its records the rows, its ``past_float32`` the latter rows);
    ``present`` the data's columns, so the advised exclude list names only columns it has;
    ``featurizer`` the featuriser the commit ran (its request as resolved: ``--featurizer`` given, the parent's
    carried, or the automatic one), which the advised flags keep but for the columns they leave out."""

    def __init__(
        self,
        problem: FeatureError,
        path: str,
        present: Collection[str] = (),
        featurizer: FeaturizerSpec | None = None,
    ):
        self.problem = problem
        self.path = path
        self.present = tuple(present)
        self.featurizer = featurizer
        super().__init__(self.message())

    @property
    def columns(self) -> list[str]:
        """The feature columns holding such values."""
        return list(self.problem.non_finite or ())

    def message(self, parent: str | None = None, parent_reads: Collection[str] = ()) -> str:
        """The refusal; with ``parent`` (a tag) whose signed profile reads ``parent_reads`` among the columns,
        exclusion is not offered as a way to release: a check against ``parent`` reads them too."""
        from provenance.changes import natural_key

        columns = self.columns
        shown = [name_in_sentence(c) for c in columns]
        where = f" in column{'s' if len(shown) > 1 else ''} {', '.join(shown)}" if shown else ""
        named = sorted((str(r) for r in self.problem.records), key=natural_key)  # the data's order: row 5 first
        more = f" (and {len(named) - 10} more)" if len(named) > 10 else ""
        # a folder's locators say file#row themselves; a bare number is a 0-based row of the file (newcomer review 31)
        rows = "0-based rows " if all(n.isdigit() for n in named) else ""
        read = [c for c in columns if c in set(parent_reads)]
        leave_out = ""
        if read and parent is not None:
            them = "them" if len(read) > 1 else "it"
            leave_out = (
                f" ({parent}'s signed profile reads {', '.join(name_in_sentence(c) for c in read)}: a check of this "
                f"version against {parent} reads {them} too, so leaving {them} out of the features "
                "would not let it pass)"
            )
        elif shown:
            leave_out = (
                f", or leave {'them' if len(shown) > 1 else 'it'} out of the features "
                f"(--featurizer numeric --featurizer-option {shell_word(self._without(columns))})"
            )
        # a finite double past float32's range is named as such, not as a NaN (attack review 30a, A30a-4)
        past = sorted({str(r) for r in self.problem.past_float32}, key=natural_key)
        some_past = (
            f"; past float32: {'rows ' * bool(rows)}{', '.join(past[:10])}" if past and len(past) < len(named) else ""
        )
        fix = "fill or drop them" if not past else "scale or drop them" if not some_past else "fill, scale or drop them"
        return (
            f"{visible(str(self.path))}: feature values {non_finite_words(named, past)}{where} in {len(named)} "
            f"record(s) ({rows}{', '.join(named[:10])}{more}{some_past}): no detector can score them; {fix} and "
            f"commit again{leave_out}"
        )

    def _without(self, columns: list[str]) -> str:
        """The ``KEY=VALUE`` option of the numeric featuriser the commit ran less ``columns`` (attack review 28c,
        A28c-4: it was DEFAULT_EXCLUDED plus ``columns``, so pasted it read again a column the parent's carried
        featuriser left out): its ``columns=[...]`` less them, or its ``exclude=[...]`` (DEFAULT_EXCLUDED for the
        automatic one) plus them, naming only columns the data has (``present``) when that is known."""
        from provenance.features.numeric import DEFAULT_EXCLUDED

        options = dict(self.featurizer.options) if self.featurizer and self.featurizer.name == "numeric" else {}
        if isinstance(options.get("columns"), list):
            kept = [str(c) for c in options["columns"] if str(c) not in set(columns)]
            return "columns=" + json.dumps(kept, separators=(",", ":"))
        before = [str(c) for c in options["exclude"]] if isinstance(options.get("exclude"), list) else DEFAULT_EXCLUDED
        if self.present:  # the featuriser sees the content columns only: a name the data lacks excludes nothing
            before = [c for c in before if c in set(self.present)]
        excluded = [*before, *(c for c in columns if c not in set(before))]
        return "exclude=" + json.dumps(excluded, separators=(",", ":"))

    def against(self, parent: str, parent_reads: Collection[str]) -> InputError:
        """This refusal as said for a commit on ``parent`` whose profile reads ``parent_reads``; itself when
        the parent reads none of the columns."""
        if not set(self.columns) & set(parent_reads):
            return self
        return InputError(self.message(parent, parent_reads))
