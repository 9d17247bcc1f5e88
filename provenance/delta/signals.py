"""Diff-level signals that need no features, each with the statistic behind it.

Every signal names its test, the statistic, its p-value (when it is a test) and the
effect, so a reviewer can judge it rather than trust a flag. The tests and tails come
from ``provenance.stats`` (on ``scipy.stats``).

Thresholds are conservative on purpose: a diff of millions of records makes tiny,
harmless shifts "significant", so a signal is flagged only when the p-value is below
``alpha`` *and* the effect is large enough to matter.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from provenance import stats
from provenance.report.wording import NO_SOURCE_RECORDS, source_subject

ALPHA = 1e-3
HIGH_P = 1e-6  # a flagged signal below it is high severity; the default gate blocks a class-mix shift below it
MIN_EFFECT_W = 0.1  # Cohen's w for a chi-square shift: "small" effect
MIN_COUNT = 3  # fewer records than this never flag on a rate
MIN_SOURCE_ADDITIONS = 20  # a source's own class-mix test needs this many additions (and another source adding)
BASE_RELABEL_RATE = 0.001  # the relabel rate assumed when nothing else is known
VOLUME_RATIO = 3.0
MIN_VOLUME = 10
COUNT_STRENGTH = 3.0  # a flagged count (no p-value) ranks like p = 1e-3


def homogeneity_test(observed: dict[str, int], reference: dict[str, int]) -> dict:
    """Do ``observed`` counts share the class mix of ``reference``? A two-sample test.

    A chi-square test of homogeneity on the 2 x k table (observed, reference), from
    ``provenance.stats``: both samples are finite, so the base's mix is an estimate too.
    Treating it as exact (a goodness-of-fit test) over-rejects clean deltas that are large
    next to the base.

    Args:
        observed: count per class of the records under test (added or removed ones).
        reference: count per class of the base.

    Returns:
        The statistic dict the diff report carries: ``test``, ``value`` (chi-square,
        rounded to 4 places), ``df``, ``p_value``, ``n`` (observed records), ``effect_w``
        (Cohen's w, rounded) and ``cells`` (per class: ``class``, ``observed``,
        ``expected``, Pearson ``residual``), largest absolute residual first.
    """
    classes = sorted(c for c in set(observed) | set(reference) if observed.get(c, 0) + reference.get(c, 0) > 0)
    counts = [observed.get(c, 0) for c in classes]
    test = stats.chi_square_homogeneity(counts, [reference.get(c, 0) for c in classes])
    rows = []
    for c, o, e_o in zip(classes, counts, test.expected[0].tolist()):
        rows.append(
            {
                "class": c,
                "observed": o,
                "expected": round(e_o, 3),
                "residual": round((o - e_o) / math.sqrt(e_o), 3) if e_o > 0 else 0.0,
            }
        )
    rows.sort(key=lambda r: -abs(r["residual"]))
    return {
        "test": "chi-square test of homogeneity (additions vs base)",
        "value": round(test.statistic, 4),
        "df": test.df,
        "p_value": test.p_value,
        "n": sum(counts),
        "effect_w": round(test.effect_w, 4),
        "cells": rows,
    }


# --- signals --------------------------------------------------------------------------


@dataclass
class Signal:
    """One diff-level signal: its name, verdict, explanation and the statistic behind it.

    ``statistic`` is a dict naming its ``test`` and carrying ``p_value`` (None for a count);
    ``subject`` says what it is about (``{"source": ...}``, ``{"class": ...}`` or
    ``{"old": ..., "new": ...}``).
    """

    name: str
    flagged: bool
    explanation: str
    statistic: dict
    subject: dict | None = None  # {"source": ...} or {"class": ...} or {"old": .., "new": ..}
    details: dict = field(default_factory=dict)

    @property
    def p_value(self) -> float | None:
        """The test's p-value, or None for a count."""
        return self.statistic.get("p_value")

    @property
    def severity(self) -> str:
        """``info`` unless flagged; ``high`` when flagged with p < 1e-6, else ``medium``."""
        if not self.flagged:
            return "info"
        p = self.p_value
        return "high" if p is not None and p < HIGH_P else "medium"

    @property
    def strength(self) -> float:
        """-log10(p), capped, or a small fixed weight for a count: how strongly it ranks."""
        if not self.flagged:
            return 0.0
        p = self.p_value
        return COUNT_STRENGTH if p is None else min(50.0, -math.log10(max(p, 1e-300)))

    def to_dict(self) -> dict:
        """The signal as it appears in ``prov diff --format json`` (schemas/diff.schema.json)."""
        return {
            "name": self.name,
            "flagged": self.flagged,
            "severity": self.severity,
            "subject": self.subject,
            "statistic": self.statistic,
            "explanation": self.explanation,
            "details": self.details,
        }


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def class_mix_shift(
    added: dict[str, int], base: dict[str, int], source: str | None = None, scope: str | None = None
) -> Signal:
    """Do the additions (all, or one source's) have another class mix than the base?

    Args:
        added: count per class of the added records.
        base: count per class of the base.
        source: name the signal after this source (its subject), or None for all additions.
        scope: how the explanation names the additions; None: "all additions", or "additions from 'S'" with a source.

    Returns:
        A ``class_mix_shift`` signal whose statistic is ``homogeneity_test``'s dict, flagged
        when p < ``ALPHA``, Cohen's w >= ``MIN_EFFECT_W`` and there are >= ``MIN_COUNT`` additions.
    """
    test = homogeneity_test(added, base)
    top = test["cells"][0] if test["cells"] else None
    flagged = test["p_value"] < ALPHA and test["effect_w"] >= MIN_EFFECT_W and test["n"] >= MIN_COUNT
    what = scope or (f"additions from {source!r}" if source is not None else "all additions")
    # "differs" only when flagged: a passing check's reason read "class mix differs from the base (... p=1)"
    verb = "differs from" if flagged else "compared with"
    expl = (
        f"{what}: class mix {verb} the base (chi2={test['value']:.1f}, df={test['df']}, "
        f"p={test['p_value']:.2g}, w={test['effect_w']:.2f})"
    )
    new = sorted(c for c, k in added.items() if k and not base.get(c))
    if new:  # "48 vs 15.6 expected" of a class the base holds none of read as if it held some (newcomer review 29, #3)
        named = ", ".join(f"{c!r} ({added[c]} added)" for c in new)
        expl += f"; {'classes' if len(new) > 1 else 'class'} {named} {'are' if len(new) > 1 else 'is'} new: none in the base"
    elif top:
        expl += (
            f"; most over-/under-represented: {top['class']!r} ({top['observed']} vs {top['expected']:.1f} expected)"
        )
    subject = {"source": source} if source is not None else None
    return Signal("class_mix_shift", flagged, expl, test, subject)


