"""Added records that replaced a base record at the same place: an edit, named as one (newcomer review 31, #3).

An in-place edit of one unsigned record (row 230's body mass changed) gives it a new digest: the diff lists it as
one record added and one removed, ``prov status`` pairs the two as "changed row 230", and
``lineage.unattributed_beside_signed`` counted "1 added record from no registered batch" and advised registering
it as a new batch (``prov add --unsigned``), which passed every rule. The rule still blocks it; this names it as an
edit: each counted record at a locator where exactly one base record is gone (the pairing ``prov status`` makes, at
most one pair per locator), so the report can say which base record it replaced and offer restoring it, or having
its source sign the corrected batch. Advice only: the pairing is recomputed from both versions' signed manifests
(locators are in the manifest object each version signs by digest), the base's rows of its removed records as the
check's diff found them in the manifest it verified (``delta.base_removed``), and no rule relies on it.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from provenance.gate.context import GateContext

MAX_PAIRED = 1000  # past this many counted records the edit is no longer the question (and the base is not re-read)


def replaced_in_place(ctx: GateContext, mask: pa.Array) -> list[dict]:
    """For the new version's lineage rows ``mask`` selects, those that replaced a base record at the same locator:
    ``[{"locator": "230", "digest": hex, "label": str, "base_digest": hex, "base_label": str}]`` in the new
    manifest's order,
    one per locator held by exactly one selected record and exactly one base record the candidate lacks
    (``removals.lacked``, of the base rows the diff found removed: ``DiffReport.delta["base_removed"]``); then those
    left that ``gate.replaced_content`` pairs by content with a lacked base record at another row (an edit written
    elsewhere, attack review 32a, A32a-4), each with that record's row as ``base_locator``. Empty when more than
    ``MAX_PAIRED`` rows are selected or the diff read no locators or no removed rows (a signed delta's)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.gate.removals import lacked

    rows = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
    records, removed = ctx.diff.records, ctx.diff.delta.get("base_removed")
    if not len(rows) or len(rows) > MAX_PAIRED or records is None or records.fetch is None or removed is None:
        return []
    added = [str(loc) for loc in records.fetch(rows.astype(np.int64))[0]]
    digests = ctx.lineage.column("digest").take(rows).to_pylist()
    labels = ctx.lineage.column("label").take(rows).to_pylist()
    found = removed.columns(["digest", "label", "locator"])
    types = {"digest": pa.binary(32), "label": pa.string(), "locator": pa.string()}
    base = pa.table({name: pa.array(found[name], t) for name, t in types.items()})
    all_gone = base.filter(lacked(ctx, base.column("digest")))
    wanted = {loc for loc, n in Counter(added).items() if n == 1}
    gone = all_gone.filter(pc.is_in(all_gone.column("locator"), value_set=_strings(wanted)))
    held = Counter(gone.column("locator").to_pylist())
    removed = {
        loc: (d, label)
        for d, label, loc in zip(*(gone.column(c).to_pylist() for c in ("digest", "label", "locator")))
        if held[loc] == 1
    }
    paired = [
        {
            "locator": loc,
            "digest": d.hex(),
            "label": label,
            "base_digest": removed[loc][0].hex(),
            "base_label": removed[loc][1],
        }
        for loc, d, label in zip(added, digests, labels)
        if loc in removed
    ]
    return paired + _moved(ctx, list(zip(added, digests, labels)), all_gone, set(removed))


def _moved(ctx: GateContext, added: list[tuple[str, bytes, str]], gone: pa.Table, at_rows: set[str]) -> list[dict]:
    """The pairs ``gate.replaced_content`` finds by content among ``added`` and ``gone`` records no row pairing
    matched (attack review 32a, A32a-4: an edit written at another row), each with its base row as
    ``base_locator``."""
    from provenance.gate.replaced_content import paired_by_content

    unpaired = [a for a in added if a[0] not in at_rows]
    lacked = [
        (loc, d, label)
        for d, label, loc in zip(*(gone.column(c).to_pylist() for c in ("digest", "label", "locator")))
        if loc not in at_rows
    ]
    pairs = paired_by_content(ctx, unpaired, lacked)
    return [
        {
            "locator": loc,
            "digest": d.hex(),
            "label": label,
            "base_digest": pairs[d][1].hex(),
            "base_label": pairs[d][2],
            "base_locator": pairs[d][0],
        }
        for loc, d, label in unpaired
        if d in pairs
    ]


def _strings(values: set[str]) -> pa.Array:
    import pyarrow as pa

    return pa.array(sorted(values), pa.string())


def replaced_text(replaced: list[dict], shown: int = 3) -> str:
    """``row 230 (base record 1a2b3c4d5e6f)``, or ``row 230 (base record 1a2b3c4d5e6f, relabeled Chinstrap ->
    Adelie)`` when the pair's labels differ (an edit that also flips the label: attack review 31d, A31d-4), with
    `` at row 130, moved`` after the digest for a pair found by content (attack review 32a, A32a-4), the
    first ``shown`` of them and ``and N more`` (locators and labels are strings whoever writes the data chose:
    ``escaping.visible``)."""
    from provenance.changes import where
    from provenance.escaping import visible

    first = [
        f"{where(visible(str(r['locator'])))} (base record {str(r['base_digest'])[:12]}{_moved_text(r)}"
        f"{relabel_text(r)})"
        for r in replaced[:shown]
    ]
    more = f" and {len(replaced) - shown} more" if len(replaced) > shown else ""
    return ", ".join(first) + more


def _moved_text(r: dict) -> str:
    """`` at row 130, moved`` when ``r`` was paired by content with a base record at another row, else ""."""
    from provenance.changes import where
    from provenance.escaping import visible

    return f" at {where(visible(str(r['base_locator'])))}, moved" if "base_locator" in r else ""


def relabeled(replaced: list[dict]) -> list[dict]:
    """Those of ``replaced`` (``replaced_in_place``'s rows) whose label differs from the base record's."""
    return [r for r in replaced if "label" in r and r["label"] != r.get("base_label")]


def relabel_text(r: dict) -> str:
    """``, relabeled Chinstrap -> Adelie`` when ``r`` (one of ``replaced_in_place``'s rows) changed its label, else
    ""."""
    from provenance.escaping import visible

    if not relabeled([r]):
        return ""
    return f", relabeled {visible(str(r['base_label']))} -> {visible(str(r['label']))}"
