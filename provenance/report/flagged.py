"""The flagged records of a diff, check or stored findings report, as reports list them.

``flagged_records`` turns a report's ``findings[]`` (``schemas/diff.schema.json``,
``schemas/check.schema.json``) into ``FlaggedRecord`` values, worst first, each with its
detectors' evidence split out of the combined explanation. Nothing here reads record
content: a record is named by its digest, label, source, lineage and locator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from provenance.report.wording import NO_SOURCE, NO_SOURCE_RECORDS, lineage_text, location_text, plural, source_name


@dataclass(frozen=True)
class Evidence:
    """One detector's evidence on a flagged record: its name, p-value (text) and explanation."""

    detector: str
    p_value: str
    text: str

    @property
    def short(self) -> str:
        """The explanation's first clause (up to the first ``"; "``): what fits on one line; for ``knn_label``
        its first two, which say what the neighbours are labelled (newcomer review 11, finding 16: the cut
        fell just before ``most are 'seven' (10)``, the words a reviewer acts on)."""
        clauses = self.text.split("; ")
        return "; ".join(clauses[:2] if self.detector == KNN_LABEL and KNN_VOTE.match(self.text) else clauses[:1])


KNN_LABEL = "knn_label"
# knn_label's evidence (detectors/knn_label.py): "0 of 10 nearest base records are labelled 'one'; most are 'seven' (10)"
KNN_VOTE = re.compile(r"(\d+) of (\d+) nearest base records are labelled (.+?); most are (.+?) \((\d+)\)(?:;|$)")


@dataclass(frozen=True)
class FlaggedRecord:
    """A record the combined verdict flagged, with everything a reviewer acts on.

    ``detectors`` names the detectors that would flag it on their own; ``evidence`` is
    the strongest evidence first. The label, source, lineage, change and locator are
    ``None`` when the report does not carry them (e.g. a finding stored by an older run).
    """

    digest: str
    score: float
    p_value: float | None
    detectors: tuple[str, ...]
    scored_by: int
    evidence: tuple[Evidence, ...]
    explanation: str
    label: str | None = None
    old_label: str | None = None
    source: str | None = None
    source_named_by: str | None = None  # "signed batch", "unsigned batch", "source column" (delta.attribution)
    lineage: str | None = None
    change: str | None = None
    locator: str | None = None
    location: dict | None = None
    extreme: bool = False
    flagged: bool = True  # False only where a report lists every scored record (``prov findings --all``)
    # whether the combined verdict flags it: ``flagged`` but in ``prov findings --detector NAME``, where ``flagged``
    # is NAME's own flag and the two views must not disagree on one record (newcomer review 30, finding 3)
    verdict: bool | None = None
    waived: dict | None = None  # the honoured waiver that takes it out (``prov findings``; a check lists none)

    @property
    def by_verdict(self) -> bool:
        """Whether the combined verdict flags the record (``verdict``, else ``flagged``)."""
        return self.flagged if self.verdict is None else self.verdict

    @property
    def flagged_by(self) -> str:
        """``"flagged by 3 detectors: knn_label, collision, gradient"``, or the combined evidence alone; for a
        record the combined verdict does not flag, ``"not flagged by the combined verdict; 2 detectors would flag
        it alone: collision, knn_label"`` or ``"not flagged"``."""
        if not self.by_verdict:
            if not self.detectors:
                return "not flagged"
            alone = f"{plural(len(self.detectors), 'detector')} would flag it alone: {', '.join(self.detectors)}"
            return f"not flagged by the combined verdict; {alone}"
        if not self.detectors:
            return f"flagged by the combined evidence of {plural(self.scored_by, 'detector')} (none alone)"
        return f"flagged by {plural(len(self.detectors), 'detector')}: {', '.join(self.detectors)}"

    def flagged_by_cell(self, combined_only: str = "combined only") -> str:
        """The "flagged by" column's cell: ``"3: collision, gradient, knn_label"`` (the detectors that flag it
        alone) for a record the combined verdict flags, ``combined_only`` where none does alone; for one it does
        not flag, ``"not flagged"``, or ``"alone: collision, knn_label"`` where detectors flag it
        alone. The same words in every view (``prov findings``, ``--all``, ``--detector NAME``, check, diff)."""
        names = ", ".join(self.detectors)
        if not self.by_verdict:
            return f"alone: {names}" if names else "not flagged"
        return f"{len(self.detectors)}: {names}" if names else combined_only

    @property
    def label_text(self) -> str:
        """The record's label, ``"old → new"`` for a relabel; ``"-"`` when unknown."""
        if self.old_label is not None and self.label is not None:
            return f"{self.old_label} → {self.label}"
        return self.label if self.label is not None else "-"

    @property
    def where(self) -> str:
        """Where the record is in the data: ``"row 12"``, ``"part-1.parquet row 3"``, ``"cat/7.png"``, or ``"-"``."""
        return location_text(self.location, self.locator)

    @property
    def source_text(self) -> str:
        """The record's source as reports name it (``"-"`` when the report does not say)."""
        return "-" if self.source is None and self.change is None else source_name(self.source, self.source_named_by)

    @property
    def lineage_words(self) -> str:
        """The record's lineage in words (``"attested"``, ``"relabeled after source"``, ``"unattributed"``)."""
        return lineage_text(self.lineage) if self.lineage else "-"

    @property
    def headline(self) -> str:
        """One line of evidence: the strongest detector and its first clause, else the explanation; a label the
        nearest base records disagree with comes first when knn_label flags the record, since a reviewer can
        check it by eye (newcomer review 11, finding 16: a gradient sentence was shown instead)."""
        if self.evidence:
            first = self.label_vote or self.evidence[0]
            return f"{first.detector}: {first.short}"
        return self.explanation

    @property
    def label_vote(self) -> Evidence | None:
        """knn_label's evidence when knn_label flags the record and it names the neighbours' labels, else None."""
        if KNN_LABEL not in self.detectors:
            return None
        return next((e for e in self.evidence if e.detector == KNN_LABEL and KNN_VOTE.match(e.text)), None)

    @property
    def looks_like(self) -> str | None:
        """The label most of its nearest base records have, when knn_label flags it for disagreeing (else None)."""
        vote = self.label_vote
        match = KNN_VOTE.match(vote.text) if vote is not None else None
        return match.group(4) if match else None


