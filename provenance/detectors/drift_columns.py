"""Which columns a drifted batch moved in: the ``detectors.drift`` warning names them (newcomer review 31,
finding 1: "mean_shift 4.9x ..., spectral 10.2x" on palmerpenguins named no column, and the cause was ``year``,
2009 in the batch against 2007-08 in the base).

Each column's move is the mean of the added records' within-class residuals (record minus its class's base
mean, in the profile's standardised space) over the base sample's within-class standard deviation in that
column: an effect size (Cohen's d), comparable across columns. A column's ``share`` is its squared effect over
the sum over columns, so shares add to 1 and one column that carries most of the move is plain. Column names
come from the base's signed profile (the numeric featuriser's columns); other featurisers' dimensions (an
embedding, pixels, hashed text) name no column, and nothing is named.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from provenance.detectors.base import Delta
from provenance.detectors.shared import standardized_delta
from provenance.escaping import name_in_sentence, shell_word
from provenance.features.numeric import identity_columns
from provenance.profiles.reference import ReferenceProfile

COLUMNS_KEPT = 5  # the report's JSON lists this many columns, largest share first
COLUMNS_SAID = 3  # the warning's text names at most this many ...
SAID_FROM = 0.1  # ... each carrying at least this share of the move (the first always)
# One column carries most of the move from this share: with every added value beyond the base's in it (a year, a
# counter, an id), the warning suggests leaving it out of the digest and features, if it is no measurement.
MOST_OF_MOVE = 0.5
MIN_SPREAD = 0.05  # within-class standard deviations below this (standardised units) are taken as this


@dataclass(frozen=True)
class ColumnMove:
    """How far a batch's added records moved in one feature column."""

    column: str
    effect: float  # mean within-class move, in the base's within-class standard deviations of the column (signed)
    share: float  # effect squared over the sum over columns (0..1)
    beyond_base: bool  # every added record's value lies above the base sample's largest, or below its smallest

    def to_dict(self) -> dict:
        """As the ``detectors.drift`` rule's statistic carries it (``columns``)."""
        return {
            "column": self.column,
            "effect": round(self.effect, 3),
            "share": round(self.share, 4),
            "beyond_base": self.beyond_base,
        }


def feature_columns(profile: ReferenceProfile) -> list[str] | None:
    """The column each feature dimension of ``profile`` reads, in dimension order; None when its featuriser is
    not the numeric one (or the names do not match its dimension)."""
    spec = profile.featurizer_spec
    names: list[str] | tuple[str, ...] | None = None
    if isinstance(spec, dict) and spec.get("name") == "numeric":
        names = (spec.get("options") or {}).get("columns")
    elif spec is None:
        names = identity_columns(profile.featurizer)
    if not isinstance(names, (list, tuple)) or len(names) != profile.dim or not all(isinstance(n, str) for n in names):
        return None
    return list(names)


def column_moves(profile: ReferenceProfile, delta: Delta) -> list[ColumnMove] | None:
    """The ``COLUMNS_KEPT`` columns the delta's added records (with a class the base has) moved most in, as
    delivered, largest ``share`` first; None when the profile's dimensions name no columns, ``[]`` with fewer
    than two such records or no move at all."""
    names = feature_columns(profile)
    if names is None:
        return None
    added = np.flatnonzero(np.array([k == "added" for k in delta.kinds], dtype=bool))
    labels = profile.label_indexes([delta.labels[i] for i in added])
    known = added[labels >= 0]
    if len(known) < 2 or len(profile.sample_Z) < 2:
        return []
    means = profile.class_means.astype(np.float64)
    residuals = standardized_delta(profile, delta)[known].astype(np.float64) - means[labels[labels >= 0]]
    base = profile.sample_Z.astype(np.float64) - means[profile.sample_labels]
    effect = residuals.mean(axis=0) / np.maximum(base.std(axis=0), MIN_SPREAD)
    total = float(effect @ effect)
    if total <= 0:
        return []
    raw = delta.X[known]
    top, bottom = profile.sample_X.max(axis=0), profile.sample_X.min(axis=0)
    beyond = (raw > top).all(axis=0) | (raw < bottom).all(axis=0)
    order = sorted(range(len(names)), key=lambda j: (-(effect[j] ** 2), names[j]))[:COLUMNS_KEPT]
    return [ColumnMove(names[j], float(effect[j]), float(effect[j] ** 2 / total), bool(beyond[j])) for j in order]


def columns_sentence(moves: list[dict], advise: bool = True) -> str:
    """The columns that moved most, for the warning's reason and ``prov diff --detect``'s batch drift line, from
    ``moves`` (``ColumnMove.to_dict()`` each, largest share first; no leading separator; "" when none):
    ``"it moved most in year (+3.1 within-class SD, 93% of the move), body_mass_g (+0.4, 3%)"``, then, when one
    column carries ``MOST_OF_MOVE`` of it with every added value beyond the base's, what to do if it is no
    measurement: ``--metadata COLUMN`` only, never the numeric featuriser's ``exclude`` (attack review 32a, A32a-2:
    that left the column out of the features the detectors judge but kept it a content column training reads, and was
    carried to later commits, so a later delivery's trigger values in it passed unseen). With ``advise`` False (the
    combined verdict flags a record of the delta) that way out is not offered: a backdoor trigger column looks the
    same, and leaving it out of the features passed the records it marks (attack review 31d, A31d-1); the sentence
    then says to review the flagged records first."""
    if not moves:
        return ""
    said = [m for i, m in enumerate(moves[:COLUMNS_SAID]) if i == 0 or m["share"] >= SAID_FROM]
    words = ", ".join(
        f"{name_in_sentence(m['column'])} ({m['effect']:+.1f}{' within-class SD' if i == 0 else ''}, {m['share']:.0%}"
        f"{' of the move' if i == 0 else ''})"
        for i, m in enumerate(said)
    )
    sentence = f"it moved most in {words}"
    first = moves[0]
    if first["share"] >= MOST_OF_MOVE and first["beyond_base"] and not advise:
        sentence += (
            f"; {name_in_sentence(str(first['column']))} carries most of it and every added record lies beyond the "
            "base's values in it, and records of this delta are flagged: review them before you read it as anything "
            "but a measurement (a backdoor trigger column looks the same)"
        )
    elif first["share"] >= MOST_OF_MOVE and first["beyond_base"]:
        column = str(first["column"])
        sentence += (
            f"; {name_in_sentence(column)} carries most of it and every added record lies beyond the base's "
            "values in it: if it is a time, an id or a collection tag rather than a measurement, commit the base "
            f"and this batch with --metadata {shell_word(column)} (out of the digest, the features and the columns "
            "provenance.load hands training; a batch signed with it as content then attests no record)"
        )
    return sentence
