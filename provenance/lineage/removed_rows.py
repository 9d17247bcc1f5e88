"""The records a ``prov quarantine`` removed, kept in the store so later checks need not re-read old data.

``lineage.block_quarantined_sources`` compares every check's added records with what each signed
quarantine removed (``gate.quarantine_near``), so it needs the removed records' content. Read from
where the quarantine's parent signed its data, a release depended forever on that old file staying
byte-identical: the ordinary workflow of rewriting one working file, or cleaning it up, blocked or
errored every later check (attack review 8, A1). ``prov quarantine`` now keeps the removed rows as one
content-addressed Parquet object and signs its id in the quarantine's facts (``removedRecords``).

The object is trusted only through digests recomputed from the data: each row is hashed again
(tables with the parent's signed row encoding and content columns, trees as file bytes) and must be
one of the records the quarantine removed, which the gate recomputes from the signed manifests
(``gate.quarantine_history``), never taken from the object. An object that is missing (a ``.prov/`` writer
who deleted it) falls back to the parent's data, saying so; one whose bytes or rows are not the removed records
fails closed. A quarantine made before quarantines kept their rows falls back to the parent's data too; ``prov fsck``
says so, and ``prov fsck --repair`` keeps a copy for later checks once (:func:`keep_old_rows`, ``CHECK_ACTION``;
attack review 8b, B5), trusted by the same re-hash and passed over when it fails it, since nothing signs it.
Checks only read: a copy kept by whichever check first read the rows made ``prov check`` write to the store.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from provenance.errors import InputError, VerificationError

if TYPE_CHECKING:
    import pyarrow as pa

    from provenance.sources.records import Records
    from provenance.store import Store

FACT = "removedRecords"
"""The quarantine facts' key (signed in the version's predicate) naming the object of removed rows."""

TREE_COLUMN = "content"
"""The object's one column for a tree: each removed file's bytes."""

CHECK_ACTION = "quarantine.rows"
"""The audit action of a kept copy of the removed rows of a quarantine made before quarantines kept them
(``prov fsck --repair``; a check kept them before session 10)."""


def _parent_records(store: Store, parent: str, removed: pa.Array) -> Records:
    """The records ``removed`` (digests) as version ``parent`` signed them, read from its data and re-hashed,
    one per digest in the manifest's order. Raises as ``sources.records.read_records``."""
    import pyarrow.compute as pc

    from provenance.version_facts import load_manifest, read_version_records

    manifest = load_manifest(store, store.version(parent)).table
    rows = manifest.filter(pc.is_in(manifest.column("digest"), value_set=removed))
    first: dict[bytes, str] = {}
    for d, locator in zip(rows.column("digest").to_pylist(), rows.column("locator").to_pylist()):
        first.setdefault(d, locator)
    return read_version_records(store, parent, [first[d] for d in first], list(first))[0]


def keep_removed_rows(store: Store, parent: str, removed: pa.Array) -> tuple[str, bool]:
    """Store the records ``removed`` (digests, those ``parent``'s signed manifest holds) as one Parquet object,
    read from ``parent``'s data (which ``prov quarantine`` has just checked against its signature); its id.

    Returns the object id (``FACT``) and whether this call created it. Raises as ``sources.records.read_records``.
    """

    return store.objects.put(_object_bytes(_parent_records(store, parent, removed)), "parquet")


def _object_bytes(records: Records) -> bytes:
    """``records`` as the Parquet bytes of an object of removed rows (a table's rows, or a tree's file bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = records.table if records.blobs is None else pa.table({TREE_COLUMN: pa.array(records.blobs, pa.binary())})
    assert table is not None
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def _kept_by_checks(store: Store, tag: str) -> list[str]:
    """The objects checks kept quarantine ``tag``'s removed rows in (``CHECK_ACTION`` entries), newest first."""
    from provenance.store.audit import detail_json

    out = []
    rows = store.db.execute(
        "select detail from audit where action = ? and subject = ? order by seq desc", [CHECK_ACTION, tag]
    )
    for (detail,) in rows:
        try:
            oid = detail_json(detail).get(FACT)
        except (TypeError, ValueError, AttributeError):
            continue
        if isinstance(oid, str):
            out.append(oid)
    return out


