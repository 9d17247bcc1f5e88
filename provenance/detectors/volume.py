"""Volume spikes per source: one source suddenly adding far more than its share.

The per-source counting and growth live in ``provenance.delta.volume`` (shared with the
diff's ``source_volume_jump`` signal); this module turns its ``spike_ratio`` into findings.

This is a rate rule, not a per-record distance, so it is not calibrated on the
reference's records: a source is flagged when it adds more than ``spike_factor`` times
what it would have added growing like the other sources (and at least ``min_records``);
a source delivering alone this time has no such basis and is not a spike. It applies only
when the data has sources (at least two, ``diff.volume.has_sources``): with one source or
none, the source's growth is the version's. A source the base never had is new, not a
spike (lineage decides whether to trust it). All records of a flagged source are flagged,
so a reviewer can quarantine the source (``prov quarantine --source``), and they carry the
spike's Poisson tail as extreme evidence (``detectors.extreme``): a flood from one source
blocks whatever the budget.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from provenance.delta.volume import has_sources, source_volumes, spike_expected, spike_ratio
from provenance.detectors.base import Delta, Detector, DetectorResult, Finding
from provenance.profiles.reference import ReferenceProfile
from provenance.report.wording import NO_SOURCE_RECORDS
from provenance.stats import poisson_sf_many


class VolumeSpikeDetector(Detector):
    """Volume spikes per source: one source suddenly adding far more than its share (see the module docstring)."""

    name = "volume"
    families = ("dos_flood",)

    def __init__(self, spike_factor: float = 5.0, min_records: int = 20):
        self.spike_factor = spike_factor
        self.min_records = min_records

    def run(self, profile: ReferenceProfile, delta: Delta, fpr: float) -> DetectorResult:
        """Flag every added record of a source that grew more than ``spike_factor`` x the others (``fpr`` unused)."""
        sources = ["" if s is None else str(s) for s in delta.sources]
        added = Counter(s for s, kind in zip(sources, delta.kinds) if kind == "added")
        volumes = source_volumes(added, profile.source_counts, base_total=profile.n_records)
        overall_growth = sum(added.values()) / max(profile.n_records, 1)
        # without sources (or a profile without per-source counts) a spike cannot be told from growth
        per_source = bool(profile.source_counts) and has_sources(added, profile.source_counts)
        ratios = {s: spike_ratio(v) if per_source else 1.0 for s, v in volumes.items()}
        spiking = {
            s
            for s, r in ratios.items()
            if r > self.spike_factor and added[s] >= self.min_records and volumes[s].base > 0
        }
        tails = {
            s: float(poisson_sf_many(np.array([volumes[s].added]), np.array([max(spike_expected(volumes[s]), 1.0)]))[0])
            for s in spiking
        }

        def said(source: str, is_added: bool) -> tuple[float, bool, str]:
            """Score, flag and explanation of a record of ``source`` (added or not)."""
            ratio = ratios.get(source, 0.0) if is_added else 0.0
            score = ratio / (ratio + self.spike_factor)  # 0.5 exactly at the spike factor
            flagged = source in spiking and is_added
            base_count = profile.source_counts.get(source, 0)
            # records of no source are not a source: said as such (newcomer review 29)
            n = added.get(source, 0)
            who = f"{n} {NO_SOURCE_RECORDS} added" if not source else f"source {source} added {n} records"
            if not per_source:
                explanation = "no per-source volume: the data has one source or none, whose growth is the version's"
            elif base_count == 0:
                explanation = (
                    f"{n} {NO_SOURCE_RECORDS}, none in the base: no base share to compare"
                    if not source
                    else f"source {source} is new: {n} records, no base share to compare"
                )
            else:
                expected = spike_expected(volumes[source]) if source in volumes else 0.0
                explanation = (
                    f"{who} against {base_count} in the base: "
                    + (
                        f"{ratio:.1f}x the {expected:.1f} it would have added growing like the other sources"
                        if expected > 0
                        else "the other sources added nothing, so there is no share to compare"
                    )
                    + (f", Poisson p = {tails[source]:.2g}" if source in tails else "")
                )
            return float(score), flagged, explanation

        # a record's score, flag and explanation depend only on its source and whether it was added:
        # written once per (source, added), not per record (10,000 records in a 1% delta of 1 M)
        known: dict[tuple[str, bool], tuple[float, bool, str]] = {}
        findings = []
        hexes = delta.hexes
        for i, (source, kind) in enumerate(zip(sources, delta.kinds)):
            key = (source, kind == "added")
            if key not in known:
                known[key] = said(*key)
            score, flagged, explanation = known[key]
            findings.append(Finding(hexes[i], self.name, score, flagged, explanation))
        summary = {
            "overall_growth": overall_growth,
            "spiking_sources": sorted(spiking),
            "growth_ratio_by_source": {s: round(r, 3) for s, r in sorted(ratios.items())},
        }
        result = DetectorResult(self.name, "ran", None, 0.5, findings, summary)
        if per_source:  # the per-source test is made only when there are sources
            result.extreme_p = np.array(
                [tails.get(s, 1.0) if k == "added" else 1.0 for s, k in zip(sources, delta.kinds)], dtype=np.float64
            )
            result.extreme_is_rule = True  # gated by the spike ratio: not a calibrated per-record tail
        return result
