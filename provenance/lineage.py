"""Per-record lineage: which batch, source and signing key each record of a version came from.

At commit, every record is matched to the registered batches carrying its digest and
classified as ``attested`` (a trusted source signed this content with this label),
``relabeled_after_source`` (a trusted source signed this content with another label) or
``unattributed`` (no signed batch carries it: an unsigned batch, a revoked key, or no
batch at all). The classification is a Parquet object named in the version's signed
predicate together with its counts, so lineage cannot be edited without breaking a
signature.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import versions
from .errors import InputError, VerificationError
from .manifest import Manifest
from .store import Store

ATTESTED = "attested"
RELABELED = "relabeled_after_source"
UNATTRIBUTED = "unattributed"
STATUSES = (ATTESTED, RELABELED, UNATTRIBUTED)

LINEAGE_SCHEMA = pa.schema([
    pa.field("digest", pa.binary(32), nullable=False),
    pa.field("label", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("source", pa.string()),
    pa.field("batch", pa.string()),
    pa.field("signed_label", pa.string()),
])


# --- the registered batches, as one table ---------------------------------------------

def _revoked(store: Store) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in store.db.execute("select source, keyid from trust where revoked_at is not null")}


def batch_records(store: Store) -> pa.Table:
    """digest, batch_label, batch, source, signed, rank of every registered batch record.

    ``signed`` is false for unsigned batches and for batches whose signing key has since
    been revoked for their source: a revoked key attests nothing (fails closed).
    """
    revoked = _revoked(store)
    parts = []
    rows = store.db.execute("select batch, source, signed, keyid, manifest_object from batches order by audit_seq")
    for rank, (batch, source, signed, keyid, oid) in enumerate(rows.fetchall()):
        m = Manifest.from_bytes(store.objects.get(oid, f"manifest of batch {batch}"), f"manifest of batch {batch}")
        n = len(m)
        trusted = bool(signed) and (source, keyid) not in revoked
        parts.append(pa.table({
            "digest": m.table.column("digest"),
            "batch_label": m.table.column("label"),
            "batch": pa.array([batch] * n, pa.string()),
            "source": pa.array([source] * n, pa.string()),
            "signed": pa.array([trusted] * n, pa.bool_()),
            "rank": pa.array([rank] * n, pa.int64()),
        }))
    if not parts:
        return pa.table({"digest": pa.array([], pa.binary(32)), "batch_label": pa.array([], pa.string()),
                         "batch": pa.array([], pa.string()), "source": pa.array([], pa.string()),
                         "signed": pa.array([], pa.bool_()), "rank": pa.array([], pa.int64())})
    return pa.concat_tables(parts)


def classify(manifest: Manifest, batches: pa.Table) -> pa.Table:
    """One lineage row per manifest row, in manifest order.

    When several batches carry a digest, the best evidence wins: a signed batch with the
    same label, then a signed batch with another label, then an unsigned batch; ties go
    to the batch registered first.
    """
    n = len(manifest)
    version = pa.table({"digest": manifest.table.column("digest"), "label": manifest.table.column("label"),
                        "row": pa.array(np.arange(n, dtype=np.int64))})
    joined = version.join(batches, "digest", join_type="left outer")
    signed = pc.fill_null(joined.column("signed"), False)
    same = pc.fill_null(pc.equal(joined.column("label"), joined.column("batch_label")), False)
    matched = pc.is_valid(joined.column("batch"))
    priority = pc.if_else(pc.and_(signed, same), 0, pc.if_else(signed, 1, pc.if_else(matched, 2, 3)))
    joined = joined.append_column("priority", priority)
    joined = joined.take(pc.sort_indices(joined, [("row", "ascending"), ("priority", "ascending"),
                                                  ("rank", "ascending")]))
    rows = joined.column("row").to_numpy()
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    best = joined.filter(pa.array(first))
    prio = best.column("priority")
    status = pc.if_else(pc.equal(prio, 0), ATTESTED, pc.if_else(pc.equal(prio, 1), RELABELED, UNATTRIBUTED))
    signed_label = pc.if_else(pc.less_equal(prio, 1), best.column("batch_label"), pa.scalar(None, pa.string()))
    return pa.table({
        "digest": best.column("digest"), "label": best.column("label"), "status": status,
        "source": best.column("source"), "batch": best.column("batch"), "signed_label": signed_label,
    }, schema=LINEAGE_SCHEMA)


def counts(table: pa.Table) -> dict[str, int]:
    values = table.column("status").to_pylist()
    return {s: values.count(s) for s in STATUSES}


def _to_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def commit_hook(store: Store, tag: str, hashed, predicate: dict) -> None:
    """Inside ``versions.commit``'s write: classify, store, and put the counts in the predicate."""
    table = classify(hashed.manifest, batch_records(store))
    oid = store.put_object(_to_bytes(table), "parquet")
    c = counts(table)
    store.db["version_lineage"].insert({"tag": tag, "object": oid, **c})
    predicate["lineage"] = {**c, "object": oid}


# --- reading it back ------------------------------------------------------------------

def version_lineage(store: Store, tag: str) -> pa.Table:
    """digest, label, status, source, batch, signed_label for every record of ``tag``.

    The object is checked against the lineage named in the version's signed predicate.
    A version committed without the lineage stage is all ``unattributed``.
    """
    row = store.version(tag)
    lin = store.db.execute("select object from version_lineage where tag = ?", [tag]).fetchone()
    signed = (versions.verified_statement(store, row)["predicate"].get("lineage") or {}).get("object")
    if lin is None and signed is None:
        m = versions.load_manifest(store, row)
        n = len(m)
        return pa.table({"digest": m.table.column("digest"), "label": m.table.column("label"),
                         "status": pa.array([UNATTRIBUTED] * n, pa.string()),
                         "source": pa.nulls(n, pa.string()), "batch": pa.nulls(n, pa.string()),
                         "signed_label": pa.nulls(n, pa.string())}, schema=LINEAGE_SCHEMA)
    if lin is None or lin[0] != signed:
        raise VerificationError(f"version {tag}: its lineage record differs from the lineage it signed")
    data = store.objects.get(signed, f"lineage of {tag}")
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise VerificationError(f"lineage of {tag}: not readable Parquet ({exc})") from exc
    return table.select(LINEAGE_SCHEMA.names).cast(LINEAGE_SCHEMA)