def old_quarantines_without_rows(store: Store) -> list[tuple[str, str, pa.Array]]:
    """``(tag, parent, removed digests)`` of each quarantine that verifies under the pins, made before quarantines
    kept their removed rows, for which no kept copy (``CHECK_ACTION``) re-hashes to the records it removed: every
    check with additions reads those from the parent's data, and errors once it changed or is gone."""
    from provenance.gate.quarantine_history import VersionDigests, signed_quarantines
    from provenance.version_facts import verified_statement

    out = []
    for q in signed_quarantines(store, [], VersionDigests(store)):
        facts = verified_statement(store, store.version(q.tag))["predicate"].get("quarantine", {})
        if isinstance(facts, dict) and isinstance(facts.get(FACT), str):
            continue
        if not any(_holds(store, kept, q.tag, q.parent, q.removed) for kept in _kept_by_checks(store, q.tag)):
            out.append((q.tag, q.parent, q.removed))
    return out


def _holds(store: Store, oid: str, tag: str, parent: str, removed: pa.Array) -> bool:
    try:
        _from_object(store, oid, tag, parent, removed)
    except VerificationError:
        return False
    return True


def keep_old_rows(store: Store, tag: str, parent: str, removed: pa.Array) -> str:
    """Keep the records quarantine ``tag`` removed (made before quarantines kept them), read from ``parent``'s data
    and re-hashed against ``removed``, as an object a ``CHECK_ACTION`` audit entry names, so later checks need not
    read that data (attack review 8b, B5); ``prov fsck --repair`` calls it once. Nothing signs the copy, and nothing
    needs to: its rows are trusted only as they re-hash to the removed digests the signed manifests give, and a copy
    that does not is passed over. Returns the object's id. Raises ``InputError``/``VerificationError`` when
    ``parent``'s data no longer holds the removed records (as ``sources.records.read_records``)."""
    data = _object_bytes(_parent_records(store, parent, removed))
    with store.write():
        oid, _ = store.objects.put(data, "parquet")
        store.audit(CHECK_ACTION, tag, {FACT: oid, "parent": parent})
    return oid


def kept_object(store: Store, tag: str, predicate: dict) -> str | None:
    """The id of the object of removed rows that quarantine version ``tag`` signed (``FACT`` in ``predicate``'s
    verified quarantine facts), its bytes re-hashed; None when it signed none (not a quarantine, or one made before
    quarantines kept their rows).

    ``prov verify`` and the gate's signature rule call it, as they check the manifest object: the near-copy check
    relies on these rows, and without them every later check depends on the quarantine's parent's data staying
    where it was (attack review 8b, B4: a deleted object was noticed only by ``prov fsck``). Raises
    ``VerificationError`` (exit 1) naming the object and how to restore it when it is missing or altered.
    """
    facts = predicate.get("quarantine")
    oid = facts.get(FACT) if isinstance(facts, dict) else None
    if not isinstance(oid, str):
        return None
    if not store.objects.exists(oid):
        raise VerificationError(
            f"version {tag}: {missing(store, oid)}; the near-copy check of every later release then depends on its "
            "parent's data staying unchanged"
        )
    store.objects.get(oid, f"the records quarantine {tag} removed")
    return oid


def missing(store: Store, oid: str, what: str = "the records its quarantine removed, object") -> str:
    """The words for a signed object of removed rows that is not in the store, and how to put it back."""
    return (
        f"{what} {oid[:16]} is missing from the store; restore {store.objects.root / oid}.parquet from a copy of "
        "the store (`prov fsck` lists it)"
    )


