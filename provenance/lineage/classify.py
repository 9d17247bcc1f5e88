"""Per-record lineage: which batch, source and signing key each record of a version came from.

At commit, every record is matched to the registered batches carrying its digest and
classified as ``attested`` (a trusted source signed this content with this label),
``relabeled_after_source`` (a trusted source signed this content with another label) or
``unattributed`` (no signed batch carries it: an unsigned batch, a revoked key, or no
batch at all). The classification is a Parquet object named in the version's signed
predicate together with its counts, so lineage cannot be edited without breaking a
signature. The commit stage that streams the classification into that object is
``lineage/lineage_stage.py``; this module classifies and reads lineage back.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provenance.errors import VerificationError
from provenance.lineage import evidence, layout
from provenance.lineage.lineage_cache import kept_lineage
from provenance.lineage.standing import registered_batches
from provenance.manifest import Manifest
from provenance.store.store import Store
from provenance.trust.revocations import revoked_source_keys
from provenance.version_facts import load_manifest, verified_statement

ATTESTED = "attested"
RELABELED = "relabeled_after_source"
UNATTRIBUTED = "unattributed"
STATUSES = (ATTESTED, RELABELED, UNATTRIBUTED)

# The lineage table as readers get it (``version_lineage``): one row per record, in manifest order.
# The object commit writes leaves out ``digest`` (``layout``: format 2); readers take it from the manifest.
LINEAGE_SCHEMA = layout.V1_SCHEMA


# --- the registered batches, as one table ---------------------------------------------


def revoked_keys(store: Store) -> set[tuple[str, str]]:
    """``(source, keyid)`` of every revoked batch-signing key (the trust table and ``trust.revoke`` audit entries)."""
    return set(revoked_source_keys(store))


def batch_records(store: Store) -> pa.Table:
    """digest, batch_label, batch, source, signed, rank of every registered batch record.

    One row per record of every registered batch (``digest`` 32 bytes, ``rank`` the
    batch's registration order). ``signed`` is true only for a batch whose envelope verifies under the keys the
    verifier trusts for its source (``provenance.lineage.evidence``): an unsigned batch,
    a revoked or untrusted key attests nothing (fails closed).
    """
    return evidence.batch_records(store)


def classify(manifest: Manifest, batches: pa.Table) -> pa.Table:
    """One lineage row per manifest row, in manifest order.

    When several batches carry a digest, the best evidence wins: a signed batch with the
    same label, then a signed batch with another label, then an unsigned batch; ties go
    to the batch registered first.

    Args:
        manifest: the version's manifest (its ``digest`` and ``label`` columns are read).
        batches: the table :func:`batch_records` gives.

    Returns:
        A table of ``LINEAGE_SCHEMA``: ``status`` is ``attested``, ``relabeled_after_source``
        or ``unattributed``; ``source`` and ``batch`` are the best batch's (null when no
        batch carries the digest; set for an unsigned batch); ``signed_label`` is the label
        the source signed (null unless the batch is signed).
    """
    return classify_columns(manifest.table.column("digest"), manifest.table.column("label"), batches)


def classify_columns(digest, label, batches: pa.Table) -> pa.Table:
    """:func:`classify` of the records ``digest``, ``label`` (Arrow arrays of one length)."""
    version = pa.table({"digest": digest, "label": label, "row": pa.array(np.arange(len(digest), dtype=np.int64))})
    joined = version.join(batches, "digest", join_type="left outer")
    signed = pc.fill_null(joined.column("signed"), False)
    same = pc.fill_null(pc.equal(joined.column("label"), joined.column("batch_label")), False)
    matched = pc.is_valid(joined.column("batch"))
    priority = pc.if_else(pc.and_(signed, same), 0, pc.if_else(signed, 1, pc.if_else(matched, 2, 3)))
    joined = joined.append_column("priority", priority)
    joined = joined.take(
        pc.sort_indices(joined, [("row", "ascending"), ("priority", "ascending"), ("rank", "ascending")])
    )
    rows = joined.column("row").to_numpy()
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    best = joined.filter(pa.array(first))
    prio = best.column("priority")
    status = pc.if_else(pc.equal(prio, 0), ATTESTED, pc.if_else(pc.equal(prio, 1), RELABELED, UNATTRIBUTED))
    signed_label = pc.if_else(pc.less_equal(prio, 1), best.column("batch_label"), pa.scalar(None, pa.string()))
    return pa.table(
        {
            "digest": best.column("digest"),
            "label": best.column("label"),
            "status": status,
            "source": best.column("source"),
            "batch": best.column("batch"),
            "signed_label": signed_label,
        },
        schema=LINEAGE_SCHEMA,
    )


def counts(table: pa.Table) -> dict[str, int]:
    """``{status: records}`` for each of ``STATUSES``."""
    found = pc.value_counts(table.column("status")).to_pylist()
    by_status = {item["values"]: item["counts"] for item in found}
    return {s: int(by_status.get(s, 0)) for s in STATUSES}


# --- reading it back ------------------------------------------------------------------


def version_lineage(store: Store, tag: str) -> pa.Table:
    """digest, label, status, source, batch, signed_label for every record of ``tag``, in manifest order.

    The object is checked against the lineage named in the version's signed predicate.
    Its rows pair with the version's manifest by position (``layout``): the digest column
    is the manifest object's (hashed against the SHA-256 the version signed), and a
    format 1 object's own digest column must equal it. A version committed without the
    lineage stage is all ``unattributed``. This is what the version *signed*;
    :func:`trusted_lineage` re-judges it under the verifier's pins.

    Raises:
        InputError: no version ``tag`` (exit 2).
        VerificationError: the version's signature does not verify, its ``version_lineage``
            row differs from the signed lineage object, the object is missing, damaged, not
            Parquet or of an unknown format, or its rows do not pair with the manifest's
            records (another count; format 1: other digests) (exit 1).

    Read once per ``lineage_cache`` block (a check), each later read re-checking the statement and re-hashing the
    objects (``lineage.lineage_cache``).
    """
    return kept_lineage("signed", store, tag, lambda: _read_version_lineage(store, tag))


def _read_version_lineage(store: Store, tag: str) -> tuple[pa.Table, tuple[tuple[str, str], ...]]:
    """:func:`version_lineage`, read afresh, with the objects it read (``(object id, what)``)."""
    row = store.version(tag)
    manifest_object = ((row["manifest_object"], f"manifest of {tag}"),)
    lin = store.db.execute("select object from version_lineage where tag = ?", [tag]).fetchone()
    signed = (verified_statement(store, row)["predicate"].get("lineage") or {}).get("object")
    if lin is None and signed is None:
        m = load_manifest(store, row)
        n = len(m)
        unattributed = pa.table(
            {
                "digest": m.table.column("digest"),
                "label": m.table.column("label"),
                "status": pa.array([UNATTRIBUTED] * n, pa.string()),
                "source": pa.nulls(n, pa.string()),
                "batch": pa.nulls(n, pa.string()),
                "signed_label": pa.nulls(n, pa.string()),
            },
            schema=LINEAGE_SCHEMA,
        )
        return unattributed, manifest_object
    if lin is None or lin[0] != signed:
        raise VerificationError(f"version {tag}: its lineage record differs from the lineage it signed")
    data = store.objects.get(signed, f"lineage of {tag}")
    try:
        table = pq.ParquetFile(pa.BufferReader(data)).read()  # not read_table: no pyarrow.dataset, no pandas
    except (pa.ArrowException, OSError) as exc:
        raise VerificationError(f"lineage of {tag}: not readable Parquet ({exc})") from exc
    fmt = layout.object_format(table.schema, f"lineage of {tag}")
    digests = _manifest_digests(store, row)
    if table.num_rows != len(digests):
        raise VerificationError(
            f"version {tag}: its lineage object holds {table.num_rows} rows, its manifest {len(digests)} records"
        )
    if fmt == 1:
        if not table.column("digest").cast(pa.binary(32)).equals(digests):
            raise VerificationError(f"version {tag}: its lineage object does not follow its manifest's records")
        table = table.drop_columns(["digest"])
    table = table.add_column(0, "digest", digests)
    return table.select(LINEAGE_SCHEMA.names).cast(LINEAGE_SCHEMA), ((signed, f"lineage of {tag}"), *manifest_object)


def _manifest_digests(store: Store, row: dict) -> pa.ChunkedArray:
    """The digest column of the version's manifest object, in manifest order.

    The object is hashed against the SHA-256 the version's row names (which
    ``verified_statement`` has checked is the signed one). Raises ``VerificationError``
    when it is missing, altered or not a manifest.
    """
    column = _manifest_column(store, row, "digest")
    if column.type != pa.binary(32):
        raise VerificationError(f"manifest of {row['tag']}: does not hold the version's {row['records']} digests")
    return column


def manifest_sources(store: Store, tag: str) -> pa.ChunkedArray:
    """The ``source`` column of version ``tag``'s signed manifest (null for a record without one), in manifest order.

    Row i is the source the data's source column gave record i, as the version signed it
    (it is part of each record's leaf); rows pair with :func:`version_lineage`'s by position.
    Raises ``InputError`` for an unknown version and ``VerificationError`` when the version's
    signature does not verify or its manifest object is missing, altered or not a manifest.
    """
    row = store.version(tag)
    verified_statement(store, row)
    column = _manifest_column(store, row, "source")
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        raise VerificationError(f"manifest of {tag}: its source column is not text")
    return column


def _manifest_column(store: Store, row: dict, name: str) -> pa.ChunkedArray:
    """One column of the version's manifest object (hashed against the SHA-256 its row names), checked for its length."""
    data = store.objects.get(row["manifest_object"], f"manifest of {row['tag']}")
    try:
        column = pq.ParquetFile(pa.BufferReader(data)).read(columns=[name]).column(name)
    except (pa.ArrowException, OSError, KeyError) as exc:
        raise VerificationError(f"manifest of {row['tag']}: not a readable manifest ({exc})") from exc
    if len(column) != row["records"]:
        raise VerificationError(f"manifest of {row['tag']}: does not hold the version's {row['records']} records")
    return column


def trusted_lineage(store: Store, tag: str) -> pa.Table:
    """The lineage of ``tag`` as the verifier may rely on it: what the version signed, re-judged under the pins.

    Starts from the signed lineage (:func:`version_lineage`), then classifies the
    version's records again against the batches it names, counting a batch only if its
    envelope verifies under the keys the verifier trusts for its source now
    (``provenance.lineage.evidence``). What the version signed as ``unattributed`` or ``relabeled_after_source`` stays so (evidence
    of a relabel after source is never withdrawn: whoever can edit batch rows or trust
    entries in ``.prov/`` could otherwise turn a blocking status into a passing one),
    and an ``attested`` record whose batch the verifier does not trust (a key the store
    trusts but the pins do not, a revoked key, an edited batch row) becomes
    ``unattributed``. Same columns as :func:`version_lineage`, in the same order.
    Raises ``VerificationError`` as :func:`version_lineage` does, and when the signed
    lineage's digests do not follow the version's manifest.

    Judged once per ``lineage_cache`` block (a check), each later read re-checking the statement, the signed
    lineage's objects and the named batches' objects (``lineage.lineage_cache``).
    """
    return kept_lineage("trusted", store, tag, lambda: _judge_lineage(store, tag))


def _judge_lineage(store: Store, tag: str) -> tuple[pa.Table, tuple[tuple[str, str], ...]]:
    """:func:`trusted_lineage`, judged afresh, with the objects it read (``(object id, what)``): the signed
    lineage's, and each named batch's envelope and manifest."""
    signed = version_lineage(store, tag)
    named = {b for b in signed.column("batch").to_pylist() if b}
    read = _signed_objects(store, tag)
    if not named:
        return signed, read
    manifest = load_manifest(store, store.version(tag))
    again = classify(manifest, evidence.batch_records(store, named))
    if not again.column("digest").equals(signed.column("digest")):
        raise VerificationError(f"version {tag}: its signed lineage does not follow its manifest's records")
    keep = pc.not_equal(signed.column("status"), ATTESTED)  # only an attested record can lose standing
    columns = {}
    for name in LINEAGE_SCHEMA.names:
        if name in ("digest", "label"):
            columns[name] = signed.column(name)
        else:
            columns[name] = pc.if_else(keep, signed.column(name), again.column(name))
    # a signed batch's envelope (which signs its manifest) was read; an unsigned one's stored manifest
    batches = tuple(
        (envelope, f"envelope of batch {batch}")
        if signed_batch and envelope
        else (manifest, f"manifest of batch {batch}")
        for batch, _source, signed_batch, envelope, manifest in registered_batches(store)
        if batch in named
    )
    return pa.table(columns, schema=LINEAGE_SCHEMA), (*read, *batches)


def _signed_objects(store: Store, tag: str) -> tuple[tuple[str, str], ...]:
    """The objects version ``tag``'s signed lineage is read from: its lineage object (when it signed one) and its
    manifest."""
    row = store.version(tag)
    lineage = store.db.execute("select object from version_lineage where tag = ?", [tag]).fetchone()
    manifest = ((row["manifest_object"], f"manifest of {tag}"),)
    return manifest if lineage is None else ((lineage[0], f"lineage of {tag}"), *manifest)


def lineage_json(table: pa.Table) -> list[dict]:
    """Rows as JSON-able dicts (digests in hex), for reports."""
    return [dict(r, digest=r["digest"].hex()) for r in table.to_pylist()]