def class_mix_signals(
    added_by_source: dict[str | None, dict[str, int]], base: dict[str, int], left_out: Collection[str] = ()
) -> list[Signal]:
    """The diff's class-mix tests (``class_mix_shift``): all additions, then each source's own when more than one
    source added records and it added at least ``MIN_SOURCE_ADDITIONS``.

    Args:
        added_by_source: per source (None: records without one), its added records' count per class.
        base: count per class of the base.
        left_out: classes whose records leave every test first, in the additions and the base alike (the policy's
            expected new classes, ``gate.class_mix``); the explanations name them.

    Returns:
        The signals: all additions' first (none when no record is left to test), then each source's in the order
        of ``added_by_source``.
    """
    kept = {
        source: {c: k for c, k in counts.items() if k and c not in left_out}
        for source, counts in added_by_source.items()
    }
    kept = {source: counts for source, counts in kept.items() if counts}
    reference = {c: k for c, k in base.items() if c not in left_out}
    outside = f" outside the expected new classes ({', '.join(sorted(left_out))})" if left_out else ""
    total: Counter[str] = Counter()
    for counts in kept.values():
        total.update(counts)
    scope = f"additions{outside}" if left_out else "all additions"
    signals = [class_mix_shift(dict(total), reference, scope=scope)] if total else []
    if len(kept) > 1:
        signals += [
            class_mix_shift(counts, reference, source, f"additions from {source!r}{outside}")
            for source, counts in kept.items()
            if sum(counts.values()) >= MIN_SOURCE_ADDITIONS
        ]
    return signals


