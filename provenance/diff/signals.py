"""Diff-level signals that need no features, each with the statistic behind it.

Every signal names its test, the statistic, its p-value (when it is a test) and the
effect, so a reviewer can judge it rather than trust a flag. The p-values come from the
regularized incomplete gamma function below (chi-square and Poisson tails); scipy is
not a core dependency, and the tests check these against it.

Thresholds are conservative on purpose: a diff of millions of records makes tiny,
harmless shifts "significant", so a signal is flagged only when the p-value is below
``alpha`` *and* the effect is large enough to matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

ALPHA = 1e-3
MIN_EFFECT_W = 0.1  # Cohen's w for a chi-square shift: "small" effect
MIN_COUNT = 3  # fewer records than this never flag on a rate
BASE_RELABEL_RATE = 0.001  # the relabel rate assumed when nothing else is known
VOLUME_RATIO = 3.0
MIN_VOLUME = 10
COUNT_STRENGTH = 3.0  # a flagged count (no p-value) ranks like p = 1e-3

# --- special functions ----------------------------------------------------------------


def _gamma_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    ap = a
    for _ in range(10_000):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * 1e-16:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_continued_fraction(a: float, x: float) -> float:
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gamma_p(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x) (Numerical Recipes 6.2)."""
    if a <= 0:
        raise ValueError("a must be positive")
    if x <= 0:
        return 0.0
    if x < a + 1.0:
        return min(1.0, _gamma_series(a, x))
    return max(0.0, 1.0 - _gamma_continued_fraction(a, x))


def gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) = 1 - P(a, x), accurate in the far tail."""
    if a <= 0:
        raise ValueError("a must be positive")
    if x <= 0:
        return 1.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _gamma_series(a, x))
    return min(1.0, _gamma_continued_fraction(a, x))


def chi2_sf(statistic: float, df: int) -> float:
    """P(X >= statistic) for X ~ chi-square(df)."""
    if df <= 0:
        return 1.0
    return gamma_q(df / 2.0, statistic / 2.0)


def poisson_sf(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean)."""
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    return gamma_p(float(k), mean)


def chi_square_gof(observed: dict[str, int], reference: dict[str, int]) -> dict:
    """Do ``observed`` counts share the class mix of ``reference``? A two-sample test.

    A chi-square test of homogeneity on the 2 x k table (observed, reference): both
    samples are finite, so the base's mix is an estimate too. Treating it as exact (a
    goodness-of-fit test) over-rejects clean deltas that are large next to the base.
    """
    classes = sorted(c for c in set(observed) | set(reference) if observed.get(c, 0) + reference.get(c, 0) > 0)
    n = sum(observed.values())
    m = sum(reference.values())
    rows = []
    statistic = observed_part = 0.0
    for c in classes:
        o, r = observed.get(c, 0), reference.get(c, 0)
        share = (o + r) / (n + m) if n + m else 0.0
        e_o, e_r = n * share, m * share
        if e_o > 0:
            statistic += (o - e_o) ** 2 / e_o
            observed_part += (o - e_o) ** 2 / e_o
        if e_r > 0:
            statistic += (r - e_r) ** 2 / e_r
        rows.append(
            {
                "class": c,
                "observed": o,
                "expected": round(e_o, 3),
                "residual": round((o - e_o) / math.sqrt(e_o), 3) if e_o > 0 else 0.0,
            }
        )
    df = max(len(classes) - 1, 0)
    p = chi2_sf(statistic, df) if n and m and df else 1.0
    # Cohen's w of the additions against the pooled mix: the size of the shift, which
    # (unlike the statistic) does not grow with the base.
    effect = math.sqrt(observed_part / n) if n and m else 0.0
    rows.sort(key=lambda r: -abs(r["residual"]))
    return {
        "test": "chi-square test of homogeneity (additions vs base)",
        "value": round(statistic, 4),
        "df": df,
        "p_value": p,
        "n": n,
        "effect_w": round(effect, 4),
        "cells": rows,
    }


# --- signals --------------------------------------------------------------------------


