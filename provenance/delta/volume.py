"""Volume per source: how many records each source added, against what was expected of it.

The one home of the per-source volume arithmetic. Two rules read it:

- the diff signal ``source_volume_jump`` (``volume_signals``): a Poisson upper-tail test
  (``provenance.delta.signals.volume_jump``) of a source's additions against its own
  signed history (its mean increment per earlier version) or, with no history, its base
  records times the growth of the *other* sources; reported in every diff;
- the ``volume`` detector (``provenance.detectors.volume``, ``spike_ratio``): a source's
  additions against its base records (at least one) times the growth of the *whole*
  version; a ratio above the detector's spike factor flags all the source's added
  records, which the release gate acts on.

The two expectations differ on purpose for now (the signal tests a source against the
others, the detector against the version); issue 14 reworks volume per source into one
calibrated rule.
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


def spike_ratio(volume: SourceVolume) -> float:
    """The detector's rule: additions over (the version's growth x the source's base records, at least one)."""
    return volume.added / max(volume.growth_overall * max(volume.base, 1), 1e-12)


def history_increments(source: str | None, history: list[dict]) -> list[int]:
    """Records ``source`` added in each earlier version, from signed per-source counts (newest first).

    ``history[i]`` maps a source ("" for none) to its record count in one version.
    """
    key = "" if source is None else source
    return [max(0, newer.get(key, 0) - older.get(key, 0)) for newer, older in zip(history, history[1:])]


def volume_signals(
    added: Mapping[Source, int], base: Mapping[Source, int], history: list[dict]
) -> list[signals.Signal]:
    """The diff's ``source_volume_jump`` (or ``new_source``) signal of each source that added enough records."""
    out = []
    for source, v in source_volumes(added, base).items():
        s = signals.volume_jump(source, v.added, v.base, v.growth_of_others, history_increments(source, history))
        if s is not None:
            out.append(s)
    return out
