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
as often as the base repeats itself. The allowance counts the base's repeated *records*, not
its repeated rows: ``allowed = rows added * (max_copies_rate + 2 * R / base rows)``, at least
``min_copies - 1``, where ``R`` is how many distinct records the base holds more than once. For
data whose repeats are pairs this is twice the base's share of repeated rows, about the chance
that a new row repeats a record (Good and Turing's estimate, 2 * n2 / n, where n2 records are
held twice); one record held 150 times (an empty record, an accepted flood) adds one record's
worth, not 150 rows' worth (attack review 12, C12-2: counting rows let 210 copies of any base
records through). Copies the rule lets in are held twice in the next base and raise ``R``, so
over many releases the allowance grows with what it let in (C12-1, README Known gaps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance.gate.base import Setting
from provenance.gate.results import LISTED, RuleResult, Status
from provenance.gate.rules import COUNT, FRACTION, ModeRule
from provenance.report.wording import plural

if TYPE_CHECKING:
    from provenance.delta.report import DiffReport
    from provenance.gate.context import GateContext

MODES = ("block", "warn", "off")
RULE = "copies.max_copies_rate"


@dataclass(frozen=True)
class Copies:
    """Exact copies a candidate adds (``copies_added``): extra rows of records the base holds
    (``of_base``) and of records new in the candidate (``of_new``), the rows it adds in all
    (``rows_added``: one per new record, and every copy), the base's rows, its repeated rows, and
    how many distinct records it holds more than once (``base_repeated_records``), and how many distinct
    base records the copies repeat (``base_records_copied``)."""

    of_base: int
    of_new: int
    rows_added: int
    base_rows: int
    base_repeated: int
    base_repeated_records: int
    base_records_copied: int = 0

    @property
    def total(self) -> int:
        """Every extra copy added."""
        return self.of_base + self.of_new

    @property
    def base_share(self) -> float:
        """Distinct records the base holds more than once, as a share of its rows (module docstring)."""
        return self.base_repeated_records / self.base_rows if self.base_rows else 0.0

    def allowed(self, rate: float, least: int) -> int:
        """The most copies a delivery of these rows may add (module docstring)."""
        share = min(1.0, rate + 2.0 * self.base_share)
        return max(least - 1, math.floor(self.rows_added * share + 1e-9))

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


def copies_added(diff: DiffReport) -> Copies:
    """The exact copies ``diff`` found (``Copies``), from its verified manifests' merge."""
    import numpy as np

    digests, rows = diff.delta["copies"]
    added = diff.delta["added"]
    new = np.isin(digests, added) if len(digests) and len(added) else np.zeros(len(digests), bool)
    of_base, of_new = int(np.asarray(rows)[~new].sum()), int(np.asarray(rows)[new].sum())
    s = diff.summary
    return Copies(
        of_base,
        of_new,
        len(added) + of_base + of_new,
        int(s["records_base"]),
        int(s["duplicates_base"]),
        int(diff.delta["repeated_base_records"]),
        int((~new).sum()),
    )


class MaxCopiesRate(ModeRule):
    """Block (by default) when the candidate adds more exact copies than its size and the base's repetition explain.

    ``copies_added = "warn"`` reports them and releases (exit 0); ``"off"`` leaves the rule
    out. ``max_copies_rate`` is the share of the rows added that may be copies beyond the
    base's own repetition; raise it for a source known to re-deliver.
    """

    key = RULE
    settings = (
        Setting(
            "copies",
            "max_copies_rate",
            FRACTION,
            0.02,
            "share of the rows a candidate adds that may be exact copies of records it already holds (of the base's, "
            "or of its own new ones), beyond twice the share of the base's rows that are records it holds more than once",
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
    )

    def check(self, ctx: GateContext) -> RuleResult:
        """Pass, or block (warn) with the copies, the share of the base they re-weight and the first ones listed."""
        c = copies_added(ctx.diff)
        allowed = c.allowed(self.rate, self.least)
        statistic = {
            "test": "exact copies added against the rows added and the base's own repetition",
            "headline": c.headline(),
            "copies_of_base": c.of_base,
            "copies_of_new": c.of_new,
            "rows_added": c.rows_added,
            "base_rows": c.base_rows,
            "base_repeated_rows": c.base_repeated,
            "base_repeated_records": c.base_repeated_records,
            "max_copies_rate": self.rate,
            "allowed": allowed,
        }
        expected = f"at most {allowed}"
        if c.total <= allowed:
            reason = (
                f"{plural(c.total, 'exact copy', 'exact copies')} of records already held added "
                f"({c.of_base} of base records), allowed {allowed}"
            )
            return RuleResult(self.key, "pass", reason, [], c.total, statistic, allowed, expected)
        k = c.base_records_copied
        reweighted = (
            f"; {plural(k, 'base record')} gain{'s' if k == 1 else ''} {plural(c.of_base, 'extra row')}" if k else ""
        )
        why = (
            f"{c.headline()}: {100 * c.total / max(c.rows_added, 1):.0f}% of the {c.rows_added} rows added, more than "
            f"the {allowed} allowed ({100 * self.rate:g}% of them, plus twice the {c.base_repeated_records} "
            f"records the base's {c.base_rows} rows hold more than once){reweighted}: a re-delivered batch or a flood re-weights "
            "training; remove the copies, or raise copies.max_copies_rate for a source known to re-deliver"
        )
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
        return RuleResult(self.key, status, why, records, c.total, statistic, allowed, expected)
