"""How reports word batch drift: the delta measured as a batch against the base's own batches
(``detectors/drift.py``), the rule ``detectors.drift`` that warns on it, and the headline when the
whole batch moved together. Used by the text, Markdown and HTML formats and the verdict."""

from __future__ import annotations


def drift_text(
    drift: list[dict] | None, shift: dict | None = None, columns: list[dict] | None = None, advise: bool = True
) -> str:
    """The delta as a batch against the base's own batches, in one line (``detect`` only), with the columns it
    moved in most (``columns``, the diff's ``detection.drift_columns``) and the move its classes share when its
    mean shifted (``shift``, the diff's ``detection.shared_shift``). ``advise``: whether the columns' sentence may
    offer reading a column as metadata (``drift_columns.columns_sentence``: not when a record is flagged)."""
    if not drift:
        return "batch drift: not measured"
    if drift[0].get("signal") == "error":
        return f"batch drift: could not be measured ({drift[0].get('error')})"
    shifted = [d for d in drift if d["shifted"]]
    if not shifted:
        return "batch drift: within the range of the base's own batches"
    words = "; ".join(
        f"{d['signal']} {d['value']:.3g} (base batches up to {d['base_max']:.3g}, {d['effect']:.1f}x)"
        if d["base_max"] > d.get("base_median", 0)
        else f"{d['signal']} {d['value']:.3g} (the base's batches do not vary in it)"  # not "973169473180.0x"
        for d in shifted
    )
    moved = ""
    if columns:
        from provenance.detectors.drift_columns import columns_sentence

        moved = "; " + columns_sentence(columns, advise)
    if shift and shift.get("whole_batch"):
        moved += f"; its classes moved together by {shift['size']:.1f} times the base's spread within a class: {shift['why']}"
    return f"batch drift: WARNING, shifted beyond the base's own batches (not a verdict on records): {words}{moved}"


def shift_and_columns(report: dict) -> tuple[dict | None, list[dict] | None, bool]:
    """A diff report's ``detection.shared_shift`` and ``detection.drift_columns`` (None each when absent) and
    whether no finding of it is flagged (``advise``), the arguments ``drift_text`` takes after the drift signals."""
    detection = report.get("detection") or {}
    flagged = any(f.get("flagged") is True for f in report.get("findings") or [])
    return detection.get("shared_shift"), detection.get("drift_columns"), not flagged


# What a reader does with a ``detectors.drift`` warning (``gate.detection.BatchDrift``): its reason
# gives each shifted signal as "Nx", which says nothing alone; this says what N measures and what to
# do, without repeating the reason (the Rules table shows it).
DRIFT_GUIDE = (
    "detectors.drift warned (it does not block): N is the batch's shift over the largest shift between the "
    "base's own batches, so a base whose batches are alike gives large N. Expected when the batch is new data "
    "on purpose (another collection, period or class); otherwise check where it came from (Sources) before release"
)


def batch_shift_line(report: dict) -> str | None:
    """A check's headline sentence when the whole batch moved (its ``detectors.drift`` rule's
    ``shared_shift``; newcomer review 11, finding 6), no final stop: ``"The whole batch moved
    together (mean_shift 12.3x the largest shift between the base's batches, its classes 2.9 times
    the base's spread within a class): the detectors scored the records that moved with it without
    that shift, so a flag is a record that stands out within its batch"``. None when the mean did not move."""
    rule = next((r for r in report.get("rules") or [] if r.get("rule") == "detectors.drift"), None)
    statistic = (rule or {}).get("statistic") or {}
    shift = statistic.get("shared_shift")
    if not shift or not shift.get("whole_batch"):
        return None  # the mean moved with some records, not as a whole: the rule's reason says so
    mean = next((s for s in statistic.get("signals") or [] if s.get("signal") == "mean_shift"), None)
    size = f"mean_shift {mean['effect']:.1f}x the largest shift between the base's batches, " if mean else ""
    head = (
        f"The whole batch moved together ({size}its classes {shift['size']:.1f} times the base's spread within a class)"
    )
    if shift.get("removed"):
        return (
            head
            + ": the detectors scored the records that moved with it without that shift, so a flag is a record that "
            "stands out within its batch"
        )
    return f"{head}: {shift['why']}"


def drift_warned(report: dict) -> bool:
    """Whether a check report's ``detectors.drift`` rule warned (then reports print ``DRIFT_GUIDE``)."""
    return any(r.get("rule") == "detectors.drift" and r.get("status") == "warn" for r in report.get("rules") or [])
