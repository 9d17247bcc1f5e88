"""Store tables for the lineage stage; created with the store by `_create_schema`.

- ``trust``: which public keys may sign batches for which source, each with a validity
  window and an optional revocation. Several rows per source is key rotation.
- ``batches``: every registered batch, signed or not, with its manifest and envelope
  objects; ``batch_records`` indexes their records by digest for ``prov lineage``.
- ``version_lineage``: per version, the Parquet object classifying each record and its
  counts (the same counts are signed in the version's predicate).
"""

from __future__ import annotations


def create(db) -> None:
    """Create this stage's tables (called once, inside `prov init`)."""
    db["trust"].create(
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
    db["batches"].create(
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
    db["batch_records"].create({"digest": bytes, "label": str, "batch": str}, not_null={"digest", "label", "batch"})
    db["batch_records"].create_index(["digest"])
    db["version_lineage"].create(
        {"tag": str, "object": str, "attested": int, "relabeled_after_source": int, "unattributed": int},
        pk="tag",
        not_null={"object"},
    )
