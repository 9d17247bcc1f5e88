"""``prov verify`` and ``prov fsck`` recompute the delta a version signed against its parent (``signed_delta``)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from provenance.delta import delta_content
from provenance.delta.signed_delta import META_KEY, SCHEMA, DeltaObject, for_commit
from provenance.errors import VerificationError
from provenance.version_facts import dataset_from_predicate


def check_signed_delta(store, row: dict, pred: dict) -> str:
    """Recompute the delta version ``row`` signed (``pred``: its verified predicate) from its own and
    its parent's manifests, and compare it with the stored object: what ``prov verify`` and ``prov
    fsck`` do, so a commit key that signed a wrong delta is caught by anyone who verifies.

    Returns ``"ok"``, or ``"none"`` for a version that signs no delta. Raises ``VerificationError``
    (exit 1): the delta is against another version than the signed parent, the parent is not in the
    store, the object is missing or altered, or its content or signed counts differ from the recomputed.
    """
    fact = pred.get("delta")
    if fact is None:
        return "none"
    name = f"version {row['tag']}"
    parent = pred.get("parent")
    if not isinstance(fact, dict) or fact.get("parent") != parent or parent is None:
        raise VerificationError(f"{name}: its signed delta is not against its signed parent")
    found = store.db.execute("select * from versions where tag = ?", [parent["version"]]).fetchone()
    columns = [d[0] for d in store.db.execute("select * from versions limit 0").description]
    parent_row = dict(zip(columns, found)) if found else None
    if parent_row is None or parent_row["merkle_root"] != parent["merkleRoot"]:
        raise VerificationError(f"{name}: the parent its delta is against ({parent['version']}) is not in the store")
    stored = DeltaObject(store, str(fact.get("sha256")), f"delta object of {row['tag']}", int(fact.get("rows") or 0))
    try:
        stored.verify()  # missing or altered: exit 1 naming it
        assert stored.parquet is not None
        footer = _footer(stored)
        # no content part is always sound (detection re-reads the data); one that is there is checked
        mode = delta_content.LISTED if footer.get("content") else delta_content.NONE
        made = for_commit(store, parent_row, row, pred, mode)
        if made is None:
            raise VerificationError(f"{name}: it signs a delta for a change too large to sign one (recomputed)")
        data, recomputed = made
        same = stored.parquet.read(columns=SCHEMA.names).equals(pq.read_table(pa.BufferReader(data))) and (
            footer == json.loads(pq.read_schema(pa.BufferReader(data)).metadata[META_KEY])
        )
        signed_counts = {k: v for k, v in fact.items() if k != "sha256"}
        if not same or signed_counts != recomputed:
            raise VerificationError(
                f"{name}: its signed delta object differs from the delta recomputed from its and "
                f"{parent['version']}'s manifests"
            )
        if mode == delta_content.LISTED:  # each content row hashes to its record's digest
            encoding = dataset_from_predicate(store, row, pred).options.row_encoding
            delta_content.require_field(stored.parquet, f"{stored.path}: {stored.name}")
            table = stored.parquet.read(columns=["part", "digest", "locator", delta_content.FIELD])
            delta_content.check_content(table, footer["content"]["columns"], encoding, f"{stored.path}: {stored.name}")
    finally:
        stored.close()
    return "ok"


def _footer(stored: DeltaObject) -> dict:
    """The object's ``prov.delta`` footer JSON (``VerificationError`` if it does not parse)."""
    assert stored.parquet is not None
    try:
        footer = json.loads(stored.parquet.schema_arrow.metadata[META_KEY])
        if not isinstance(footer, dict):
            raise ValueError("not an object")
        return footer
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError(f"{stored.path}: {stored.name} is not a readable delta object ({exc})") from exc