def rate_test(k: int, n: int, p0: float) -> dict:
    """One-sided Poisson test that ``k`` events in ``n`` trials exceed the rate ``p0``.

    Returns the statistic dict: ``test`` ("poisson upper tail"), ``value`` (k), ``n``,
    ``rate`` (k / n), ``expected`` (n * p0), ``null_rate`` (p0) and ``p_value``
    (P(X >= k), X ~ Poisson(n * p0); the Poisson approximation of the binomial).
    """
    mean = n * p0
    return {
        "test": "poisson upper tail",
        "value": k,
        "n": n,
        "rate": (k / n) if n else 0.0,
        "expected": round(mean, 4),
        "null_rate": p0,
        "p_value": stats.poisson_sf(k, mean),
    }


def rated(k: int, n: int, p0: float) -> tuple[dict, bool]:
    """``rate_test(k, n, p0)`` and whether it flags: p < ``ALPHA``, at least ``MIN_COUNT``
    events, and an observed rate at least twice ``p0``."""
    test = rate_test(k, n, p0)
    return test, test["p_value"] < ALPHA and k >= MIN_COUNT and test["rate"] >= 2 * p0


def relabel_rate_by_source(relabeled: dict, common: dict) -> list[Signal]:
    """One ``relabel_rate`` signal per source that relabeled records.

    Args:
        relabeled: source -> records of that source relabeled against the base.
        common: source -> records of that source kept from the base (the trials).

    Returns:
        Signals whose null rate is the other sources' relabel rate (at least
        ``BASE_RELABEL_RATE``), flagged when p < ``ALPHA``, at least ``MIN_COUNT`` relabels
        and at least twice the null rate.
    """
    total_k, total_n = sum(relabeled.values()), sum(common.values())
    out = []
    for source, k in relabeled.items():
        n = max(common.get(source, 0), k)
        rest_n = total_n - n
        p0 = max((total_k - k) / rest_n if rest_n > 0 else 0.0, BASE_RELABEL_RATE)
        test, flagged = rated(k, n, p0)
        out.append(
            Signal(
                "relabel_rate",
                flagged,
                f"{source_subject(source, quote=True)}: {k} of {n} kept records relabeled ({_pct(test['rate'])}) vs "
                # with no other kept records, the rate compared with is the one assumed, not the others'
                f"{_pct(p0)} {'elsewhere' if rest_n > 0 else 'assumed (no other records to compare)'} "
                f"(Poisson p={test['p_value']:.2g})",
                test,
                {"source": source},
            )
        )
    return out


def relabel_rate_by_pair(pairs: dict[tuple[str, str], int], common_by_label: dict[str, int]) -> list[Signal]:
    """One ``relabel_pair`` signal per (old label, new label) pair of relabels.

    Args:
        pairs: (old, new) -> records relabeled from ``old`` to ``new``; a record with several
            old labels names them joined by ``|``.
        common_by_label: label -> kept records with that label in the base.

    Returns:
        Signals testing each pair against the relabel rate of the other classes, flagged as
        in ``relabel_rate_by_source``.
    """
    total_k, total_n = sum(pairs.values()), sum(common_by_label.values())
    out = []
    for (old, new), k in pairs.items():
        n = max(sum(common_by_label.get(x, 0) for x in old.split("|")), k)
        rest_n = total_n - n
        others = total_k - sum(v for (o, _), v in pairs.items() if o == old)
        p0 = max(others / rest_n if rest_n > 0 else 0.0, BASE_RELABEL_RATE)
        test, flagged = rated(k, n, p0)
        out.append(
            Signal(
                "relabel_pair",
                flagged,
                f"{k} of {n} kept {old!r} records relabeled to {new!r} ({_pct(test['rate'])}; "
                f"Poisson p={test['p_value']:.2g} against {_pct(p0)})",
                test,
                {"old": old, "new": new},
            )
        )
    return out


