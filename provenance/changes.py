"""What changed since signing: the one comparison of a signed manifest with the data now.

``prov verify`` of a signed batch and of a version both end here when the Merkle roots
differ, so both name the same records in the same words: each record *changed* (new
content at a signed place), *added*, *removed* or *relabeled* (same content, another
label), with its locator (row number, ``file#row`` or path in a tree).

New content at a signed place is *changed* only when the two sides share some record: when
none is shared (another file, or every record replaced), pairing by place would call
unrelated records edits, so they are all *added* and *removed*, and :func:`none_shared`
says so in one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pyarrow as pa

from provenance.manifest import Manifest
from provenance.names import short_digest

KINDS = ("changed", "added", "removed", "relabeled")
MAX_LISTED = 20

Changes = dict[str, list[dict]]
_Entry = tuple[str, str]  # (label, locator)


def where(locator: str) -> str:
    """A locator as people read it: ``row 12`` for a row number, else the locator itself."""
    return f"row {locator}" if locator.isdigit() else locator


def natural_key(locator: str) -> tuple:
    """Sort key that puts ``row 2`` before ``row 10`` and ``a/img2`` before ``a/img10``."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", locator))


def _unmatched(signed: Manifest, current: Manifest) -> tuple[pa.Table, pa.Table]:
    """Rows of each side whose (digest, label, locator) the other side lacks.

    A locator names one record, so a row found on both sides is unchanged; taking those
    out first with a join keeps the per-record work below proportional to the change.
    """
    keys = ["digest", "label", "locator"]
    a = signed.table.select(keys)
    b = current.table.select(keys)
    return a.join(b, keys, join_type="left anti"), b.join(a, keys, join_type="left anti")


def _index(table: pa.Table) -> dict[bytes, list[_Entry]]:
    out: dict[bytes, list[_Entry]] = {}
    columns = (table.column(c).to_pylist() for c in ("digest", "label", "locator"))
    for digest, label, locator in zip(*columns):
        out.setdefault(digest, []).append((label, locator))
    return out


def record_changes(signed: Manifest, current: Manifest) -> Changes:
    """Records changed, added, removed and relabeled between a signed manifest and the data now.

    Returns ``{"changed": [...], "added": [...], "removed": [...], "relabeled": [...]}``,
    each list sorted by locator (naturally: row 2 before row 10). Items are dicts with
    hex ``digest``, ``locator`` and ``label``; ``relabeled`` items add ``signed_label``,
    ``changed`` items add ``signed_digest`` and ``signed_label``. Copies count: a
    duplicated record is an addition, a dropped copy a removal. Copies of one record are
    paired at the same place first, then by label, so a moved record is no change.
    """
    old_rows, new_rows = _unmatched(signed, current)
    old, new = _index(old_rows), _index(new_rows)
    added: list[dict] = []
    removed: list[dict] = []
    relabeled: list[dict] = []
    same_place: Callable[[_Entry, _Entry], bool] = lambda a, b: a == b  # noqa: E731
    same_label: Callable[[_Entry, _Entry], bool] = lambda a, b: a[0] == b[0]  # noqa: E731
    for d in old.keys() | new.keys():
        was, now = (sorted(m.get(d, []), key=lambda p: natural_key(p[1])) for m in (old, new))
        for same in (same_place, same_label):
            for pair in list(now):
                match = next((p for p in was if same(p, pair)), None)
                if match is not None:
                    was.remove(match)
                    now.remove(pair)
        for (old_label, _), (label, loc) in zip(was, now):
            relabeled.append({"locator": loc, "digest": d.hex(), "signed_label": old_label, "label": label})
        added += [{"locator": loc, "digest": d.hex(), "label": label} for label, loc in now[len(was) :]]
        removed += [{"locator": loc, "digest": d.hex(), "label": label} for label, loc in was[len(now) :]]
    removed_at = {r["locator"]: r for r in removed}
    if len(added) == len(current) and len(removed) == len(signed):  # nothing shared: no edits to name
        removed_at = {}
    changed = []
    paired: set[int] = set()  # ids of the records paired (an id column may repeat a locator)
    for a in added:
        r = removed_at.pop(a["locator"], None)
        if r is not None and r["digest"] != a["digest"]:
            changed.append(
                {
                    "locator": a["locator"],
                    "digest": a["digest"],
                    "signed_digest": r["digest"],
                    "label": a["label"],
                    "signed_label": r["label"],
                }
            )
            paired |= {id(a), id(r)}
    if paired:  # one pass each, not a list.remove per pair: every record edited took hours (attack review 25d)
        added = [a for a in added if id(a) not in paired]
        removed = [r for r in removed if id(r) not in paired]

    def order(c: dict) -> tuple:
        return natural_key(c["locator"])

    return {
        "changed": sorted(changed, key=order),
        "added": sorted(added, key=order),
        "removed": sorted(removed, key=order),
        "relabeled": sorted(relabeled, key=order),
    }


