"""``prov waive --findings FILE``: one signed waiver per flagged finding of a reviewed findings file.

A clean delivery with a real labelling change was blocked with 152 flagged records, and the ways out were 152
``prov waive`` calls or cutting genuine records (newcomer review 33, finding 2). The file a reviewer went through
(``prov findings V --json`` or ``prov check --format json``) is the list: each waiver is the one ``prov waive`` signs
(a key pinned to waive, the reason, the version's Merkle root) with the file's SHA-256 signed in as
``reviewedFile``, so a later reader can tell which list a reviewer signed off. Nothing outside the file is waived:
a file of another version, or one listing a record the detector does not flag (a line added after the review), is
refused whole (exit 2) before any waiver is written.

Which records are flagged is decided by the detectors run now on the signed versions (``findings_recheck.
rerun_detection``, as ``prov quarantine --findings`` decides what to cut), never by the detector run stored in
``.prov/``: nothing signs a stored run, and a ``.prov/`` writer's planted copy flagging one more record let the
reviewer's waive key sign a waiver for a record no real run flags (attack review 33e, A33e-3). The re-run is
O(delta), the cost of the ``prov check`` that stored the run.

The base of the re-run is the reviewer's ``--base`` or the version's signed parent, never the file's word nor the
stored run's (unsigned): a file edited to name an older base, against which more records are flagged, got the waive
key to sign waivers for records no check against the parent flags (attack review 34f, A34f-1). Each waiver signs the
base (tag and Merkle root) and rate it was judged at as ``judgedAgainst``, and a check honours it only against that
base at that rate (``waiver_judging``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import InputError
from provenance.escaping import visible
from provenance.gate.waivers import create_waiver
from provenance.store import Store

if TYPE_CHECKING:
    from provenance.kept_log import KeptLog


def reviewed_findings(path: str, version: str) -> tuple[str, list[tuple[str, str | None]]]:
    """The hex SHA-256 of the file ``path`` and its flagged findings, ``[(digest, label)]`` in file order.

    Raises:
        InputError: (exit 2) the file cannot be read or is not a findings JSON object (``version`` and a
            ``findings`` list of objects with a 64-hex ``digest``), names another version than ``version``, or lists
            no flagged finding.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the findings file ({exc.strerror or exc})") from exc
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not JSON ({exc}); give prov findings V --json or prov check --format json") from exc
    findings = doc.get("findings") if isinstance(doc, dict) else None
    if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
        raise InputError(f"{path}: no findings list; give prov findings V --json or prov check --format json")
    if doc.get("version") != version:
        raise InputError(
            f"{path}: findings of version {visible(str(doc.get('version')))}, not {visible(version)}: a waiver counts "
            "only for the version its reviewer saw"
        )
    # a check report (`prov check --format json`) lists only the records its verdict flagged, with no `flagged` key
    # (schemas/check.schema.json); a findings JSON marks each (attack review 33e, A33e-2: the documented form exited 2)
    from_check = isinstance(doc.get("rules"), list)
    listed: list[tuple[str, str | None]] = []
    for f in findings:
        digest = f.get("digest")
        if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InputError(f"{path}: a finding without a 64-hex digest ({visible(str(digest))[:70]})")
        if f.get("flagged") is True or (from_check and "flagged" not in f):
            label = f.get("label")
            listed.append((digest, label if isinstance(label, str) else None))
    if not listed:
        raise InputError(f"{path}: no flagged finding to waive")
    return hashlib.sha256(data).hexdigest(), listed


