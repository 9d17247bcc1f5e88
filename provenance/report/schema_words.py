"""How a diff's schema changes read: columns retyped alike grouped on one line, and the records a
schema change re-keyed (``summary["schema_delta"]``, ``summary["rekeyed"]``; ``sources/schema_delta.py``
and ``delta/schema.py`` find them). Used by the report formats, the gate's unsigned-change rule and ``lineage/retyped.py``."""

from __future__ import annotations

from provenance.escaping import name_in_sentence, visible
from provenance.report.wording import plural
from provenance.sources.schema_delta import column_lines, other_lines


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
        # prov status's pairs of one label under another source (attack review 30b, A30b-3); a diff has no such key
        moved = summary.get("rekeyed_sources_changed") or 0
        unchanged = n - (relabeled or 0) - moved
        text += f": {unchanged} unchanged" + (f", {relabeled} relabeled (scored as relabels)" if relabeled else "")
        return text + (f", {moved} under another source" if moved else "")
    text = f"{plural(n, 'record')} re-keyed by the schema change (same locator, new digest; scored as changed records)"
    if relabeled:
        text += (
            f", {relabeled} of them with another label than the base record at their locator "
            "(relabeled; the row order is the writer's, so this count is a hint)"
        )
    if summary.get("rekeyed_note"):
        # the note quotes type strings and the signed encoding as they are (delta/bridge.py): a struct field name can
        # hold a newline that started a Markdown heading of its own
        text += f"; not paired by content: {visible(summary['rekeyed_note'])}"
    return text


def grouped_schema_changes(delta: dict, shown: int = 6) -> list[str]:
    """The lines of a schema change (``sources.schema_delta``: a diff's ``summary["schema_delta"]``, or a
    ``column_delta``), columns retyped alike on one line per (old type -> new type) naming the first ``shown``
    of them (newcomer review 11, finding 9: 64 lines for one cast); the others one line each: columns added,
    removed, then the retypes, then the label, class list and encoding. Read from the data, never from lines
    (a column name or a struct type can hold text that reads as another change)."""
    retyped: dict[tuple[str, str], list[str]] = {}
    for name, types in (delta.get("retyped") or {}).items():
        retyped.setdefault((str(types[0]), str(types[1])), []).append(name_in_sentence(name, quote_plain=True))
    out = column_lines(delta, ("added", "removed"))
    for (old_type, new_type), names in retyped.items():
        # grouped by the types as signed, shown through visible: a struct field name can hold a newline (A25a-1)
        old, new = visible(old_type), visible(new_type)
        if len(names) == 1:
            out.append(f"column {names[0]} changed type: {old} -> {new}")
        else:
            listed = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
            out.append(f"{len(names)} columns changed type {old} -> {new}: {listed}")
    return out + other_lines(delta)


def summary_schema_changes(summary: dict, shown: int = 6) -> list[str]:
    """A diff or check summary's schema change lines, grouped (:func:`grouped_schema_changes`) from its
    ``schema_delta``; a report saved before ``schema_delta`` existed shows its ``schema_changes`` lines as
    written, ungrouped: they are never parsed back."""
    delta = summary.get("schema_delta")
    if isinstance(delta, dict):
        return grouped_schema_changes(delta, shown)
    return [visible(line) for line in summary.get("schema_changes") or []]


def schema_change_lines(summary: dict) -> list[str]:
    """The lines a text or HTML report prints for a diff's schema changes: one per change, columns
    retyped alike on one line (:func:`grouped_schema_changes`), then :func:`rekeyed_text` when records
    were re-keyed."""
    out = [f"schema change: {line}" for line in summary_schema_changes(summary)]
    rekeyed = rekeyed_text(summary)
    return out + ([rekeyed] if rekeyed else []) + metadata_added_lines(summary)


def metadata_added_lines(summary: dict) -> list[str]:
    """One line naming the columns the new side reads as metadata and the base did not (``metadata_added``): their
    values are in no digest, signed by no source and scored by no detector; none when there are none."""
    added = [str(c) for c in summary.get("metadata_added") or []]
    if not added:
        return []
    one = len(added) == 1
    names = ", ".join(name_in_sentence(c, quote_plain=True) for c in added)
    return [
        f"metadata column{'' if one else 's'} {names} read by this version and not by the base: in no digest, so "
        f"{'its' if one else 'their'} values are signed by no source and scored by no detector"
    ]