def counts(changes: Changes) -> dict[str, int]:
    """``{kind: number of records}`` for every kind, in ``KINDS`` order."""
    return {kind: len(changes.get(kind, [])) for kind in KINDS}


def summary(changes: Changes, signed: Manifest | None = None, current: Manifest | None = None) -> str:
    """``1 changed, 2 added`` (kinds with none left out), for one-line messages; with no record changed,
    what else moved the Merkle root (:func:`same_records`, given both manifests)."""
    listed = ", ".join(f"{n} {kind}" for kind, n in counts(changes).items() if n)
    if listed:
        return listed
    return same_records(signed, current) if signed is not None and current is not None else "same records and labels"


def same_records(signed: Manifest, current: Manifest) -> str:
    """What differs between two manifests of the same records and labels whose Merkle roots differ.

    A Merkle entry is (digest, label typed by its column's kind, source) (``merkle.merkle_entry``), so
    with every record and label the same, the label column's type or a record's source changed:
    ``same records and labels; label type int -> string, 3 records under another source``
    (newcomer review 17, F8: this was said as "other sources" whatever it was).
    """
    why = []
    if signed.label_kind != current.label_kind:
        why.append(f"label type {signed.label_kind} -> {current.label_kind} (the Merkle root types labels)")
    moved = sources_changed(signed, current)
    if moved:
        why.append(f"{moved} record{'' if moved == 1 else 's'} under another source")
    return "same records and labels" + (f"; {', '.join(why)}" if why else "")


def copies_added(changes: Changes, signed: Manifest) -> int:
    """How many ``added`` records are copies: of a record ``signed`` holds, or of another added record (its first
    copy counts as the addition). ``prov diff`` counts these as ``duplicates_added``, not ``added``."""
    added: dict[str, int] = {}
    for c in changes.get("added", []):
        added[c["digest"]] = added.get(c["digest"], 0) + 1
    if not added:
        return 0
    held = {d.hex() for d in signed.digests}
    return sum(n if digest in held else n - 1 for digest, n in added.items())


def sources_changed(signed: Manifest, current: Manifest) -> int:
    """How many records are at the same place with the same digest and label on both sides, under another
    source (a missing source and a named one differ)."""
    keys = ["digest", "label", "locator"]
    a = signed.table.select([*keys, "source"])
    b = current.table.select([*keys, "source"]).rename_columns([*keys, "source_now"])
    both = a.join(b, keys, join_type="inner")
    was, now = both.column("source").to_pylist(), both.column("source_now").to_pylist()
    return sum(1 for x, y in zip(was, now) if x != y)


def none_shared(changes: Changes, signed_records: int, records: int, signed: str) -> str | None:
    """``none of the 60 records is in v3 (700 records there): ...`` when the ``records`` read now
    share none with the ``signed_records`` of ``signed`` (``v3``, ``the signed batch``), else None."""
    if not records or not signed_records:
        return None
    if len(changes.get("added", [])) != records or len(changes.get("removed", [])) != signed_records:
        return None
    return none_shared_line(signed_records, records, signed)


def none_shared_line(signed_records: int, records: int, signed: str) -> str:
    """:func:`none_shared`'s line, for a caller that knows no record is shared without listing them."""
    some = "the 1 record is not" if records == 1 else f"none of the {records} records is"
    return f"{some} in {signed} ({signed_records} there): another file, or every record replaced"


def describe_change(kind: str, c: dict) -> str:
    """One change as a line for people, naming its place, digest and labels."""
    at, digest = where(c["locator"]), short_digest(c["digest"])
    if kind == "changed":
        return f"changed {at}: content digest {digest} (signed {short_digest(c['signed_digest'])}), label {c['label']}"
    if kind == "relabeled":
        return f"relabeled {at} (digest {digest}): {c['signed_label']} -> {c['label']}"
    return f"{kind} {at} (digest {digest}, label {c['label']})"


def describe(changes: Changes, limit: int = MAX_LISTED) -> list[str]:
    """Lines for people: at most ``limit`` per kind, then ``... and N more <kind>``."""
    lines = []
    for kind in KINDS:
        items = changes.get(kind, [])
        lines += [describe_change(kind, c) for c in items[:limit]]
        if len(items) > limit:
            lines.append(f"... and {len(items) - limit} more {kind}")
    return lines


def change_records(changes: Changes) -> list[dict]:
    """Every changed record as ``{"digest", "kind", "locator", "detail"}``, for reports that name records."""
    return [
        {"digest": c["digest"], "kind": kind, "locator": c["locator"], "detail": describe_change(kind, c)}
        for kind in KINDS
        for c in changes.get(kind, [])
    ]
