"""Turn the merge's counts into the diff report: breakdowns, lineage, signals, findings.

The report is plain data (``DiffReport.to_dict()``), the shape ``schemas/diff.schema.json``
fixes; every formatter in ``provenance.report`` renders that dict. Detector findings
slot in through :meth:`DiffReport.add_detector_results` (``--detect``; ``detection_report.py``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from provenance.delta import signals as sig
from provenance.delta.attribution import named_by
from provenance.delta.detection_report import DEFAULT_ALPHA, add_detection
from provenance.delta.merge import Changes
from provenance.delta.records import DeltaRecords
from provenance.delta.sides import Side
from provenance.delta.statuses import LINEAGE_STATUSES
from provenance.delta.volume import volume_signals
from provenance.report.wording import added_by, source_subject

REPORT_FORMAT = "prov.diff/v1"
_RANK = {s: i for i, s in enumerate(LINEAGE_STATUSES)}  # worst status of a digest's rows wins


def _by(ids: np.ndarray, values: list, weights: np.ndarray | None = None) -> Counter:
    out: Counter = Counter()
    if len(ids):
        counts = np.bincount(ids, weights=weights, minlength=len(values))
        for i in np.flatnonzero(counts):
            out[values[i]] += int(counts[i])
    return out


def _records(n: int) -> str:  # a count signal's noun and verb agree with its count ("1 record carries")
    return "record" if n == 1 else "records"


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


def _carry(n: int) -> str:
    return "carries" if n == 1 else "carry"


def _of(source) -> str:
    """``of source 'vendor'``, or ``with no source`` for records of none (``wording.source_subject``)."""
    return "with no source" if source in (None, "") else f"of {source_subject(source, quote=True)}"


def _key(source) -> str:
    return "" if source is None else source


@dataclass
class DiffReport:
    base: dict
    new: dict
    summary: dict
    lineage: dict
    by_source: list
    by_class: list
    relabel_pairs: list
    signals: list  # Signal
    changes: dict
    limit: int
    findings: list = field(default_factory=list)
    detectors: list = field(default_factory=list)
    detect: bool = False
    drift: list | None = None  # the delta as a batch against the base's pseudo-batches (with --detect)
    # every added and relabeled digest (numpy S32), for detectors; not part of the output
    delta: dict = field(default_factory=dict, repr=False)
    # the store's audit coverage (provenance.store.coverage.AuditCoverage.to_dict), when there is a store
    audit: dict | None = None
    detection: dict | None = None  # with --detect: the combined verdict against a clean delta's budget
    # the delta's records by digest (label, source, lineage, locator), for the findings; not part of the output
    records: DeltaRecords | None = field(default=None, repr=False)
    # per source, its added rows per class, for the class-mix rule's tests (gate.class_mix); not part of the output
    added_by_source_class: dict = field(default_factory=dict, repr=False)

    @property
    def flagged_signals(self) -> list:
        return [s for s in self.signals if s.flagged]

    def suspicious_sources(self) -> list[dict]:
        return [s for s in self.by_source if s["flagged_signals"]]

    def add_detector_results(self, detection, alpha: float = DEFAULT_ALPHA, flagged_only: bool = False) -> None:
        """Attach a ``provenance.detectors.pipeline.Detection``: each detector's status, one finding per
        scored record (only the flagged ones with ``flagged_only``) and the combined verdict's budget at
        ``alpha``, as ``detection_report.add_detection`` says."""
        add_detection(self, detection, alpha, flagged_only)

    def to_dict(self) -> dict:
        return {
            "format": REPORT_FORMAT,
            "base": self.base,
            "new": self.new,
            "summary": self.summary,
            "lineage": self.lineage,
            "by_source": self.by_source,
            "by_class": self.by_class,
            "relabel_pairs": self.relabel_pairs,
            "signals": [s.to_dict() for s in self.signals],
            "changes": self.changes,
            "detect": self.detect,
            "detectors": self.detectors,
            "detection": self.detection,
            "findings": self.findings,
            "drift": self.drift,
        } | ({"audit": self.audit} if self.audit is not None else {})


def build_report(changes: Changes, base: Side, new: Side) -> DiffReport:
    L, S = changes.labels, changes.sources
    lineage_available = base.lineage_stage and new.lineage_stage

    added_src = changes.array("added", "source")
    added_rows = changes.array("added", "rows")
    added_lab = changes.array("added", "label")
    removed_rows = changes.array("removed", "rows")
    added_status = changes.array("added", "status")
    relabeled_status = changes.array("relabeled", "status")

    added_by_source = _by(added_src, S.values, added_rows.astype(float))
    added_by_class = _by(added_lab, L.values, added_rows.astype(float))
    removed_by_source = _by(changes.array("removed", "source"), S.values, removed_rows.astype(float))
    removed_by_class = _by(changes.array("removed", "label"), L.values, removed_rows.astype(float))
    relabeled_from = _by(changes.array("relabeled", "old_label"), L.values)
    relabeled_to = _by(changes.array("relabeled", "label"), L.values)
    status_added = {
        s: _by(added_src[added_status == r], S.values, added_rows[added_status == r].astype(float))
        for s, r in _RANK.items()
    }
    relabeled_after_source = _by(
        changes.array("relabeled", "source")[relabeled_status == _RANK["relabeled_after_source"]], S.values
    )

    transitions = changes.transitions

    # --- signals
    base_classes = dict(changes.label_rows["base"])
    added_by_source_class = {
        source: dict(_by(added_lab[mask], L.values, added_rows[mask].astype(float)))
        for source, mask in ((source, added_src == S.id(source)) for source in added_by_source)
    }
    signals = sig.class_mix_signals(added_by_source_class, base_classes)
    signals += sig.relabel_rate_by_source(dict(changes.relabeled_by_source), dict(changes.common_by_source))
    signals += sig.relabel_rate_by_pair(dict(changes.relabel_pairs), dict(changes.common_by_label))
    removal = sig.removals_concentrated(dict(removed_by_class), base_classes)
    if removal:
        signals.append(removal)
    signals += volume_signals(added_by_source, changes.source_rows["base"], base.history)
    total_added_rows = int(added_rows.sum())
    if lineage_available:
        for source, k in status_added["unattributed"].items():
            signals.append(
                sig.count_signal(
                    "unattributed_additions",
                    k,
                    added_by_source[source],
                    f"{_records(k)} {added_by(source)} {_are(k)} not signed by any trusted batch",
                    source,
                )
            )
        for source, k in relabeled_after_source.items():
            signals.append(
                sig.count_signal(
                    "label_differs_from_signed",
                    k,
                    changes.relabeled_by_source[source],
                    f"relabeled {_records(k)} {_of(source)} {_carry(k)} a label its signed batch does not",
                    source,
                )
            )
        for source, k in status_added["relabeled_after_source"].items():
            signals.append(
                sig.count_signal(
                    "label_differs_from_signed",
                    k,
                    added_by_source[source],
                    f"{_records(k)} {added_by(source)} {_carry(k)} a label its signed batch does not",
                    source,
                )
            )
    elif total_added_rows:
        signals.append(
            sig.count_signal(
                "unattributed_additions",
                total_added_rows,
                total_added_rows,
                "added records have no lineage",
                flag=False,
                note="; lineage is not available in this install, so every record "
                "counts as unattributed and this is not flagged",
            )
        )
    new_conflicts = changes.conflicting["new"] - changes.conflicting["base"]
    conflicting = changes.count("conflicting")
    if conflicting:
        signals.append(
            sig.count_signal(
                "conflicting_labels",
                conflicting,
                changes.digests["new"],
                f"{_records(conflicting)} {_carry(conflicting)} more than one label in the new version",
                flag=new_conflicts > 0 or changes.conflicting["base"] == 0,
            )
        )
    for source, k in changes.duplicates_added_by_source.items():
        signals.append(
            sig.count_signal(
                "duplicates_added",
                k,
                added_by_source.get(source, 0) + k,
                f"extra {'copy' if k == 1 else 'copies'} of records {added_by(source)}",
                source,
                flag=k >= sig.MIN_VOLUME,
            )
        )
    signals.sort(key=lambda s: (not s.flagged, -s.strength, s.name))

    # --- breakdowns, worst first
    sources = set(changes.source_rows["base"]) | set(changes.source_rows["new"])
    origins = {k: base.source_origins.get(k, set()) | new.source_origins.get(k, set()) for k in sources if k}
    by_source = []
    for source in sources:
        flagged = [s for s in signals if s.flagged and s.subject and s.subject.get("source", object()) == source]
        common = changes.common_by_source.get(source, 0)
        rel = changes.relabeled_by_source.get(source, 0)
        by_source.append(
            {
                "source": source,
                "base": changes.source_rows["base"].get(source, 0),
                "new": changes.source_rows["new"].get(source, 0),
                "added": added_by_source.get(source, 0),
                "removed": removed_by_source.get(source, 0),
                "relabeled": rel,
                "relabel_rate": (rel / common) if common else 0.0,
                "duplicates_added": changes.duplicates_added_by_source.get(source, 0),
                "attested_added": status_added["attested"].get(source, 0),
                "relabeled_after_source_added": status_added["relabeled_after_source"].get(source, 0),
                "unattributed_added": status_added["unattributed"].get(source, 0),
                "suspicion": round(sum(s.strength for s in flagged), 3),
                "flagged_signals": sorted({s.name for s in flagged}),
                "named_by": named_by(source, origins),
            }
        )
    by_source.sort(
        key=lambda r: (-len(r["flagged_signals"]), -r["suspicion"], -(r["added"] + r["relabeled"]), _key(r["source"]))
    )
    classes = set(changes.label_rows["base"]) | set(changes.label_rows["new"])
    by_class = [
        {
            "label": c,
            "base": changes.label_rows["base"].get(c, 0),
            "new": changes.label_rows["new"].get(c, 0),
            "added": added_by_class.get(c, 0),
            "removed": removed_by_class.get(c, 0),
            "relabeled_from": relabeled_from.get(c, 0),
            "relabeled_to": relabeled_to.get(c, 0),
        }
        for c in classes
    ]
    by_class.sort(key=lambda r: (-(r["added"] + r["removed"] + r["relabeled_from"] + r["relabeled_to"]), r["label"]))
    pairs = [
        {
            "old": o,
            "new": n,
            "count": k,
            "rate": k / max(sum(changes.common_by_label.get(x, 0) for x in o.split("|")), k),
        }
        for (o, n), k in changes.relabel_pairs.items()
    ]
    pairs.sort(key=lambda r: (-r["count"], r["old"], r["new"]))

    summary = {
        "records_base": changes.rows["base"],
        "records_new": changes.rows["new"],
        "digests_base": changes.digests["base"],
        "digests_new": changes.digests["new"],
        "added": changes.count("added"),
        "added_rows": total_added_rows,
        "removed": changes.count("removed"),
        "removed_rows": int(removed_rows.sum()),
        "relabeled": changes.count("relabeled"),
        "unchanged": changes.unchanged,
        "conflicting_labels": changes.conflicting["new"],
        "conflicting_labels_base": changes.conflicting["base"],
        "duplicates": changes.duplicates["new"],
        "duplicates_base": changes.duplicates["base"],
        "duplicates_added": changes.duplicates_added,
        "duplicated_records": changes.count("duplicates"),
        "source_changed": changes.source_changed,
        "lineage_changed": sum(transitions.values()),
        "attested_added": sum(status_added["attested"].values()),
        "relabeled_after_source_added": sum(status_added["relabeled_after_source"].values()),
        "unattributed_added": sum(status_added["unattributed"].values()),
        "signals_flagged": sum(1 for s in signals if s.flagged),
        "suspicious_sources": [r["source"] for r in by_source if r["flagged_signals"]],
    }
    lineage = {"available": lineage_available, "transitions": dict(sorted(transitions.items()))}
    lineage["base"], lineage["new"] = base.lineage_counts, new.lineage_counts
    # batches whose records each version signed as attested that the verifier's pins no longer trust, and why
    lineage["not_trusted"] = {
        "base": base.info.get("lineage_not_trusted", []),
        "new": new.info.get("lineage_not_trusted", []),
    }
    examples = {k: v for k, v in changes.examples.items()}
    examples["truncated"] = {k: len(v) < changes.count(k) for k, v in changes.examples.items()}
    report = DiffReport(
        base.info, new.info, summary, lineage, by_source, by_class, pairs, signals, examples, changes.limit
    )
    report.records = delta_records(changes, new)
    report.added_by_source_class = added_by_source_class
    report.records.origins = {r["source"]: r["named_by"] for r in by_source}
    return report


def delta_records(changes: Changes, new: Side) -> DeltaRecords:
    """The added, relabeled and copied records of ``changes``, each with its label, source, lineage
    status and manifest row in ``new``, for ``DeltaRecords.describe``."""
    arrays = {}
    for kind in ("added", "relabeled", "rekeyed", "duplicates"):
        columns = ("digests", "label", "source", "first_row") + (
            ("old_label",) if kind in ("relabeled", "rekeyed") else ()
        )
        columns += ("status",) if kind != "duplicates" else ()  # a copy's lineage is its record's (added or base)
        arrays[kind] = {c: changes.array(kind, c) for c in columns}
    dataset = {"path": new.info.get("path"), "kind": new.schema.get("kind")}
    return DeltaRecords(arrays, changes.labels.values, changes.sources.values, new.fetch, dataset)
