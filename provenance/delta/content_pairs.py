"""Pair the records a schema change re-keyed by content, and account for each pair as the merge would.

``delta.bridge`` re-encodes the new side's added records under the base's signed types; a
record whose re-encoded digest is a removed base digest is that base record. Each such pair
then counts exactly as a digest both versions hold counts in ``delta.merge``: unchanged when
its labels and sources agree (out of the delta: nothing to score), a relabel when its label
set differs (the ``relabeled`` arrays, ``relabel_pairs``, the relabel rate of its source:
scored as a relabel, whatever row either side put it at), a source change, a lineage
transition, and copies beyond the base's. Records that pair with nothing stay added (and
their base partners removed): their content changed beyond the cast.

A version that **dropped** a column (``bridge.dropped``) re-keys every record with nothing to cast:
the base's removed records are read again as well (each re-hashed against its signed digest) and
both sides are re-encoded on the columns they share (``bridge.on_shared_columns``). Records equal
on those columns pair one to one, those of the same label first; a copy beyond the base's count
stays added, and a pair whose labels differ is a relabel (newcomer review 32).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from provenance.change_pairing import pair_same_label_first
from provenance.delta.bridge import bridged_digests, dropped, on_shared_columns
from provenance.delta.digests import locate
from provenance.delta.merge import Changes
from provenance.delta.statuses import LINEAGE_STATUSES

COLUMNS = ("digests", "label", "source", "rows", "first_row", "status")
Read = Callable[[list[str], list[bytes]], pa.Table]


class BaseNotReread(Exception):
    """The base's records a dropped column re-keyed could not be read again (gone, overwritten, not re-readable):
    the records are then paired by locator, as before, and the message says why."""


def _sorted_unique_owners(candidates: np.ndarray, exact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted re-encoded digests, the added index each came from), for exact re-encodings whose
    digest no other added record shares (two records re-encoding alike pair with neither)."""
    idx = np.flatnonzero(exact)
    c = candidates[idx]
    order = np.argsort(c, kind="stable")
    c, idx = c[order], idx[order]
    shared = np.zeros(len(c), bool)
    if len(c) > 1:
        same = c[1:] == c[:-1]
        shared[1:] |= same
        shared[:-1] |= same
    return c[~shared], idx[~shared]


def _label_sets(side, labels: list, first: np.ndarray, rows: np.ndarray, ids: np.ndarray) -> list[frozenset]:
    """Each entry's set of labels: its one label, or, for a digest with several rows, read from the manifest."""
    out = [frozenset([labels[i]]) for i in ids.tolist()]
    many = np.flatnonzero(rows > 1)
    if len(many):
        wanted = np.concatenate([np.arange(first[k], first[k] + rows[k]) for k in many.tolist()])
        order = np.argsort(wanted, kind="stable")
        got = side.take(wanted[order], ["label"])["label"]
        values = np.empty(len(wanted), object)
        values[order] = got
        at = 0
        for k in many.tolist():
            out[k] = frozenset(values[at : at + int(rows[k])].tolist())
            at += int(rows[k])
    return out


def pair_by_content(
    changes: Changes, base, new, read: Read, read_base: Read | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pair added with removed records by re-encoded content; account for each pair (module doc).

    ``base``/``new`` are the diff's sides (their signed ``schema``, ``take``); ``read(locators,
    digests)`` gives the new side's content columns of those records, each re-hashed against its
    digest (raises ``VerificationError``/``InputError`` when it cannot); ``read_base`` the base's, read
    only when the new side dropped a column (none given: nothing pairs then). Returns the paired
    digests (``S32``) of the base side and of the new side, and takes them out of
    ``added``/``removed``. Raises :class:`BaseNotReread` when the base's records cannot be read again."""
    A = {c: changes.array("added", c) for c in COLUMNS}
    R = {c: changes.array("removed", c) for c in COLUMNS}
    none = np.zeros(0, "S32")
    if not len(A["digests"]) or not len(R["digests"]):
        return none, none
    table = read(_locators(new, A["first_row"]), _full(A["digests"]))
    gone = dropped(base.schema, new.schema)
    if gone:
        if read_base is None:
            return none, none
        ia, ir = _pair_on_shared_columns(base, new, table, gone, A, R, read_base)
    else:
        candidates, exact = bridged_digests(table, base.schema, new.schema)
        needles, owners = _sorted_unique_owners(candidates, exact)
        pos = locate(needles, R["digests"])
        hit = pos >= 0
        ia, ir = owners[hit], pos[hit]
    if not len(ia):
        return none, none
    keep = np.argsort(A["digests"][ia], kind="stable")  # the pairs in the new digests' order
    ia, ir = ia[keep], ir[keep]
    _account(changes, base, new, {k: v[ia] for k, v in A.items()}, {k: v[ir] for k, v in R.items()})
    gone_digests, came = R["digests"][ir], A["digests"][ia]
    drop(changes, "removed", gone_digests)
    drop(changes, "added", came)
    return gone_digests, came


