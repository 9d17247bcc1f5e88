"""The signed delta object: a version's record-level change against its parent, written at commit.

A commit with a parent merges the two manifests once (``merge.merge_manifests``, the very
merge ``prov diff`` runs) and stores what the merge found as a content-addressed Parquet
object in ``.prov/objects/``; the version's signed predicate names it by SHA-256 with the
parent it is against (``delta: {parent: {version, merkleRoot}, sha256, mediaType, rows,
added, removed, relabeled}``). ``prov diff PARENT CHILD`` then hashes this object (O(change))
instead of hashing and merging both whole manifests (``compare.diff_versions``), and the
report is byte for byte the merge's (tested against it).

Layout (``DELTA_FORMAT``): one row per entry of the merge's change arrays, ``part`` naming
the array (``added``, ``removed``, ``relabeled``, ``source_changed``, ``conflicting``,
``duplicates``, ``repeated_base``, ``repeated_new``), each part in digest order as the merge
produced it, then ``part = "row"``: every new-manifest row of an added, relabeled or copied
record (``first_row`` its row number; label, source, locator and batch), which is what
detection and the report's listed records read of the new manifest. Labels and sources are
ids into the string tables of the footer's ``prov.delta`` JSON, which also holds the merge's
whole-version counts and its first ``LISTED_CAP`` listed records of each kind (locators and batches
filled). A table's delta then has ``part = "content"`` rows and a ``content`` struct column: the
records ``--detect`` scores, with their content (``delta_content``). Recomputed by ``prov verify``
and ``prov fsck``: ``delta_check``.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from provenance.delta import delta_content
from provenance.delta.delta_content import Content
from provenance.delta.merge import Changes, fill_rows, merge_manifests
from provenance.delta.signed_objects import SignedParquet, parquet_take
from provenance.delta.statuses import row_runs
from provenance.delta.windows import Interner
from provenance.errors import InputError, VerificationError

DELTA_FORMAT = "prov.delta/v1"
MEDIA_TYPE = "application/vnd.apache.parquet"
FORCE_MERGE_ENV = "PROV_DIFF_MERGE"  # "1": prov diff ignores signed delta objects (tests, bench)
META_KEY = b"prov.delta"
# Listed records kept per kind of change: a diff asking for more (--limit above it, or 0: all) merges.
LISTED_CAP = 10_000
# A change of more records than this (or than half the larger version) signs no delta: merging both
# manifests then costs about what the change does, and the object would be as large as a manifest.
MAX_CHANGED = 1_000_000
# each change array's columns, as merge.compare_window pushes them
KIND_COLUMNS = {
    "added": ("digests", "label", "source", "rows", "first_row"),
    "removed": ("digests", "label", "source", "rows", "first_row"),
    "relabeled": ("digests", "label", "old_label", "source", "old_source", "rows", "first_row", "base_rows"),
    "source_changed": ("digests", "source", "old_source", "label", "rows"),
    "conflicting": ("digests", "label", "source", "rows"),
    "duplicates": ("digests", "label", "source", "rows", "first_row", "new_rows", "base_rows"),
    "repeated_base": ("first_row", "rows"),
    "repeated_new": ("first_row", "rows"),
}
_IDS = ("label", "old_label", "source", "old_source")  # int32 Interner ids
_NUMBERS = ("rows", "first_row", "base_rows", "new_rows")
SCHEMA = pa.schema(
    [pa.field("part", pa.string(), nullable=False), pa.field("digest", pa.binary(32))]
    + [pa.field(c, pa.int32(), nullable=False) for c in _IDS]
    + [pa.field(c, pa.int64(), nullable=False) for c in _NUMBERS]
    + [pa.field("locator", pa.string()), pa.field("batch", pa.string())]
)
_COUNTERS = (
    "duplicates_added_by_source",
    "common_by_source",
    "common_by_label",
    "relabel_pairs",
    "relabeled_by_source",
)
_SIDED = ("rows", "digests", "conflicting", "duplicates")
_SIDED_COUNTERS = ("label_rows", "source_rows")
_SCALARS = ("duplicates_added", "unchanged", "source_changed")


def merge_parent(base: SideOpened, new: SideOpened) -> Changes:
    """The merge of two opened versions as ``prov diff`` merges them, ``LISTED_CAP`` records of each kind
    listed with their locators and batches. Raises ``VerificationError`` for an unsorted manifest or a
    lineage object shorter than its manifest."""
    changes = merge_manifests(base.batches(), new.batches(), base.name, new.name, LISTED_CAP)
    fill_rows(changes, base.fetch, new.fetch)
    return changes


def worth_signing(changes: Changes) -> bool:
    """Whether a change is small enough to sign as a delta object: at most ``_bound`` entries in all its
    change arrays together (source changes, conflicts and repeats count too), and at most as many rows of
    the new manifest (copies of one record are one entry but each its own row), so the object holds at
    most twice ``_bound`` rows (``MAX_CHANGED``, half the larger version)."""
    bound = _bound(changes.rows["base"], changes.rows["new"])
    entries = sum(len(changes.array(k, "rows")) for k in KIND_COLUMNS)
    return entries <= bound and len(delta_rows(changes)) <= bound


def _bound(base_rows: int, new_rows: int) -> int:
    return min(MAX_CHANGED, max(base_rows, new_rows) // 2)


class SideOpened:
    """One version's verified manifest object (and lineage object, where the diff names records by its
    batches' sources: ``attribution.side_uses_lineage_sources``), streamed as ``sides.version_side`` does."""

    def __init__(self, store, row: dict, pred: dict):
        from provenance.delta.attribution import attributed_batches, side_uses_lineage_sources
        from provenance.delta.signed_objects import LineageObject, ManifestObject

        self.manifest = ManifestObject(store, row)
        self.name = self.manifest.name
        self.origins: dict[str, set[str]] = {}
        self.opened: list[SignedParquet] = [self.manifest]
        self.manifest.verify()
        self.batches = self.manifest.batches
        lineage = (pred.get("lineage") or {}).get("object")
        if lineage and side_uses_lineage_sources(pred.get("sources"), True):
            signed = LineageObject(store, lineage, f"lineage of {row['tag']}", row["records"])
            self.opened.append(signed)
            signed.verify()
            self.batches = attributed_batches(self.manifest.batches, signed.reader, self.origins, signed.name)

    def fetch(self, rows: np.ndarray) -> tuple[list, list]:
        """Locators and batches of sorted manifest rows."""
        return self.manifest.fetch(rows)

    def close(self) -> None:
        """Close the objects' files."""
        for opened in self.opened:
            opened.close()


