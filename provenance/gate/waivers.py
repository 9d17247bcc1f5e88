"""Reviewed exceptions: a signed statement that one finding (record digest, its label, and a
detector) on one version was looked at and accepted, with a reason.

A waiver counts only if its DSSE signature meets the ``waive`` role of what the verifier
pinned (``provenance.trust.pins``: a root file's waive keys, or the ``--signer`` keys; a key
that merely sits in the store, or that another role trusts, does not count) and it names
the version being checked; anything else is ignored and reported, never silently honoured.
Judging them is ``gate.waiver_judging`` (its names are re-exported here).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from provenance import clock, signing
from provenance.errors import InputError, ProvError
from provenance.gate.waiver_judging import (
    NOTHING_TO_WAIVE,
    PIN_HINT,
    PREDICATE_TYPE,
    Waivers,
    judge_waivers,
    labels_of,
    logged_waivers,
    pending_reason,
    read_waiver_files,
    with_effects,
)
from provenance.store import Store
from provenance.store.checkpoints import CheckpointKey
from provenance.trust.pins import private_key_for_role
from provenance.trust.roles import WAIVE

if TYPE_CHECKING:
    import pyarrow as pa
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from provenance.kept_log import KeptLog

MIN_PREFIX = 8  # hex characters, as prov lineage takes them (reports show 12); an ambiguous prefix is refused


def resolve_digest(digests: pa.Array | pa.ChunkedArray, prefix: str, version: str) -> str:
    """The one full digest (64 hex characters) among ``digests`` (32-byte values) starting with hex ``prefix``.

    Raises ``InputError`` naming ``version`` when no record or more than one has it.
    """
    import numpy as np

    from provenance.manifest import digest_matrix

    matrix = digest_matrix(digests).view(np.uint8).reshape(-1, 32)
    whole = bytes.fromhex(prefix[: len(prefix) // 2 * 2])
    hit = np.all(matrix[:, : len(whole)] == np.frombuffer(whole, dtype=np.uint8), axis=1)
    if len(prefix) % 2:  # an odd prefix ends in half a byte
        hit &= (matrix[:, len(whole)] >> 4) == int(prefix[-1], 16)
    found = {bytes(row).hex() for row in matrix[hit]}
    if not found:
        from provenance.names import short_digest

        shown = short_digest(prefix) + ("…" if len(prefix) > len(short_digest(prefix)) else "")
        raise InputError(f"waiver digest {shown}: no record of {version} has this digest")
    if len(found) > 1:
        raise InputError(f"waiver digest {prefix}: {len(found)} records of {version} start with it; give more of it")
    return found.pop()


def choose_label(labels: list[str | None], label: str | None, digest: str, version: str) -> str | None:
    """The label a waiver of ``digest`` on ``version`` binds: ``label`` when given (it must be one of ``labels``),
    else the only one. Raises ``InputError`` (exit 2) when the version holds the digest under several labels and
    none was given, or not under the given one."""
    said = ", ".join(repr(x) for x in labels)
    if label is not None:
        if label not in labels:
            raise InputError(f"--label {label!r}: record {digest[:12]} of {version} has label {said}, not {label!r}")
        return label
    if len(labels) > 1:
        raise InputError(
            f"record {digest[:12]} of {version} is held under labels {said}: give --label to say which row you "
            "accept (a waiver lets back one row, never every label of a digest)"
        )
    return labels[0] if labels else None


def create_waiver(
    store: Store,
    version: str,
    digest: str,
    detector: str,
    reason: str,
    key_path: str,
    label: str | None = None,
    kept_log: KeptLog | None = None,
    reviewed_file: str | None = None,
    judged_against: dict | None = None,
) -> dict:
    """Sign, store and audit-log a waiver of one finding (``prov waive``).

    The statement is an in-toto Statement v1 (predicate type ``PREDICATE_TYPE``) in a
    DSSE envelope signed with the Ed25519 key at ``key_path``; its subject is the record.

    Args:
        store: the open store.
        version: the version whose finding is accepted.
        digest: the record's content digest, 64 hex characters, or a prefix of at least
            ``MIN_PREFIX`` (8) that only one record of the version has (reports show 12).
        detector: the detector whose flag is accepted.
        reason: why, for a later reader (not empty).
        key_path: the reviewer's private key (PKCS#8 PEM): one the store's pins trust for
            ``waive`` (with nothing pinned, a key registered in the store).
        label: the label of the row accepted (:func:`choose_label`; needed when the version
            holds the digest under several labels).
        kept_log: ``--checkpoint PREV`` (``kept_log.KeptLog.held``), checked again first thing inside the write.
        reviewed_file: the hex SHA-256 of the reviewed findings file the waiver was made from (``prov waive
            --findings``, ``waivers_bulk``), signed into the predicate as ``reviewedFile``; None for one waiver.
        judged_against: ``{"base": tag, "baseRoot": its Merkle root hex, "fpr": float}``, the detection the finding
            was judged in (``prov waive --findings``), signed as ``judgedAgainst``: a check honours the waiver only
            against that base at that rate (attack review 34f, A34f-1); None for one waiver (any base and rate).

    Returns:
        ``{"waiver": object id, "version", "digest", "label", "detector", "keyid", "warnings",
        "already_waived"}``; ``already_waived`` when this key had signed a waiver of the same
        facts and reason, which is returned and nothing is written.

    Raises:
        InputError: unknown version, a malformed digest, an empty reason, a label the version
            does not hold the record under (or none where it holds several), or a key the
            verifier would not trust to waive (its waivers would be ignored) (exit 2);
            ``KeyFileError`` (exit 2) for an unreadable key file.
        StoreError: the store is read-only or its lock stays busy (``StoreBusyError``), exit 3.
        VerificationError: (exit 1, nothing written) the audit log no longer holds a kept state of ``kept_log``.
    """
    root = store.version(version)["merkle_root"]
    digest = digest.lower()
    if not MIN_PREFIX <= len(digest) <= 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InputError(
            f"waiver digest {digest!r}: expected the record's hex content digest "
            f"(64 characters, or the first {MIN_PREFIX} or more, as prov lineage takes it)"
        )
    if not reason.strip():
        raise InputError("a waiver needs a --reason a later reader can check")
    from provenance.detectors.registry import available_detectors

    known = ["combined", *available_detectors()]  # "combined": the verdict over all detectors
    if detector not in known:
        from provenance.names import did_you_mean

        # the rule detectors.extreme is no detector: it counts a record's combined evidence (newcomer review 11, #12)
        hint = (
            " (detectors.extreme counts a record's combined evidence: waive it with --detector combined, or a "
            "detector that flags it alone)"
            if detector == "extreme"
            else did_you_mean(detector, known)
        )
        raise InputError(f"--detector {detector!r}: no such detector{hint} (known: {', '.join(known)})")

    from provenance.version_facts import load_manifest

    table = load_manifest(store, store.version(version)).table
    digest = resolve_digest(table.column("digest"), digest, version)
    label = choose_label(labels_of(table, {digest}).get(digest, []), label, digest, version)
    private, keyid = private_key_for_role(store, key_path, WAIVE, "waivers")
    facts = {"version": version, "merkleRoot": root, "digest": digest, "label": label, "detector": detector}
    reviewed: dict[str, object] = {"reviewedFile": reviewed_file} if reviewed_file is not None else {}
    if judged_against is not None:
        reviewed["judgedAgainst"] = judged_against
    same = _same_waiver(store, facts | {"reason": reason} | reviewed, keyid, private.public_key())
    if same is not None:  # the tour's waive line run twice wrote two signed waivers (newcomer review 10, finding 22)
        shown = {k: v for k, v in facts.items() if k != "merkleRoot"}
        return shown | {"waiver": same, "keyid": keyid, "warnings": [], "already_waived": True}
    warnings = waiver_warnings(store, version, digest, detector)
    now = clock.now_iso()
    stmt = {
        "_type": signing.STATEMENT_TYPE,
        "subject": [{"name": f"{version}:{digest}", "digest": {"sha256": digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "version": version,
            "merkleRoot": root,
            "digest": digest,
            "label": label,
            "detector": detector,
            "reason": reason,
            "reviewer": keyid,
            "createdAt": now,
            **reviewed,
        },
    }
    envelope = signing.sign(stmt, private)
    with store.write(CheckpointKey(private, Path(key_path).stem)):  # the waiver's entry is not left pending
        if kept_log is not None:  # again under the lock: a log cut meanwhile is not signed over
            kept_log.require_held(store)
        oid = store.put_object(signing.canonical_json(envelope), "json")
        store.db.table("waivers").insert(
            {
                "object": oid,
                "version": version,
                "digest": digest,
                "detector": detector,
                "keyid": keyid,
                "created_at": now,
            },
            replace=True,
        )
        head = store.audit(
            "waiver", version, {"digest": digest, "label": label, "detector": detector, "object": oid, "keyid": keyid}
        )
        store.read_back(head, ("waivers", {"object": oid}, {"version": version, "digest": digest, "keyid": keyid}))
    return {
        "waiver": oid,
        "version": version,
        "digest": digest,
        "label": label,
        "detector": detector,
        "keyid": keyid,
        "warnings": warnings,
        "already_waived": False,
    }


def _same_waiver(store: Store, facts: dict, keyid: str, public: Ed25519PublicKey) -> str | None:
    """The object id of a stored waiver this key signed with exactly ``facts`` (version, Merkle root, digest,
    label, detector, reason), or None. Its signature is checked with the key, so a row a ``.prov/`` writer
    planted cannot make ``prov waive`` skip the reviewer's waiver; a waiver of another reviewer (a threshold
    may need two) or with another reason is not the same one."""
    rows = store.db["waivers"].rows_where(
        "version = ? and digest = ? and detector = ? and keyid = ?",
        [facts["version"], facts["digest"], facts["detector"], keyid],
        order_by="created_at",
    )

    from provenance.store.coverage import coverage
    from provenance.trust.pins import pins_of

    # only a waiver a check would rely on: its audit entry under a trusted signature (attack review 11, W11-1:
    # a rolled-back entry left a row the check ignores as pending, and the reviewer could not waive again)
    signed = coverage(store, pins_of(store).maintainer_keys(store)).signed
    logged = logged_waivers(store)
    for row in rows:
        seq = logged.get(row["object"])
        if seq is None or seq > signed:
            continue
        try:
            env = signing.parse_envelope(store.objects.get(row["object"], "waiver"), row["object"])
            pred = signing.verify(env, {keyid: public}, row["object"]).statement.get("predicate")
        except ProvError:
            continue
        if isinstance(pred, dict) and all(pred.get(k) == v for k, v in facts.items()):
            return str(row["object"])
    return None


def waiver_warnings(store: Store, version: str, digest: str, detector: str) -> list[str]:
    """Why a waiver of ``digest`` for ``detector`` on ``version`` may change nothing, one sentence each.

    ``prov check`` takes a record out of the detector rules only when a waiver names
    ``combined`` or a detector that flags the record on its own (``gate.detection``). So
    this warns when the latest stored detector run of ``version`` (``prov findings V``) did
    not flag the record with ``detector`` (naming the detectors that did), when no run is
    stored, and when a waiver of the same record on ``version`` already exists. Empty
    when none applies. Reads the store only.
    """
    from provenance.detectors.findings import stored_findings
    from provenance.gate.detection import COMBINED

    out = []
    for row in store.db["waivers"].rows_where("version = ? and digest = ?", [version, digest], order_by="created_at"):
        out.append(
            f"record {digest[:12]} of {version} already has a waiver ({row['detector']}, key {row['keyid'][:16]}, "
            f"{row['created_at']}, waiver {row['object'][:16]}); this one is kept beside it"
        )
    run = stored_findings(store, version, flagged_only=False)
    if run["run"] is None:
        return out + [
            f"no detector run is stored for {version}, so nothing shows {detector} flagged record {digest[:12]}; "
            f"the waiver takes effect only if a later run flags it (prov diff BASE {shlex.quote(version)} --detect)"
        ]
    finding = next((f for f in run["findings"] if f["digest"] == digest), None)
    where = f"the latest detector run on {version} (run {run['run'][:16]}, prov findings {shlex.quote(version)}{_stored_run_caveat(run)})"
    if finding is None:
        return out + [f"{where} did not score record {digest[:12]}: it is not in that run's delta"]
    from provenance.report.flagged import detector_entries, detector_flagged

    flagging = [d["detector"] for d in detector_entries(finding) if detector_flagged(d)]
    if detector == COMBINED:
        if not finding["flagged"]:
            out.append(f"the combined verdict did not flag record {digest[:12]} in {where}")
        return out
    if detector not in flagging:
        others = f"it was flagged by {', '.join(flagging)}" if flagging else "no detector flagged it alone"
        hint = "--detector combined" + (f", or {' / '.join(flagging)}" if flagging else "")
        verdict = "" if finding["flagged"] else "; the combined verdict did not flag it either"
        out.append(
            f"{detector} did not flag record {digest[:12]} in {where}: {others}{verdict}; "
            f"this waiver takes nothing out of prov check (use {hint})"
        )
    return out


def _stored_run_caveat(run: dict) -> str:
    """``; read from the stored run ...``: these warnings read a detector run nobody signs (what ``.prov/``
    says, attack review 9b, F9b-1), and a signed head that covers its audit entry dates it, it does not
    vouch for it (attack review 10, F10-1), so the caveat is always given."""
    return f"; read from the stored run, which nobody signs: prov findings {shlex.quote(run['version'])} --recompute checks it"


__all__ = [
    "MIN_PREFIX",
    "NOTHING_TO_WAIVE",
    "PIN_HINT",
    "PREDICATE_TYPE",
    "Waivers",
    "choose_label",
    "create_waiver",
    "judge_waivers",
    "labels_of",
    "pending_reason",
    "read_waiver_files",
    "resolve_digest",
    "waiver_warnings",
    "with_effects",
]