def _locators(side, first_row: np.ndarray) -> list[str]:
    """The locators of a side's manifest rows ``first_row`` (any order), in that order."""
    order = np.argsort(first_row, kind="stable")
    located = np.empty(len(order), object)
    located[order] = side.take(first_row[order], ["locator"])["locator"]
    return [str(x) for x in located.tolist()]


def _full(digests: np.ndarray) -> list[bytes]:
    return [d.ljust(32, b"\x00") for d in digests.tolist()]


def _pair_on_shared_columns(
    base, new, table: pa.Table, gone: list[str], A: dict, R: dict, read_base: Read
) -> tuple[np.ndarray, np.ndarray]:
    """(added positions, removed positions) of records equal on the columns both sides share: one to one, the
    same label first, then any (a relabel). Both sides' records are read from their signed data and re-hashed."""
    new_keys, exact, old_keys = shared_column_keys(
        base.schema,
        new.schema,
        gone,
        table,
        lambda: read_base(_locators(base, R["first_row"]), _full(R["digests"])),
        base.name,
    )
    at_new = np.flatnonzero(exact)
    _, ids = np.unique(np.concatenate([new_keys[at_new], old_keys]), return_inverse=True)
    new_ids, old_ids = ids[: len(at_new)].astype(np.int64), ids[len(at_new) :].astype(np.int64)
    ir, new_at = pair_same_label_first(
        old_ids, R["label"].astype(np.int64), new_ids, A["label"][at_new].astype(np.int64)
    )
    return at_new[new_at], ir


