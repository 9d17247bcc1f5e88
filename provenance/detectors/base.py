"""The one interface every detector implements, and what it returns.

A detector sees the reference profile of the trusted base and the delta (added and
relabeled records with their features, labels and sources) and returns, per record, a
score in [0, 1], a flag and an explanation a reviewer can act on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, MutableSequence
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter, is_, itemgetter
from typing import Any, Literal, TypeVar, overload

import numpy as np

from provenance.features.base import FeatureError, check_same_dimension, finite_matrix
from provenance.features.blas import single_threaded_blas
from provenance.profiles.reference import ReferenceProfile, digests_matrix

DEFAULT_EXTREME_ALPHA = 0.01  # ``detectors.extreme_alpha`` when the policy does not set it (``gate.detection_common``)
COMBINED = "combined"  # the detector name the combined verdict is stored under (``findings``, the gate)

R = TypeVar("R")

# Attack families named in the design contract; each detector says which it covers.
FAMILIES = (
    "label_flip",
    "relabel",
    "backdoor",
    "outlier",
    "feature_collision",
    "dos_flood",
    "gradient",
)


KINDS = ("added", "relabeled", "copied")


@dataclass(frozen=True, eq=False)
class Delta:
    """What detectors see: the added and relabeled records of a new version, and base
    records it copies more often than the base did.

    One entry per distinct record (digest and label). ``kinds`` says why it is in the
    delta: ``added`` (a digest the base lacks), ``relabeled`` (a base digest with a new
    label) or ``copied`` (a base record the new version has more rows of).
    ``extra_copies`` (n,) counts the rows the new version adds beyond the first (added)
    or beyond the base's rows (relabeled, copied); ``base_copies`` (n,) counts the base's
    rows of the record (0 for added). Both default to zeros (every record once).
    ``extreme_alpha`` is the level the gate judges extreme evidence at (the policy's
    ``detectors.extreme_alpha``, default ``DEFAULT_EXTREME_ALPHA``): how far a detector must look for evidence
    that can still block (``collision``'s copy-index search; attack review 34a, A34a-1).
    """

    digests: list[bytes]  # 32-byte content digests
    X: np.ndarray  # float32, n x d
    labels: list[str]  # label in the new version
    sources: list[str | None]
    kinds: list[str]  # "added" | "relabeled" | "copied"
    old_labels: list[str | None]
    extra_copies: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    base_copies: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    extreme_alpha: float = DEFAULT_EXTREME_ALPHA
    # Per-run scratch space (e.g. neighbours shared by several detectors); not data.
    cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n = len(self.digests)
        lengths = {
            "X": len(self.X),
            "labels": len(self.labels),
            "sources": len(self.sources),
            "kinds": len(self.kinds),
            "old_labels": len(self.old_labels),
        }
        wrong = [f"{k}={v}" for k, v in lengths.items() if v != n]
        if wrong:
            raise FeatureError(f"delta parts differ in length from digests ({n}): {', '.join(wrong)}")
        if not 0.0 < self.extreme_alpha < 1.0:
            raise FeatureError(f"the delta's extreme_alpha must be between 0 and 1, not {self.extreme_alpha}")
        bad_kinds = sorted({k for k in self.kinds if k not in KINDS})
        if bad_kinds:
            raise FeatureError(f"delta kinds must be one of {', '.join(KINDS)}, not", bad_kinds)
        for name in ("extra_copies", "base_copies"):
            counts = np.asarray(getattr(self, name), dtype=np.int64)
            if counts.shape == (0,):  # not given: every record once
                counts = np.zeros(n, dtype=np.int64)
            if counts.shape != (n,) or (counts < 0).any():
                raise FeatureError(f"delta {name} must be {n} counts >= 0, got shape {counts.shape}")
            object.__setattr__(self, name, counts)
        X = np.asarray(self.X, dtype=np.float32)
        if n == 0:
            X = X.reshape(0, X.shape[1] if X.ndim == 2 else 0)
        else:
            # the records' names only for an error message: not written for every record of a finite delta
            names = None if X.ndim == 2 and np.isfinite(X).all() else [bytes(d).hex()[:12] for d in self.digests]
            X = finite_matrix(X, "the delta features", names)
        object.__setattr__(self, "X", X)

    def __len__(self) -> int:
        return len(self.digests)

    @cached_property
    def digest_array(self) -> np.ndarray:
        """The digests as an ``n x 32`` uint8 matrix."""
        return digests_matrix(self.digests)

    @cached_property
    def hexes(self) -> list[str]:
        """The digests in hex, in delta order."""
        return [bytes(d).hex() for d in self.digests]

    def hex(self, i: int) -> str:
        """Record ``i``'s digest in hex."""
        return self.hexes[i]


_DIGEST, _SCORE, _FLAG = attrgetter("digest"), attrgetter("score"), attrgetter("flagged")


@dataclass
class Finding:
    """One detector's verdict on one record: its score in [0, 1], whether it alone flags it, and why."""

    digest: str  # hex
    detector: str
    score: float  # in [0, 1]
    flagged: bool
    explanation: str


class ColumnFindings(MutableSequence[Finding]):
    """A detector's findings kept as columns, each ``Finding`` made when it is first read.

    ``shared.build_result`` scores every record of the delta (10,000 x 6 detectors in a 1% delta of 1 M)
    but the combined verdict reads one detector's explanation for most records and none of the others':
    60,000 ``Finding`` objects and their "within the base's range" texts cost more than the rest of a
    detector's work. The explanations that call the detector (flagged records, scores past
    ``shared.DETAILED_FROM``) are made in ``build_result`` as before, so a crash in them is still that
    detector's error; only the fixed short text is made here.

    It is the list a plug-in reads and edits (attack review 25c, F1 and F2): a finding read twice is the
    same object, and a change made to it in place (``f.flagged = True``) is what ``columns()`` reports;
    the first write (an item set or deleted, ``append``, ``insert``, ``sort``...) makes every finding into
    a plain list, which then holds them: every read and ``columns()`` go to it."""

    def __init__(
        self,
        hexes: list[str],
        detector: str,
        scores: list[float],
        flags: list[bool],
        explained: dict[int, str],
        short: str,
    ) -> None:
        self._hexes, self._detector, self._scores, self._flags = hexes, detector, scores, flags
        self._explained, self._short = explained, short
        self._made: list[Finding | None] = [None] * len(scores)  # each finding once it was read
        self._made_at: list[int] = []  # the positions of those made, in the order they were read
        self._list: list[Finding] | None = None  # every finding, once the findings were written to

    def __len__(self) -> int:
        return len(self._scores) if self._list is None else len(self._list)

    @overload
    def __getitem__(self, i: int) -> Finding: ...

    @overload
    def __getitem__(self, i: slice) -> list[Finding]: ...

    def __getitem__(self, i: int | slice) -> Finding | list[Finding]:
        if self._list is not None:
            return self._list[i]
        made = self._made[i]  # an index as a list takes it (negative, IndexError past the end), or a slice
        if made is None:
            return self._make(i % len(self._made))  # type: ignore[operator]  # an int: a slice never gives None
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._made)))]
        return made  # type: ignore[return-value]  # an int's: a Finding

    def explanation(self, i: int) -> str:
        """``self[i].explanation`` without making finding ``i`` when it was not read yet (the combined verdict
        quotes one detector's explanation for each of the delta's records: 10,000 findings made, and each
        later ``columns()`` read checked them all, only for their text). ``i`` as ``self[i]`` takes an int."""
        if self._list is not None:
            return self._list[i].explanation
        made = self._made[i]
        if made is not None:  # read before: its explanation as it holds it now (a plug-in may have set it)
            return made.explanation
        return self._text(i % len(self._made))

    def _text(self, j: int) -> str:
        """Finding ``j``'s explanation as made: the detector's own, or the fixed short text."""
        explanation = self._explained.get(j)
        if explanation is None:
            explanation = f"within the base's range: score {self._scores[j]:.3f}{self._short}"
        return explanation

    def _make(self, j: int) -> Finding:
        made = self._made[j] = Finding(self._hexes[j], self._detector, self._scores[j], self._flags[j], self._text(j))
        self._made_at.append(j)
        return made

    def _as_list(self) -> list[Finding]:
        """The findings as the plain list that holds them from the first write on."""
        if self._list is None:
            self._list = [self[j] for j in range(len(self._scores))]
        return self._list

    @overload
    def __setitem__(self, i: int, value: Finding) -> None: ...

    @overload
    def __setitem__(self, i: slice, value: Iterable[Finding]) -> None: ...

    def __setitem__(self, i, value) -> None:
        self._as_list()[i] = value

    def __delitem__(self, i: int | slice) -> None:
        del self._as_list()[i]

    def insert(self, index: int, value: Finding) -> None:
        """As ``list.insert`` (the first write: the findings become a plain list)."""
        self._as_list().insert(index, value)

    def sort(self, *, key: Callable[[Finding], Any] | None = None, reverse: bool = False) -> None:
        """As ``list.sort`` (a write, as ``insert``)."""
        self._as_list().sort(key=key, reverse=reverse)  # type: ignore[arg-type]  # as list.sort takes it

    def copy(self) -> list[Finding]:
        """A plain list of the findings, as ``list.copy``."""
        return list(self)

    def __add__(self, other: list[Finding]) -> list[Finding]:
        return list(self) + other

    def __radd__(self, other: list[Finding]) -> list[Finding]:
        return other + list(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ColumnFindings | list):  # as a list: never equal to a tuple
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like the list it stands for

    def __repr__(self) -> str:
        return repr(list(self))

    def changed(self) -> list[Finding]:
        """The findings whose digest, score or flag may no longer be the columns' (all of them once written):
        what a plug-in set, and what ``registry`` checks is a number."""
        return self._list if self._list is not None else [f for _, f in self._changed_at()]

    def _changed_at(self) -> list[tuple[int, Finding]]:
        """The findings made here whose digest, score or flag is no longer the columns' object, with their positions.

        By identity, not equality (attack review 26f, R26f-4): a ``Decimal`` or a 0-d array set as a score
        compares equal to the column's float, and must still be checked as what a run set. Read after the
        combined verdict made one finding per record (10,000 in a 1% delta of 1 M) by each reader of the
        columns: compared object by object with ``operator.is_`` first (at C speed: 1.2x the equality read,
        bench/results/changed-identity.md), one finding at a time only when something differs."""
        if not self._made_at:
            return []
        at = tuple(self._made_at)
        pick = itemgetter(*at) if len(at) > 1 else lambda column: (column[at[0]],)
        found: tuple[Finding, ...] = pick(self._made)  # every one made
        columns = ((_DIGEST, self._hexes), (_SCORE, self._scores), (_FLAG, self._flags))
        if all(all(map(is_, map(read, found), pick(column))) for read, column in columns):
            return []
        return [(j, f) for j, f in zip(at, found) if any(read(f) is not column[j] for read, column in columns)]

    def columns(self) -> tuple[list[str], list[float], list[bool]]:
        """Each finding's digest, score (``float``) and flag (``bool``), in delta order, as the findings
        hold them now: the columns themselves while no finding was changed (do not change them)."""
        if self._list is not None:
            findings = self._list
            return (
                [f.digest for f in findings],
                [float(f.score) + 0.0 for f in findings],
                [bool(f.flagged) for f in findings],
            )
        hexes, scores, flags = self._hexes, self._scores, self._flags
        changed = self._changed_at()
        if changed:
            hexes, scores, flags = list(hexes), list(scores), list(flags)
            for j, f in changed:
                hexes[j], scores[j], flags[j] = f.digest, float(f.score) + 0.0, bool(f.flagged)  # -0.0 as 0.0
        return hexes, scores, flags


