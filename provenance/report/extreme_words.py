"""What the evidence behind ``detectors.extreme`` is, in words: which detector made a record block on its own.

A record blocks whatever the budget when one detector's evidence on it alone is extreme
(``provenance.detectors.extreme``), and that evidence differs in kind: knn_label's is a doubt about the
record's *label* (its nearest base records and base-supported batch-mates carry another), outlier's a
*distance* from everything the base holds. The rule once said "far outside anything the base or their
batch explains" for both, and a reviewer looking at a dark image crop among the other class's neighbours
looked for an outlier that was not there (newcomer review 31). Words only: the verdict reads the p-values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# detector -> (the kind of evidence, short; what it means for one record)
EVIDENCE: dict[str, tuple[str, str]] = {
    "knn_label": (
        "label doubt",
        "none of its nearest base records, nor any batch-mate whose label the base supports, carries its label",
    ),
    "outlier": (
        "distance from the base",
        "over 3 times further from its nearest base records than any base record is from the rest",
    ),
    "duplicates": (
        "copies",
        "an empty or constant record the base never holds, a tight cluster of copies, or extra exact copies",
    ),
    "collision": (
        "copy under another label",
        "a near-copy of a base record of another class: closer to it than base records come to their nearest "
        "record of another class, and far closer to it than to any base record of its own label",
    ),
    "volume": ("source spike", "its source added over five times what growing like the other sources gives"),
}


def evidence_kind(detector: str | None) -> str:
    """The short kind of ``detector``'s extreme evidence (``"label doubt"``); ``"extreme evidence"`` for a detector
    without words here (a plug-in) or for None (a report saved before the rule named it)."""
    return EVIDENCE[detector][0] if detector in EVIDENCE else "extreme evidence"


def _whose(detector: str) -> str:
    return f"{detector}'" if detector.endswith("s") else f"{detector}'s"


def record_evidence(detectors: Sequence[str]) -> str:
    """What one record's extreme evidence is, to lead its explanation: ``"blocks alone on knn_label's label doubt
    (none of its nearest base records, ...)"``, or for two ``"blocks alone on knn_label's label doubt and outlier's
    distance from the base"``; ``""`` for none (a record's evidence not named)."""
    if len(detectors) == 1 and detectors[0] in EVIDENCE:
        return f"blocks alone on {_whose(detectors[0])} {evidence_kind(detectors[0])} ({EVIDENCE[detectors[0]][1]})"
    return f"blocks alone on {' and '.join(f'{_whose(d)} {evidence_kind(d)}' for d in detectors)}" if detectors else ""


def evidence_counts(records: Iterable[Sequence[str]]) -> dict[str, int]:
    """``{detector: records}``: for each detector, how many of ``records`` (each the detectors whose evidence alone
    is extreme on it) it made extreme; most first, then by name. A record may count under two."""
    counts: dict[str, int] = {}
    for names in records:
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def evidence_text(counts: dict[str, int]) -> str:
    """``"outlier's distance from the base: 2, knn_label's label doubt: 1"``, from :func:`evidence_counts`."""
    return ", ".join(f"{_whose(name)} {evidence_kind(name)}: {n}" for name, n in counts.items())


def rule_words(n: int, counts: dict[str, int] | None) -> str:
    """``detectors.extreme``'s clause for ``n`` records: ``"1 record blocks on its own evidence (knn_label's label
    doubt: 1)"``; without ``counts`` (a report saved before the rule named its evidence) no kinds are named."""
    one = n == 1
    head = f"{n} record{'' if one else 's'} {'blocks' if one else 'block'} on {'its' if one else 'their'} own evidence"
    return f"{head} ({evidence_text(counts)})" if counts else head


def short_words(n: int, counts: dict[str, int] | None) -> str:
    """The verdict line's clause: ``"1 blocking alone on label doubt"`` (``"3 blocking alone"`` without ``counts``)."""
    kinds = list(dict.fromkeys(evidence_kind(name) for name in counts or {}))
    return f"{n} blocking alone" + (f" on {', '.join(kinds)}" if kinds else "")
