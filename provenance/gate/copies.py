"""The rule on exact copies: a candidate that re-delivers records the version already holds.

An extra row of a record re-weights training towards it. A flood of copies of a few records
is the duplicates detector's (each record's copies against the base's repetition,
``detectors.extreme``); a third of the base delivered again, one copy each, is not: each
record gains one row, about what the growth predicts, and every per-record test passes
(newcomer review 11, finding 13: 300 copies of 300 of a 900-record base passed all 25
rules). This rule counts the copies in all, as a share of the rows the candidate adds.

What it reads is recomputed from both versions' manifests, verified against their signed
roots by the diff (``ctx.diff``): the extra rows of each digest the candidate holds more
often than the base (beyond one for a new digest), and the base's own repeated records. Never a
stored row or a count a `.prov/` writer could edit.

Data repeats (rounded readings, empty e-mails): a clean delivery repeats base records about
as often as the base repeats itself, and where it does so matters. The copies are sorted by how
many rows the base holds of the record they copy (``c``: 0 for a new record) into classes: held
at most once, twice, 3-4, 5-8, 9-16 times and so on. A class's copies are expected in
proportion to the rows added, at the base's own rate for that class: for records held once,
``2 * N2 / n`` (Good and Turing's estimate of the chance a new row repeats a record seen once;
``N2`` records held twice, ``n`` base rows), for records held twice ``3 * N3 / n``, and for
records held more often their rows over ``n`` (the rate each repeats at, summed over the class).
A class may hold its binomial upper quantile at ``ALPHA`` (Bonferroni over the classes and the
total); the copies beyond those quantiles are the excess, and the rule blocks when the excess passes
``max_copies_rate`` of the rows added. All copies together are tested too (``Copies.total_test``):
against the classes' summed rate ``P``, counted on the rows added that copy nothing (a clean
delivery's copies before its ``u``-th unique row are negative binomial, about ``u P / (1 - P)``),
with the same slack. Each class alone leaves about 3.3 standard deviations of room and its expected
copies grow with the rows added, a flood's own copies included: a flood one under every class's
quantile carried 363 copies on 400 clean spam7 rows through the whole gate (attack review 22b, H1).
The total's test closes that; the per-class tests keep a flood from gathering on a few records. DAAG's spam7 (4,601 e-mails, 2,945 distinct feature
rows, one held 111 times) repeats its common records in every random batch: one allowance for
all copies, counted on records held twice, blocked 12 of 12 clean random batches
(bench/results/gate-pass-rate-random-spam7-12-seed1.md).

Why classes and not one share of copies: one record held 150 times (an empty record, an
accepted flood) is expected to gain copies itself, not to make room for copies of others; with
the classes its allowance is spent only on records held about as often (attack review 12,
C12-2: counting rows let 210 copies of any base records through). A third of the base
delivered again (copies of records held once) falls in the class the base repeats least.
A flood of one often-repeated record sits in its own class above its quantile: the slack
``max_copies_rate`` applies only to the records held at most once (re-delivery), never to the
classes of repeated records (a 5% flood of the base's most repeated row on top of its expected
copies blocks, tests/unit/gate/test_copies_classes.py). Copies the rule lets in are held twice in the
next base and raise ``N2`` (and the classes' rates), so over many releases the allowance against the base
grows with what it let in (C12-1, attack review 22b H2). The anchor test (``gate.copies_anchor``, session 26)
judges besides every copy of the anchor version's records added since it, together, at the anchor's rates:
copies of those records an earlier release let in count there again, at every release (copies of records new
since the anchor are left to the test against the base: README Known gaps).

A delivery in file order clumps: a file sorted by age or label keeps a record's repeats together, so a
clean batch carries more copies than an i.i.d. draw at the whole base's rates (issue 14: DoctorAUS passed 4
of 12 clean batches in file order, spam7 1). How much the base's own file-order pseudo-batches repeat
records (``profiles.batch_copies``, each batch counted as a delivery arriving in file order on the rows before
it) is counted at check time from the base's signed manifest object, its digests and locators
(``profiles.base_clumping``); the copy of it the base's profile keeps is signed by the commit key alone, so it
is never relied on (a stolen key could widen every later check's allowance with it), only compared: when it
differs the rule says so (a warning on a pass). Each class's rate, and the total's, is raised to the copies per row of its most
clumped pseudo-batch but one (``clumped_rates``), at most ``CLUMPING_CAP`` times the whole base's rate, and
the quantiles are taken there (a delivery at the clumped rate varies binomially like any other). A batch's
copies of records held at most once are counted beyond the re-delivery slack the rule adds anyway
(``BatchCopies.beyond_slack``), so re-deliveries earlier releases were let in under that slack are not
clumping the next release repeats on top of it. The most clumped batch is left out so that one accepted
flood appended at the end of the base widens nothing (22b's ratchet replay still blocks; with the slack
left out, attack review 23b's two accepted floods in two pseudo-batches widen nothing either); the cap
bounds what a base that clumps a lot allows, and a base that repeats nothing of a class gets no room from
its batches. A base whose profile was written before session 23, or that has no profile, gets the same count
from its manifest (the statistic depends on the manifest alone, so a base committed then is judged as the same
data committed now). Data whose later rows repeat more than its
earlier ones (spam7 in file order: spam first, then plain e-mails that repeat far more) still blocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from provenance.errors import VerificationError
from provenance.gate.base import Setting
from provenance.gate.copies_anchor import ANCHOR, Anchor, copies_since, find_anchor
from provenance.gate.results import LISTED, RuleResult, Status
from provenance.gate.rules import COUNT, FRACTION, ModeRule
from provenance.profiles.batch_copies import CLUMPING_CAP, BatchCopies, copy_class
from provenance.report.wording import plural
from provenance.stats import special_functions

if TYPE_CHECKING:
    from provenance.delta.report import DiffReport
    from provenance.gate.context import GateContext

MODES = ("block", "warn", "off")
RULE = "copies.max_copies_rate"


ALPHA = 0.001  # a clean delivery's copies pass every class's quantile but this often


def smallest_quantile(tail: Callable[[int], float], level: float, most: int | None) -> int:
    """The smallest ``q`` in ``0..most`` (unbounded when ``most`` is None) with ``tail(q) <= level``, for an
    upper tail ``tail(q) = P(X > q)`` that falls as ``q`` grows (bisection; ``most`` when none is)."""
    lo, hi = 0, most
    if hi is None:
        hi = 16
        while tail(hi) > level:
            hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if tail(mid) <= level:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class Copies:
    """Exact copies a candidate adds (``copies_added``).

    ``extra`` (k,) the extra rows of each copied record, ``held`` (k,) the base's rows of it (0 for a
    record new in the candidate), ``rows_added`` the rows the candidate adds in all (one per new record,
    and every copy), ``base_rows`` the base's rows, ``repeated`` (r,) the rows of each record the base
    holds more than once. All int64 numpy arrays. ``clumping``: the base's within-pseudo-batch repetition
    counted from its signed manifest (``profiles.base_clumping``), None to judge at the whole base's rates alone
    (module docstring).
    """

    extra: np.ndarray
    held: np.ndarray
    rows_added: int
    base_rows: int
    repeated: np.ndarray
    clumping: BatchCopies | None = None

    @property
    def of_base(self) -> int:
        """Extra rows of records the base holds."""
        return int(self.extra[self.held > 0].sum())

    @property
    def of_new(self) -> int:
        """Extra rows of records new in the candidate."""
        return int(self.extra[self.held == 0].sum())

    @property
    def total(self) -> int:
        """Every extra copy added."""
        return int(self.extra.sum())

    @property
    def base_repeated(self) -> int:
        """The base's rows beyond one per record."""
        return int((self.repeated - 1).sum())

    @property
    def base_records_copied(self) -> int:
        """Distinct base records the copies repeat."""
        return int((self.held > 0).sum())

    def rates(self) -> dict[int, float]:
        """The base's rate per class index (the classes with copies or expected ones): the chance a clean
        delivery's row copies a record of that class (module docstring)."""
        n = max(self.base_rows, 1)
        rep = self.repeated
        rates: dict[int, float] = {
            0: 2.0 * float((rep == 2).sum()) / n,  # Good-Turing: records held once
            1: 3.0 * float((rep == 3).sum()) / n,  # and twice
        }
        big = rep[rep >= 3]
        for k in np.unique(copy_class(big)).tolist():
            rates[int(k)] = rates.get(int(k), 0.0) + float(big[copy_class(big) == k].sum()) / n
        got = copy_class(self.held)
        for k in np.unique(got).tolist():
            rates.setdefault(int(k), 0.0)
        return rates

    def clumped_rates(self) -> dict[int, float]:
        """``rates()`` raised, class by class, to the copies per row of the base's most clumped file-order
        pseudo-batch (``clumping``), at most ``CLUMPING_CAP`` times the whole base's rate (module docstring);
        ``rates()`` itself without ``clumping``."""
        rates = self.rates()
        if self.clumping is None:
            return rates
        worst = self.clumping.worst_rates()
        return {k: max(p, min(float(worst[k]) if k < len(worst) else 0.0, CLUMPING_CAP * p)) for k, p in rates.items()}

    def clumped_total_rate(self) -> float:
        """The classes' summed rate ``P`` (``rates()``), raised to the share of copies among the rows of the
        base's most clumped pseudo-batch, at most ``CLUMPING_CAP`` times ``P``."""
        p = sum(self.rates().values())
        if self.clumping is None:
            return p
        return max(p, min(self.clumping.worst_total_rate(), CLUMPING_CAP * p))

    def beyond_slack(self, rate: float, least: int) -> Copies:
        """These copies with the base's clumping less the re-delivery slack (``BatchCopies.beyond_slack``): what
        ``excess`` judges, since it adds that slack itself."""
        return self if self.clumping is None else replace(self, clumping=self.clumping.beyond_slack(rate, least))

    def clumping_summary(self) -> dict | None:
        """What the base's pseudo-batches showed (None without ``clumping``): ``pseudo_batches``, ``class_rates``
        (per class index, the copies per row of the most clumped one), ``total_rate`` (its share of copies in
        all) and ``cap`` (``CLUMPING_CAP``)."""
        if self.clumping is None:
            return None
        return {
            "pseudo_batches": len(self.clumping.rows),
            "class_rates": [round(float(r), 6) for r in self.clumping.worst_rates()],
            "total_rate": round(self.clumping.worst_total_rate(), 6),
            "cap": CLUMPING_CAP,
        }

    def classes(self) -> list[dict]:
        """Per class with copies or expected ones: ``class`` (its index), ``held`` (``"1"``, ``"2"``, ``"3-4"``,
        ...), ``copies``, ``expected`` (rows added times the whole base's rate), ``rate`` (the rate the quantile is
        taken at: ``clumped_rates()``) and ``quantile`` (the most a clean delivery gives but with probability
        ``ALPHA`` over the classes and the total), in class order (module docstring)."""
        rates = self.rates()
        clumped = self.clumped_rates()
        special = special_functions()
        m = self.rows_added
        level = ALPHA / (len(rates) + 1)  # the classes and the total (``total_test()``)
        got = copy_class(self.held)
        out = []
        for k in sorted(rates):
            p = min(1.0, clumped[k])

            def upper(x: int, m: int = m, p: float = p) -> float:
                """P(Binomial(m, p) > x) (scipy.special.bdtrc: the upper tail); q the smallest x at ``level``."""
                return float(special.bdtrc(x, m, p))

            q = smallest_quantile(upper, level, m) if p > 0 else 0
            low, high = (1, 1) if k == 0 else (2 ** (k - 1) + 1, 2**k)
            out.append(
                {
                    "class": k,
                    "held": str(high) if low == high else f"{low}-{high}",
                    "copies": int(self.extra[got == k].sum()),
                    "expected": round(m * min(1.0, rates[k]), 3),
                    "rate": round(p, 6),
                    "quantile": q,
                }
            )
        return out

    def total_test(self, classes: list[dict]) -> dict:
        """The copies of every class together against the sum of the classes' rates ``P``: ``copies``,
        ``unique_rows`` (the rows added that copy nothing: one per new record), ``expected`` (``unique_rows * P /
        (1 - P)``), ``rate`` (the rate the quantile is taken at: ``clumped_total_rate()``) and ``quantile`` (the
        most a clean delivery with that many unique rows brings but with probability ``ALPHA`` over the classes
        and this test). A clean delivery's copies before its
        ``unique_rows``-th unique row are negative binomial (scipy.special.nbdtrc: the upper tail); counting on
        the unique rows, not the rows added, a flood's own copies raise no allowance (attack review 22b, H1:
        a flood one under every class's quantile carried 363 copies on 400 clean rows)."""
        n = max(self.base_rows, 1)
        whole = min(sum(self.rates().values()), n / (n + 1))  # a base of copies only: never certainty
        p = min(self.clumped_total_rate(), n / (n + 1))
        unique = self.rows_added - self.total
        level = ALPHA / (len(classes) + 1)
        special = special_functions()
        q = 0
        if p > 0 and unique > 0:
            q = smallest_quantile(lambda x: float(special.nbdtrc(x, unique, 1.0 - p)), level, None)
        copies = sum(c["copies"] for c in classes)
        return {
            "copies": copies,
            "unique_rows": unique,
            "expected": round(unique * whole / (1 - whole), 3),
            "rate": round(p, 6),
            "quantile": q,
        }

    def excess(self, rate: float, least: int) -> tuple[int, int, list[dict], dict]:
        """``(excess, allowed, classes, total)``: the copies beyond every class's quantile (for the records held
        at most once, beyond it plus ``allowed``) or, when more, the copies beyond the total's quantile plus
        ``allowed``; ``allowed`` (``rate`` of the rows added, at least ``least - 1``: re-delivery the policy
        accepts), ``classes()`` and ``total_test()``. The rule blocks when ``excess`` is above 0."""
        judged = self.beyond_slack(rate, least)
        classes = judged.classes()
        allowed = max(least - 1, math.floor(self.rows_added * rate + 1e-9))
        excess = sum(max(0, c["copies"] - c["quantile"]) for c in classes if c["class"])
        excess += max(0, classes[0]["copies"] - classes[0]["quantile"] - allowed) if classes else 0
        total = judged.total_test(classes)
        return max(excess, total["copies"] - total["quantile"] - allowed), allowed, classes, total

    def blocks(self, rate: float, least: int) -> bool:
        """Whether these copies are more than the base's repetition explains (module docstring)."""
        return self.total >= least and self.excess(rate, least)[0] > 0

    def headline(self) -> str:
        """``"300 exact copies of base records added"`` (and of new records, when there are any)."""
        parts = []
        if self.of_base or not self.of_new:
            parts.append(f"{plural(self.of_base, 'exact copy', 'exact copies')} of base records")
        if self.of_new:
            parts.append(
                f"{plural(self.of_new, 'exact copy', 'exact copies')} of new records"
                if not parts
                else f"{self.of_new} of new records"
            )
        return " and ".join(parts) + " added"