@dataclass
class DetectorResult:
    """One detector's run on a delta: status ("ran", or "error" with the message), its findings in delta order.

    ``threshold`` is on the score scale (flagged scores are above it); ``summary`` holds
    delta-level facts.
    """

    detector: str
    status: Literal["ran", "error"]  # "ran" says it ran, not that anything passed
    error: str | None
    threshold: float | None  # on the score scale [0, 1]
    findings: list[Finding] | ColumnFindings
    summary: dict = field(default_factory=dict)  # delta-level facts (e.g. shared gradient direction)
    # Calibrated p-values for the combined verdict (provenance.detectors.combine): one per
    # delta record, and one per reference sample record (NaN where it has none). None for
    # a detector that does not score records against the reference (volume).
    p_values: np.ndarray | None = field(default=None, repr=False)
    reference_p: np.ndarray | None = field(default=None, repr=False)
    # The raw scores ``reference_p`` calibrates (m,), NaN where none: the combined verdict
    # recalibrates them with a pseudo-batch left out to measure how often a batch the
    # reference did not see lies beyond it (``combine.beyond_rate``).
    reference_raw: np.ndarray | None = field(default=None, repr=False)
    # Evidence strong enough to block one record whatever the budget (see
    # provenance.detectors.extreme): a p-value per delta record, 1 where there is none;
    # label-based evidence counts only where no batch-mate shares the record's label.
    extreme_p: np.ndarray | None = field(default=None, repr=False)
    extreme_is_label_based: bool = False
    # True when extreme_p comes from a range rule that fires only far beyond anything the
    # base shows (0 there, 1 elsewhere), not a calibrated tail: not counted in the Bonferroni factor.
    extreme_is_rule: bool = False
    # The share of the extreme rule's level this calibrated evidence gets (weighted Bonferroni,
    # ``extreme.extreme_p_by_detector``); None: an equal share of what the shared ones leave.
    extreme_share: float | None = None
    # ``extreme_p`` without a rule the policy may stand down (duplicates' tight cluster:
    # ``[detectors] duplicates_tight_cluster = false``); None for a detector without one.
    extreme_p_rule_off: np.ndarray | None = field(default=None, repr=False)
    # Set by the runner (``registry.run_detectors``) after the run, whatever the detector set: True for a
    # detector that is not one of provenance's own. Its p-values are calibrated on its own reference alone
    # and enter the combined verdict beside the built-ins' at a fixed share of the false-alarm rate, so its
    # reference p-values weaken only its own evidence (``combine``; attack review 26i, R26i-1).
    plug_in: bool = field(default=False, compare=False)
    # ``columns()``'s answer for a plain findings list, and the list it was read from (see there)
    _columns: tuple[list[Finding], list[float], list[bool]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def flagged(self) -> list[Finding]:
        """The findings this detector flags."""
        findings = self.findings
        if isinstance(findings, ColumnFindings):  # read from the flags: only the flagged findings are made
            return [findings[i] for i, flagged in enumerate(findings.columns()[2]) if flagged]
        return [f for f in findings if f.flagged]

    def digests(self) -> list[str]:
        """Each finding's digest (hex), in delta order."""
        findings = self.findings
        if isinstance(findings, ColumnFindings):
            return list(findings.columns()[0])
        return [f.digest for f in findings]

    def columns(self, *, again: bool = False) -> tuple[list[float], list[bool]]:
        """Each finding's score (``float``) and flag (``bool``), in delta order, as two lists.

        The combined verdict and the stored findings object each read every detector's column
        (10,000 records x 7 detectors in a 1% delta of 1 M), not every finding again: a
        ``ColumnFindings`` (``shared.build_result``) answers from its columns and the findings
        changed in place; a plain list is read once and kept while it stays the same object and
        length, or read ``again`` (the runner does when a detector's run returns, so what the run
        changed in place after reading them is seen). Returns the kept lists: do not change them."""
        findings = self.findings
        if isinstance(findings, ColumnFindings):
            _, scores, flags = findings.columns()
            return scores, flags
        kept = self._columns
        if again or kept is None or kept[0] is not findings or len(kept[1]) != len(findings):
            kept = (findings, [float(f.score) + 0.0 for f in findings], [bool(f.flagged) for f in findings])
            self._columns = kept
        return kept[1], kept[2]


def built_ins_and_plug_ins(results: Iterable[DetectorResult]) -> tuple[list[DetectorResult], list[DetectorResult]]:
    """``(built-ins, plug-ins)``: ``results`` split by the runner's mark (``DetectorResult.plug_in``), each in the
    given order. The one place that decides which results are provenance's own: the combined statistic and what
    is measured from it (``combine``) and the relabel scan's held-out null (``relabel_scan``) are the built-ins'
    alone, a plug-in's evidence enters beside them (``combine.beside_plug_ins``; attack reviews 26i and 27a)."""
    built_ins: list[DetectorResult] = []
    plug_ins: list[DetectorResult] = []
    for r in results:
        (plug_ins if r.plug_in else built_ins).append(r)
    return built_ins, plug_ins


class Detector(ABC):
    """A poisoning detector: a ``name``, the attack ``families`` it covers (``FAMILIES``), and ``run``.

    Subclasses are registered in ``provenance.detectors.registry``; ``run`` is wrapped
    to use one BLAS thread, so scores do not depend on the machine or the split.
    """

    name: str
    families: tuple[str, ...]
    # True when a record's score depends only on the profile and that record, so any
    # split of the delta gives the same findings (tested); False when the detector looks
    # across the delta (shared directions, duplicates, volumes).
    record_independent: bool = False

    @abstractmethod
    def run(self, profile: ReferenceProfile, delta: Delta, fpr: float) -> DetectorResult:
        """Score every record of the delta; raise on failure (the runner reports it)."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:
            cls.run = single_threaded_blas(cls.__dict__["run"])  # type: ignore[method-assign]


def check_compatible(profile: ReferenceProfile, delta: Delta) -> None:
    """A delta featurised differently from the profile cannot be scored."""
    if len(delta):
        check_same_dimension(profile.dim, delta.X, "the delta")
