"""The detectors of a report: each detector's row, and the combined verdict they add up to.

``detector_rows`` gives each detector's line (did it run, how many it alone would flag,
against what a clean delta shows); ``detection`` the combined verdict's counts and
sentence, from a diff run with ``--detect`` or a check (its ``combined`` row carries the
budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provenance.report.wording import DETECTOR_WORD, plural


@dataclass(frozen=True)
class DetectorRow:
    """One detector's line in a report: did it run, how many it alone would flag, against what a clean delta shows."""

    detector: str
    word: str  # "ran" or "error"
    scored: int
    flagged: int
    expected_at_most: int | None
    error: str | None

    @property
    def above_expected(self) -> bool:
        """Whether it alone flags more than a clean delta would (it does not block alone)."""
        return self.expected_at_most is not None and self.flagged > self.expected_at_most

    @property
    def verdict(self) -> str:
        """``"error: ..."``, or its budget status: ``"over budget (does not decide)"`` when it alone flags more
        than a clean delta would, ``"within budget (does not decide)"``, ``"ran (does not decide)"`` with no
        budget (newcomer review 16, finding 6: "ran: ..." read alike for a detector seven times over budget)."""
        if self.word != "ran":
            return f"error: {self.error}" if self.error else "error"
        if self.expected_at_most is None:
            return f"ran {ALONE}"
        return f"over budget {ALONE}" if self.above_expected else f"within budget {ALONE}"


ALONE = "(does not decide)"  # a detector's flags alone never block: the combined verdict decides


def detector_rows(report: dict) -> list[DetectorRow]:
    """Each detector of the report (not the combined row), in report order."""
    return [
        DetectorRow(
            d["detector"],
            DETECTOR_WORD.get(d["status"], d["status"]),
            int(d.get("scored", 0)),
            int(d.get("flagged", 0)),
            d.get("expected_at_most"),
            d.get("error"),
        )
        for d in report.get("detectors", [])
        if d["detector"] != "combined"
    ]


@dataclass(frozen=True)
class Clause:
    """One clause of a check's detector rules that blocked, in words: the rule, the headline's
    words (``"16 of the flagged records lie beyond every reference record, where a clean delta
    has at most 15"``) and the Detectors table's (``"16 beyond the reference (at most 15)"``)."""

    rule: str
    words: str
    short: str  # the Detectors table's words
    names: str = ""  # the records it blocks on, when the rule lists them: "008ec5028766 (row 1047), ..."