def base_clumping(ctx: GateContext) -> BatchCopies | None:
    """The base's within-pseudo-batch repetition, counted from its signed manifest object
    (``profiles.base_clumping.version_clumping``), never read from its profile; None for an empty base.
    Raises ``VerificationError`` when the base's statement or manifest does not verify."""
    from provenance.profiles.base_clumping import version_clumping

    return version_clumping(ctx.store, ctx.base)


def signed_clumping_warning(ctx: GateContext, counted: BatchCopies | None) -> str | None:
    """A line naming the base's profile when the within-pseudo-batch arrays it signs differ from ``counted``
    (``profiles.base_clumping.signed_clumping_differs``): not relied on, but a profile prov's commit did not
    write (a commit key used by another prov, or stolen); None otherwise, or when the base has no profile or
    one that does not load (the rules that use it say why)."""
    from provenance.errors import InputError, VerificationError
    from provenance.profiles.base_clumping import signed_clumping_differs
    from provenance.version_facts import verified_statement

    try:
        signed = ctx.base_profile.within_batch_copies
    except (InputError, VerificationError):
        return None
    if not signed_clumping_differs(signed, counted):
        return None
    oid = verified_statement(ctx.store, ctx.store.version(ctx.base))["predicate"]["profile"]["sha256"]
    return (
        f"the signed profile of {ctx.base} (object {oid[:16]}) keeps other within-pseudo-batch copy counts than "
        "its signed manifest gives; not relied on (the copies are judged on the manifest's count), but prov's "
        "commit writes the manifest's: check who signed it with the commit key"
    )