def delta_rows(changes: Changes) -> np.ndarray:
    """Sorted new-manifest row numbers of every added, relabeled and copied record's rows (int64)."""
    first = [changes.array(k, "first_row") for k in ("added", "relabeled", "duplicates")]
    count = [
        changes.array("added", "rows"),
        changes.array("relabeled", "rows"),
        changes.array("duplicates", "new_rows"),
    ]
    return np.unique(row_runs(np.concatenate(first), np.concatenate(count)))


def to_bytes(
    changes: Changes,
    new: pq.ParquetFile,
    parent: dict,
    origins: dict[str, dict] | None = None,
    content: Content | None = None,
) -> bytes:
    """The delta object's Parquet bytes for ``changes`` (from :func:`merge_parent`) against ``parent``
    (``{"version", "merkleRoot"}``), the new manifest's rows read from ``new``; ``origins``: each side's
    source names -> how each was named (``attribution``), as the merge found them; ``content``: the
    scored records and their content columns (``delta_content``), None for no content part.
    Deterministic."""
    parts: dict[str, list] = {c: [] for c in SCHEMA.names}
    for kind, columns in KIND_COLUMNS.items():
        n = changes.count(kind) if "digests" in columns else len(changes.array(kind, "rows"))
        if not n:
            continue
        parts["part"].append(pa.array([kind] * n, pa.string()))
        parts["digest"].append(
            _binary32(changes.array(kind, "digests")) if "digests" in columns else pa.nulls(n, pa.binary(32))
        )
        for c in _IDS + _NUMBERS:
            values = changes.array(kind, c) if c in columns else np.zeros(n, np.int64)
            parts[c].append(pa.array(np.asarray(values, np.int64)).cast(SCHEMA.field(c).type))
        parts["locator"].append(pa.nulls(n, pa.string()))
        parts["batch"].append(pa.nulls(n, pa.string()))
    rows = delta_rows(changes)
    if len(rows):
        found = parquet_take(new, rows, ["label", "source", "locator", "batch"])
        n = len(rows)
        labels, sources = changes.labels, changes.sources
        parts["part"].append(pa.array(["row"] * n, pa.string()))
        parts["digest"].append(pa.nulls(n, pa.binary(32)))
        ids = {
            "label": np.array([labels.ids[v] for v in found["label"]], np.int64),
            "source": np.array([sources.ids[v] for v in found["source"]], np.int64),
            "first_row": rows,
        }
        for c in _IDS + _NUMBERS:
            values = ids.get(c, np.zeros(n, np.int64))
            parts[c].append(pa.array(np.asarray(values, np.int64)).cast(SCHEMA.field(c).type))
        parts["locator"].append(pa.array(found["locator"], pa.string()))
        parts["batch"].append(pa.array(found["batch"], pa.string()))
    if content is not None:
        n = len(content.entries.digests)
        parts["part"].append(pa.array([delta_content.PART] * n, pa.string()))
        parts["digest"].append(_binary32(np.frombuffer(b"".join(content.entries.digests), "S32")))
        for c in _IDS + _NUMBERS:
            parts[c].append(pa.array(np.zeros(n, np.int64)).cast(SCHEMA.field(c).type))
        parts["locator"].append(pa.array(content.entries.locators, pa.string()))
        parts["batch"].append(pa.nulls(n, pa.string()))
    table = pa.table(
        {c: pa.concat_arrays(v) if v else pa.array([], SCHEMA.field(c).type) for c, v in parts.items()}, schema=SCHEMA
    )
    if content is not None and content.table is not None:
        before = table.num_rows - content.table.num_rows
        table = table.append_column(delta_content.FIELD, delta_content.content_column(before, content.table))
    meta = {
        "format": DELTA_FORMAT,
        "parent": parent,
        "labels": changes.labels.values,
        "sources": changes.sources.values,
        **{k: getattr(changes, k) for k in _SIDED + _SCALARS},
        **{k: {side: list(c.items()) for side, c in getattr(changes, k).items()} for k in _SIDED_COUNTERS},
        **{
            k: [[list(key) if isinstance(key, tuple) else key, n] for key, n in getattr(changes, k).items()]
            for k in _COUNTERS
        },
        "examples": changes.examples,
        "origins": {side: {k: sorted(v) for k, v in o.items()} for side, o in (origins or {}).items()},
        "content": None if content is None else {"columns": content.columns, "records": len(content.entries.digests)},
    }
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta, separators=(",", ":")).encode()})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=1 << 20)
    return sink.getvalue()