def _evidence(explanation: str, names: list[str]) -> tuple[Evidence, ...]:
    """Split a combined explanation (``detectors.combine``) into each named detector's evidence.

    The explanation reads ``"flagged: ...; strongest evidence: outlier (p = 0): TEXT;
    knn_label (p = 1e-9): TEXT"``; only the detector names the record lists start a part.
    """
    _, sep, rest = explanation.partition("strongest evidence: ")
    if not sep or not names:
        return ()
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    starts = list(re.finditer(rf"(?:^|; )({alternatives}) \(p = ([^)]*)\): ", rest))
    out = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(rest)
        out.append(Evidence(m.group(1), m.group(2), rest[m.end() : end]))
    return tuple(out)


def flagged_record(finding: dict, extreme: bool = False) -> FlaggedRecord:
    """A report's finding (diff ``findings[]`` or check ``findings[]``) as a ``FlaggedRecord``.

    A stored findings object is unsigned unless a pinned key signed its run, so its detector entries are read through
    :func:`detector_entries` and :func:`detector_flagged`, its score through :func:`detector_score` (a p-value that
    is no number is None): a malformed one counts as not flagged, score 0, not an internal error (attack review 23c, A23c-3)."""
    per_detector = detector_entries(finding)
    names = [d["detector"] for d in per_detector]
    p_value = finding.get("p_value")
    explanation = finding.get("explanation")
    explanation = explanation if isinstance(explanation, str) else ""
    return FlaggedRecord(
        digest=str(finding.get("digest", "")),
        score=detector_score(finding),
        p_value=float(p_value) if isinstance(p_value, int | float) and not isinstance(p_value, bool) else None,
        detectors=tuple(d["detector"] for d in per_detector if detector_flagged(d)),
        scored_by=len(per_detector),
        evidence=_evidence(explanation, names),
        explanation=explanation,
        label=finding.get("label"),
        old_label=finding.get("old_label"),
        source=finding.get("source"),
        source_named_by=finding.get("source_named_by"),
        lineage=finding.get("lineage"),
        change=finding.get("change"),
        locator=finding.get("locator"),
        location=finding.get("location"),
        extreme=extreme,
        flagged=bool(finding.get("flagged", True)),
        waived=finding.get("waived"),
    )


def one_detector(finding: dict, detector: str) -> FlaggedRecord:
    """A finding as ``prov findings --detector NAME`` lists it: ``detector``'s own score, its evidence alone (or,
    where the stored explanation, which keeps the strongest evidence only, carries none of it, that it is not
    stored), and ``flagged`` by ``detector``'s own threshold, not the combined verdict."""
    record = flagged_record(finding)
    own = detector_entry(finding, detector) or {}
    evidence = tuple(e for e in record.evidence if e.detector == detector)
    missing = f"{detector}'s evidence not stored (the run keeps each record's strongest evidence only)"
    return replace(
        record,
        score=detector_score(own),
        evidence=evidence,
        explanation=record.explanation if evidence else missing,
        flagged=detector_flagged(own),
        verdict=record.flagged,
    )


