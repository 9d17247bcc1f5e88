"""Record-level diff of two manifests, as one streaming, sorted merge.

Both manifests are sorted by (digest, label), so the diff walks them side by side in
windows of about ``WINDOW_ROWS`` (64k) rows, one read batch per side: each window holds every row of each digest it touches
on both sides, and is compared with numpy on the raw 32-byte digests. Memory follows the
window and the change, never the dataset; nothing but manifests is read.

Counting rules (all counts are exact):
- a *record* is a digest; ``*_rows`` counts manifest rows (copies included);
- ``added``/``removed``: digests only in the new/base version;
- ``relabeled``: digests in both whose set of labels differs (old -> new);
- ``conflicting_labels``: digests carrying more than one label inside one version;
- ``duplicates``: rows beyond the first of each digest; ``duplicates_added`` counts the
  copies the new version has beyond what the base had (beyond one for a new digest);
- ``source_changed``: digests in both whose set of sources differs;
- lineage ``transitions``: digests in both whose lineage status differs (a digest's status
  is the worst of its rows'; a version without lineage is all ``unattributed``).

Lineage statuses are joined after the merge (``delta.statuses``): the merge records each
change's manifest rows and each digest with several rows, which is all they need.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from provenance.delta.digests import locate
from provenance.delta.statuses import apply_statuses
from provenance.delta.windows import Groups, Interner, SideStream, Window

DEFAULT_LIMIT = 1000  # records listed per kind of change; counts are never limited


@dataclass
class Changes:
    """What the merge found: exact counts, per-record change arrays, and listed examples."""

    labels: Interner
    sources: Interner
    limit: int = DEFAULT_LIMIT
    rows: dict = field(default_factory=lambda: {"base": 0, "new": 0})
    digests: dict = field(default_factory=lambda: {"base": 0, "new": 0})
    label_rows: dict = field(default_factory=lambda: {"base": Counter(), "new": Counter()})
    source_rows: dict = field(default_factory=lambda: {"base": Counter(), "new": Counter()})
    conflicting: dict = field(default_factory=lambda: {"base": 0, "new": 0})
    duplicates: dict = field(default_factory=lambda: {"base": 0, "new": 0})
    duplicates_added: int = 0
    duplicates_added_by_source: Counter = field(default_factory=Counter)
    common_by_source: Counter = field(default_factory=Counter)  # digests in both, by new source
    common_by_label: Counter = field(default_factory=Counter)  # digests in both, by base label
    unchanged: int = 0
    rekeyed: int = 0  # removed/added pairs re-keyed by a schema change (delta/schema.py)
    rekeyed_relabeled: int = 0  # of those, pairs whose labels differ
    rekeyed_by: str | None = None  # how they were paired: "content" (delta/bridge.py) or "locator"
    rekeyed_note: str | None = None  # why not by content, when by locator
    source_changed: int = 0
    relabel_pairs: Counter = field(default_factory=Counter)  # (old, new) label text -> digests
    relabeled_by_source: Counter = field(default_factory=Counter)
    transitions: Counter = field(default_factory=Counter)  # "old -> new" lineage status of digests in both
    # change arrays (O(change)): digests with their first label/source id and row count
    arrays: dict = field(default_factory=dict)
    examples: dict = field(
        default_factory=lambda: {
            k: [] for k in ("added", "removed", "relabeled", "conflicting", "duplicates", "source_changed")
        }
    )

    def count(self, kind: str) -> int:
        """How many digests the change arrays hold for ``kind`` (``added``, ``removed``, ``relabeled``, ...); 0 if none."""
        parts = self.arrays.get(kind)
        return int(sum(len(p["digests"]) for p in parts)) if parts else 0

    def array(self, kind: str, column: str) -> np.ndarray:
        """One column of ``kind``'s change arrays, concatenated over windows (digest order).

        Columns: ``digests`` (S32), ``label``/``source`` (int32 ``Interner`` ids), ``rows``
        (int64 copies), and per kind ``status`` (int8 rank), ``first_row`` (int64 manifest
        row), ``old_label``, ``old_source``, ``base_rows``, ``new_rows``. With no change of
        that kind: an empty S32 array for ``digests``, an empty int64 array otherwise.
        Raises ``KeyError`` for a column the kind does not have.
        """
        parts = self.arrays.get(kind) or []
        if not parts:
            return np.zeros(0, "S32" if column == "digests" else np.int64)
        return np.concatenate([p[column] for p in parts])

    def _push(self, kind: str, **columns: np.ndarray) -> None:
        if len(next(iter(columns.values()))):
            self.arrays.setdefault(kind, []).append(columns)

    def _example(self, kind: str, make) -> bool:
        if self.limit and len(self.examples[kind]) >= self.limit:
            return False
        self.examples[kind].append(make())
        return True


def _label_set(window: Window, g: Groups, i: int, labels: Interner) -> list[str]:
    s, c = int(g.starts[i]), int(g.counts[i])
    return sorted({labels.values[x] for x in window.labels[s : s + c].tolist()})


def _source_set(window: Window, g: Groups, i: int, sources: Interner) -> list:
    s, c = int(g.starts[i]), int(g.counts[i])
    return sorted(
        {sources.values[x] for x in window.sources[s : s + c].tolist()}, key=lambda v: (v is not None, v or "")
    )


def _row(window: Window, index: int, side: str, labels: Interner, sources: Interner) -> dict:
    """A listed record; its locator and batch are filled in after the merge (``fill_rows``)."""
    return {
        "digest": window.digests[index : index + 1].tobytes().hex(),
        "label": labels.values[window.labels[index]],
        "source": sources.values[window.sources[index]],
        "batch": None,
        "locator": None,
        "_at": (side, window.first_row + index),
    }


def _bincount(counter: Counter, ids: np.ndarray, values: list, weights: np.ndarray | None = None) -> None:
    if not len(ids):
        return
    counts = np.bincount(ids, weights=weights, minlength=len(values))
    for i in np.flatnonzero(counts):
        counter[values[i]] += int(counts[i])


def compare_window(a: Window, b: Window, out: Changes) -> None:
    """Compare one window of complete digest groups from each side; add to ``out``."""
    L, S = out.labels, out.sources
    for side, w in (("base", a), ("new", b)):
        out.rows[side] += len(w.digests)
        _bincount(out.label_rows[side], w.labels, L.values)
        _bincount(out.source_rows[side], w.sources, S.values)
    ga, gb = a.groups(), b.groups()
    for side, g, w in (("base", ga, a), ("new", gb, b)):
        out.digests[side] += len(g.digests)
        out.duplicates[side] += int((g.counts - 1).sum())
        out.conflicting[side] += int(g.multi_label.sum())
        repeated = np.flatnonzero(g.counts > 1)  # their lineage status is the worst of their rows'
        out._push(f"repeated_{side}", first_row=w.first_row + g.starts[repeated], rows=g.counts[repeated])
    in_a = locate(gb.digests, ga.digests)  # for each new group, its base group or -1
    in_b = np.full(len(ga.digests), -1, np.int64)
    found = np.flatnonzero(in_a >= 0)
    in_b[in_a[found]] = found

    for kind, window, groups, side, only in (
        ("added", b, gb, "new", np.flatnonzero(in_a < 0)),
        ("removed", a, ga, "base", np.flatnonzero(in_b < 0)),
    ):
        out._push(
            kind,
            digests=groups.digests[only],
            label=groups.label[only],
            source=groups.source[only],
            rows=groups.counts[only],
            first_row=window.first_row + groups.starts[only],
        )
        for i in only[: max(0, out.limit - len(out.examples[kind])) if out.limit else None].tolist():
            out._example(
                kind,
                lambda: (
                    _row(window, int(groups.starts[i]), side, L, S)
                    | {"copies": int(groups.counts[i]), "labels": _label_set(window, groups, i, L)}
                ),
            )

    both_b = np.flatnonzero(in_a >= 0)
    both_a = in_a[both_b]
    _bincount(out.common_by_source, gb.source[both_b], S.values)
    _bincount(out.common_by_label, ga.label[both_a], L.values)

    # relabels: single-label groups compare ids; groups with several labels compare sets
    simple = ~ga.multi_label[both_a] & ~gb.multi_label[both_b]
    relabeled = simple & (ga.label[both_a] != gb.label[both_b])
    for k in np.flatnonzero(~simple).tolist():
        if _label_set(a, ga, int(both_a[k]), L) != _label_set(b, gb, int(both_b[k]), L):
            relabeled[k] = True
    rel = np.flatnonzero(relabeled)
    ia, ib = both_a[rel], both_b[rel]
    one = simple[rel]  # single label on both sides: count (old, new) pairs without Python loops
    keys = ga.label[ia[one]].astype(np.int64) * len(L) + gb.label[ib[one]]
    for key, n in zip(*(x.tolist() for x in np.unique(keys, return_counts=True))):
        out.relabel_pairs[(L.values[key // len(L)], L.values[key % len(L)])] += n
    for i_a, i_b in zip(ia[~one].tolist(), ib[~one].tolist()):
        out.relabel_pairs[("|".join(_label_set(a, ga, i_a, L)), "|".join(_label_set(b, gb, i_b, L)))] += 1
    _bincount(out.relabeled_by_source, gb.source[ib], S.values)
    out._push(
        "relabeled",
        digests=gb.digests[ib],
        label=gb.label[ib],
        old_label=ga.label[ia],
        source=gb.source[ib],
        old_source=ga.source[ia],
        rows=gb.counts[ib],
        first_row=b.first_row + gb.starts[ib],
        base_rows=ga.counts[ia],
    )
    for i_a, i_b in zip(ia.tolist(), ib.tolist()):
        if not out._example(
            "relabeled",
            lambda: (
                _row(b, int(gb.starts[i_b]), "new", L, S)
                | {
                    "old_labels": _label_set(a, ga, i_a, L),
                    "new_labels": _label_set(b, gb, i_b, L),
                    "old_source": S.values[ga.source[i_a]],
                }
            ),
        ):
            break

    # source changes
    simple_src = ~ga.multi_source[both_a] & ~gb.multi_source[both_b]
    changed_src = simple_src & (ga.source[both_a] != gb.source[both_b])
    for k in np.flatnonzero(~simple_src).tolist():
        if _source_set(a, ga, int(both_a[k]), S) != _source_set(b, gb, int(both_b[k]), S):
            changed_src[k] = True
    out.source_changed += int(changed_src.sum())
    out.unchanged += int((~relabeled & ~changed_src).sum())
    sc = np.flatnonzero(changed_src)
    out._push(
        "source_changed",
        digests=gb.digests[both_b[sc]],
        source=gb.source[both_b[sc]],
        old_source=ga.source[both_a[sc]],
        label=gb.label[both_b[sc]],
        rows=gb.counts[both_b[sc]],
    )
    for k in sc.tolist():
        i_a, i_b = int(both_a[k]), int(both_b[k])
        if not out._example(
            "source_changed",
            lambda: (
                _row(b, int(gb.starts[i_b]), "new", L, S)
                | {"old_sources": _source_set(a, ga, i_a, S), "new_sources": _source_set(b, gb, i_b, S)}
            ),
        ):
            break

    # conflicting labels inside the new version, and duplicate copies it added
    for i in np.flatnonzero(gb.multi_label).tolist():
        base_labels = _label_set(a, ga, int(in_a[i]), L) if in_a[i] >= 0 else []
        if not out._example(
            "conflicting",
            lambda: (
                _row(b, int(gb.starts[i]), "new", L, S)
                | {"labels": _label_set(b, gb, i, L), "base_labels": base_labels}
            ),
        ):
            break
    conf = np.flatnonzero(gb.multi_label)
    out._push(
        "conflicting", digests=gb.digests[conf], label=gb.label[conf], source=gb.source[conf], rows=gb.counts[conf]
    )
    base_copies = np.where(in_a >= 0, ga.counts[np.maximum(in_a, 0)] if len(ga.counts) else 0, 1)
    extra = np.maximum(0, gb.counts - np.maximum(base_copies, 1))
    out.duplicates_added += int(extra.sum())
    dup = np.flatnonzero(extra)
    _bincount(out.duplicates_added_by_source, gb.source[dup], S.values, extra[dup].astype(np.float64))
    out._push(
        "duplicates",
        digests=gb.digests[dup],
        label=gb.label[dup],
        source=gb.source[dup],
        rows=extra[dup],
        first_row=b.first_row + gb.starts[dup],
        new_rows=gb.counts[dup],
        base_rows=np.where(in_a[dup] >= 0, base_copies[dup], 0),
    )
    for i in dup.tolist():
        if not out._example(
            "duplicates",
            lambda: (
                _row(b, int(gb.starts[i]), "new", L, S)
                | {"copies": int(gb.counts[i]), "base_copies": int(base_copies[i]) if in_a[i] >= 0 else 0}
            ),
        ):
            break


def merge(
    base: Iterator[pa.RecordBatch],
    new: Iterator[pa.RecordBatch],
    base_name: str,
    new_name: str,
    limit: int = DEFAULT_LIMIT,
    base_status: Iterator[np.ndarray] | None = None,
    new_status: Iterator[np.ndarray] | None = None,
) -> Changes:
    """Walk two sorted manifests (as streams of record batches) and compare them, lineage included.

    ``*_status`` give each side's lineage status ranks (int8, ``LINEAGE_STATUSES``) in
    manifest row order, chunked any way; None for a version without lineage (all
    unattributed). Raises VerificationError for an unsorted manifest or a lineage whose
    length differs from its manifest's. ``merge_manifests`` + ``statuses.apply_statuses``,
    for callers that have the statuses at hand.
    """
    out = merge_manifests(base, new, base_name, new_name, limit)
    base_ranks, new_ranks = (
        None if s is None else np.concatenate([np.zeros(0, np.int8), *s]) for s in (base_status, new_status)
    )
    apply_statuses(out, base_ranks, new_ranks, base_name, new_name)
    return out


def merge_manifests(
    base: Iterator[pa.RecordBatch], new: Iterator[pa.RecordBatch], base_name: str, new_name: str, limit: int
) -> Changes:
    """Walk two sorted manifests (as streams of record batches) and compare them.

    Lineage is not read here: the result records what ``statuses.apply_statuses`` needs to
    add it (each change's manifest rows, each repeated digest's rows), so the lineage
    objects can be hashed and read meanwhile. Raises VerificationError for an unsorted manifest.
    """
    labels, sources = Interner(), Interner(reserve_none=True)
    out = Changes(labels, sources, limit)
    a = SideStream(base, base_name, labels, sources)
    b = SideStream(new, new_name, labels, sources)
    while True:
        for s in (a, b):  # each live side holds at least one row, or is done
            while not s.exhausted and s.last_digest() is None:
                s.read()
        live = [last for s in (a, b) if not s.exhausted and (last := s.last_digest()) is not None]
        if not live:
            compare_window(a.take_below(None), b.take_below(None), out)
            return out
        # Rows below the smaller last digest are complete on both sides: compare them.
        bound = min(live)
        compare_window(a.take_below(bound), b.take_below(bound), out)
        for s in (a, b):  # the side(s) that set the bound need more rows to finish that digest
            last = s.last_digest()
            if not s.exhausted and (last is None or last <= bound):
                s.read()


def fill_rows(changes: Changes, fetch_base, fetch_new) -> None:
    """Give every listed record its locator and batch, read for those rows only.

    ``fetch_*(rows)`` returns (locators, batches) for sorted unique manifest row numbers.
    """
    wanted: dict[str, set[int]] = {"base": set(), "new": set()}
    items = [item for kind in changes.examples.values() for item in kind]
    for item in items:
        wanted[item["_at"][0]].add(item["_at"][1])
    found = {}
    for side, fetch in (("base", fetch_base), ("new", fetch_new)):
        rows = np.array(sorted(wanted[side]), dtype=np.int64)
        if len(rows):
            locators, batches = fetch(rows)
            found.update({(side, int(r)): (loc, bat) for r, loc, bat in zip(rows.tolist(), locators, batches)})
    for item in items:
        item["locator"], item["batch"] = found[item.pop("_at")]