def copies_added(diff: DiffReport, clumping: BatchCopies | None = None) -> Copies:
    """The exact copies ``diff`` found (``Copies``), from its verified manifests' merge; ``clumping`` the base's
    within-pseudo-batch repetition (``base_clumping``)."""
    digests, rows = diff.delta["copies"]
    added = diff.delta["added"]
    extra = np.asarray(rows, dtype=np.int64)
    held = np.asarray(diff.delta["copies_base_rows"], dtype=np.int64)
    return Copies(
        extra,
        held,
        len(added) + int(extra.sum()),
        int(diff.summary["records_base"]),
        np.asarray(diff.delta["repeated_base_rows"], dtype=np.int64),
        clumping,
    )


def clumped_words(klass: dict, rows_added: int) -> str:
    """``", 63 as clumped as its own file-order batches"`` where the base's clumping raised the class's rate
    (``Copies.classes``: its ``rate`` above ``expected / rows_added``), else ``""``."""
    clumped = klass["rate"] * rows_added
    if clumped <= klass["expected"] + 1e-9:
        return ""
    return f", {clumped:.3g} as clumped as its own file-order batches"


def held_words(held: str) -> str:
    """``"the base holds once (or new ones)"`` for class ``"1"``, ``"the base holds 5-8 times"`` otherwise."""
    return "the base holds once (or new ones)" if held == "1" else f"the base holds {held} times"


