"""The per-source view of a diff (``by_source``) or check (``sources``) report.

Each source's records, what it added by lineage, its relabels, removals and flags, and
how its name was learned (signed batch, unsigned batch or source column).
"""

from __future__ import annotations

from dataclasses import dataclass

from provenance.report.wording import source_name


@dataclass(frozen=True)
class SourceRow:
    """One source in the per-source view: its records, what it added by lineage, relabels and flags."""

    source: str | None
    base: int
    new: int
    added: int
    attested: int
    relabeled_after_source: int
    unattributed: int
    relabeled: int
    removed: int
    flagged: int | None
    signals: list[str]
    named_by: tuple[str, ...] = ()  # how the name was learned (delta.attribution)
    not_attested: int = 0  # a check's records of this source whose signed batch attests nothing under the pins
    key_revoked: bool = False  # ... because its key was revoked (newcomer review 12, finding 4)
    copies: int = 0  # extra rows of records it already had (``duplicates_added``): scored, never counted as added

    @property
    def name(self) -> str:
        """The source as reports name it, with the kind of batch that named it (``"scraper (unsigned batch)"``);
        ``"vendor (key not trusted)"`` (``"vendor (key revoked)"`` for a revoked key) when a check found that its signed batches no longer attest its records
        under the verifier's pins (a revoked key: the check's ``lineage_not_trusted`` lines say why)."""
        if self.not_attested:
            return f"{source_name(self.source)} (key {'revoked' if self.key_revoked else 'not trusted'})"
        return source_name(self.source, list(self.named_by))


def source_rows(report: dict) -> list[SourceRow]:
    """The per-source view (diff ``by_source`` or check ``sources``), worst first as the report orders it.

    ``attested`` / ``relabeled_after_source`` / ``unattributed`` count the source's added
    records by lineage; ``copies`` its extra rows of records already held (``duplicates_added``:
    beyond the base's rows, beyond one for a new record), which detectors score but ``added`` does
    not count; ``flagged`` its records the combined verdict flagged (None when no detector ran).
    """
    detected = bool(report.get("detectors"))
    return [
        SourceRow(
            r["source"],
            int(r.get("base", 0)),
            int(r.get("new", 0)),
            int(r.get("added", 0)),
            int(r.get("attested_added", 0)),
            int(r.get("relabeled_after_source_added", 0)),
            int(r.get("unattributed_added", 0)),
            int(r.get("relabeled", 0)),
            int(r.get("removed", 0)),
            int(r["flagged"]) if detected and r.get("flagged") is not None else (0 if detected else None),
            list(r.get("flagged_signals", [])),
            tuple(r.get("named_by") or ()),
            int(r.get("not_attested", 0)),
            bool(r.get("key_revoked")),
            int(r.get("duplicates_added", 0)),
        )
        for r in _per_source(report)
    ]


def copies_shown(rows: list[SourceRow]) -> bool:
    """Whether the per-source view has a ``copies`` column: only when some source added copies, so a delta of
    exact copies reads ``added 0, copies 2, flagged 2`` rather than ``added 0`` beside ``flagged 2``."""
    return any(r.copies for r in rows)


SOURCES_NOTE = "worst first; added records by lineage"
COPIES_NOTE = "copies: a record's repeated rows, not counted as added"
"""The Sources table's note, and what it adds when the table has a ``copies`` column (text, markdown, html)."""


def source_origins(report: dict) -> dict:
    """Each source of a diff (``by_source``) or check (``sources``) report → how its name was learned
    (``named_by``: ``"signed batch"``, ``"unsigned batch"``, ``"source column"``), for naming listed records."""
    return {r["source"]: r.get("named_by") for r in _per_source(report)}


def _per_source(report: dict) -> list[dict]:
    """The report's per-source rows: a diff's ``by_source``, else a check's ``sources``."""
    rows = report.get("by_source")
    return rows if rows is not None else report.get("sources") or []
