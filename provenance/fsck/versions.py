"""fsck of each version: its signature verifies, the facts it signed (counts, labels,
sources, schema, dataset, audit head, quarantine) equal what the store holds, and its
lineage and reference profile are the ones it signed."""

from __future__ import annotations

import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq

from provenance.delta.delta_check import check_signed_delta
from provenance.errors import VerificationError
from provenance.fsck.problems import Inspection
from provenance.lineage.layout import object_format
from provenance.manifest import Manifest
from provenance.profiles.reference import ReferenceProfile
from provenance.sources.interface import DatasetSpec
from provenance.store import audit
from provenance.version_facts import load_manifest, verified_statement


def check_version(insp: Inspection, row: dict) -> None:
    """One ``versions`` row against its signed statement, its manifest and the audit log."""
    store, tag = insp.opened, row["tag"]
    check = f"version {tag}"
    insp.report.checked["versions"] += 1
    stmt = verified_statement(store, row)
    manifest = load_manifest(store, row)
    pred = stmt.get("predicate") or {}
    facts = {
        "records": (pred.get("records"), row["records"]),
        "manifest rows": (pred.get("records"), len(manifest)),
        "createdAt": (pred.get("createdAt"), row["created_at"]),
        "schema.kind": ((pred.get("schema") or {}).get("kind"), row["kind"]),
        "labels": (pred.get("labels"), manifest.label_counts()),
        "sources": (pred.get("sources"), manifest.source_counts()),
    }
    for name, (signed, stored) in facts.items():
        if signed != stored:
            insp.error(check, f"signed {name} is {signed!r} but the store has {stored!r}")
    spec = json.loads(row["dataset"])
    DatasetSpec.from_dict(spec)
    if "dataset" in pred and pred["dataset"] != spec:
        insp.error(check, "its dataset (where verify reads the records) differs from the signed one")
    labels_column = (pred.get("schema") or {}).get("labelColumn")
    if row["kind"] == "table" and labels_column != (spec.get("options") or {}).get("label_column"):
        insp.error(check, f"signed label column {labels_column!r} differs from the stored dataset's")
    head = pred.get("auditLogHead")
    earlier = {e["hash"] for e in insp.entries if e["seq"] < (row["audit_seq"] or 0)}
    if head != audit.GENESIS and head not in earlier:
        insp.error(check, "the audit head it signed is not an entry before its commit")
    if (
        row["parent"] is not None
        and not store.db.execute("select 1 from versions where tag = ?", [row["parent"]]).fetchone()
    ):
        insp.error(check, f"its parent {row['parent']!r} is not in the store")
    check_version_lineage(insp, row, pred, manifest)
    try:  # the delta it signed against its parent, recomputed from both manifests
        check_signed_delta(store, row, pred)
    except VerificationError as exc:
        insp.error(check, str(exc).removeprefix(f"{check}: "))
    check_version_profile(insp, row, pred)
    quarantine = pred.get("quarantine")
    entries = [e for e in insp.by_action.get("quarantine", []) if e["subject"] == tag]
    if quarantine is not None and [e["detail_obj"] for e in entries] != [quarantine]:
        insp.error(check, "its signed quarantine facts differ from the audit log's")
    if quarantine is None and entries:
        insp.error(check, "the audit log records a quarantine its signed statement does not")


def check_version_lineage(insp: Inspection, row: dict, pred: dict, manifest: Manifest) -> None:
    """The version's lineage row and object equal the lineage counts it signed, record for record."""
    check = f"version {row['tag']}"
    signed = pred.get("lineage")
    try:
        lin = insp.db.execute(
            "select object, attested, relabeled_after_source, unattributed from version_lineage where tag = ?",
            [row["tag"]],
        ).fetchone()
    except sqlite3.OperationalError:
        lin = None
    if signed is None:
        if lin is not None:
            insp.error(check, "the store holds lineage for it that it never signed")
        return
    if lin is None:
        insp.error(check, "its signed lineage is missing from the store")
        return
    stored = {"object": lin[0], "attested": lin[1], "relabeled_after_source": lin[2], "unattributed": lin[3]}
    if stored != signed:
        insp.error(check, f"its lineage row {stored} differs from the signed {signed}")
        return
    data = insp.opened.objects.get(lin[0], f"lineage of {row['tag']}")
    table = pq.ParquetFile(pa.BufferReader(data)).read()
    fmt = object_format(table.schema, f"lineage of {row['tag']}")  # format 2 pairs rows with the manifest by position
    if (
        table.num_rows != len(manifest)
        or (fmt == 1 and table.column("digest").to_pylist() != manifest.digests)
        or table.column("label").to_pylist() != manifest.labels
    ):
        insp.error(check, "its lineage object does not list the version's records")
    statuses = table.column("status").to_pylist()
    counts = {s: statuses.count(s) for s in ("attested", "relabeled_after_source", "unattributed")}
    if any(counts[k] != signed.get(k) for k in counts):
        insp.error(check, f"its lineage object counts {counts}, but it signed {signed}")


def check_version_profile(insp: Inspection, row: dict, pred: dict) -> None:
    """The version's reference profile row equals the profile it signed, and the profile object reads."""
    check = f"version {row['tag']}"
    signed = pred.get("profile")
    try:
        stored = insp.db.execute(
            "select object, featurizer, dim, sample from profiles where version = ?", [row["tag"]]
        ).fetchone()
    except sqlite3.OperationalError:  # a store made before profiles existed
        return
    if not signed or signed.get("status") != "ok":
        if stored is not None:
            insp.error(check, "the store holds a reference profile for it that it never signed")
        return
    if stored is None:
        insp.error(check, "its signed reference profile is missing from the store")
        return
    facts = {
        "object": (signed.get("sha256"), stored[0]),
        "featurizer": (pred.get("featurizer"), stored[1]),
        "dim": (signed.get("dim"), stored[2]),
        "sample": (signed.get("sample"), stored[3]),
    }
    for name, (want, have) in facts.items():
        if want != have:
            insp.error(check, f"its profile's {name} is {have!r} in the store but {want!r} in its signed statement")
    ReferenceProfile.from_bytes(insp.opened.objects.get(stored[0], f"profile of {row['tag']}"))