def predicate_fact(oid: str, data: bytes, changes: Changes, parent: dict) -> dict:
    """The ``delta`` fact a version signs: the object's SHA-256 (``oid``), the parent it is against, its row count and the change counts."""
    return {
        "parent": parent,
        "sha256": oid,
        "mediaType": MEDIA_TYPE,
        "rows": pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows,
        "added": changes.count("added"),
        "removed": changes.count("removed"),
        "relabeled": changes.count("relabeled"),
    }


def for_commit(
    store,
    parent_row: dict,
    row: dict,
    pred: dict,
    parent_pred: dict | None = None,
    content: str = delta_content.READ,
    parent_side: SideOpened | None = None,
) -> tuple[bytes, dict] | None:
    """The delta object of a version against ``parent_row`` (its verified ``versions`` row) and its
    signed fact without the object's name: ``(bytes, fact)``.

    ``content``: ``"read"`` (a commit) keeps the scored records' content read from the data
    (``delta_content``; a table's, up to ``CONTENT_CAP``); ``"listed"`` (verify, fsck) only the
    content part's rows, recomputed from the manifests; ``"none"`` no content part.

    ``row`` names the version's stored manifest object (``tag``, ``manifest_object``, ``records``)
    and ``pred`` its predicate as signed (``sources``, ``lineage``); ``parent_pred`` the parent's
    (default: its statement verified under the store's pins, as at commit); ``parent_side`` the parent
    already opened with that predicate (verify: its manifest hashed once for this and its Merkle root),
    which the caller closes. Both manifest objects (and the lineage objects the diff would read) are
    hashed against their names first (``VerificationError``). None when the change is too large to be worth a delta
    (``worth_signing``), or the row counts alone say so (more rows came or went than that bound).
    """
    from provenance.version_facts import verified_statement

    if abs(row["records"] - parent_row["records"]) > _bound(row["records"], parent_row["records"]):
        return None  # that many rows came or went: not worth a delta, and no merge to find out (a tiny parent)
    sides = []
    try:
        if parent_side is None:
            if parent_pred is None:
                parent_pred = verified_statement(store, parent_row)["predicate"]
            sides.append(SideOpened(store, parent_row, parent_pred))
        base = parent_side or sides[0]
        sides.append(new := SideOpened(store, row, pred))
        changes = merge_parent(base, new)
        if not worth_signing(changes):
            return None
        parent = {"version": parent_row["tag"], "merkleRoot": parent_row["merkle_root"]}
        assert new.manifest.parquet is not None
        part = delta_content.planned(store, row, pred, changes, new.manifest.parquet, content)
        data = to_bytes(changes, new.manifest.parquet, parent, {"base": base.origins, "new": new.origins}, part)
    finally:
        for side in sides:
            side.close()
    return data, {k: v for k, v in predicate_fact("", data, changes, parent).items() if k != "sha256"}