def detector_entry(finding: dict, detector: str) -> dict | None:
    """``finding``'s own entry for ``detector`` (its ``detectors`` list, ``schemas/findings.schema.json``), or None
    (read through :func:`detector_entries`)."""
    return next((d for d in detector_entries(finding) if d["detector"] == detector), None)


def detector_entries(finding: dict) -> list[dict]:
    """``finding``'s per-detector entries (its ``detectors`` list, ``schemas/findings.schema.json``) that are objects
    naming a detector by a string. A stored findings object is unsigned unless a pinned key signed its run: an entry
    that is not an object or names no detector, or a list that is not one, is skipped, not an internal error (attack
    reviews 23a, A23a-4, and 23c, A23c-3)."""
    entries = finding.get("detectors")
    return [
        d
        for d in (entries if isinstance(entries, list) else [])
        if isinstance(d, dict) and isinstance(d.get("detector"), str)
    ]


def detector_flagged(entry: dict) -> bool:
    """Whether a detector entry says its detector flagged the record on its own: its ``flagged`` is JSON ``true``
    (``is True``; the schema's boolean). Every reader (``prov findings``, ``--detector``, waiver marks and warnings)
    reads it here, so a planted ``1`` or ``"yes"`` counts as not flagged in all of them alike (attack review 23c,
    A23c-5)."""
    return entry.get("flagged") is True


def detector_score(entry: dict) -> float:
    """A detector entry's (or a finding's) ``score`` as a float; 0.0 when missing or not a number (a planted
    object's)."""
    score = entry.get("score")
    if (
        isinstance(score, bool)
        or not isinstance(score, (int, float))
        or score != score
        or score in (float("inf"), float("-inf"))
    ):
        return 0.0
    return float(score)


def same_row(finding: dict, records: list[dict]) -> bool:
    """Whether ``records`` (a rule's) name ``finding``'s row: its digest and label, one digest under two
    labels being two rows (attack review 10b, S10b-1); by digest alone where a record carries no label
    (a report written before rule records named their row)."""
    digest, label = finding.get("digest"), finding.get("label")
    return any(
        r.get("digest") == digest and (label is None or r.get("label") is None or r.get("label") == label)
        for r in records
    )


def flagged_records(report: dict) -> list[FlaggedRecord]:
    """The flagged records of a diff or check report, worst first (score, then extreme p, then digest).

    A diff lists its flagged records (every scored record with ``--all``: ``flagged`` says which);
    a check lists only its unwaived flagged records, and records that ``detectors.extreme``
    blocks are marked ``extreme``.
    """
    extreme = [
        rec
        for rule in report.get("rules", [])
        if rule["rule"] == "detectors.extreme" and rule["status"] != "pass"
        for rec in rule["records"]
    ]
    chosen = [f for f in report.get("findings", []) if f.get("flagged", True)]
    records = [flagged_record(f, same_row(f, extreme)) for f in chosen]
    return sorted(records, key=lambda r: (-r.score, r.p_value if r.p_value is not None else 1.0, r.digest))


GROUPED = 3  # flagged records of one (label, neighbours' label) pair before the pair gets its own line


def label_groups(records: list[FlaggedRecord]) -> list[str]:
    """One line per (label, neighbours' label) pair that knn_label flags at least ``GROUPED`` times, most first:
    ``"14 flagged records labelled 'one' look like 'seven' to their nearest base records (source labelco)"``,
    the shape of a batch of flipped labels (newcomer review 11, finding 16). Records whose nearest base records
    mostly share their own label form no line."""
    groups: dict[tuple[str, str], list[FlaggedRecord]] = {}
    for r in records:
        like = r.looks_like
        # a group whose neighbours share its label says nothing of the label (newcomer review 34, finding 7)
        if like is not None and r.label is not None and like not in (repr(r.label), r.label):
            groups.setdefault((r.label, like), []).append(r)
    lines = []
    for (label, like), members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if len(members) < GROUPED:
            continue
        sources = sorted({m.source_text for m in members})
        # records of no source are not a source (newcomer review 29); a source's name may start with "(" too
        named = [x for x in sources if x != NO_SOURCE]
        where = " and ".join(
            ([f"{len(named)} sources" if len(named) > 1 else f"source {named[0]}"] if named else [])
            + ([NO_SOURCE_RECORDS] if NO_SOURCE in sources else [])
        )
        where = f"({where})"
        lines.append(
            f"{len(members)} flagged records labelled {label!r} look like {like} to their nearest base records {where}"
        )
    return lines
