"""Reviewed exceptions: a signed statement that one finding (record digest + detector) on
one version was looked at and accepted, with a reason.

A waiver counts only if its DSSE signature meets the ``waive`` role of what the verifier
pinned (``provenance.trust.pins``: a root file's waive keys, or the ``--signer`` keys; a key
that merely sits in the store, or that another role trusts, does not count) and it names
the version being checked; anything else is ignored and reported, never silently honoured.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from provenance import clock, input_file, signing
from provenance.errors import InputError, VerificationError
from provenance.store import Store
from provenance.store.checkpoints import CheckpointKey
from provenance.trust.pins import private_key_for_role
from provenance.trust.roles import WAIVE, RoleKeys, verify_role

if TYPE_CHECKING:
    import pyarrow as pa

# The in-toto predicate type of a waiver statement (schemas/waiver.schema.json).
PREDICATE_TYPE = "https://prov.dev/waiver/v1"
MIN_PREFIX = 12  # hex characters: what text reports show of a digest
# What an ignored waiver's reader can do about a key the verifier does not trust to waive.
PIN_HINT = (
    "to honour it, pin the reviewer's public key (--signer KEY.pub or PROV_SIGNERS, or the root file's waive role)"
)
NOTHING_TO_WAIVE = "nothing to waive"


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
        raise InputError(f"waiver digest {prefix[:16]}…: no record of {version} has this digest")
    if len(found) > 1:
        raise InputError(f"waiver digest {prefix}: {len(found)} records of {version} start with it; give more of it")
    return found.pop()


def create_waiver(store: Store, version: str, digest: str, detector: str, reason: str, key_path: str) -> dict:
    """Sign, store and audit-log a waiver of one finding (``prov waive``).

    The statement is an in-toto Statement v1 (predicate type ``PREDICATE_TYPE``) in a
    DSSE envelope signed with the Ed25519 key at ``key_path``; its subject is the record.

    Args:
        store: the open store.
        version: the version whose finding is accepted.
        digest: the record's content digest, 64 hex characters, or a prefix of at least
            ``MIN_PREFIX`` that only one record of the version has (reports show 12).
        detector: the detector whose flag is accepted.
        reason: why, for a later reader (not empty).
        key_path: the reviewer's private key (PKCS#8 PEM): one the store's pins trust for
            ``waive`` (with nothing pinned, a key registered in the store).

    Returns:
        ``{"waiver": object id, "version", "digest", "detector", "keyid"}``.

    Raises:
        InputError: unknown version, a malformed digest, an empty reason, or a key the
            verifier would not trust to waive (its waivers would be ignored) (exit 2);
            ``KeyFileError`` (exit 2) for an unreadable key file.
        StoreError: the store is read-only or its lock stays busy (``StoreBusyError``), exit 3.
    """
    root = store.version(version)["merkle_root"]
    digest = digest.lower()
    if not MIN_PREFIX <= len(digest) <= 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InputError(
            f"waiver digest {digest!r}: expected the record's hex content digest "
            f"(64 characters, or the first {MIN_PREFIX} or more as reports show it)"
        )
    if not reason.strip():
        raise InputError("a waiver needs a --reason a later reader can check")
    from provenance.detectors.registry import available_detectors

    known = ["combined", *available_detectors()]  # "combined": the verdict over all detectors
    if detector not in known:
        raise InputError(f"--detector {detector!r}: no such detector (known: {', '.join(known)})")

    from provenance.version_facts import load_manifest

    digests = load_manifest(store, store.version(version)).table.column("digest")
    digest = resolve_digest(digests, digest, version)
    private, keyid = private_key_for_role(store, key_path, WAIVE, "waivers")
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
            "detector": detector,
            "reason": reason,
            "reviewer": keyid,
            "createdAt": now,
        },
    }
    envelope = signing.sign(stmt, private)
    with store.write(CheckpointKey(private, Path(key_path).stem)):  # the waiver's entry is not left pending
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
        store.audit("waiver", version, {"digest": digest, "detector": detector, "object": oid, "keyid": keyid})
    return {
        "waiver": oid,
        "version": version,
        "digest": digest,
        "detector": detector,
        "keyid": keyid,
        "warnings": warnings,
    }


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
            f"the waiver takes effect only if a later run flags it (prov diff BASE {version} --detect)"
        ]
    finding = next((f for f in run["findings"] if f["digest"] == digest), None)
    where = f"the latest detector run on {version} (run {run['run'][:16]}, prov findings {version})"
    if finding is None:
        return out + [f"{where} did not score record {digest[:12]}: it is not in that run's delta"]
    flagging = [d["detector"] for d in finding.get("detectors") or [] if d.get("flagged")]
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


def _judge(env_bytes: bytes, origin: str, version: str, role: RoleKeys, root: str) -> tuple[dict | None, str | None]:
    """(predicate, None) for a valid waiver of ``version`` whose Merkle root is ``root``; (partial facts, reason) otherwise.

    The root binds a waiver to the exact version reviewed: a tag name alone would let the
    waivers of ``v3`` in one store (or of a re-committed ``v3``) waive another ``v3``.
    """
    try:
        env = signing.parse_envelope(env_bytes, origin)
    except InputError as exc:
        return None, f"not a DSSE envelope ({exc})"
    unverified = signing.unverified_statement(env)
    claimed = unverified.get("predicate") if isinstance(unverified, dict) else None
    if not isinstance(claimed, dict):
        claimed = {}
    try:
        stmt = verify_role(env, role, origin).statement
    except VerificationError as exc:
        return claimed, f"not signed by a key trusted to waive ({exc}); {PIN_HINT}"
    if stmt.get("predicateType") != PREDICATE_TYPE:
        return claimed, f"not a waiver (predicateType {stmt.get('predicateType')!r})"
    pred = stmt.get("predicate")
    if not isinstance(pred, dict) or not all(isinstance(pred.get(k), str) for k in ("digest", "detector")):
        return None, "not a waiver (its predicate needs a digest and a detector)"
    if pred.get("version") != version:
        return pred, f"waives a finding of version {pred.get('version')!r}, not {version!r}"
    if pred.get("merkleRoot") != root:
        return (
            pred,
            f"waives a finding of another {version!r} (Merkle root {str(pred.get('merkleRoot'))[:16]}, not {root[:16]})",
        )
    return pred, None


@dataclass
class Waivers:
    """The waivers of one version, judged.

    Attributes:
        waived: the honoured (record digest hex, detector name) pairs.
        report: ``{"honoured": [facts], "ignored": [facts + "why"]}``, facts being
            ``digest``, ``detector``, ``reason``, ``reviewer`` (key id) and ``origin``
            (for an ignored waiver, what its envelope claims); ``prov check`` adds each
            honoured waiver's ``effect`` (:func:`with_effects`) once the detectors ran.
    """

    waived: set[tuple[str, str]] = field(default_factory=set)
    report: dict[str, list[dict]] = field(default_factory=lambda: {"honoured": [], "ignored": []})


def read_waiver_files(files: Iterable[str]) -> list[tuple[bytes, str]]:
    """The waiver envelopes in ``files`` (each a JSON envelope or a JSON list of them).

    Returns:
        (envelope bytes, origin ``FILE[i]`` for messages) per envelope, not yet judged.

    Raises:
        InputError: a file that cannot be read or is not JSON (exit 2).
    """
    out: list[tuple[bytes, str]] = []
    for path in files:
        raw = input_file.read_bounded(path, input_file.ENVELOPE_BYTES, "waivers file")
        try:
            data = signing.bounded_json(raw, str(path), "waivers file", signing.MAX_STATEMENT_VALUES)
        except (ValueError, RecursionError) as exc:
            raise InputError(f"{path}: cannot read waivers ({exc})") from exc
        items = data if isinstance(data, list) else [data]
        out += [(json.dumps(item).encode(), f"{path}[{i}]") for i, item in enumerate(items)]
    return out


def judge_waivers(
    store: Store,
    version: str,
    extra: Iterable[tuple[bytes, str]],
    role: RoleKeys,
    signed_entries: int | None = None,
) -> Waivers:
    """Judge the stored waivers of ``version`` and the ``extra`` envelopes against the ``waive`` role.

    A waiver is honoured only if its DSSE signature meets ``role`` (the keys the verifier
    trusts to waive, ``Pins.role_keys("waive")``), its predicate type is the waiver's and
    it names ``version``; every other one is listed as ignored, with why. With
    ``signed_entries`` (how many leading audit entries a trusted signature covers), a
    stored waiver whose audit entry is after them is pending and ignored (its ``why`` names
    the untrusted key first when its signature fails too, else the checkpoint that would
    cover it); a waiver given as a file is judged by its own signature alone.

    Args:
        store: the open store (its ``waivers`` table and objects, and its audit log).
        version: the tag of the version being checked.
        extra: ``(envelope bytes, origin)`` pairs, as :func:`read_waiver_files` gives them.
        role: the keys trusted to waive and their threshold (``provenance.trust.roles``).
        signed_entries: the number of leading audit entries a trusted checkpoint covers, or
            None to take every stored waiver as logged.

    Returns:
        The ``Waivers``: honoured ``(digest hex, detector)`` pairs and the report of both lists.

    Raises:
        VerificationError: a stored waiver's object is missing or no longer hashes to its
            name (``ObjectStore.get``), exit 1, unless its row is pending: a pending row
            whose object is missing is listed as ignored ("pending; its object is missing").
            A waiver that is not valid is never raised: it is listed as ignored.
    """
    candidates: list[tuple[bytes, str, str | None]] = []  # envelope, origin, why it is pending
    root = store.version(version)["merkle_root"]
    out = Waivers()
    logged = {}
    if signed_entries is not None:
        for seq, detail in store.db.execute("select seq, detail from audit where action = 'waiver'"):
            logged[json.loads(detail).get("object")] = seq
    for row in store.db["waivers"].rows_where("version = ?", [version]):
        origin = f"stored waiver {row['object'][:16]}"
        seq = logged.get(row["object"])
        pending = None
        if signed_entries is not None and (seq is None or seq > signed_entries):
            pending = pending_reason(seq, signed_entries or 0)
        try:
            envelope = store.objects.get(row["object"], "waiver")
        except VerificationError:
            if pending is None:
                raise  # a waiver a trusted signature covers must be there: fail closed
            # a pending row is relied on by nothing, so a bogus one is listed, never fatal (attack review 5b, finding 2)
            facts = {k: row.get(k) for k in ("digest", "detector")} | {"reason": None, "reviewer": row.get("keyid")}
            out.report["ignored"].append(
                facts | {"origin": origin, "why": f"pending; its object is missing ({pending})"}
            )
            continue
        candidates.append((envelope, origin, pending))
    candidates += [(env_bytes, origin, None) for env_bytes, origin in extra]
    for env_bytes, origin, pending in candidates:
        pred, problem = _judge(env_bytes, origin, version, role, root)
        facts = {k: (pred or {}).get(k) for k in ("digest", "detector", "reason", "reviewer")} | {"origin": origin}
        if problem and pending:
            # the signature's problem is the one to fix first; the pending entry is said beside it
            problem = f"{problem} (its audit entry is also pending)"
        if problem or pending or pred is None:
            out.report["ignored"].append(facts | {"why": problem or pending})
        else:
            out.waived.add((pred["digest"], pred["detector"]))
            out.report["honoured"].append(facts)
    return out


def pending_reason(seq: int | None, signed: int) -> str:
    """Why a stored waiver whose signature is trusted is still not honoured: its audit entry
    (number ``seq``, None when no entry logs it) is past the ``signed`` leading entries a
    trusted signature covers. Names the fix: a checkpoint signed by a key the verifier pins."""
    if seq is None:
        return "pending: no audit entry logs it, so no trusted signature covers it"
    return (
        f"pending: its audit entry (#{seq}) is under no trusted signature (a trusted one covers entries 1-{signed}); "
        "a checkpoint by a key the verifier pins covers it (prov audit checkpoint --key KEY)"
    )


def with_effects(
    report: dict[str, list[dict]], verdicts: Iterable, extreme_p: float | None = None
) -> dict[str, list[dict]]:
    """``report`` (``Waivers.report``) with each honoured waiver's ``effect`` on the detector rules.

    A *waived record* is one the detector rules count, the combined verdict's flagged
    records (``detectors.combined``) and those with extreme evidence at or below
    ``extreme_p`` (``detectors.extreme``'s threshold), that an honoured waiver takes out by
    naming its digest and ``combined`` or a detector that flagged it on its own
    (``gate.detection.flagged_records``). The first honoured waiver (in the report's order)
    of such a record gets ``"effect": "waived"``, so the waived records are counted once
    each, however many waivers name them; every other one ``"effect": NOTHING_TO_WAIVE``
    with ``"why"``: the record is not in the scored delta, no rule counts it (no detector
    flagged it, or only a detector alone did), the waiver's detector did not flag it (any
    detector that did clears the whole record, so a waiver naming one of them would), or
    an earlier waiver already waived it. Ignored waivers are returned unchanged.

    Args:
        report: ``{"honoured": [facts], "ignored": [...]}`` from :func:`judge_waivers`.
        verdicts: the combined verdicts of the detector run (``Verdicts.records``: objects
            with ``digest`` hex, ``flagged``, ``extreme_p`` and ``detectors``
            ``[{"detector", "flagged"}]``).
        extreme_p: ``detectors.extreme``'s p-value threshold (``extreme_alpha / n``); None
            when that rule did not run (then only the combined verdict's flags count).

    Returns:
        A new report dict; its ``honoured`` entries carry ``effect`` and, when nothing was
        waived, ``why``.
    """
    from provenance.gate.detection import COMBINED

    by_digest = {v.digest: v for v in verdicts}
    taken: dict[str, str] = {}  # record digest -> origin of the waiver that waived it
    honoured = []
    for w in report["honoured"]:
        digest, detector = w["digest"], w["detector"]
        v = by_digest.get(digest)
        flagging = [d["detector"] for d in (v.detectors if v is not None else []) if d.get("flagged")]
        counted = v is not None and (v.flagged or (extreme_p is not None and v.extreme_p <= extreme_p))
        why = None
        if v is None:
            why = f"record {digest[:12]} is not among the records the detectors scored (the delta)"
        elif not (v.flagged or flagging):
            why = f"no detector flagged record {digest[:12]}"
        elif detector != COMBINED and detector not in flagging:
            others = f"; it was flagged by {', '.join(flagging)}" if flagging else ""
            why = f"{detector} did not flag record {digest[:12]}{others}"
        elif not counted:
            why = (
                f"no detector rule counts record {digest[:12]}: {', '.join(flagging)} flagged it alone, "
                "the combined verdict did not"
            )
        elif digest in taken:
            why = f"record {digest[:12]} was already waived by {taken[digest]}"
        else:
            taken[digest] = w["origin"]
        honoured.append(w | ({"effect": NOTHING_TO_WAIVE, "why": why} if why else {"effect": "waived"}))
    return report | {"honoured": honoured}