def signed_fact(fact, name: str, base_records: int, new_records: int) -> tuple[str, int]:
    """The object name and row count of a version's signed ``delta`` fact, checked before the object is opened.

    ``name`` names the version in errors; ``*_records`` are both versions' signed record counts. Raises
    ``VerificationError`` (exit 1) for a fact that is not an object naming a SHA-256 and a row count, or
    one of more rows than a delta between those counts may hold (twice ``_bound``: ``worth_signing``, plus one
    content row per scored record, at most ``delta_content.CONTENT_CAP``).
    """
    if not isinstance(fact, dict):
        raise VerificationError(f"{name}: its signed delta is not a JSON object")
    oid, rows = fact.get("sha256"), fact.get("rows")
    if not isinstance(oid, str) or not re.fullmatch("[0-9a-f]{64}", oid) or type(rows) is not int:
        raise VerificationError(f"{name}: its signed delta names no object and row count")
    bound = _bound(base_records, new_records)
    most = 2 * bound + min(delta_content.CONTENT_CAP, bound)  # and a content row per scored record, at most
    if not 0 <= rows <= most:
        raise VerificationError(
            f"{name}: its signed delta holds {rows} rows, more than a delta between {base_records} and "
            f"{new_records} records may hold ({most})"
        )
    return oid, rows