@dataclass(frozen=True)
class Detection:
    """The combined verdict of a detector run: records scored and flagged, against a clean delta's most,
    and (a check) the clauses of the detector rules that blocked."""

    ran: int
    failed: list[str]
    scored: int
    flagged: int
    expected_at_most: int | None
    fpr: float | None
    blocked: tuple[Clause, ...] = ()
    waived: int = 0  # a check: flagged records an honoured waiver took out; ``flagged`` counts the rest
    # a check: flagged records of the policy's expected new classes, not judged against the base nor counted
    new_classes: int = 0
    rule_status: str | None = None  # a check's detectors.combined status ("pass", "block", ...); a diff decides nothing
    # a check: scored records of the policy's expected new classes, flagged or not, which the rule left out
    not_judged: int = 0
    # a check: {label: base sample records} of listed expected new classes the base already holds, so judged
    held: dict[str, int] = field(default_factory=dict)
    # a check: added records of expected new classes judged on class-free evidence only (gate.class_free)
    class_free: int = 0

    @property
    def beyond_chance(self) -> bool:
        """More records flagged than a clean delta flags except with probability alpha."""
        return self.expected_at_most is not None and self.flagged > self.expected_at_most

    @property
    def within_budget(self) -> bool:
        """No more records flagged than a clean delta flags, and nothing blocked (False with no budget)."""
        return self.expected_at_most is not None and not self.beyond_chance and not self.blocked

    @property
    def sentence(self) -> str:
        """``"29 of 390 records flagged by the combined verdict of 7 detectors (a clean delta flags at most
        11 at FPR 0.01)"``, after waivers ``"...; 1 waived, 28 count"`` (the verdict flagged 29; the rules
        count 28); with records of expected new classes ``"0 of the 23 judged records flagged ... (...); 45 records
        in expected new classes, not judged against the base"``; for an empty delta ``"no record added or relabeled
        to score; 7 detectors ran on none"`` (not "0 of 0 records flagged")."""
        if self.scored == 0 and not self.failed:
            return f"no record added or relabeled to score; {plural(self.ran, 'detector')} ran on none"
        # records of expected new classes are not judged, so not called flagged: "45 of 68 records flagged ...; 45 of
        # them in expected new classes; 0 count" read as 45 flagged (newcomer review 30, finding 5); the budget is of
        # the records judged (newcomer review 25: "0 of 22 flagged (... at most 0)")
        judged = self.scored - self.not_judged
        counted = f"the {plural(judged, 'judged record')}" if self.not_judged else plural(self.scored, "record")
        out = f"{self.flagged + self.waived} of {counted} flagged by the combined verdict"
        out += f" of {plural(self.ran, 'detector')}"
        if self.expected_at_most is not None:
            out += f" (a clean delta flags at most {self.expected_at_most}"
            out += f" at FPR {self.fpr:g})" if self.fpr is not None else ")"
        if self.not_judged:
            out += f"; {plural(self.not_judged, 'record')} in expected new classes, not judged against the base"
        if self.class_free:
            out += (
                f"; {plural(self.class_free, 'added record')} in expected new classes judged on class-free evidence "
                "only"
            )
        if self.waived:
            out += f"; {self.waived} waived, {self.flagged} count"
        if self.held:  # newcomer review 29, finding 1: a listed class the base holds is judged, and the policy says so
            named = ", ".join(f"{label!r} ({n} records)" for label, n in self.held.items())
            out += f"; the policy's expected_new_classes lists {named}, which the base already holds: judged against it"
        if self.failed:
            out += f"; {plural(len(self.failed), 'detector')} failed: {', '.join(self.failed)}"
        return out

    @property
    def blocked_lines(self) -> list[str]:
        """What blocked, one sentence per rule (no final stop): ``"Blocked by detectors.combined: 16 of
        the flagged records lie beyond every reference record, where a clean delta has at most 15"``;
        empty when none blocked."""
        out = []
        for rule in dict.fromkeys(c.rule for c in self.blocked):
            clauses = [c for c in self.blocked if c.rule == rule]
            out.append(f"Blocked by {rule}: {'; '.join(c.words for c in clauses)}")
            # which records (newcomer review 11, finding 12: only the JSON named them)
            out += [f"{rule} blocks on {c.names}" for c in clauses if c.names]
        return out

    @property
    def verdict(self) -> str:
        """The combined row's verdict, one vocabulary in every report (newcomer review 16, finding 6): a check's
        ``"blocked: ..."`` (what blocked) or ``"passed"``; a diff's, which decides nothing, ``"over budget"`` or
        ``"within budget"`` (more, or no more, flagged than a clean delta flags); ``"no budget stored"`` for a
        stored run (``prov findings`` without ``--recompute``); ``"nothing to score"`` for an empty delta
        (newcomer review 9, finding 3: ``prov findings`` said ``combined flagged 0 - 0``). A clause of another
        rule that blocked follows: ``"passed; blocked: 3 blocking alone on label doubt (detectors.extreme)"``."""
        combined = [c.short for c in self.blocked if c.rule == COMBINED_RULE]
        others = [f"{c.short} ({c.rule})" for c in self.blocked if c.rule != COMBINED_RULE]
        if self.scored == 0 and not self.failed and not self.blocked:
            return "nothing to score"  # the headline says why: no record added or relabeled
        if combined:
            return "; ".join([f"blocked: {', '.join(combined)}", *others])
        if self.rule_status == "error":
            word = "error (fails closed)"
        elif self.expected_at_most is None:
            word = "no budget stored"
        elif self.beyond_chance:
            word = "over budget"
        else:
            word = "passed" if self.rule_status is not None else "within budget"
        return "; ".join([word, *(f"blocked: {o}" for o in others)])

    @property
    def bad(self) -> bool:
        """Whether the combined row reads as bad: something blocked, or more flagged than a clean delta flags."""
        return bool(self.blocked) or self.beyond_chance


