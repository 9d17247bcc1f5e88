"""``prov verify`` and ``prov fsck`` recompute the delta a version signed against its parent (``signed_delta``)."""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq

from provenance.delta import delta_content
from provenance.delta.signed_delta import (
    KIND_COLUMNS,
    LISTED_CAP,
    META_KEY,
    SCHEMA,
    DeltaObject,
    SideOpened,
    for_commit,
    signed_fact,
)
from provenance.errors import VerificationError
from provenance.version_facts import dataset_from_predicate


def check_signed_delta(store, row: dict, pred: dict) -> str:
    """Recompute the delta version ``row`` signed (``pred``: its verified predicate) from its own and
    its parent's manifests, and compare it with the stored object: what ``prov verify`` and ``prov
    fsck`` do, so a commit key that signed a wrong delta is caught by anyone who verifies.

    The parent need not verify under the caller's pins (a version is verified with its own signer
    pinned): its manifest is checked against the Merkle root the version signed for it, recomputed
    from its entries (RFC 6962), and its statement read for what the diff reads of it (its lineage).

    Returns ``"ok"``, or ``"none"`` for a version that signs no delta. Raises ``VerificationError``
    (exit 1): the delta is against another version than the signed parent, the parent is not in the
    store, its manifest or statement is missing or altered, the object is missing or altered, or its
    content or signed counts differ from the recomputed.
    """
    fact = pred.get("delta")
    if fact is None:
        return "none"
    name = f"version {row['tag']}"
    parent = pred.get("parent")
    if not isinstance(fact, dict):
        raise VerificationError(f"{name}: its signed delta is not a JSON object")
    if fact.get("parent") != parent or parent is None:
        raise VerificationError(f"{name}: its signed delta is not against its signed parent")
    found = store.db.execute("select * from versions where tag = ?", [parent["version"]]).fetchone()
    columns = [d[0] for d in store.db.execute("select * from versions limit 0").description]
    parent_row = dict(zip(columns, found)) if found else None
    if parent_row is None or parent_row["merkle_root"] != parent["merkleRoot"]:
        raise VerificationError(f"{name}: the parent its delta is against ({parent['version']}) is not in the store")
    oid, rows = signed_fact(fact, name, parent_row["records"], row["records"])  # before anything is read
    stored = DeltaObject(store, oid, f"delta object of {row['tag']}", rows)
    parent_side = None
    try:
        stored.verify()  # missing or altered: exit 1 naming it
        assert stored.parquet is not None
        footer = _footer(stored, parent_row["records"] + row["records"])
        # no content part is always sound (detection re-reads the data); one that is there is checked
        mode = delta_content.LISTED if footer.get("content") else delta_content.NONE
        parent_pred, parent_side = _parent_opened(store, name, parent_row)
        made = for_commit(store, parent_row, row, pred, parent_pred, mode, parent_side)
        if made is None:
            raise VerificationError(f"{name}: it signs a delta for a change too large to sign one (recomputed)")
        data, recomputed = made
        signed_counts = {k: v for k, v in fact.items() if k != "sha256"}
        # the same bytes (the writer is deterministic), else the same table and footer written by another Arrow
        same = hashlib.sha256(data).hexdigest() == oid or _same_table(stored.parquet, data, footer)
        if not same or signed_counts != recomputed:
            raise VerificationError(
                f"{name}: its signed delta object differs from the delta recomputed from its and "
                f"{parent['version']}'s manifests"
            )
        if mode == delta_content.LISTED:  # each content row hashes to its record's digest
            encoding = dataset_from_predicate(store, row, pred).options.row_encoding
            where, columns = f"{stored.path}: {stored.name}", footer["content"]["columns"]
            types = (pred.get("schema") or {}).get("types")
            rows = delta_content.signed_content_rows(stored.parquet, columns, types, where, stored.schema)
            delta_content.check_content(rows, columns, encoding, where)
    finally:
        stored.close()
        if parent_side is not None:
            parent_side.close()
    return "ok"


def _same_table(stored: pq.ParquetFile, data: bytes, footer: dict) -> bool:
    """Whether the stored object holds the recomputed table (its delta columns: the content part's values are
    checked by their digests) and footer, read a few rows at a time: a signed object of few bytes can decode to
    gigabytes (dictionary-encoded strings), never held whole."""
    recomputed = pq.read_table(pa.BufferReader(data), columns=SCHEMA.names)
    made = json.loads(pq.read_schema(pa.BufferReader(data)).metadata[META_KEY])
    if footer != made or stored.metadata.num_rows != recomputed.num_rows:
        return False
    at = 0
    for batch in stored.iter_batches(batch_size=1024, columns=SCHEMA.names, use_threads=False):
        if not pa.Table.from_batches([batch]).equals(recomputed.slice(at, batch.num_rows).combine_chunks()):
            return False
        at += batch.num_rows
    return True


def _parent_opened(store, name: str, parent_row: dict) -> tuple[dict, SideOpened]:
    """The parent's predicate and its opened side (``signed_delta.SideOpened``: its manifest object hashed once
    against its name, and the lineage object the diff reads), its statement naming that root and manifest and
    the manifest's RFC 6962 root, recomputed from its entries as read from the very file hashed, the Merkle root
    the child signed for it (``parent_row["merkle_root"]``, checked equal by the caller). Not its signature:
    whoever pinned the child's signer need not pin the parent's. The caller closes the side. Raises
    ``VerificationError`` (exit 1) naming what is missing or altered."""
    from provenance.manifest import Manifest
    from provenance.signing import subject_root, unverified_statement

    parent, needed = parent_row["tag"], f"needed to check the delta {name} signed against it"
    try:
        stmt = unverified_statement(store.objects.envelope(parent_row["envelope_object"], f"envelope of {parent}"))
        pred = stmt.get("predicate")
        if subject_root(stmt).hex() != parent_row["merkle_root"] or not isinstance(pred, dict):
            raise VerificationError(f"envelope of {parent}: it names another Merkle root")
        manifest = pred.get("manifest")
        if not isinstance(manifest, dict) or manifest.get("sha256") != parent_row["manifest_object"]:
            raise VerificationError(f"envelope of {parent}: it names another manifest object")
        side = SideOpened(store, parent_row, pred)  # the manifest hashed against its name: once
        try:
            entries = Manifest.from_bytes(side.manifest.hashed_bytes(), side.name)  # parsed, in manifest order
            if entries.root.hex() != parent_row["merkle_root"]:
                raise VerificationError(f"{side.name}: Merkle root does not match the version record")
        except BaseException:
            side.close()
            raise
    except VerificationError as exc:
        raise VerificationError(f"{exc} ({needed})") from exc
    return pred, side


def _footer(stored: DeltaObject, records: int) -> dict:
    """The object's ``prov.delta`` footer JSON, bounded by both versions' signed record counts before it is parsed
    (``VerificationError`` if it does not parse or is too large)."""
    from provenance.errors import InputError
    from provenance.signing import bounded_json

    assert stored.schema is not None
    try:
        values = 64 * records + 64 * LISTED_CAP * len(KIND_COLUMNS) + 1000
        footer = bounded_json(stored.schema.metadata[META_KEY], stored.name, "footer", values)
        if not isinstance(footer, dict):
            raise ValueError("not an object")
        return footer
    except (KeyError, TypeError, ValueError, RecursionError, InputError) as exc:
        raise VerificationError(f"{stored.path}: {stored.name} is not a readable delta object ({exc!s:.200})") from exc