class DeltaObject(SignedParquet):
    """A version's signed delta object (hashed against its signed SHA-256 before a byte is parsed)."""

    # after ``load``: read(locators, digests, columns, encoding), the content part's reader (``delta_content``)
    content = None

    def check(self, schema: pa.Schema) -> None:
        """Raise ``VerificationError`` (exit 1) unless the columns are this format's."""
        fields = list(schema.remove_metadata())
        if (
            pa.schema(fields[: len(SCHEMA)]) != SCHEMA
            or not all(map(delta_content.is_content_field, fields[len(SCHEMA) :]))
            or len(fields) > len(SCHEMA) + 1
        ):
            raise VerificationError(f"{self.path}: {self.name} has columns {schema.names}, expected {SCHEMA.names}")

    def load(
        self, limit: int, records: dict[str, int], types: dict | None = None
    ) -> tuple[Changes, dict[str, np.ndarray], dict[str, dict[str, set[str]]]]:
        """The merge's ``Changes`` as the commit stored them (listed records cut to ``limit``, 1 to ``LISTED_CAP``),
        the new manifest's delta rows (``row`` → ``label``/``source`` ids, ``locator``, ``batch``), and
        each side's source names -> how each was named (``"base"``/``"new"``, ``Side.source_origins``).

        ``records``: both versions' signed record counts (``{"base", "new"}``), which bound the footer's
        JSON before it is parsed and the rows the object may name; ``types``: the new version's signed
        ``schema.types``, the only types its content part may hold (``delta_content.content_reader``). Raises ``VerificationError`` (exit 1)
        for an object that was altered, is not this format, or whose footer or rows are not a delta's
        (a key missing, a value of another type, an id naming no label or source, a row the version lacks).
        """
        from provenance.signing import bounded_json

        parquet = self.opened()
        try:
            values = 64 * (records["base"] + records["new"]) + 64 * LISTED_CAP * len(KIND_COLUMNS) + 1000
            assert self.schema is not None  # set by opened()
            meta = bounded_json(self.schema.metadata[META_KEY], self.name, "footer", values)
            if not isinstance(meta, dict) or meta.get("format") != DELTA_FORMAT:
                raise ValueError("format is not " + DELTA_FORMAT)
            table = parquet.read(columns=SCHEMA.names)  # the content part is read when detection asks
            parsed = self._parse(meta, table, limit, records)
            self.content = delta_content.content_reader(
                parquet, meta.get("content"), types, f"{self.path}: {self.name}", self.schema
            )
            return parsed
        except KeyError as exc:
            raise VerificationError(f"{self.path}: {self.name} is not a readable delta object (no {exc})") from exc
        except RecursionError as exc:
            raise VerificationError(
                f"{self.path}: {self.name} is not a readable delta object (nested too deep)"
            ) from exc
        except (TypeError, ValueError, AttributeError, IndexError, InputError) as exc:
            raise VerificationError(f"{self.path}: {self.name} is not a readable delta object ({exc!s:.200})") from exc
        except pa.ArrowException as exc:
            raise VerificationError(f"{self.path}: {self.name} is not a readable delta object ({exc})") from exc

    def _parse(self, meta: dict, table: pa.Table, limit: int, records: dict[str, int]):
        """:meth:`load` of a parsed footer and table; raises ``ValueError`` (or ``KeyError``, ``TypeError``) for anything not a delta's."""
        labels, sources = _interner(_strings(meta["labels"], False)), _interner(_strings(meta["sources"], True))
        changes = Changes(labels, sources, limit)
        for k in _SIDED:
            setattr(changes, k, {side: _count(meta[k][side]) for side in ("base", "new")})
        for k in _SCALARS:
            setattr(changes, k, _count(meta[k]))
        for k in _SIDED_COUNTERS:
            setattr(changes, k, {side: _counter(meta[k][side]) for side in ("base", "new")})
        for k in _COUNTERS:
            setattr(changes, k, _counter(meta[k]))
        if not 0 < limit <= LISTED_CAP:
            raise ValueError(f"--limit {limit}: the delta object lists {LISTED_CAP} records of each kind")
        examples = meta["examples"]
        if not isinstance(examples, dict) or set(examples) != set(changes.examples):
            raise ValueError("its listed records are not one list per kind of change")
        changes.examples = {k: [_example(item) for item in v[:limit]] for k, v in examples.items()}
        part = table.column("part").to_numpy(zero_copy_only=False)
        if not np.isin(part, [*KIND_COLUMNS, "row", delta_content.PART]).all():
            raise ValueError("a row of an unknown part")
        for c, known in (("label", labels), ("old_label", labels), ("source", sources), ("old_source", sources)):
            ids = table.column(c).to_numpy()
            if len(ids) and (ids.min() < 0 or ids.max() >= max(len(known.values), 1)):
                raise ValueError(f"a {c} id names no entry of its string table")
        most = max(records["base"], records["new"])  # no row number or copy count of either version is larger
        for c in _NUMBERS:
            numbers = table.column(c).to_numpy()
            if len(numbers) and (numbers.min() < 0 or numbers.max() > most):
                raise ValueError(f"a {c} beyond the versions' {most} records")
        for kind, columns in KIND_COLUMNS.items():
            at = np.flatnonzero(part == kind)
            if not len(at):
                continue
            chosen = table.take(pa.array(at))
            arrays = {}
            for c in columns:
                if c == "digests":
                    if chosen.column("digest").null_count:
                        raise ValueError(f"a {kind} row without a digest")
                    arrays[c] = np.frombuffer(chosen.column("digest").combine_chunks().buffers()[1], "S32", len(at))
                else:
                    values = chosen.column(c).to_numpy()
                    arrays[c] = values.astype(np.int32 if c in _IDS else np.int64)
            if arrays["rows"].sum() > most:  # the rows a check reads of them (statuses.row_runs)
                raise ValueError(f"its {kind} records hold more rows than the versions' {most}")
            changes.arrays[kind] = [arrays]
        at = np.flatnonzero(part == "row")
        held = table.column("first_row").to_numpy()[at]
        if len(held) and (held[0] < 0 or held[-1] >= records["new"] or (np.diff(held) <= 0).any()):
            raise ValueError(f"rows it holds are not rows of the version's {records['new']} in order")
        rows = table.take(pa.array(at))
        found = {
            "row": held,
            "label": rows.column("label").to_numpy(),
            "source": rows.column("source").to_numpy(),
            "locator": np.array(rows.column("locator").to_pylist(), object),
            "batch": np.array(rows.column("batch").to_pylist(), object),
        }
        origins = meta.get("origins") or {}
        origins = {
            side: {k: set(_strings(v, True)) for k, v in origins.get(side, {}).items()} for side in ("base", "new")
        }
        return changes, found, origins