@dataclass
class Signal:
    name: str
    flagged: bool
    explanation: str
    statistic: dict
    subject: dict | None = None  # {"source": ...} or {"class": ...} or {"old": .., "new": ..}
    details: dict = field(default_factory=dict)

    @property
    def p_value(self) -> float | None:
        return self.statistic.get("p_value")

    @property
    def severity(self) -> str:
        if not self.flagged:
            return "info"
        p = self.p_value
        return "high" if p is not None and p < 1e-6 else "medium"

    @property
    def strength(self) -> float:
        """-log10(p), capped, or a small fixed weight for a count: how strongly it ranks."""
        if not self.flagged:
            return 0.0
        p = self.p_value
        return COUNT_STRENGTH if p is None else min(50.0, -math.log10(max(p, 1e-300)))

    def to_dict(self) -> dict:
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
    added: dict[str, int], base: dict[str, int], source: str | None = None, scope: str = "all additions"
) -> Signal:
    test = chi_square_gof(added, base)
    top = test["cells"][0] if test["cells"] else None
    flagged = test["p_value"] < ALPHA and test["effect_w"] >= MIN_EFFECT_W and test["n"] >= MIN_COUNT
    what = f"additions from {source!r}" if source is not None else scope
    expl = (
        f"{what}: class mix differs from the base (chi2={test['value']:.1f}, df={test['df']}, "
        f"p={test['p_value']:.2g}, w={test['effect_w']:.2f})"
    )
    if top:
        expl += (
            f"; most over-/under-represented: {top['class']!r} ({top['observed']} vs {top['expected']:.1f} expected)"
        )
    subject = {"source": source} if source is not None else None
    return Signal("class_mix_shift", flagged, expl, test, subject)


def rate_test(k: int, n: int, p0: float) -> dict:
    """One-sided Poisson test that ``k`` events in ``n`` trials exceed the rate ``p0``."""
    mean = n * p0
    return {
        "test": "poisson upper tail",
        "value": k,
        "n": n,
        "rate": (k / n) if n else 0.0,
        "expected": round(mean, 4),
        "null_rate": p0,
        "p_value": poisson_sf(k, mean),
    }


def relabel_rate_by_source(relabeled: dict, common: dict) -> list[Signal]:
    total_k, total_n = sum(relabeled.values()), sum(common.values())
    out = []
    for source, k in relabeled.items():
        n = max(common.get(source, 0), k)
        rest_n = total_n - n
        p0 = max((total_k - k) / rest_n if rest_n > 0 else 0.0, BASE_RELABEL_RATE)
        test = rate_test(k, n, p0)
        flagged = test["p_value"] < ALPHA and k >= MIN_COUNT and test["rate"] >= 2 * p0
        out.append(
            Signal(
                "relabel_rate",
                flagged,
                f"source {source!r}: {k} of {n} kept records relabeled ({_pct(test['rate'])}) vs "
                f"{_pct(p0)} elsewhere (Poisson p={test['p_value']:.2g})",
                test,
                {"source": source},
            )
        )
    return out


def relabel_rate_by_pair(pairs: dict[tuple[str, str], int], common_by_label: dict[str, int]) -> list[Signal]:
    total_k, total_n = sum(pairs.values()), sum(common_by_label.values())
    out = []
    for (old, new), k in pairs.items():
        n = max(sum(common_by_label.get(x, 0) for x in old.split("|")), k)
        rest_n = total_n - n
        others = total_k - sum(v for (o, _), v in pairs.items() if o == old)
        p0 = max(others / rest_n if rest_n > 0 else 0.0, BASE_RELABEL_RATE)
        test = rate_test(k, n, p0)
        flagged = test["p_value"] < ALPHA and k >= MIN_COUNT and test["rate"] >= 2 * p0
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
    if not removed:
        return None
    test = chi_square_gof(removed, base)
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


def volume_jump(source: str | None, added: int, base_count: int, growth: float, history: list[int]) -> Signal | None:
    """A source adding far more than its own history (or its share of the base) predicts."""
    if added < MIN_VOLUME:
        return None
    if base_count == 0 and not any(history):
        return Signal(
            "new_source",
            False,
            f"source {source!r} is new: {added} records, no history to compare",
            {"test": "none", "value": added, "p_value": None},
            {"source": source},
        )
    if history:
        expected = max(sum(history) / len(history), 1.0)
        basis = f"its mean of {expected:.1f} per version over {len(history)} earlier version(s)"
    else:
        expected = max(base_count * growth, 1.0)
        basis = f"{expected:.1f} from its {base_count} base records at the others' growth of {_pct(growth)}"
    test = {
        "test": "poisson upper tail",
        "value": added,
        "expected": round(expected, 3),
        "ratio": round(added / expected, 3),
        "history": history,
        "p_value": poisson_sf(added, expected),
    }
    flagged = test["p_value"] < ALPHA and added >= VOLUME_RATIO * expected
    return Signal(
        "source_volume_jump",
        flagged,
        f"source {source!r} added {added} records, {test['ratio']:.1f}x {basis} (Poisson p={test['p_value']:.2g})",
        test,
        {"source": source},
    )


def count_signal(
    name: str, count: int, total: int, what: str, source: str | None = None, flag: bool = True, note: str = ""
) -> Signal:
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