COMBINED_RULE = "detectors.combined"
EXTREME_RULE = "detectors.extreme"


def blocking_clauses(report: dict) -> tuple[Clause, ...]:
    """The clauses of a check's detector rules that blocked, as the rules recorded them:
    ``detectors.combined``'s ``statistic.blocked_by`` (its flag budget, the policy's ``max_flagged``,
    the "beyond every reference record" count and the "far beyond" one) and ``detectors.extreme``. Empty for a diff (no rules)
    or when none blocked. A saved report from before ``blocked_by`` gives the rule's reason."""
    rules = {r["rule"]: r for r in report.get("rules") or []}
    out: list[Clause] = []
    combined = rules.get(COMBINED_RULE)
    if combined and combined["status"] == "block":
        st = combined.get("statistic") or {}
        clauses = (_combined_clause(name, st) for name in st.get("blocked_by") or () if name != "step_budget")
        out.extend(c for c in clauses if c is not None)
        if "step_budget" in (st.get("blocked_by") or ()):  # a check over several versions (gate.steps)
            out.extend(_step_clauses(combined, report))
        if not out:  # a block the rule did not explain (a report saved before blocked_by): say its reason
            out.append(Clause(COMBINED_RULE, combined["reason"], "blocked"))
    extreme = rules.get(EXTREME_RULE)
    if extreme and extreme["status"] == "block":
        from provenance.report.extreme_words import rule_words, short_words

        n = int(extreme.get("count", 0))
        # which detectors' evidence (statistic.evidence): a label doubt is not a distance (newcomer review 31)
        counts = (extreme.get("statistic") or {}).get("evidence")
        counts = {str(k): int(v) for k, v in counts.items() if isinstance(v, int)} if isinstance(counts, dict) else None
        out.append(
            Clause(
                EXTREME_RULE,
                rule_words(n, counts),
                short_words(n, counts),
                _named(extreme.get("records") or [], report, n),
            )
        )
    return tuple(out)


def _step_clauses(rule: dict, report: dict) -> list[Clause]:
    """The steps ``detectors.combined`` blocked by in a check over several signed versions (``gate.steps``: each
    version's delivery against its own allowance), in words, each naming the records it blocks on."""
    out = []
    for step in (rule.get("statistic") or {}).get("steps") or []:
        if not step.get("blocked_by"):
            continue
        tag, k, n, most = step["version"], step["flagged"], step["n"], step["allowed"]
        words = f"{k} of the {n} records added in {tag} flagged, more than the {most} a clean delivery of {n} flags"
        if "flag_budget" not in step["blocked_by"]:
            words = f"records added in {tag} block on their own ({', '.join(step['blocked_by'])})"
        mine = [r for r in rule.get("records") or [] if r.get("added_in") == tag]
        short = f"added in {tag}: {k} flagged (at most {most})"
        out.append(Clause(COMBINED_RULE, words, short, _named(mine, report, len(mine))))
    return out


NAMED = 5  # records a blocked clause names before "and N more"