# what a listed record of the footer holds (merge._row and each kind's additions): type per key
_TEXT, _MAYBE = (str,), (str, type(None))
_EXAMPLE = {
    "digest": _TEXT,
    "label": _TEXT,
    "source": _MAYBE,
    "batch": _MAYBE,
    "locator": _MAYBE,
    "old_source": _MAYBE,
    "copies": (int,),
    "base_copies": (int,),
}
_EXAMPLE_LISTS = {
    "labels": False,
    "old_labels": False,
    "new_labels": False,
    "base_labels": False,
    "old_sources": True,
    "new_sources": True,
}


def _example(item) -> dict:
    if not isinstance(item, dict):
        raise ValueError("a listed record is not an object")
    for k, v in item.items():
        if k in _EXAMPLE_LISTS:
            _strings(v, _EXAMPLE_LISTS[k])
        elif k not in _EXAMPLE or not isinstance(v, _EXAMPLE[k]) or isinstance(v, bool):
            raise ValueError(f"a listed record's {k!r} is not what a diff lists")
    return item


def _strings(values, none: bool) -> list:
    if not isinstance(values, list) or not all(isinstance(v, str) or (none and v is None) for v in values):
        raise ValueError("a string table is not a list of strings")
    return values


def _count(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"a count {value!r:.40} is not a whole number")
    return value


def _counter(pairs) -> Counter:
    out: Counter = Counter()
    for key, n in _keyed(pairs):
        if not isinstance(n, (int, float)) or isinstance(n, bool):
            raise ValueError(f"a count {n!r:.40} is not a number")
        out[key] = n  # type: ignore[assignment]  # float: duplicates_added_by_source, as the merge counts
    return out


def _binary32(digests: np.ndarray) -> pa.Array:
    """An S32 array as Arrow ``binary(32)`` (iterating it would strip trailing zero bytes)."""
    raw = np.ascontiguousarray(digests).tobytes()
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(digests), [None, pa.py_buffer(raw)])


def _interner(values: list) -> Interner:
    out = Interner()
    out.values = list(values)
    out.ids = {v: i for i, v in enumerate(out.values)}
    return out


def _keyed(pairs: list) -> list:
    if not isinstance(pairs, list):
        raise ValueError("counts are not a list of pairs")
    return [(tuple(k) if isinstance(k, list) else k, n) for k, n in pairs]


def forced_merge() -> bool:
    """Whether ``PROV_DIFF_MERGE=1`` asks ``prov diff`` to merge whole manifests even where a signed delta exists."""
    return os.environ.get(FORCE_MERGE_ENV, "") == "1"