def removed_records(store: Store, tag: str, parent: str, removed: pa.Array) -> tuple[Records, str | None]:
    """The records quarantine ``tag`` removed from ``parent`` (``removed``: digests recomputed from the signed
    manifests), one per digest, from the object the quarantine signed (``FACT``) or, when it has none or the
    object is missing, from ``parent``'s data; and, when the signed object is missing, a note saying so and how
    to restore it (None otherwise).

    Raises ``VerificationError`` (exit 1) naming the object when its bytes were altered, it is not a table of
    records, or its rows are not exactly the removed records; ``InputError`` (exit 2) saying that
    ``parent``'s data changed or is gone when the fallback read fails, with how to restore either.
    """
    from provenance.version_facts import verified_statement

    facts = verified_statement(store, store.version(tag))["predicate"].get("quarantine", {})
    oid = facts.get(FACT) if isinstance(facts, dict) else None
    if isinstance(oid, str) and store.objects.exists(oid):
        return _from_object(store, oid, tag, parent, removed), None
    if not isinstance(oid, str):  # a quarantine made before they were kept: a copy a check kept, if it holds up
        for kept in _kept_by_checks(store, tag):
            try:
                return _from_object(store, kept, tag, parent, removed), None
            except VerificationError:
                continue  # unsigned: a copy that is missing or not the removed records is passed over
    try:
        records = _parent_records(store, parent, removed)
    except (VerificationError, InputError) as exc:  # rows gone or changed, or no such file
        kept = (
            "it keeps no copy of them in the store (made before quarantines kept one; `prov fsck --repair` keeps "
            "one while the data still matches)"
        )
        if isinstance(oid, str):
            kept = missing(store, oid, "its copy of them, object")
        raise InputError(
            f"the records quarantine {tag} removed are read from the data {parent} signed, which changed or is gone "
            f"since it was committed, and {kept}: {exc}; or restore {parent}'s data (`prov verify {shlex.quote(parent)}` says "
            "when it matches) to judge near copies"
        ) from exc
    if isinstance(oid, str):
        return records, f"quarantine {tag}: {missing(store, oid)}; read from {parent}'s data instead"
    return records, None


def _from_object(store: Store, oid: str, tag: str, parent: str, removed: pa.Array) -> Records:
    """``removed_records`` from object ``oid``: every row re-hashed, each removed record exactly once."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    from provenance.encoding.columns import table_digest_blob
    from provenance.sources.records import Records
    from provenance.version_facts import verified_statement, version_dataset

    what = f"the records quarantine {tag} removed"
    data = store.objects.get(
        oid, what
    )  # re-hashed against its name (signed, or for a check's copy, not: the rows count)
    try:
        table = pq.ParquetFile(pa.BufferReader(data)).read()
    except (pa.ArrowException, OSError) as exc:
        raise VerificationError(f"{store.objects.path(oid)}: {what}: not a readable table ({exc})") from exc
    row = store.version(parent)
    schema = verified_statement(store, row)["predicate"].get("schema", {})
    tree = schema.get("kind", row["kind"]) == "tree"
    try:
        if tree:
            blobs = [bytes(b) for b in table.column(TREE_COLUMN).to_pylist()]
            got = [hashlib.sha256(b).digest() for b in blobs]
        else:
            columns = schema.get("columns", [])
            blob = table_digest_blob(table, columns, version_dataset(store, row).options.row_encoding)
            got = [blob[i : i + 32] for i in range(0, len(blob), 32)]
    except (KeyError, pa.ArrowException, TypeError, ValueError) as exc:
        raise VerificationError(f"{store.objects.path(oid)}: {what}: not the rows of {parent} ({exc})") from exc
    want = set(removed.to_pylist())
    if len(got) != len(want) or set(got) != want:
        raise VerificationError(
            f"{store.objects.path(oid)}: {what}: its rows are not the records the signed manifests say it removed "
            f"({len(set(got) & want)} of {len(want)} match, {len(set(got) - want)} others); "
            "the store was tampered with"
        )
    if tree:
        return Records(got, blobs=blobs)
    return Records(got, table=table.select(schema.get("columns", [])))