def _named(records: list[dict], report: dict, n: int) -> str:
    """``"60d573ba9468 (row 1073), ..."`` (``"(row 176, line 178)"`` in a CSV): the records ``detectors.extreme`` blocks on, where the check's
    findings say where they are (newcomer review 11, finding 12: the text report did not say which)."""
    from provenance.names import short_digest
    from provenance.report.wording import location_text

    where = {f.get("digest"): location_text(f.get("location"), f.get("locator")) for f in report.get("findings") or []}
    names = []
    for rec in records[:NAMED]:
        place = where.get(rec.get("digest"), "-")
        if place.endswith(")") and " (line " in place:  # "row 517 (line 519)", inside this parenthesis
            place = place[:-1].replace(" (line ", ", line ")
        names.append(short_digest(rec.get("digest", "")) + (f" ({place})" if place != "-" else ""))
    more = f" and {n - len(names)} more" if n > len(names) else ""
    return f"{', '.join(names)}{more}"


def _combined_clause(clause: str, st: dict) -> Clause | None:
    """One clause ``detectors.combined`` recorded in ``blocked_by``, in words, from its statistic (None
    for a clause this version does not know)."""
    k, allowed = st.get("flagged"), st.get("allowed")
    if clause == "flag_budget":
        return Clause(COMBINED_RULE, f"{k} flagged, more than the {allowed} a clean delta flags", "over budget")
    if clause == "max_flagged":
        return Clause(
            COMBINED_RULE,
            f"{k} flagged, more than the policy's max_flagged of {allowed}",
            f"more than max_flagged ({allowed})",
        )
    if clause == "far_beyond_reference":
        far, most = st.get("far_beyond_reference"), st.get("far_beyond_allowed")
        return Clause(
            COMBINED_RULE,
            f"{far} of the flagged records lie far beyond every reference record (a thousandfold less likely "
            f"than its least likely), where a clean delta has at most {most}",
            f"{far} far beyond the reference (at most {most})",
        )
    if clause != "beyond_reference":
        return None
    beyond, most = st.get("beyond_reference"), st.get("beyond_allowed")
    return Clause(
        COMBINED_RULE,
        f"{beyond} of the flagged records lie beyond every reference record, where a clean delta has at most {most}",
        f"{beyond} beyond the reference (at most {most})",
    )


def detection(report: dict) -> Detection | None:
    """The combined verdict of a diff (``detect``) or check report; None when no detector ran."""
    rows = report.get("detectors") or []
    if not rows:
        return None
    singles = [d for d in rows if d["detector"] != "combined"]
    failed = [d["detector"] for d in singles if DETECTOR_WORD.get(d["status"]) != "ran"]
    combined = next((d for d in rows if d["detector"] == "combined"), None)
    summary = report.get("detection") or {}
    new_classes = not_judged = 0
    held: dict[str, int] = {}
    statistic: dict = {}
    if combined is not None:  # a check: the combined row carries the budget
        waived = int(combined.get("waived", 0))
        scored, flagged = int(combined["scored"]), int(combined["flagged"]) - waived
        expected, fpr = combined.get("allowed"), summary.get("fpr")
        rule = next((r for r in report.get("rules", []) if r["rule"] == COMBINED_RULE), None)
        statistic = (rule or {}).get("statistic") or {}
        fpr = statistic.get("fpr", fpr)
        held = dict(statistic.get("expected_classes_judged") or {})
        if statistic.get("n") is not None and int(statistic["n"]) < scored and "flagged" in statistic:
            # records of expected new classes: scored, but left out of the rule's count (gate.detection_budget)
            new_classes, flagged = flagged - int(statistic["flagged"]), int(statistic["flagged"])
            not_judged = scored - int(statistic["n"])
    else:
        waived = 0
        findings = report.get("findings") or []
        scored = int(summary.get("scored", len(findings)))
        flagged = int(summary.get("flagged", sum(1 for f in findings if f.get("flagged"))))
        expected, fpr = summary.get("expected_at_most"), summary.get("fpr")
    return Detection(
        len(singles) - len(failed),
        failed,
        scored,
        flagged,
        expected,
        fpr,
        blocking_clauses(report),
        waived,
        new_classes,
        next((r["status"] for r in report.get("rules") or [] if r["rule"] == COMBINED_RULE), None),
        not_judged,
        held,
        int(statistic.get("class_free_judged") or 0) if combined is not None else 0,
    )
