"""Lineage queries for people: where one record came from, and what each source contributed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.errors import InputError
from provenance.lineage.classify import ATTESTED, RELABELED, STATUSES, revoked_keys, version_lineage
from provenance.store import Store
from provenance.trust.source_keys import entries as trust_entries
from provenance.version_facts import newest_version, quarantine_versions


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
    found: set[bytes] = {
        r[0]
        for r in store.db.execute(
            "select distinct digest from batch_records where lower(hex(digest)) like ?", [prefix + "%"]
        )
    }
    for table in tables.values():
        hits = table.filter(_matches(table.column("digest"), prefix)).column("digest").to_pylist()
        found.update(d for d in hits if d.hex().startswith(prefix))
    if not found:
        raise InputError(f"digest {prefix}: no record with this digest in any batch or version")
    if len(found) > 1:
        from provenance.names import short_digest

        shown = ", ".join(sorted(short_digest(d.hex()) for d in found)[:5])
        raise InputError(f"digest {prefix}: matches {len(found)} records ({shown}); give more characters")
    return found.pop()


def record_lineage(store: Store, query: str) -> dict:
    """Where a record came from: its batches (source, signing key) and its label in every version.

    Each version's ``status`` is its lineage judged under ``store.pins`` as ``prov check`` judges it
    (``lineage.judged``); ``signed_status`` is what the version signed, and ``not_trusted`` why the
    two differ (the batch's key was revoked, or the pins never vouched for it), else None;
    ``quarantined`` how a signed quarantine cut the record out of it (:func:`_mark_quarantines`).
    """
    from provenance.lineage.judged import judge_lineage
    from provenance.lineage.standing import untrusted_batches

    prefix = _parse_digest(query)
    as_signed = {row["tag"]: version_lineage(store, row["tag"]) for row in store.versions()}
    digest = _resolve(store, prefix, as_signed)
    untrusted = untrusted_batches(store)
    tables, lost = dict(as_signed), {}
    for tag, table in as_signed.items():
        row = table.filter(pc.equal(table.column("digest"), pa.scalar(digest, pa.binary(32)))).to_pylist()
        if row and row[0]["status"] == ATTESTED and row[0]["batch"] in untrusted:
            judged = judge_lineage(store, tag, untrusted)
            tables[tag] = judged.table
            lost[tag] = {item["batch"]: item["reason"] for item in judged.not_trusted}
    revoked = revoked_keys(store)
    batches = []
    for r in store.db.execute(
        "select b.batch, b.source, b.signed, b.keyid, r.label, b.captured_at, b.added_at, b.envelope_object "
        "from batch_records r join batches b on b.batch = r.batch where r.digest = ? order by b.audit_seq",
        [digest],
    ):
        batch, source, signed, keyid, label, captured, added, envelope = r
        key_status = None if not signed else ("revoked" if (source, keyid) in revoked else "trusted")
        batches.append(
            {
                "batch": batch,
                "source": source,
                "signed": bool(signed),
                "keyid": keyid,
                "key_status": key_status,
                "label": label,
                "captured_at": captured,
                "added_at": added,
                "source_locators": _source_locators(store, batch, envelope, digest) if signed else [],
            }
        )
    out_versions = []
    for tag, table in tables.items():
        rows = table.filter(pc.equal(table.column("digest"), pa.scalar(digest, pa.binary(32)))).to_pylist()
        was = as_signed[tag].filter(pc.equal(as_signed[tag].column("digest"), pa.scalar(digest, pa.binary(32))))
        signed_status = was.column("status")[0].as_py() if was.num_rows else None
        out_versions.append(
            {
                "version": tag,
                "present": bool(rows),
                "labels": sorted({r["label"] for r in rows}),
                "status": rows[0]["status"] if rows else None,
                "signed_status": signed_status,
                "not_trusted": (
                    lost.get(tag, {}).get(was.column("batch")[0].as_py())
                    if rows and rows[0]["status"] != signed_status
                    else None
                ),
                "source": rows[0]["source"] if rows else None,
                "batch": rows[0]["batch"] if rows else None,
                "signed_label": rows[0]["signed_label"] if rows else None,
            }
        )
    _mark_quarantines(store, out_versions)
    _mark_rekeyed(store, digest, out_versions, tables)
    first = next((v["version"] for v in out_versions if v["present"]), None)
    return {"digest": digest.hex(), "batches": batches, "first_version": first, "versions": out_versions}


MAX_REKEY_DIFFS = 3  # schema changes a record's lineage follows (each a diff of two versions)


def _mark_rekeyed(store: Store, digest: bytes, versions: list[dict], tables: dict[str, pa.Table]) -> None:
    """Set each version's ``rekeyed``: where the record is absent right after a version that held it and a schema
    change re-keyed it there, ``{"digest": new hex, "from": the version that held it, "label", "status"}`` as
    ``prov diff`` pairs it (by content, without loss: ``delta.compare``'s ``kept_base``/``rekeyed``), else None; a
    record re-keyed is there under a new digest, not absent (newcomer review 31, #2). At most ``MAX_REKEY_DIFFS``
    diffs are run."""
    from provenance.delta.compare import diff_versions
    from provenance.sources.schema_delta import schema_problem
    from provenance.version_facts import verified_statement

    def types(tag: str) -> object:
        schema = verified_statement(store, store.version(tag))["predicate"].get("schema") or {}
        return None if schema_problem(schema) is not None else schema.get("types")

    runs, before = 0, None
    for v in versions:
        v["rekeyed"] = None
        held = before
        before = v["version"] if v["present"] else None
        if v["present"] or held is None or v["quarantined"] or runs >= MAX_REKEY_DIFFS:
            continue
        if types(held) == types(v["version"]):
            continue
        runs += 1
        delta = diff_versions(store, held, v["version"]).delta
        kept, rekeyed = delta.get("kept_base"), delta.get("rekeyed")
        if kept is None or rekeyed is None or len(kept) != len(rekeyed):
            continue
        hits = np.flatnonzero(np.asarray(kept, dtype="S32") == np.bytes_(digest))
        if not len(hits):
            continue
        new = bytes(np.asarray(rekeyed, dtype="S32")[hits[0]])
        table = tables[v["version"]]
        rows = table.filter(pc.equal(table.column("digest"), pa.scalar(new, pa.binary(32)))).to_pylist()
        v["rekeyed"] = {
            "digest": new.hex(),
            "from": held,
            "labels": sorted({r["label"] for r in rows}),
            "status": rows[0]["status"] if rows else None,
        }


def _source_locators(store: Store, batch: str, envelope: str | None, digest: bytes) -> list[str]:
    """Where the source's own batch holds the record (its id, ``file#row`` or path, as it signed it), so a finding
    can be put to the vendor ("LC-001566 looks mislabelled"; newcomer review 11, finding 4): read from the manifest
    the batch's envelope carries, only when it verifies under the pins (``evidence.verified_batch``), else none."""
    from provenance.lineage.evidence import verified_batch

    evidence = verified_batch(store, batch, envelope)
    if evidence is None:
        return []
    table = evidence[1].table
    hits = table.filter(pc.equal(table.column("digest"), pa.scalar(digest, pa.binary(32))))
    return sorted({str(x) for x in hits.column("locator").to_pylist() if x is not None})


def _mark_quarantines(store: Store, versions: list[dict]) -> None:
    """Set each version's ``quarantined``: how a signed ``prov quarantine`` cut the record out of it (``"source S"``
    or ``"findings"``) when the record is absent there and present in the version it was cut from, else None."""
    present = {v["version"]: v["present"] for v in versions}
    cuts = quarantine_versions(store)
    for v in versions:
        facts = cuts.get(v["version"])
        cut = facts is not None and not v["present"] and present.get(facts.get("from")) is True
        if not cut or facts is None:
            v["quarantined"] = None
        else:
            v["quarantined"] = f"source {facts['source']}" if isinstance(facts.get("source"), str) else "findings"


def source_summary(store: Store, tag: str | None = None) -> dict:
    """Each source: its keys, batches and records, signed fraction, and lineage in ``tag``; and every withdrawal.

    ``tag`` defaults to the newest version by the audit log (``version_facts.newest_version``:
    ``VerificationError`` when that version's row is missing or does not verify).

    The lineage counts (``attested``, ``relabeled_after_source``, ``unattributed``) are the
    version's signed lineage judged under ``store.pins`` as ``prov check`` judges it
    (``lineage.judged``): after a revocation, the revoked key's batches attest nothing.
    Returns ``{"version", "sources": [...], "unattributed_without_source", "withdrawals",
    "lineage_not_trusted", "batches_not_attesting"}`` (``JudgedLineage.not_trusted``; each source's own items,
    without ``source``, are its ``not_trusted``; ``batches_not_attesting``: every registered signed batch,
    in any version or none, that attests nothing under the pins, ``standing.untrusted_batches``: a revoked
    key's registration stays named there, with its revocation, after it was registered again);
    ``keys_pinned``: whether signatures were judged under keys the verifier pins (false with nothing pinned: checked
    only against keys found in ``.prov/``, no trust decision);
    each source has ``registered_batches`` (``[{"batch": "SOURCE@ROOT12", "signed", "records", "withdrawn",
    "keys_pinned", "signature_not_trusted"}]``, ``keys_pinned`` null for an unsigned batch; a batch whose signature
    attests nothing under the pins has ``signed`` false and ``signature_not_trusted`` its reason, and counts in no
    ``signed_batches``/``signed_records``/``signed_fraction``; in
    registration order: the ids ``prov withdraw`` takes), ``withdrawn_batches`` (how many of its batches a withdrawal the pins
    honour covers) and ``quarantined_in`` (the versions that are a signed ``prov quarantine
    --source`` of it), and ``withdrawals`` is ``withdraw.withdrawal_summary``: every
    ``prov withdraw`` entry with status ``withdrawn`` (reason, signing key id) or
    ``not relied on`` (and why), judged under the store's pins as the gate judges it.
    """
    from provenance.lineage.judged import judge_lineage
    from provenance.lineage.withdraw import withdrawal_summary

    tag = tag or newest_version(store)
    judged = judge_lineage(store, tag) if tag else None
    table = judged.table if judged is not None else None
    not_trusted = judged.not_trusted if judged is not None else []
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
    withdrawals = withdrawal_summary(store)
    cuts = quarantine_versions(store)
    from provenance.trust.pins import pins_of

    # with nothing pinned a batch's signature was checked against keys found in .prov/ (prov add --store-keys): signed,
    # but no trust decision, and said so beside every signed count (attack review 33e)
    keys_pinned = pins_of(store).pinned
    from provenance.lineage.standing import untrusted_batches

    # a batch whose signature attests nothing under the pins (a key they never vouched for: prov add --store-keys under
    # pins, a revoked key) is counted as no signature at all, never as "signed 100%" (attack review 34f, A34f-3)
    untrusted = untrusted_batches(store)
    withdrawn = {(w["source"], w["batch"]) for w in withdrawals if w["status"] == "withdrawn"}
    out = []
    for name in sorted(names):
        delivered = [_judged_delivery(d, untrusted) for d in _deliveries(store, name)]
        records = sum(d["records"] for d in delivered)
        signed_records = sum(d["records"] for d in delivered if d["signed"])
        keys = [{"keyid": k.keyid, "status": k.status()} for k in trust_entries(store, name)]
        v = in_version.get(name, {s: 0 for s in STATUSES})
        out.append(
            {
                "source": name,
                "batches": len(delivered),
                "signed_batches": sum(1 for d in delivered if d["signed"]),
                "records": records,
                "signed_records": signed_records,
                "signed_fraction": round(signed_records / records, 6) if records else None,
                # the ids prov withdraw takes (newcomer review 32: withdraw's help said prov sources lists them)
                "registered_batches": [
                    {
                        **d,
                        "withdrawn": (name, d["batch"]) in withdrawn,
                        "keys_pinned": keys_pinned if d["signed"] or d["signature_not_trusted"] else None,
                    }
                    for d in delivered
                ],
                "keys": keys,
                "version_records": sum(v.values()),
                **v,
                "relabels": v[RELABELED],
                "withdrawn_batches": sum(1 for source, _ in withdrawn if source == name),
                "quarantined_in": sorted(t for t, facts in cuts.items() if facts.get("source") == name),
                "not_trusted": [
                    {k: item[k] for k in ("batch", "reason", "records")}
                    for item in not_trusted
                    if item["source"] == name
                ],
            }
        )
    return {
        "version": tag,
        "keys_pinned": keys_pinned,
        "sources": out,
        "unattributed_without_source": unsourced,
        "withdrawals": withdrawals,
        "lineage_not_trusted": not_trusted,
        "batches_not_attesting": [u.to_dict() for u in untrusted.values()],
    }


def _judged_delivery(delivery: dict, untrusted: dict) -> dict:
    """``delivery`` (:func:`_deliveries`) with ``signature_not_trusted``: why its signature attests nothing under the
    pins (``standing.untrusted_batches``' reason), and then ``signed`` false; None for a batch signed by a key that
    counts, or registered unsigned."""
    item = untrusted.get(delivery["batch"]) if delivery["signed"] else None
    reason = item.reason if item is not None else None
    return {**delivery, "signed": delivery["signed"] and reason is None, "signature_not_trusted": reason}


def _deliveries(store: Store, source: str) -> list[dict]:
    """The batches ``source`` delivered, in registration order: ``{"batch": "SOURCE@ROOT12[.N]", "signed": bool,
    "records": int}``, each batch once: its newest registration (``SOURCE@ROOT12.N``, the same records registered
    again after a revocation: ``lineage.batch_ids``) stands for the earlier ones, so re-signed records are not
    counted twice (newcomer review 21: 800 records from a source that delivered 400)."""
    from provenance.lineage.batch_ids import first_registration

    newest: dict[str, tuple[int, dict]] = {}
    for batch, signed, records in store.db.execute(
        "select batch, signed, records from batches where source = ? order by rowid", [source]
    ):
        first, n = first_registration(str(batch))
        if first not in newest or n > newest[first][0]:
            newest[first] = (n, {"batch": str(batch), "signed": bool(signed), "records": int(records or 0)})
    return [entry for _, entry in newest.values()]


def _group_counts(table: pa.Table) -> dict[tuple[str | None, str], int]:
    grouped = table.group_by(["source", "status"]).aggregate([("digest", "count")])
    return {
        (s, st): n
        for s, st, n in zip(
            grouped.column("source").to_pylist(),
            grouped.column("status").to_pylist(),
            grouped.column("digest_count").to_pylist(),
        )
    }