def _parse_digest(query: str) -> str:
    q = query.strip().lower()
    if len(q) < 8 or len(q) > 64 or any(c not in "0123456789abcdef" for c in q):
        raise InputError(f"digest {query!r}: give a record digest in hex (at least 8 characters)")
    return q


def _matches(column: pa.ChunkedArray, prefix: str) -> pa.ChunkedArray:
    whole = bytes.fromhex(prefix[: len(prefix) // 2 * 2])
    hits = pc.equal(pc.binary_slice(pc.cast(column, pa.binary()), 0, len(whole)), pa.scalar(whole, pa.binary()))
    return hits


def _resolve(store: Store, prefix: str, tables: dict[str, pa.Table]) -> bytes:
    found: set[bytes] = {r[0] for r in store.db.execute(
        "select distinct digest from batch_records where lower(hex(digest)) like ?", [prefix + "%"])}
    for table in tables.values():
        hits = table.filter(_matches(table.column("digest"), prefix)).column("digest").to_pylist()
        found.update(d for d in hits if d.hex().startswith(prefix))
    if not found:
        raise InputError(f"digest {prefix}: no record with this digest in any batch or version")
    if len(found) > 1:
        shown = ", ".join(sorted(d.hex()[:16] for d in found)[:5])
        raise InputError(f"digest {prefix}: matches {len(found)} records ({shown}); give more characters")
    return found.pop()


def record_lineage(store: Store, query: str) -> dict:
    """Where a record came from: its batches (source, signing key) and its label in every version."""
    prefix = _parse_digest(query)
    tables = {row["tag"]: version_lineage(store, row["tag"]) for row in store.versions()}
    digest = _resolve(store, prefix, tables)
    revoked = _revoked(store)
    batches = []
    for r in store.db.execute(
            "select b.batch, b.source, b.signed, b.keyid, r.label, b.captured_at, b.added_at from batch_records r "
            "join batches b on b.batch = r.batch where r.digest = ? order by b.audit_seq", [digest]):
        batch, source, signed, keyid, label, captured, added = r
        key_status = None if not signed else ("revoked" if (source, keyid) in revoked else "trusted")
        batches.append({"batch": batch, "source": source, "signed": bool(signed), "keyid": keyid,
                        "key_status": key_status, "label": label, "captured_at": captured, "added_at": added})
    out_versions = []
    for tag, table in tables.items():
        rows = table.filter(pc.equal(table.column("digest"), pa.scalar(digest, pa.binary(32)))).to_pylist()
        out_versions.append({
            "version": tag, "present": bool(rows), "labels": sorted({r["label"] for r in rows}),
            "status": rows[0]["status"] if rows else None, "source": rows[0]["source"] if rows else None,
            "batch": rows[0]["batch"] if rows else None, "signed_label": rows[0]["signed_label"] if rows else None,
        })
    first = next((v["version"] for v in out_versions if v["present"]), None)
    return {"digest": digest.hex(), "batches": batches, "first_version": first, "versions": out_versions}


def source_summary(store: Store, tag: str | None = None) -> dict:
    """Each source: its keys, batches and records, signed fraction, and lineage in ``tag``."""
    tag = tag or store.latest_version()
    table = version_lineage(store, tag) if tag else None
    names: set[str] = {r[0] for r in store.db.execute("select distinct source from trust")}
    names |= {r[0] for r in store.db.execute("select distinct source from batches")}
    in_version: dict[str, dict[str, int]] = {}
    unsourced = 0
    if table is not None:
        for (source, status), n in _group_counts(table).items():
            if source is None:
                unsourced += n
                continue
            names.add(source)
            in_version.setdefault(source, {s: 0 for s in STATUSES})[status] += n
    out = []
    for name in sorted(names):
        b = store.db.execute("select count(*), coalesce(sum(signed), 0), coalesce(sum(records), 0), "
                             "coalesce(sum(case when signed = 1 then records else 0 end), 0) "
                             "from batches where source = ?", [name]).fetchone()
        keys = [{"keyid": k.keyid, "status": k.status()} for k in _trust_entries(store, name)]
        v = in_version.get(name, {s: 0 for s in STATUSES})
        out.append({
            "source": name, "batches": b[0], "signed_batches": b[1], "records": b[2], "signed_records": b[3],
            "signed_fraction": round(b[3] / b[2], 6) if b[2] else None, "keys": keys,
            "version_records": sum(v.values()), **v, "relabels": v[RELABELED],
        })
    return {"version": tag, "sources": out, "unattributed_without_source": unsourced}


def _trust_entries(store: Store, source: str):
    from .trust import entries

    return entries(store, source)


def _group_counts(table: pa.Table) -> dict[tuple[str | None, str], int]:
    grouped = table.group_by(["source", "status"]).aggregate([("digest", "count")])
    return {(s, st): n for s, st, n in zip(grouped.column("source").to_pylist(), grouped.column("status").to_pylist(),
                                          grouped.column("digest_count").to_pylist())}


def lineage_json(table: pa.Table) -> list[dict]:
    """Rows as JSON-able dicts (digests in hex), for reports."""
    return [dict(r, digest=r["digest"].hex()) for r in table.to_pylist()]