class MaxCopiesRate(ModeRule):
    """Block (by default) when the candidate adds more exact copies than its size and the base's repetition explain.

    ``copies_added = "warn"`` reports them and releases (exit 0); ``"off"`` leaves the rule
    out. ``max_copies_rate`` is the share of the rows added that may be copies of records held at most
    once beyond the base's own repetition (module docstring); raise it for a source known to re-deliver.
    """

    key = RULE
    settings = (
        Setting(
            "copies",
            "max_copies_rate",
            FRACTION,
            0.02,
            "share of the rows a candidate adds that may be exact copies of records held at most once (new, or held "
            "once by the base) beyond what the base's own repetition explains (its file-order pseudo-batches' "
            "clumping included: the most clumped but one, at most 4 times the whole base's rate); copies of records "
            "the base repeats get no such slack",
        ),
        Setting(
            "copies",
            "min_copies",
            COUNT,
            10,
            "copies are judged only when there are at least this many",
        ),
        Setting(
            "copies",
            "copies_added",
            {"type": "string", "enum": list(MODES)},
            "block",
            'what copies over the rate do: "block" (exit 1), "warn" (reported, exit 0), or "off"',
            expects='"block", "warn" or "off"',
        ),
        ANCHOR,
    )

    def __init__(self, rate: float, least: int, mode: str, anchor: str | None = None):
        super().__init__(rate, least, mode)
        self.anchor = anchor

    @staticmethod
    def over_words(c: Copies, classes: list[dict], total: dict, allowed: int) -> str:
        """The classes (and the total) over their quantile, the total first when it is over by more, and the base
        records re-weighted: what a block against the base says."""
        k = c.base_records_copied
        reweighted = (
            f"; {plural(k, 'base record')} gain{'s' if k == 1 else ''} {plural(c.of_base, 'extra row')}" if k else ""
        )
        over = "; ".join(
            f"{x['copies']} copies of records {held_words(x['held'])} where at most "
            f"{x['quantile'] + (allowed if x['class'] == 0 else 0)} are expected (about {x['expected']:.3g} from the "
            f"base's own repetition{clumped_words(x, c.rows_added)})"
            for x in classes
            if x["copies"] > x["quantile"] + (allowed if x["class"] == 0 else 0)
        )
        by_classes = sum(
            x["copies"] - x["quantile"] - (allowed if x["class"] == 0 else 0)
            for x in classes
            if x["copies"] > x["quantile"] + (allowed if x["class"] == 0 else 0)
        )
        if total["copies"] - total["quantile"] - allowed > by_classes:  # the total blocks more: lead with it
            over = "; ".join(
                [
                    f"{total['copies']} copies in all where at most {total['quantile'] + allowed} are expected with "
                    f"{total['unique_rows']} rows that copy nothing (about {total['expected']:.3g} from the base's "
                    "own repetition)"
                ]
                + ([over] if over else [])
            )
        return over + reweighted

    def anchor_test(self, ctx: GateContext) -> tuple[dict | None, str | None]:
        """``(statistic, over)``: the anchor test (``gate.copies_anchor``) as the JSON's ``anchor`` (None without
        an anchor), and the words of a block (None when it passes): the copies since the anchor beyond its
        repetition, or why the anchor cannot be reached (fail closed)."""
        # the anchor is chosen by the base's signed rows (A26h-1); the candidate's, as its verified manifest streamed
        # them in the diff, only word the reason of an anchor whose rates are loose over the rows since it
        anchor = find_anchor(ctx.store, ctx.base, self.anchor, int(ctx.diff.summary["records_new"]))
        out: dict = {"version": anchor.version, "chosen_by": anchor.chosen_by, "problem": anchor.problem}
        out |= {"reason": anchor.reason} if anchor.reason else {}
        if anchor.problem is None and anchor.version is None:
            return (out if anchor.reason else None), None
        if anchor.problem is None:
            assert anchor.version is not None
            try:
                since = Copies(*copies_since(ctx.store, anchor.version, ctx.new))
            except VerificationError as exc:
                problem = f"the anchor's copies cannot be counted ({exc})"
                anchor = Anchor(anchor.version, anchor.chosen_by, problem, anchor.named, anchor.reason, altered=True)
                out["problem"] = anchor.problem
        if anchor.problem is not None:
            # A26d-3: a chain or manifest that does not verify is .prov/ altered; moving the anchor past it (or to
            # the base, no anchor test) would open the ratchet the test bounds, so the advice is to restore .prov/
            advice = (
                ".prov/ was altered (or damaged): restore it from a copy you trust (`prov fsck` shows what is "
                "missing or changed); do not move copies.anchor past it, which lets the copies earlier releases "
                "accepted widen the allowance again"
                if anchor.altered
                else "copies are judged against an anchor so that copies earlier releases let in do not widen the "
                "next allowance: set copies.anchor to a version in the base's signed chain you trust (the base "
                "itself turns the anchor test off)"
            )
            return out, f"the anchor test cannot run: {anchor.problem}; {advice}"
        excess, allowed, classes, total = since.excess(self.rate, self.least)
        if since.total < self.least:
            excess = 0
        out |= {
            "rows_added": since.rows_added,
            "copies": since.total,
            "anchor_rows": since.base_rows,
            "classes": classes,
            "total": total,
            "excess": excess,
            "allowed": allowed + min(total["quantile"], sum(x["quantile"] for x in classes)),
        }
        if excess <= 0:
            return out, None
        return out, (
            f"since the anchor {anchor.version} ({anchor.chosen_by}), {since.total} copies of its records on "
            f"{since.rows_added} rows added, {excess} more than its repetition explains (at most {out['allowed']}): "
            "copies earlier releases let in count here too; if they were reviewed and meant, set copies.anchor to "
            "a later version"
        )

    def check(self, ctx: GateContext) -> RuleResult:
        """Pass, or block (warn) with the copies, the classes over their quantile and the first ones listed."""
        c = copies_added(ctx.diff)
        # fewer copies than the rule judges pass whatever the base clumps: the base's manifest is not read then (a
        # check of a delta without copies stays O(change)); otherwise counted from it (base_clumping)
        clumping = base_clumping(ctx) if c.total >= self.least else None
        c = replace(c, clumping=clumping)
        warning = signed_clumping_warning(ctx, clumping) if clumping is not None else None
        excess, allowed, classes, total = c.excess(self.rate, self.least)
        # the copies since the anchor, judged when this release's are (a delta without copies stays O(change))
        anchor, anchor_over = self.anchor_test(ctx) if c.total >= self.least else (None, None)
        statistic = {
            "test": "exact copies added per class of how often the base holds the record copied, each against its "
            "binomial quantile at the base's own rate (raised to its most clumped file-order pseudo-batch's, at most "
            f"{CLUMPING_CAP:g} times), and all copies against their negative binomial quantile on "
            f"the rows added that copy nothing at the classes' summed rate (alpha {ALPHA:g} over the classes and "
            "the total)",
            "headline": c.headline(),
            "copies_of_base": c.of_base,
            "copies_of_new": c.of_new,
            "rows_added": c.rows_added,
            "base_rows": c.base_rows,
            "base_repeated_rows": c.base_repeated,
            "base_repeated_records": len(c.repeated),
            "classes": classes,
            "total": total,
            "excess": excess,
            "max_copies_rate": self.rate,
            "allowed": allowed + min(total["quantile"], sum(x["quantile"] for x in classes)),
            "clumping": c.beyond_slack(self.rate, self.least).clumping_summary(),
            "anchor": anchor,
        }
        if statistic["clumping"] is not None:
            statistic["clumping"]["signed_profile_differs"] = warning is not None
        # the profile's differing arrays change no verdict (the manifest's count decides), but are said: a warning
        # on a pass, a line after the reason on a block
        said = f"; WARNING: {warning}" if warning else ""
        # short, as every rule's: the check's table sizes its column to the widest (statistic: each quantile)
        expected = "classes and total in bound"
        base_over = c.total >= self.least and excess > 0
        if not base_over and anchor_over is None:
            reason = (
                f"{plural(c.total, 'exact copy', 'exact copies')} of records already held added "
                f"({c.of_base} of base records), as many as the base's own repetition explains"
            )
            return RuleResult(
                self.key, "warn" if warning else "pass", reason + said, [], excess, statistic, 0, expected
            )
        share = f"{c.headline()} ({100 * c.total / max(c.rows_added, 1):.0f}% of the {c.rows_added} rows added)"
        if base_over:
            why = f"{share}, {excess} more than the base's repetition explains: {self.over_words(c, classes, total, allowed)}"
            why += f"; and {anchor_over}" if anchor_over else ""
        else:
            why = f"{share}, as many as the base's own repetition explains, but {anchor_over}"
        if base_over or not (anchor or {}).get("problem"):  # copies over a bound, not an anchor that cannot be read
            why += (
                ": a re-delivered batch or a flood re-weights training; remove the copies, or raise "
                "copies.max_copies_rate for a source known to re-deliver"
            )
        why += said
        count = max(excess, int((anchor or {}).get("excess") or 0))
        records = [
            {
                "digest": d["digest"],
                "label": d.get("label"),
                "source": d.get("source"),
                "change": "copied",
                "detail": f"{d['copies'] - max(d['base_copies'], 1)} extra row(s); the base has {d['base_copies']}",
            }
            for d in ctx.report["changes"]["duplicates"][:LISTED]
        ]
        status: Status = "block" if self.mode == "block" else "warn"
        return RuleResult(self.key, status, why, records, count, statistic, 0, expected)
