"""Volume per source: how many records each source added, against what was expected of it.

The one home of the per-source volume arithmetic. Two rules read it:

- the diff signal ``source_volume_jump`` (``volume_signals``): a Poisson upper-tail test
  (``provenance.delta.signals.volume_jump``) of a source's additions against its own
  signed history (its mean increment per earlier version) or, with no history, its base
  records times the growth of the *other* sources; reported in every diff;
- the ``volume`` detector (``provenance.detectors.volume``, ``spike_ratio``): a source's
  additions against its base records times the growth of the *other* sources, when they
  grew at all (a source delivering alone this time is not a spike: vendors take turns);
  a ratio above the detector's spike factor flags all the source's added records, which
  the release gate acts on.

Both apply only when the data has sources: with one
source, or none (no source column), "per source" is the whole dataset, whose growth is
simply the version's (``has_sources``); a source the base never had is reported as new,
never as a spike (whether to trust it is lineage's question).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from provenance.delta import signals

Source = TypeVar("Source", bound=str | None)  # a source's name; None (or "") for records without one


@dataclass(frozen=True)
class SourceVolume:
    """One source's additions, its records in the base, and the growth of the rest and of the whole."""

    source: str | None
    added: int  # records the source added in the new version
    base: int  # the source's records in the base
    growth_of_others: float  # the other sources' additions over their base records (0.0 when they have none)
    growth_overall: float  # all additions over all base records


def source_volumes(
    added: Mapping[Source, int], base: Mapping[Source, int], base_total: int | None = None
) -> dict[Source, SourceVolume]:
    """Per source that added records: its ``SourceVolume``.

    ``added`` and ``base`` count records per source; ``base_total`` is the base's size
    (default: the sum of ``base``; the detector passes the profile's record count).
    """
    total_added = sum(added.values())
    total_base = sum(base.values())
    overall = total_added / max(total_base if base_total is None else base_total, 1)
    out = {}
    for source, k in added.items():
        base_k = base.get(source, 0)
        rest_base = total_base - base_k
        others = (total_added - k) / rest_base if rest_base > 0 else 0.0
        out[source] = SourceVolume(source, k, base_k, others, overall)
    return out


def has_sources(added: Mapping[Source, int], base: Mapping[Source, int]) -> bool:
    """Whether the data has at least two sources (records without one count as one more)."""
    return len({"" if s is None else s for s in (*added, *base)}) >= 2


def spike_expected(volume: SourceVolume) -> float:
    """What the source would have added growing like the others (0.0 when it is new or the others did not grow)."""
    return volume.growth_of_others * volume.base


def spike_ratio(volume: SourceVolume) -> float:
    """The detector's rule: additions over ``spike_expected`` (at least one record); 0.0 with no basis."""
    expected = spike_expected(volume)
    return volume.added / max(expected, 1.0) if expected > 0 else 0.0


def history_increments(source: str | None, history: list[dict]) -> list[int] | None:
    """Records ``source`` added in each earlier version, from signed per-source counts (newest first).

    ``history[i]`` maps a source ("" for none) to its record count in one version. None
    (no history) when none of the counts names the source: the versions of data without a
    source column count every record under "", while the diff names their sources from the
    signed batches (lineage), so a zero there is not "added nothing" but "not counted".
    """
    key = "" if source is None else source
    if history and not any(key in counts for counts in history):
        return None
    return [max(0, newer.get(key, 0) - older.get(key, 0)) for newer, older in zip(history, history[1:])]


def volume_signals(
    added: Mapping[Source, int], base: Mapping[Source, int], history: list[dict]
) -> list[signals.Signal]:
    """The diff's ``source_volume_jump`` (or ``new_source``) signal of each source that added
    enough records; none when the data has fewer than two sources (``has_sources``)."""
    out: list[signals.Signal] = []
    if not has_sources(added, base):
        return out
    for source, v in source_volumes(added, base).items():
        s = signals.volume_jump(source, v.added, v.base, v.growth_of_others, history_increments(source, history))
        if s is not None:
            out.append(s)
    return out
