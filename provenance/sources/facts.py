"""The facts about a reading that a version signs beside its Merkle root, and how to check them.

A Merkle root covers each record's digest, label and source. What else a trainer's loader
depends on is signed in the version's predicate and compared by ``prov verify``:

- ``schema.types``: every content column's type (a column retyped from int64 to string,
  a timestamp's unit or zone, a decimal's scale);
- ``schema.label``: the label column's type and kind (text, integer, float, boolean; the
  kind is also in every Merkle entry);
- ``schema.classes``: the class list an ImageFolder-style loader indexes (a new class
  folder shifts every target index even when no record changes);
- ``listing``: the digest of every file the loader saw, read or skipped, with sizes and
  link targets (a renamed, added or removed file).

Versions signed before these facts existed carry none of them, and are checked on their
records alone.

Each line is for people and shows every value it quotes through ``escaping.visible``: a signed fact is whatever the
key that signed it chose (a stolen commit key can sign a label type holding a newline), and a skipped file's name is
whatever whoever writes the data folder chose; printed raw, either started a line of its own under ``prov verify
-v`` and in a training job's log.
"""

from __future__ import annotations

from provenance.escaping import visible
from provenance.sources.interface import HashedDataset
from provenance.sources.schema_delta import column_delta, column_lines


def signed_facts(hashed: HashedDataset) -> dict:
    """``{"schema": ..., "listing": ...}`` for a version's predicate (listing omitted if none)."""
    facts: dict = {"schema": hashed.schema_fact()}
    listing = hashed.listing_fact()
    if listing is not None:
        facts["listing"] = listing
    return facts


def _names(paths: list[str]) -> str:
    return ", ".join(map(visible, paths[:5])) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def differences(predicate: dict, current: HashedDataset) -> list[str]:
    """How the data read now differs from a version's signed facts, one line per fact.

    Only facts the version signed are compared, so versions signed before them still verify
    on their records. An empty list means every signed fact holds.
    """
    out: list[str] = []
    signed = predicate.get("schema") or {}
    now = current.schema_fact()
    if "types" in signed and signed["types"] != now["types"]:
        out += schema_changes(signed, now)
    if "label" in signed and signed["label"] != now["label"]:
        old, new = signed["label"], now["label"]
        out.append(f"label column type changed: {visible(old.get('type'))} -> {visible(new.get('type'))}")
    if "classes" in signed and signed.get("classes") != now.get("classes"):
        old_classes, new_classes = signed.get("classes") or [], now.get("classes") or []
        added = [c for c in new_classes if c not in old_classes]
        removed = [c for c in old_classes if c not in new_classes]
        out.append(
            f"class list changed (every class index after it shifts): added {added or 'none'}, removed {removed or 'none'}"
        )
    listing = predicate.get("listing")
    if isinstance(listing, dict) and "sha256" in listing:
        fact = current.listing_fact() or {}
        if fact.get("sha256") != listing["sha256"]:
            out.append(_listing_change(listing, fact))
    return out


def schema_changes(old: dict, new: dict) -> list[str]:
    """Column-level changes between two signed schemas, one line each: added, removed, retyped columns
    (``schema_delta.column_delta`` holds them as data; read that, never these lines)."""
    return column_lines(column_delta(old.get("types") or {}, new.get("types") or {}))


def _listing_change(signed: dict, now: dict) -> str:
    before, after = set(signed.get("ignoredPaths") or []), set(now.get("ignoredPaths") or [])
    detail = []
    if signed.get("files") != now.get("files"):
        detail.append(f"{visible(signed.get('files'))} -> {visible(now.get('files'))} files read")
    if after - before:
        detail.append(f"new skipped files {_names(sorted(after - before))}")
    if before - after:
        detail.append(f"skipped files gone {_names(sorted(before - after))}")
    why = "; ".join(detail) or "a file renamed, resized or relinked"
    return f"file listing differs from the signed one ({why})"
