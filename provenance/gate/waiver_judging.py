"""Judging waivers: which of a version's waivers count under the verifier's pins, and what each took out.

A waiver counts only if its DSSE signature meets the ``waive`` role of what the verifier pinned, it names
the version (and its Merkle root) being checked and a trusted signature covers its audit entry; anything
else is listed as ignored, with why. A waiver lets back one row, digest and label (attack review 9b,
T9b-1). ``gate.waivers`` writes them and re-exports these names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from provenance import input_file, signing
from provenance.errors import InputError, VerificationError
from provenance.escaping import visible
from provenance.store import Store
from provenance.store.audit import detail_json
from provenance.trust.roles import RoleKeys, verify_role

# The in-toto predicate type of a waiver statement (schemas/waiver.schema.json).
PREDICATE_TYPE = "https://prov.dev/waiver/v1"
# What an ignored waiver's reader can do about a key the verifier does not trust to waive.
PIN_HINT = (
    "to honour it, pin the reviewer's public key (--signer KEY.pub or PROV_SIGNERS, or the root file's waive role)"
)
NOTHING_TO_WAIVE = "nothing to waive"

if TYPE_CHECKING:
    import pyarrow as pa


def labels_of(table: pa.Table, digests: set[str]) -> dict[str, list[str | None]]:
    """The labels each hex digest of ``digests`` has in a manifest ``table`` (columns ``digest``, ``label``), sorted."""
    import pyarrow as pa
    import pyarrow.compute as pc

    asked = pa.array(sorted(bytes.fromhex(d) for d in digests), pa.binary(32))
    rows = table.select(["digest", "label"]).filter(pc.is_in(table.column("digest"), value_set=asked)).to_pydict()
    out: dict[str, set[str | None]] = {}
    for digest, label in zip(rows["digest"], rows["label"]):
        out.setdefault(digest.hex(), set()).add(label)
    return {d: sorted(labels, key=lambda x: (x is None, x or "")) for d, labels in out.items()}


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
    if pred.get("label") is not None and not isinstance(pred.get("label"), str):
        return None, "not a waiver (its label is not a string)"
    if pred.get("version") != version:
        return pred, f"waives a finding of version {pred.get('version')!r}, not {version!r}"
    if pred.get("merkleRoot") != root:
        return (
            pred,
            f"waives a finding of another {version!r} (Merkle root {str(pred.get('merkleRoot'))[:16]}, not {root[:16]})",
        )
    return pred, None


def judged_elsewhere(pred: dict, detection: tuple[str, str, float] | None) -> str | None:
    """Why a waiver signed with ``judgedAgainst`` (``prov waive --findings``: the base and rate its finding was
    judged at) does not hold in this detection, ``(base tag, base Merkle root hex, fpr)``; None when it holds, when
    the waiver signs none (a waiver of one DIGEST, or one made before waivers signed it: any base and rate), or
    when ``detection`` is None (not a check's own waivers). Attack review 34f, A34f-1."""
    judged = pred.get("judgedAgainst")
    if judged is None or detection is None:
        return None
    base, root, fpr = detection
    if not isinstance(judged, dict) or not isinstance(judged.get("baseRoot"), str):
        return "not a waiver (its judgedAgainst names no base Merkle root)"
    rate = judged.get("fpr")
    if not isinstance(rate, (int, float)) or isinstance(rate, bool):
        return "not a waiver (its judgedAgainst names no fpr)"
    if judged["baseRoot"] != root or abs(float(rate) - fpr) > 1e-12:
        return (
            f"judged against {visible(str(judged.get('base')))} (Merkle root {judged['baseRoot'][:16]}) at fpr "
            f"{float(rate):g}; this check runs against {visible(base)} ({root[:16]}) at fpr {fpr:g}: waive it again "
            "from a findings file of this base and rate"
        )
    return None


@dataclass
class Waivers:
    """The waivers of one version, judged.

    Attributes:
        waived: the honoured (record digest hex, detector name, label) triples: the row each
            lets back. A waiver made before waivers named labels binds the one label its
            version holds the digest under; where it holds several, it is ignored (which row
            it accepts cannot be told: attack review 9b, T9b-1).
        report: ``{"honoured": [facts], "ignored": [facts + "why"]}``, facts being
            ``digest``, ``label``, ``detector``, ``reason``, ``reviewer`` (key id) and ``origin``
            (for an ignored waiver, what its envelope claims); ``prov check`` adds each
            honoured waiver's ``effect`` (:func:`with_effects`) once the detectors ran.
    """

    waived: set[tuple[str, str, str | None]] = field(default_factory=set)
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
    detection: tuple[str, str, float] | None = None,
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
        detection: the check's ``(base tag, base Merkle root hex, fpr)``: a waiver that signs the base and rate it
            was judged at (``judgedAgainst``) is ignored under another (:func:`judged_elsewhere`); None: not judged.

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
    logged = logged_waivers(store) if signed_entries is not None else {}
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
    judged = [
        (origin, pending, *_judge(env_bytes, origin, version, role, root)) for env_bytes, origin, pending in candidates
    ]
    unlabelled = {
        p["digest"] for _, pending, p, problem in judged if p and not (problem or pending) and "label" not in p
    }
    held = _labels_held(store, version, unlabelled) if unlabelled else {}
    for origin, pending, pred, problem in judged:
        facts = {k: (pred or {}).get(k) for k in ("digest", "label", "detector", "reason", "reviewer")} | {
            "origin": origin,
            "judged_against": _judged_facts(pred),
        }
        if not problem and pred is not None:
            problem = judged_elsewhere(pred, detection)
        if problem and pending:
            # the signature's problem is the one to fix first; the pending entry is said beside it
            problem = f"{problem} (its audit entry is also pending)"
        if not (problem or pending) and pred is not None and "label" not in pred:
            labels = held.get(pred["digest"], [None])
            if len(labels) > 1:
                problem = (
                    f"names record {pred['digest'][:12]}, which {version} holds under labels "
                    f"{', '.join(repr(x) for x in labels)}, and not which row it accepts (made before waivers named "
                    "labels): waive the row again with --label"
                )
            facts["label"] = labels[0]
        if problem or pending or pred is None:
            out.report["ignored"].append(facts | {"why": problem or pending})
        else:
            out.waived.add((pred["digest"], pred["detector"], facts["label"]))
            out.report["honoured"].append(facts)
    return out


def _judged_facts(pred: dict | None) -> dict | None:
    """The ``{"base", "fpr"}`` a waiver signs it was judged at (``judgedAgainst``), for the report; None: it signs
    none, and holds against any base and rate (a waiver of one DIGEST, or made before waivers signed them)."""
    judged = (pred or {}).get("judgedAgainst")
    if not isinstance(judged, dict):
        return None
    return {"base": judged.get("base"), "fpr": judged.get("fpr")}


def _labels_held(store: Store, version: str, digests: set[str]) -> dict[str, list[str | None]]:
    """The labels ``version``'s manifest (checked against its Merkle root, which a waiver signs) holds each digest under."""
    from provenance.version_facts import load_manifest

    return labels_of(load_manifest(store, store.version(version)).table, digests)


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
    report: dict[str, list[dict]],
    verdicts: Iterable,
    extreme_p: float | None = None,
    labels: Sequence[str | None] | None = None,
    relabel_rows: frozenset[tuple[str, str | None]] | set[tuple[str, str | None]] = frozenset(),
) -> dict[str, list[dict]]:
    """``report`` (``Waivers.report``) with each honoured waiver's ``effect`` on the detector rules.

    A *waived record* is one the detector rules count, the combined verdict's flagged
    records (``detectors.combined``) and those with extreme evidence at or below
    ``extreme_p`` (``detectors.extreme``'s threshold), that an honoured waiver takes out by
    naming its row (digest and label) and ``combined`` or a detector that flagged it on its own
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
        labels: each verdict's label (``Detection.labels``), so a waiver counts only for its
            own row; None matches by digest alone.
        relabel_rows: the rows (digest hex, label) ``detectors.relabels`` counts (the delta's relabels,
            when that rule ran): a waiver naming one and ``combined`` or ``knn_label`` takes it out of
            that rule's scan, flagged or not, so it is ``"waived"`` too.

    Returns:
        A new report dict; its ``honoured`` entries carry ``effect`` and, when nothing was
        waived, ``why``.
    """
    from provenance.detectors.findings import COMBINED  # the same name; gate.detection would close an import cycle

    records = list(verdicts)
    row_labels: Sequence[str | None] = labels if labels is not None else [None] * len(records)
    by_row = {(v.digest, label if labels is not None else None): v for v, label in zip(records, row_labels)}
    taken: dict[tuple[str, str | None], str] = {}  # record row -> origin of the waiver that waived it
    honoured = []
    for w in report["honoured"]:
        digest, detector = w["digest"], w["detector"]
        row = (digest, w.get("label") if labels is not None else None)
        v = by_row.get(row)
        flagging = [d["detector"] for d in (v.detectors if v is not None else []) if d.get("flagged")]
        counted = v is not None and (v.flagged or (extreme_p is not None and v.extreme_p <= extreme_p))
        scanned = row in relabel_rows and detector in (COMBINED, "knn_label")  # detectors.relabels leaves it out
        why = None
        if v is not None and scanned and not counted:
            why = f"record {digest[:12]} was already waived by {taken[row]}" if row in taken else None
            if why is None:
                taken[row] = w["origin"]
        elif v is None:
            why = f"record {digest[:12]}{_as_label(w)} is not among the records the detectors scored (the delta)"
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
        elif row in taken:
            why = f"record {digest[:12]} was already waived by {taken[row]}"
        else:
            taken[row] = w["origin"]
        honoured.append(w | ({"effect": NOTHING_TO_WAIVE, "why": why} if why else {"effect": "waived"}))
    return report | {"honoured": honoured}


def _as_label(waiver: dict) -> str:
    return f" label {waiver['label']}" if waiver.get("label") is not None else ""


def logged_waivers(store: Store) -> dict[str, int]:
    """``{waiver object id: seq}`` of the audit log's ``waiver`` entries. An entry whose detail does not read as a
    JSON object naming an object id (malformed, nested too deep: a ``.prov/`` writer's, attack review 23c, A23c-1)
    names no waiver, so a row it would vouch for stays unlogged (ignored as pending), never an internal error."""
    out: dict[str, int] = {}
    for seq, detail in store.db.execute("select seq, detail from audit where action = 'waiver'"):
        try:
            facts = detail_json(detail)
        except ValueError:
            continue
        if isinstance(facts, dict) and isinstance(facts.get("object"), str):
            out[facts["object"]] = seq
    return out