def removals_concentrated(removed: dict[str, int], base: dict[str, int]) -> Signal | None:
    """Are the removed records concentrated in one class, against the base's mix?

    Returns None when nothing was removed; otherwise a ``removals_concentrated`` signal
    naming the most over-represented class, flagged on the homogeneity test as in
    ``class_mix_shift`` and only when that class is over-represented.
    """
    if not removed:
        return None
    test = homogeneity_test(removed, base)
    top = max(test["cells"], key=lambda c: c["residual"])  # the class removals over-represent
    share = top["observed"] / test["n"] if test["n"] else 0.0
    flagged = (
        test["p_value"] < ALPHA and test["effect_w"] >= MIN_EFFECT_W and test["n"] >= MIN_COUNT and top["residual"] > 0
    )
    return Signal(
        "removals_concentrated",
        flagged,
        f"removals are concentrated in class {top['class']!r}: {top['observed']} of {test['n']} "
        f"({_pct(share)}; {top['expected']:.1f} expected; chi2={test['value']:.1f}, p={test['p_value']:.2g})",
        test,
        {"class": top["class"]},
    )


def volume_jump(
    source: str | None, added: int, base_count: int, growth: float, history: list[int] | None
) -> Signal | None:
    """A source adding far more than its own history (or its share of the base) predicts.

    Args:
        source: the source's name (None for records with no source).
        added: records the source added in this diff.
        base_count: the source's records in the base.
        growth: the other sources' growth rate (added / base records), the fallback basis.
        history: records the source added in each earlier version, oldest first; None when
            the versions' signed counts do not name the source (a tree's sources come from
            its signed batches, while its versions count every record under "").

    Returns:
        None below ``MIN_VOLUME`` additions; a ``new_source`` signal (never flagged) for a
        source with no history; otherwise ``source_volume_jump``: a Poisson upper-tail test
        of ``added`` against the expected count, flagged when p < ``ALPHA`` and the jump is
        at least ``VOLUME_RATIO`` times the expectation. Without a history, the expectation
        is the source's base records at the others' growth; when the others did not grow
        (they took no turn, or are all new) there is no basis, and the signal says so,
        never flagged.
    """
    if added < MIN_VOLUME:
        return None
    none = source in (None, "")  # records of no source are not a source: said as such (newcomer review 29)
    who = (
        f"{added} {NO_SOURCE_RECORDS} added" if none else f"{source_subject(source, quote=True)} added {added} records"
    )
    its = "their" if none else "its"
    if base_count == 0 and not any(history or []):
        return Signal(
            "new_source",
            False,
            f"{added} {NO_SOURCE_RECORDS}, none in the base: no history to compare"
            if none
            else f"{source_subject(source, quote=True)} is new: {added} records, no history to compare",
            {"test": "none", "value": added, "p_value": None},
            {"source": source},
        )
    if history:
        expected = max(sum(history) / len(history), 1.0)
        basis = f"{its} mean of {expected:.1f} per version over {len(history)} earlier version(s)"
    elif base_count * growth > 0:
        expected = max(base_count * growth, 1.0)
        basis = f"{expected:.1f} from {its} {base_count} base records at the others' growth of {_pct(growth)}"
    else:
        why = " (the versions' signed counts do not name it)" if history is None else ""
        return Signal(
            "source_volume_jump",
            False,
            f"{who}: no history to compare{why} and the other sources did not grow",
            {"test": "none", "value": added, "p_value": None},
            {"source": source},
        )
    p_value = stats.poisson_sf(added, expected)
    test = {
        "test": "poisson upper tail",
        "value": added,
        "expected": round(expected, 3),
        "ratio": round(added / expected, 3),
        "history": history or [],
        "p_value": p_value,
    }
    flagged = p_value < ALPHA and added >= VOLUME_RATIO * expected
    return Signal(
        "source_volume_jump",
        flagged,
        f"{who}, {test['ratio']:.1f}x {basis} (Poisson p={test['p_value']:.2g})",
        test,
        {"source": source},
    )


def count_signal(
    name: str, count: int, total: int, what: str, source: str | None = None, flag: bool = True, note: str = ""
) -> Signal:
    """A signal that is a plain count (no test): ``count`` of ``total`` records are ``what``.

    Flagged when ``flag`` is set and the count is positive; ``note`` is appended to the
    explanation. The statistic dict has ``test`` "count", ``value``, ``of``, ``fraction``
    and a null ``p_value``.
    """
    frac = count / total if total else 0.0
    subject = {"source": source} if source is not None or name != "conflicting_labels" else None
    explanation = f"{count} {what}" + (f" ({_pct(frac)} of {total})" if total else "") + note
    return Signal(
        name,
        flag and count > 0,
        explanation,
        {"test": "count", "value": count, "of": total, "fraction": frac, "p_value": None},
        subject,
    )
