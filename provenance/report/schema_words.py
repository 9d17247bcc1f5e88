"""How a diff's schema changes read: columns retyped alike grouped on one line, and the records a
schema change re-keyed (``summary["schema_changes"]``, ``summary["rekeyed"]``; ``delta/schema.py``
finds them). Used by the report formats, the gate's unsigned-change rule and ``lineage/retyped.py``."""

from __future__ import annotations

import re

from provenance.report.wording import plural


def rekeyed_text(summary: dict) -> str | None:
    """The diff's sentence about records a schema change re-keyed (``summary["rekeyed"]``): paired with
    base records by content (re-encoded under the base's signed types) or, when that cannot be done
    (``summary["rekeyed_note"]`` says why), by locator; None when none was."""
    n = summary.get("rekeyed")
    if not n:
        return None
    relabeled = summary.get("rekeyed_relabeled")
    if summary.get("rekeyed_by") == "content":
        text = (
            f"{plural(n, 'record')} re-keyed by the schema change, each paired with its base record by content "
            "(re-encoded under the base's signed types without loss)"
        )
        unchanged = n - (relabeled or 0)
        text += f": {unchanged} unchanged" + (f", {relabeled} relabeled (scored as relabels)" if relabeled else "")
        return text
    text = f"{plural(n, 'record')} re-keyed by the schema change (same locator, new digest; scored as changed records)"
    if relabeled:
        text += (
            f", {relabeled} of them with another label than the base record at their locator "
            "(relabeled; the row order is the writer's, so this count is a hint)"
        )
    if summary.get("rekeyed_note"):
        text += f"; not paired by content: {summary['rekeyed_note']}"
    return text


_RETYPED = re.compile(r"column (?P<name>'.*'|\".*\") changed type: (?P<old>.+) -> (?P<new>.+)")


def grouped_schema_changes(changes: list[str], shown: int = 6) -> list[str]:
    """A diff's schema changes (``summary["schema_changes"]``), columns retyped alike on one line per
    (old type -> new type) naming the first ``shown`` of them (newcomer review 11, finding 9: 64 lines
    for one cast); other changes one line each, in order."""
    order: list[str | tuple[str, str]] = []  # each change, or the first retype of each (old, new) pair
    retyped: dict[tuple[str, str], list[str]] = {}
    for change in changes:
        m = _RETYPED.fullmatch(change)
        if m is None:
            order.append(change)
            continue
        pair = (m["old"], m["new"])
        if pair not in retyped:
            order.append(pair)
        retyped.setdefault(pair, []).append(m["name"])
    out = []
    for item in order:
        names = [] if isinstance(item, str) else retyped[item]
        if isinstance(item, str):
            out.append(item)
        elif len(names) == 1:
            out.append(f"column {names[0]} changed type: {item[0]} -> {item[1]}")
        else:
            listed = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
            out.append(f"{len(names)} columns changed type {item[0]} -> {item[1]}: {listed}")
    return out


def schema_change_lines(summary: dict) -> list[str]:
    """The lines a text or HTML report prints for a diff's schema changes: one per change, columns
    retyped alike on one line (:func:`grouped_schema_changes`), then :func:`rekeyed_text` when records
    were re-keyed."""
    out = [f"schema change: {line}" for line in grouped_schema_changes(summary.get("schema_changes") or [])]
    rekeyed = rekeyed_text(summary)
    return out + ([rekeyed] if rekeyed else []) + metadata_added_lines(summary)


def metadata_added_lines(summary: dict) -> list[str]:
    """One line naming the columns the new side reads as metadata and the base did not (``metadata_added``): their
    values are in no digest, signed by no source and scored by no detector; none when there are none."""
    added = [str(c) for c in summary.get("metadata_added") or []]
    if not added:
        return []
    one = len(added) == 1
    names = ", ".join(repr(c) for c in added)
    return [
        f"metadata column{'' if one else 's'} {names} read by this version and not by the base: in no digest, so "
        f"{'its' if one else 'their'} values are signed by no source and scored by no detector"
    ]
