"""The two sides of a diff: prov versions, or git revisions of a DVC-tracked path.

A version's manifest is trusted through one chain, checked before a row is compared:
its signed statement (signature by a registered key) names the manifest object's
SHA-256, and the object's bytes are hashed as they are read from the one open file.
The Merkle root is not recomputed: it is implied by the signed object digest, and
recomputing it would cost a hash per record. The lineage object the statement names is
checked the same way before its status column is read; that happens on a thread while
the verified manifests are merged (``delta.compare``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from provenance.delta.attribution import attributed_batches, side_uses_lineage_sources
from provenance.delta.signed_objects import LineageObject, ManifestObject
from provenance.delta.statuses import LINEAGE_STATUSES
from provenance.delta.windows import table_batches, table_fetcher, table_taker
from provenance.errors import InputError, VerificationError
from provenance.sources.interface import DatasetSpec
from provenance.store import Store
from provenance.version_facts import verified_statement

if TYPE_CHECKING:
    from provenance.lineage.standing import Untrusted

HISTORY_DEPTH = 8


@dataclass
class Side:
    """One side of a diff, as the merge and the report read it: a signed version or a git revision.

    ``open_batches()`` streams the manifest's digest, label and source in manifest order
    (``windows.SideStream.COLUMNS``); ``fetch(rows)`` gives ``(locators, batches)`` and
    ``take(rows, columns)`` gives columns of sorted manifest row numbers; ``verifiers``
    each hash one signed manifest object and raise ``VerificationError`` (exit 1), all
    before any row is compared (``verify_both``); ``lineage_status()`` hashes the signed
    lineage object the same way, then gives its statuses. A side built from git data has
    no verifiers: it was hashed from the data just now, and nothing signs it.
    """

    name: str
    kind: str  # "version" | "git"
    info: dict  # what the report says about this side
    schema: dict  # kind, columns, digestAlgorithm, labelColumn
    open_batches: Callable[[], Iterator[pa.RecordBatch]]
    fetch: Callable[[np.ndarray], tuple[list, list]]
    take: Callable[[np.ndarray, list[str]], dict[str, list]]  # columns of sorted manifest rows
    verifiers: list[Callable[[], None]]  # each hashes one signed manifest object (run on threads)
    label_counts: dict | None = None  # signed per-label counts, checked against the stream
    # verified lineage status ranks (int8), one per manifest row in order; None: every record unattributed
    lineage_status: Callable[[], np.ndarray] | None = None
    lineage_stage: bool = False  # the lineage stage is installed, so statuses mean something
    lineage_counts: dict | None = None  # signed status counts of the version
    history: list[dict] = field(default_factory=list)  # signed source counts, newest first
    # the columns the side reads as metadata, in no digest (its signed read options); None: not known (a revision,
    # or a version whose read options an older prov did not sign)
    metadata: tuple[str, ...] | None = None
    # records of no source column are named by their lineage batch's source (delta.attribution):
    # each source name -> how it was named ("source column", "signed batch", "unsigned batch")
    source_origins: dict[str, set[str]] = field(default_factory=dict)
    # the signed delta fact of a version's statement (``delta.signed_delta``): its change against its parent
    signed_delta: dict | None = None


def verify_both(a: Side, b: Side, meanwhile: Callable[[], None] | None = None) -> None:
    """Hash both sides' manifest objects at once (two threads), before any row is compared.

    ``meanwhile`` runs on this thread while they hash (the hashing releases the GIL): work
    that reads no row, such as importing what the report will need.
    """
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(check) for side in (a, b) for check in side.verifiers]
        if meanwhile is not None:
            meanwhile()
        for future in futures:
            future.result()


def _history(store: Store, row: dict) -> list[dict]:
    """Signed per-source counts of this version and its ancestors, newest first."""
    out: list[dict] = []
    seen: set[str] = set()
    current: dict | None = row
    while current is not None and len(out) < HISTORY_DEPTH + 1 and current["tag"] not in seen:
        seen.add(current["tag"])
        stmt = verified_statement(store, current)
        out.append(stmt["predicate"].get("sources") or {})
        current = store.version(current["parent"]) if current["parent"] else None
    return out


def version_side(
    store: Store, tag: str, with_history: bool = False, untrusted: Callable[[], dict[str, Untrusted]] | None = None
) -> Side:
    """The prov version ``tag`` as a diff side, after checking its signed statement.

    The statement's DSSE signature must verify under the verifier's pins, or the store's
    keys when nothing is pinned (``version_facts.verified_statement``); the manifest object and the signed lineage
    object (if any) are hashed later, by the side's ``verifiers``. A version without
    signed lineage counts every record ``unattributed``. ``with_history`` adds the
    signed per-source counts of the version and up to ``HISTORY_DEPTH`` ancestors,
    newest first (for the volume signals). ``untrusted`` returns
    ``lineage.standing.untrusted_batches(store)`` (a diff passes one cached call for both sides,
    so the signed batches' envelopes are judged once); None: judged here.

    Raises:
        InputError: no version ``tag`` in the store (exit 2).
        VerificationError: the statement's signature or what it names does not match the
            version's row, or the store's lineage record is not the lineage object the
            version signed (exit 1).
    """
    row = store.version(tag)
    stmt = verified_statement(store, row)
    pred = stmt["predicate"]
    dataset = json.loads(row["dataset"]) if row.get("dataset") else {}
    info = {
        "name": tag,
        "kind": "version",
        "records": row["records"],
        "merkle_root": row["merkle_root"],
        "keyid": row["keyid"],
        "signature": "ok",
        "parent": row["parent"],
        "created_at": row["created_at"],
        "path": dataset.get("path"),
        "rev": dataset.get("rev"),
    }
    schema = dict(pred.get("schema") or {})
    # A version committed without signed lineage is all unattributed; a signed lineage
    # object is checked like the manifest and only its status column is read.
    signed_lineage = pred.get("lineage") or {}
    lineage = (
        LineageObject(store, signed_lineage["object"], f"lineage of {tag}", row["records"])
        if signed_lineage.get("object")
        else None
    )
    if lineage is not None:
        recorded = store.db.execute("select object from version_lineage where tag = ?", [tag]).fetchone()
        if recorded is None or recorded[0] != lineage.oid:
            raise VerificationError(f"version {tag}: its lineage record differs from the lineage it signed")
    counts = (
        {k: int(signed_lineage.get(k, 0)) for k in LINEAGE_STATUSES}
        if signed_lineage
        else {"attested": 0, "relabeled_after_source": 0, "unattributed": row["records"]}
    )
    manifest = ManifestObject(store, row)
    side = Side(
        tag,
        "version",
        info,
        schema,
        manifest.batches,
        manifest.fetch,
        manifest.take,
        [manifest.verify],
        pred.get("labels"),
        lineage.all_statuses if lineage else None,
        True,
        counts,
        _history(store, row) if with_history else [],
        signed_delta=pred.get("delta"),
        metadata=_signed_metadata(store, row, pred),
    )
    if lineage is not None:
        from provenance.lineage.judged import statuses_under_pins

        side.info["lineage_not_trusted"] = []
        # as prov check judges it, after a revocation
        judged = statuses_under_pins(store, tag, LINEAGE_STATUSES, untrusted() if untrusted else None)
        if judged is not None:
            ranks, side.lineage_counts, side.info["lineage_not_trusted"] = judged
            side.lineage_status = lambda: ranks
    if lineage is not None and side_uses_lineage_sources(pred.get("sources"), True):
        side.verifiers.append(lineage.verify)  # hashed beside the manifest, before its sources are read
        side.open_batches = attributed_batches(manifest.batches, lineage.reader, side.source_origins, lineage.name)
    return side


# --- git revisions of a DVC-tracked path ------------------------------------------------


WORKSPACE = "workspace"
"""The name of the working copy as a side of ``prov diff REV workspace --path P`` (DVC's word for it)."""

_COMMIT_ID = re.compile(r"[0-9a-f]{40}")


def _matching_version(store: Store | None, root: str, rel_path: str, commit: str) -> str | None:
    """A committed prov version of the same path at the same git commit, to reuse its manifest.

    Only a version that stored the commit id itself matches: one that stored a symbolic
    name (``HEAD``, a branch; versions before ids were stored) named whatever commit it
    pointed to then, which re-resolving today cannot tell.
    """
    if store is None:
        return None
    for row in reversed(store.versions()):
        spec = json.loads(row["dataset"] or "{}")
        if spec.get("rev") != commit or not _COMMIT_ID.fullmatch(commit):
            continue
        path = spec["path"]
        path = os.path.relpath(os.path.abspath(path if os.path.isabs(path) else os.path.join(root, path)), root)
        if path == rel_path:
            return row["tag"]
    return None


def git_side(store: Store | None, rev: str, spec: DatasetSpec) -> Side:
    """One side of ``prov diff A B --path P``: ``P`` at the git revision ``rev`` read through DVC, or
    (``rev`` = ``workspace``) the working copy as it is on disk. A committed version of ``P`` at the
    same commit is reused (its signed manifest is read instead of the data).

    Raises ``InputError`` for an unknown revision or a path outside the repository, and
    ``sources.dvc.MissingData`` when DVC no longer has the data at that revision.
    """
    from provenance.sources.build import build_manifest  # here: a version's side reads no data
    from provenance.sources.dvc import repo_root, resolve_revision

    root = repo_root(spec)
    rel = os.path.relpath(os.path.abspath(spec.path), root)
    if rel.startswith(".."):
        raise InputError(f"--path {spec.path}: is outside the git repository {root}")
    if rev == WORKSPACE:
        commit = None
        read = dataclasses.replace(spec, path=os.path.join(root, rel), rev=None, repo=None)
    else:
        commit = resolve_revision(root, rev)
        reused = _matching_version(store, root, rel, commit)
        if reused is not None and store is not None:
            side = version_side(store, reused)
            side.info.update(
                {"name": rev, "kind": "git", "rev": rev, "commit": commit, "reused_version": reused, "repo": root}
            )
            side.name, side.kind = rev, "git"
            return side
        read = dataclasses.replace(spec, path=rel, rev=commit, repo=root)
    hashed = build_manifest(read)
    manifest = hashed.manifest
    info = {
        "name": rev,
        "kind": "git",
        "records": len(manifest),
        "merkle_root": None,
        "keyid": None,
        "signature": "not signed (the working copy)" if commit is None else "not signed (built from git through DVC)",
        "parent": None,
        "created_at": None,
        "path": rel,
        "repo": root,
        "rev": rev,
        "commit": commit,
        "reused_version": None,
    }
    schema = hashed.schema_fact()
    return Side(
        rev,
        "git",
        info,
        schema,
        lambda: table_batches(manifest.table),
        table_fetcher(manifest.table),
        table_taker(manifest.table),
        [],
        None,
        None,
        True,
        {"attested": 0, "relabeled_after_source": 0, "unattributed": len(manifest)},
    )


def check_comparable(base: Side, new: Side) -> None:
    """Two sides must hold the same kind of records (table rows or files).

    Other schema differences (columns renamed, added or retyped, the label's type, the
    class list, the row encoding) are reported by the diff (``delta/schema.py``), not refused.

    Raises:
        InputError: the sides hold different kinds of records.
    """
    a, b = base.schema.get("kind"), new.schema.get("kind")
    if a != b:
        raise InputError(
            f"{base.name} and {new.name} are different datasets: record kind {a!r} vs {b!r}; "
            "a record-level diff needs the same kind of records"
        )


def _signed_metadata(store: Store, row: dict, pred: dict) -> tuple[str, ...] | None:
    """The metadata columns version ``row`` signed among its read options (``--metadata``: read, in no digest), or
    None when its predicate signs no read options a dataset can be built from (an older prov, a tree)."""
    from provenance.version_facts import dataset_from_predicate

    try:
        options = dataset_from_predicate(store, row, pred).options
    except InputError:
        return None
    columns = getattr(options, "metadata_columns", None)
    return tuple(str(c) for c in columns) if columns is not None else None