def waive_reviewed(
    store: Store,
    version: str,
    path: str,
    detector: str,
    reason: str,
    key_path: str,
    kept_log: KeptLog | None = None,
    base: str | None = None,
    fpr: float | None = None,
) -> dict:
    """Sign one waiver (``waivers.create_waiver``, ``reviewed_file`` the file's SHA-256) per flagged finding of the
    reviewed findings file ``path`` of ``version``, for ``detector``, when the detectors re-run now on the signed
    versions ``base`` (default: ``version``'s signed parent) and ``version`` at ``fpr`` (default 0.01) flag every
    one; each waiver signs that base and rate (``judgedAgainst``). Returns ``{"version", "detector",
    "reviewedFile", "detection": {"base", "fpr"}, "waivers": [create_waiver's result, ...], "written": n,
    "already_waived": n}``.

    Raises:
        InputError: (exit 2, nothing written) what :func:`reviewed_findings` raises; no ``base`` and ``version``
            signs no parent; the file names another base than the chosen one; what
            ``findings_recheck.rerun_detection`` raises for the base or the rate; ``detector`` is not one the re-run
            ran; the file lists records the re-run does not flag with ``detector`` (the combined verdict for
            ``combined``), named; or what ``create_waiver`` raises for any finding.
        ProvError: (exit 3) a detector failed in the re-run. VerificationError: (exit 1) a version does not verify.
    """
    from provenance.lineage.findings_recheck import rerun_detection

    file_digest, listed = reviewed_findings(path, version)
    _refuse_before_writing(store, version, path, listed, key_path)  # labels and key first: cheaper than the re-run
    chosen = _rerun_base(store, version, path, base)
    rerun = rerun_detection(store, version, path, chosen, fpr, "nothing waived")
    flagged = flagged_by(rerun.detection, detector, path)
    unflagged = [d for d, _ in listed if d not in flagged]
    if unflagged:
        against = f"{version} against {rerun.base} at fpr {rerun.fpr:g}"
        raise InputError(
            f"{path}: {len(unflagged)} of its {len(listed)} flagged findings are not flagged by {detector} when prov "
            f"re-runs the detectors on {against} ({', '.join(unflagged[:3])}{' ...' if len(unflagged) > 3 else ''}): "
            "nothing waived; waive from the file the run wrote (prov findings V --json), reviewed"
        )
    judged = {"base": rerun.base, "baseRoot": store.version(rerun.base)["merkle_root"], "fpr": rerun.fpr}
    results = [
        create_waiver(
            store, version, digest, detector, reason, key_path, label, kept_log, file_digest, judged_against=judged
        )
        for digest, label in listed
    ]
    done = sum(1 for r in results if r["already_waived"])
    return {
        "version": version,
        "detector": detector,
        "reviewedFile": file_digest,
        "detection": {"base": rerun.base, "fpr": rerun.fpr},
        "waivers": results,
        "written": len(results) - done,
        "already_waived": done,
    }


def _rerun_base(store: Store, version: str, path: str, base: str | None) -> str:
    """The base the detectors re-run against: ``base`` (the reviewer's ``--base``), else ``version``'s signed parent;
    never the base ``path`` names, which whoever edits the file chooses, nor the stored run's, which nothing signs
    (attack review 34f, A34f-1).

    Raises:
        InputError: (exit 2) no ``base`` and ``version`` signs no parent; ``path`` names another base than the one
            chosen (its list was made against that one).
    """
    from provenance.lineage.findings_recheck import findings_base
    from provenance.version_facts import verified_predicate

    if base is None:
        parent = verified_predicate(store, version).get("parent") or {}
        base = parent.get("version") if isinstance(parent, dict) else None
        if not isinstance(base, str):
            raise InputError(
                f"{path}: {visible(version)} signs no parent to re-run the detectors against; pass --base BASE, the "
                "version your checks of it run against; nothing waived"
            )
    named = findings_base(path)
    if named is not None and named != base:
        raise InputError(
            f"{path}: its findings are of {visible(version)} against {visible(str(named))}, not against {visible(base)} "
            f"(--base, else {visible(version)}'s signed parent); a waiver holds only against the base it was judged "
            "against: pass --base for another one; nothing waived"
        )
    return base


def flagged_by(detection: Any, detector: str, path: str) -> set[str]:
    """The hex digests ``detection`` (a ``DiffDetection``) flags with ``detector``: its combined verdict for
    ``combined``, else that detector's own flag; a record flagged under any of its labels counts.

    Raises:
        InputError: (exit 2) ``detector`` is not ``combined`` nor a detector the run ran, naming those it ran.
    """
    from provenance.detectors.findings import COMBINED

    if detector == COMBINED:
        return {v.digest for v in detection.verdicts.records if v.flagged}
    ran = {r.detector: flags for r, (_, flags) in zip(detection.results, detection.columns)}
    if detector not in ran:
        raise InputError(
            f"{path}: --detector {detector!r} is not one prov runs; it runs {', '.join(sorted(ran))} and combined; "
            "nothing waived"
        )
    flags = ran[detector]
    return {v.digest for i, v in enumerate(detection.verdicts.records) if i < len(flags) and flags[i]}


def _refuse_before_writing(
    store: Store, version: str, path: str, listed: list[tuple[str, str | None]], key_path: str
) -> None:
    """Raise, before the first waiver is written, what ``create_waiver`` would raise for any finding of ``listed``:
    a label the version does not hold the record under (or none where it holds several), or a key not pinned to
    waive. Each waiver is its own write, so a refusal on the last finding left the others signed (attack review
    33e, A33e-1); a command refused leaves the store as it was.

    Raises:
        InputError: (exit 2) naming ``path`` and the finding; ``KeyFileError`` (exit 2) for an unreadable key.
    """
    from provenance.gate.waiver_judging import labels_of
    from provenance.gate.waivers import choose_label
    from provenance.trust.pins import private_key_for_role
    from provenance.trust.roles import WAIVE
    from provenance.version_facts import load_manifest

    table = load_manifest(store, store.version(version)).table
    held = labels_of(table, {digest for digest, _ in listed})
    for digest, label in listed:
        try:
            choose_label(held.get(digest, []), label, digest, version)
        except InputError as exc:
            raise InputError(f"{path}: {exc}; nothing waived") from exc
    private_key_for_role(store, key_path, WAIVE, "waivers")
