"""fsck of source batches and the rows that hang off versions and batches: each batch's
manifest, Merkle root, indexed records and envelope (signed by the key it names), and no
indexed record, lineage row or profile without its batch or version."""

from __future__ import annotations

import collections
import json
import sqlite3

from provenance import keys, signing
from provenance.fsck import trust_rows
from provenance.fsck.problems import Inspection
from provenance.lineage.batch_ids import names_batch
from provenance.manifest import Manifest


def check_batch(insp: Inspection, row: dict) -> None:
    """One ``batches`` row against its manifest, its ``batch_records`` and, if signed, its envelope."""
    store, bid = insp.opened, row["batch"]
    check = f"batch {bid}"
    insp.report.checked["batches"] += 1
    data = store.objects.get(row["manifest_object"], f"manifest of batch {bid}")
    manifest = Manifest.from_bytes(data, f"manifest of batch {bid}")
    root = manifest.root.hex()
    if root != row["merkle_root"]:
        insp.error(
            check, f"its manifest's Merkle root {root[:16]} differs from the stored {str(row['merkle_root'])[:16]}"
        )
    if not names_batch(bid, str(row["source"]), manifest.root):  # SOURCE@ROOT12, or SOURCE@ROOT12.N
        insp.error(check, f"its name does not match its source {row['source']!r} and root {root[:12]}")
    if len(manifest) != row["records"]:
        insp.error(check, f"{row['records']} records stored, its manifest has {len(manifest)}")
    if set(manifest.table.column("batch").to_pylist()) - {bid}:
        insp.error(check, "its manifest names another batch")
    if json.loads(row["labels"] or "null") != manifest.label_counts():
        insp.error(check, "its stored label counts differ from its manifest")
    indexed = collections.Counter(
        (bytes(d), lab) for d, lab in store.db.execute("select digest, label from batch_records where batch = ?", [bid])
    )
    if indexed != collections.Counter(zip(manifest.digests, manifest.labels)):
        insp.error(check, "its indexed records (batch_records) differ from its manifest")
    if not row["signed"]:
        if row["signed"] != 0 or row["keyid"] is not None or row["envelope_object"] is not None:
            insp.error(check, "an unsigned batch names a key or an envelope")
        return
    env = signing.parse_envelope(
        store.objects.get(row["envelope_object"], f"envelope of batch {bid}"), f"envelope of batch {bid}"
    )
    trusted = store.db.execute(
        "select public_pem from trust where source = ? and keyid = ?", [row["source"], row["keyid"]]
    ).fetchone()
    logged = trust_rows.restorable_of(insp).get((row["source"], row["keyid"])) if trusted is None else None
    if logged is not None:  # attack review 15, A15-3: its trust rows deleted, the signed entry logged
        insp.error(
            check,
            f"signed by key {str(row['keyid'])[:16]}, whose trust rows are missing (its signed trust entry is logged "
            f"at audit entry {logged.seq}): prov fsck --repair restores them",
            repairable=True,
        )
        return
    if trusted is None:
        insp.error(check, f"signed by key {str(row['keyid'])[:16]}, which was never trusted for {row['source']!r}")
        return
    # Integrity, not trust: a since-revoked key still made this signature.
    public = keys.parse_public(trusted[0].encode(), f"trusted key {row['keyid'][:16]}")
    stmt = signing.verify(env, {row["keyid"]: public}, f"envelope of batch {bid}").statement
    pred = stmt.get("predicate") or {}
    if signing.subject_root(stmt).hex() != row["merkle_root"]:
        insp.error(check, "its envelope signs another Merkle root")
    if pred.get("source") != row["source"] or pred.get("capturedAt") != row["captured_at"]:
        insp.error(check, "its envelope names another source or capture time")


def check_batch_records_orphans(insp: Inspection) -> None:
    """No indexed record (``batch_records``) belongs to a batch the store does not have."""
    n = insp.db.execute("select count(*) from batch_records where batch not in (select batch from batches)").fetchone()[
        0
    ]
    if n:
        insp.error("batches", f"{n} indexed records (batch_records) belong to no batch")


def check_lineage_rows(insp: Inspection) -> None:
    """No lineage row or reference profile belongs to a version the store does not have."""
    n = insp.db.execute("select count(*) from version_lineage where tag not in (select tag from versions)").fetchone()[
        0
    ]
    if n:
        insp.error("lineage", f"{n} lineage rows belong to no version")
    try:
        n = insp.db.execute("select count(*) from profiles where version not in (select tag from versions)").fetchone()[
            0
        ]
    except sqlite3.OperationalError:
        return
    if n:
        insp.error("lineage", f"{n} reference profiles belong to no version")
