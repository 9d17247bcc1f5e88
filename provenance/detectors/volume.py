"""Volume spikes per source: one source suddenly adding far more than its share.

The per-source counting and growth live in ``provenance.delta.volume`` (shared with the
diff's ``source_volume_jump`` signal); this module turns its ``spike_ratio`` into findings.

This is a rate rule, not a per-record distance, so it is not calibrated on the
reference's records: a source is flagged when it grows by more than ``spike_factor``
times the version's overall growth (and adds at least ``min_records``). A source the
base never saw counts as having one record. All records of a flagged source are flagged,
so a reviewer can quarantine the source (``prov quarantine --source``).
"""

from __future__ import annotations

from collections import Counter

from provenance.delta.volume import source_volumes, spike_ratio
from provenance.detectors.base import Delta, Detector, DetectorResult, Finding
from provenance.profiles.reference import ReferenceProfile


class VolumeSpikeDetector(Detector):
    """Volume spikes per source: one source suddenly adding far more than its share (see the module docstring)."""

    name = "volume"
    families = ("dos_flood",)

    def __init__(self, spike_factor: float = 5.0, min_records: int = 20):
        self.spike_factor = spike_factor
        self.min_records = min_records

    def run(self, profile: ReferenceProfile, delta: Delta, fpr: float) -> DetectorResult:
        """Flag every added record of a source that grew more than ``spike_factor`` x the version (``fpr`` unused)."""
        sources = ["" if s is None else str(s) for s in delta.sources]
        added = Counter(s for s, kind in zip(sources, delta.kinds) if kind == "added")
        volumes = source_volumes(added, profile.source_counts, base_total=profile.n_records)
        overall_growth = sum(added.values()) / max(profile.n_records, 1)
        # a profile without per-source counts cannot tell a spike from growth
        ratios = {s: spike_ratio(v) if profile.source_counts else 1.0 for s, v in volumes.items()}
        spiking = {s for s, r in ratios.items() if r > self.spike_factor and added[s] >= self.min_records}

        findings = []
        for i, source in enumerate(sources):
            ratio = ratios.get(source, 0.0) if delta.kinds[i] == "added" else 0.0
            score = ratio / (ratio + self.spike_factor)  # 0.5 exactly at the spike factor
            flagged = source in spiking and delta.kinds[i] == "added"
            base_count = profile.source_counts.get(source, 0)
            name = source or "(no source)"
            explanation = (
                f"source {name} added {added.get(source, 0)} records against {base_count} in the base: "
                f"{ratio:.1f}x the growth of the whole version ({overall_growth:.1%})"
            )
            findings.append(Finding(delta.hex(i), self.name, float(score), flagged, explanation))
        summary = {
            "overall_growth": overall_growth,
            "spiking_sources": sorted(spiking),
            "growth_ratio_by_source": {s: round(r, 3) for s, r in sorted(ratios.items())},
        }
        return DetectorResult(self.name, "ok", None, 0.5, findings, summary)