def shared_column_keys(
    base_schema: dict,
    new_schema: dict,
    gone: list[str],
    new_table: pa.Table,
    read_base: Callable[[], pa.Table],
    base_name: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sides' records re-encoded on the columns they share, when the new side dropped the base's columns ``gone``:
    ``(new keys, which of them re-encode without loss, base keys)``, keys as ``S32`` digests. ``new_table`` holds the
    new side's records; ``read_base()`` reads the base's (each re-hashed against its signed digest). Raises
    :class:`BaseNotReread` when ``read_base`` raises ``InputError`` (gone, overwritten, not re-readable by design);
    ``prov diff`` and ``prov status`` (``status_rekey``) then pair by locator and say why."""
    from provenance.errors import InputError

    shared = on_shared_columns(base_schema, gone)
    try:
        old_table = read_base()
    except InputError as exc:  # gone, overwritten, not re-readable by design: no worse than pairing by locator
        raise BaseNotReread(f"the records of {base_name} could not be read again ({exc})") from exc
    new_keys, exact = bridged_digests(new_table, shared, new_schema)
    old_keys, _ = bridged_digests(old_table, shared, shared)
    return new_keys, exact, old_keys


def drop(changes: Changes, kind: str, digests: np.ndarray) -> None:
    """Take ``digests`` out of ``kind``'s change arrays and listed examples."""
    parts = changes.arrays.get(kind) or []
    changes.arrays[kind] = [
        {k: v[~np.isin(p["digests"], digests)] for k, v in p.items()} for p in parts if len(p["digests"])
    ]
    hexes = {d.ljust(32, b"\x00").hex() for d in digests.tolist()}
    changes.examples[kind] = [e for e in changes.examples[kind] if e["digest"] not in hexes]


def _account(changes: Changes, base, new, a: dict, r: dict) -> None:
    """Count the pairs (``a``: new side's entries, ``r``: their base partners) as digests in both versions."""
    L, S = changes.labels.values, changes.sources.values
    new_sets = _label_sets(new, L, a["first_row"], a["rows"], a["label"])
    old_sets = _label_sets(base, L, r["first_row"], r["rows"], r["label"])
    relabeled = np.array([x != y for x, y in zip(old_sets, new_sets)], dtype=bool)
    moved_source = a["source"] != r["source"]
    for k in range(len(relabeled)):
        changes.common_by_source[S[a["source"][k]]] += 1
        changes.common_by_label[L[r["label"][k]]] += 1
    changes.unchanged += int((~relabeled & ~moved_source).sum())
    for before, after in zip(r["status"].tolist(), a["status"].tolist()):
        if before != after:
            changes.transitions[f"{LINEAGE_STATUSES[before]} -> {LINEAGE_STATUSES[after]}"] += 1
    rel = np.flatnonzero(relabeled)
    for k in rel.tolist():
        old, now = "|".join(sorted(map(str, old_sets[k]))), "|".join(sorted(map(str, new_sets[k])))
        changes.relabel_pairs[(old, now)] += 1
        changes.relabeled_by_source[S[a["source"][k]]] += 1
        changes._example(
            "relabeled",
            lambda k=k: (
                _listed(changes, a, k)
                | {
                    "old_labels": sorted(map(str, old_sets[k])),
                    "new_labels": sorted(map(str, new_sets[k])),
                    "old_source": S[r["source"][k]],
                }
            ),
        )
    mine = ("digests", "label", "source", "rows", "first_row", "status")
    _merge_into(
        changes,
        "relabeled",
        _picked(a, r, rel, mine, {"old_label": "label", "old_source": "source", "base_rows": "rows"}),
    )
    sc = np.flatnonzero(moved_source)
    changes.source_changed += len(sc)
    for k in sc.tolist():
        changes._example(
            "source_changed",
            lambda k=k: (
                _listed(changes, a, k) | {"old_sources": [S[r["source"][k]]], "new_sources": [S[a["source"][k]]]}
            ),
        )
    _merge_into(
        changes, "source_changed", _picked(a, r, sc, ("digests", "source", "label", "rows"), {"old_source": "source"})
    )
    _copies_against_base(changes, a, r)
    changes.rekeyed = len(relabeled)
    changes.rekeyed_relabeled = len(rel)


def _picked(a: dict, r: dict, at: np.ndarray, mine: tuple[str, ...], theirs: dict[str, str]) -> dict[str, np.ndarray]:
    """Change-array columns of the pairs ``at``: ``mine`` from the new side, ``theirs`` (name -> column) from the base."""
    return {c: a[c][at] for c in mine} | {name: r[c][at] for name, c in theirs.items()}


def _listed(changes: Changes, a: dict, k: int) -> dict:
    """A listed record of the new side, as ``merge._row`` makes one (locator and batch filled in later)."""
    return {
        "digest": a["digests"][k : k + 1].tobytes().ljust(32, b"\x00").hex(),
        "label": changes.labels.values[a["label"][k]],
        "source": changes.sources.values[a["source"][k]],
        "batch": None,
        "locator": None,
        "_at": ("new", int(a["first_row"][k])),
    }


def _merge_into(changes: Changes, kind: str, extra: dict[str, np.ndarray]) -> None:
    """Add entries to ``kind``'s change arrays, keeping them one part in digest order (reports search them)."""
    if not len(extra["digests"]):
        return
    parts = [p for p in changes.arrays.get(kind) or [] if len(p["digests"])] + [extra]
    joined = {c: np.concatenate([p[c] for p in parts]) for c in extra}
    order = np.argsort(joined["digests"], kind="stable")
    changes.arrays[kind] = [{c: v[order] for c, v in joined.items()}]


def _copies_against_base(changes: Changes, a: dict, r: dict) -> None:
    """A paired record's copies count beyond its base partner's, not beyond one (the merge took it as new)."""
    parts = changes.arrays.get("duplicates") or []
    if not parts or not np.any(a["rows"] > 1):
        return
    partner_rows = dict(zip(a["digests"].tolist(), r["rows"].tolist()))
    S = changes.sources.values
    gone: set[bytes] = set()
    for part in parts:
        for i, d in enumerate(part["digests"].tolist()):
            if d not in partner_rows:
                continue
            base_rows = int(partner_rows[d])
            extra = max(0, int(part["new_rows"][i]) - max(base_rows, 1))
            change = extra - int(part["rows"][i])
            changes.duplicates_added += change
            changes.duplicates_added_by_source[S[part["source"][i]]] += change
            part["rows"][i], part["base_rows"][i] = extra, base_rows
            if not extra:
                gone.add(d)
    changes.duplicates_added_by_source = +changes.duplicates_added_by_source  # sources left with no copy
    if gone:
        changes.arrays["duplicates"] = [
            {c: v[~np.isin(p["digests"], np.array(sorted(gone), dtype="S32"))] for c, v in p.items()} for p in parts
        ]
    hexes = {d.ljust(32, b"\x00").hex(): partner_rows[d] for d in partner_rows}
    examples = []
    for e in changes.examples["duplicates"]:
        if e["digest"] in hexes:
            e["base_copies"] = int(hexes[e["digest"]])
            if e["copies"] <= max(e["base_copies"], 1):
                continue
        examples.append(e)
    changes.examples["duplicates"] = examples
