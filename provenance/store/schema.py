"""The store's SQLite schema: every table ``prov init`` creates, in one place.

- ``versions``, ``keys``, ``audit``, ``meta``: versions, registered keys, the hash-chained log.
- ``trust``: which public keys may sign batches for which source, each with a validity
  window and an optional revocation. Several rows per source is key rotation.
- ``batches``: every registered batch, signed or not, with its manifest and envelope
  objects; ``batch_records`` indexes their records by digest for ``prov lineage``.
- ``version_lineage``: per version, the Parquet object classifying each record and its
  counts (the same counts are signed in the version's predicate).
- ``profiles``, ``detector_runs``, ``findings``, ``waivers``, ``attestations``: detection and the gate.

Tables added after a store format was published are made on first use, not by
``prov init``, so stores made before open unchanged: they are listed in
``ON_DEMAND_TABLES`` (name -> creator), which ``prov fsck`` accepts missing but checks
when present.

- ``trust_statements``: which trust entries a maintainer signed (``prov trust add --key``),
  naming the DSSE envelope object (``provenance.trust.statements``).
- ``checkpoints``: signed tree heads over the audit log (``provenance.store.checkpoints``);
  a store made before them gets the table with its first checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable

from provenance.store.sqlite import sqlite_utils

FORMAT = "1"


def create_schema(db: sqlite_utils.Database) -> None:
    """Create every table of a new store (called once, inside ``prov init``)."""
    db.table("meta").create({"key": str, "value": str}, pk="key")
    db.table("versions").create(
        {
            "tag": str,
            "parent": str,
            "created_at": str,
            "merkle_root": str,
            "records": int,
            "manifest_object": str,
            "envelope_object": str,
            "keyid": str,
            "dataset": str,  # JSON DatasetSpec, so verify can read the records again
            "kind": str,
            "audit_seq": int,
        },
        pk="tag",
        not_null={"created_at", "merkle_root", "records", "manifest_object", "envelope_object", "keyid"},
    )
    db.table("keys").create(
        {"keyid": str, "name": str, "public_pem": str, "registered_at": str, "revoked_at": str}, pk="keyid"
    )
    db.table("audit").create(
        {"seq": int, "ts": str, "action": str, "subject": str, "detail": str, "prev_hash": str, "hash": str},
        pk="seq",
        not_null={"ts", "action", "hash", "prev_hash"},
    )
    # lineage: trust entries, batches and their records, each version's lineage object
    db.table("trust").create(
        {
            "source": str,
            "keyid": str,
            "name": str,  # the .pub file's stem, for people
            "public_pem": str,
            "added_at": str,
            "valid_from": str,
            "valid_until": str,
            "revoked_at": str,
            "revoked_reason": str,
        },
        pk=("source", "keyid"),
        not_null={"public_pem", "added_at"},
    )
    db.table("batches").create(
        {
            "batch": str,
            "source": str,
            "signed": int,
            "keyid": str,
            "merkle_root": str,
            "records": int,
            "labels": str,  # JSON {label: count}
            "manifest_object": str,
            "envelope_object": str,
            "captured_at": str,
            "added_at": str,
            "data": str,  # the path it was added from, relative to the store's folder when inside it
            "audit_seq": int,
        },
        pk="batch",
        not_null={"source", "signed", "merkle_root", "records", "manifest_object", "added_at"},
    )
    db.table("batch_records").create(
        {"digest": bytes, "label": str, "batch": str}, not_null={"digest", "label", "batch"}
    )
    db.table("batch_records").create_index(["digest"])
    db.table("version_lineage").create(
        {"tag": str, "object": str, "attested": int, "relabeled_after_source": int, "unattributed": int},
        pk="tag",
        not_null={"object"},
    )
    # detection and the gate: profiles, detector runs, findings, waivers, attestations
    db.table("profiles").create(
        {"version": str, "object": str, "featurizer": str, "dim": int, "sample": int}, pk="version"
    )
    db.table("detector_runs").create(
        {
            "run": str,
            "version": str,
            "base": str,
            "detector": str,
            "status": str,
            "error": str,
            "threshold": float,
            "scored": int,
            "flagged": int,
            "fpr": float,
            "created_at": str,
        },
        pk=("run", "detector"),
    )
    db.table("findings").create(
        {
            "run": str,
            "version": str,
            "base": str,
            "detector": str,
            "position": int,
            "digest": str,
            "label": str,
            "score": float,
            "flagged": int,
            "explanation": str,
        },
        pk=("run", "detector", "position"),  # position in the delta: one digest may carry two labels
    )
    db.table("findings").create_index(["version", "flagged"])
    db.table("waivers").create(
        {"object": str, "version": str, "digest": str, "detector": str, "keyid": str, "created_at": str}, pk="object"
    )
    db.table("attestations").create(
        {"object": str, "version": str, "base": str, "policy_digest": str, "keyid": str, "created_at": str}, pk="object"
    )
    db.table("meta").insert({"key": "format", "value": FORMAT})


CHECKPOINTS = "checkpoints"


def create_checkpoints_table(db: sqlite_utils.Database) -> None:
    """The ``checkpoints`` table (if it is not there yet): one row per signed tree head.

    ``object`` is the DSSE envelope's object id; ``size``/``root``/``head`` repeat what it
    signed (entries covered, RFC 9162 root hash, chain hash of the last covered entry).
    """
    db.table(CHECKPOINTS).create(
        {"object": str, "size": int, "root": str, "head": str, "keyid": str, "created_at": str},
        pk="object",
        not_null={"size", "root", "head", "keyid", "created_at"},
        if_not_exists=True,
    )


def create_trust_statements(db: sqlite_utils.Database) -> None:
    """``trust_statements`` (source, keyid, object, signer, added_at), if the store has none yet."""
    if "trust_statements" not in db.table_names():
        db.table("trust_statements").create(
            {"source": str, "keyid": str, "object": str, "signer": str, "added_at": str},
            pk=("source", "keyid"),
            not_null={"object", "signer"},
        )


ON_DEMAND_TABLES: dict[str, Callable[[sqlite_utils.Database], None]] = {
    "trust_statements": create_trust_statements,
    CHECKPOINTS: create_checkpoints_table,
}
"""Tables created on first use (name -> creator), after ``create_schema``'s."""
