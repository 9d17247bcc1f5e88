"""The public API's review of a new version against a base: ``diff``, ``detect`` and the release gate ``check``.

Re-exported by ``provenance.api`` and ``provenance``: import them from there
(``from provenance import diff, detect, check``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from provenance.api_inputs import open_store

if TYPE_CHECKING:
    from provenance.api_inputs import PinsLike
    from provenance.delta.report import DiffReport
    from provenance.detectors.pipeline import Detection
    from provenance.gate.gate import GateResult
    from provenance.gate.policy import Policy
    from provenance.store.store import Store


DEFAULT_FPR = 0.01


def diff(
    store: Store | str | os.PathLike[str] | None,
    base: str,
    new: str,
    *,
    detect: bool = False,
    fpr: float = DEFAULT_FPR,
    limit: int | None = None,
    pins: PinsLike | None = None,
    flagged_only: bool = False,
) -> DiffReport:
    """What changed from version ``base`` to ``new``, record by record: ``prov diff BASE NEW [--detect]``.

    Returns the report whose ``.to_dict()`` is ``schemas/diff.schema.json``: counts of
    added, removed and relabeled records (``summary``), breakdowns by source and class,
    lineage per source, diff-level signals with their statistics, and the first
    ``limit`` records of each kind of change (default 1000, as ``prov diff --limit``; 0 lists all). With
    ``detect``, the detectors also score the added and relabeled records against
    ``base``'s reference profile, calibrated to false-positive rate ``fpr`` (see
    :func:`detect`); the report's ``findings`` lists every scored record (only the flagged ones
    with ``flagged_only``: ``prov diff --flagged-only``), and ``detection`` counts them all; a detector that crashed has status ``"error"`` in the report (the
    command then exits 3). Both manifests are merged, as ``prov check`` does: never ``new``'s signed delta
    object, which only its commit key vouches for (``prov diff`` reads that one). Raises ``InputError``
    (unknown versions, no profile for ``detect``), ``VerificationError`` (a version fails its signature or
    manifest check).
    """
    from provenance import progress
    from provenance.delta.compare import diff_versions
    from provenance.delta.merge import DEFAULT_LIMIT

    with open_store(store, pins).snapshot() as opened:  # one state of prov.db for the whole review
        with progress.stage("diff", unit="steps"):
            limit = DEFAULT_LIMIT if limit is None else limit
            # merged, as prov check does: a review rests on no fact only the new version's commit key signs
            report = diff_versions(opened, base, new, limit=limit, signed_delta=False)
        if detect:
            from provenance.unscorable import detect_naming_file

            with progress.stage("detectors", unit="steps"):
                report.add_detector_results(
                    detect_naming_file(opened, base, new, report.delta, fpr=fpr), flagged_only=flagged_only
                )
    return report


def detect(
    store: Store | str | os.PathLike[str] | None,
    base: str,
    new: str,
    *,
    detectors: Sequence[str] | None = None,
    fpr: float = DEFAULT_FPR,
    save: bool = True,
    pins: PinsLike | None = None,
) -> Detection:
    """Run the poisoning detectors on ``new``'s delta against ``base``: the detection of ``prov diff --detect``.

    The added and relabeled records of ``new`` are read again (re-hashed, so features
    come from the signed content), featurised with the featuriser ``base``'s profile was
    made with, and scored by ``detectors`` (default all registered), calibrated on the
    profile; their evidence is combined into one verdict per record whose false-alarm
    rate on clean records is ``fpr`` (a fraction in (0, 1)). Returns a
    :class:`~provenance.detectors.pipeline.Detection`: ``.verdicts`` (one combined
    verdict per record: flagged, score in [0, 1], explanation) and ``.results`` (each
    detector's per-record scores, flags and explanations, or status ``"error"`` with the
    crash: never skipped). With ``save`` the findings are stored (``prov findings NEW``).
    The delta is found by merging both manifests, as ``prov check`` does (never ``new``'s signed delta object).
    Raises ``InputError`` if ``base`` has no profile or the featuriser is not installed.
    """
    from provenance.delta.compare import diff_versions
    from provenance.unscorable import detect_naming_file

    with open_store(store, pins).snapshot() as opened:  # one state of prov.db for the whole review
        report = diff_versions(opened, base, new, signed_delta=False)  # merged, as prov check does
        names = list(detectors) if detectors is not None else None
        return detect_naming_file(opened, base, new, report.delta, names=names, fpr=fpr, save=save)


def check(
    store: Store | str | os.PathLike[str] | None,
    version: str,
    base: str,
    *,
    policy: str | os.PathLike[str] | Policy | None = None,
    waivers: Sequence[str | os.PathLike[str]] = (),
    attest: bool = False,
    key: str | os.PathLike[str] | None = None,
    attestation_out: str | os.PathLike[str] | None = None,
    replace_attestation: bool = False,
    pins: PinsLike | None = None,
    save: bool = True,
    base_unreleased: bool = False,
    base_attestation: str | os.PathLike[str] | None = None,
    kept_log_state: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
) -> GateResult:
    """The release gate: ``prov check VERSION --base BASE [--policy P] [--attest --key K]``.

    Evaluates ``version`` against the trusted ``base`` under ``policy`` (a TOML file or
    a loaded Policy; default: the built-in policy, ``prov check --print-default-policy``),
    honouring signed ``waivers`` files. Returns the result whose ``decision`` is
    ``"pass"``, ``"blocked"`` or ``"error"`` and whose ``exit_code`` (0, 1, 3) is the
    command's; ``.to_dict()`` is ``schemas/check.schema.json``. With ``attest`` and a
    passing result, writes a signed release attestation (DSSE / in-toto) with ``key`` to
    ``attestation_out`` (default ``VERSION.attestation.json``) and names it in
    ``result.attestation``; as ``prov check --attest`` without ``--force``, a file already there
    is refused before anything is evaluated (``output_file.AlreadyExists``, exit 2) unless
    ``replace_attestation=True`` (``--force``) replaces it. Raises ``InputError`` for a bad policy
    (before anything is evaluated) or a missing key; its messages name the Python parameters. ``save=False``
    (``prov check --no-save``) leaves the store as it was: the detector run is not stored, nor the ``check`` audit
    entry that ``prov log`` and ``prov show`` read as "last check here" (``gate.check_record``; the decision is
    the same); it cannot be combined with ``attest``, which records the attestation in the store.
    ``attest`` refuses (``InputError``, before anything is evaluated) a base that is not one of ``version``'s
    signed ancestors, naming them (asked first: no other way out works then), and a base that was never released
    (``result.base_release``, ``provenance.gate.base_release``) unless ``base_unreleased=True``
    (``--base-unreleased``) says it is trusted anyway; the attestation records which. ``base_attestation``
    (``--base-attestation FILE``): the base's release attestation kept outside the store, which makes it released.
    ``kept_log_state`` (``--checkpoint FILE``, repeatable): log states kept outside the store (a checkpoint file
    from ``commit(..., checkpoint_out=F)`` or ``prov audit checkpoint --out``, signed by a key ``pins`` holds, or a
    release attestation): the store's audit log must hold each (its first ``treeSize`` entries reproduce the
    signed tree head), else the check is blocked by ``integrity.kept_log_state`` and nothing else is judged
    (attack review 16, F1: a blocked version deleted from ``.prov/`` with its log entry). A file that is no
    log state, or one inside ``.prov/`` (itself or through a link), is ``InputError``; one signed by a key the
    pins do not hold, or forged, ``VerificationError`` (exit 1); both before anything is evaluated.
    """
    from provenance.errors import InputError
    from provenance.gate import gate
    from provenance.gate.policy import Policy as PolicyType
    from provenance.gate.policy import load as load_policy

    if attest and key is None:
        raise InputError("attest=True needs key=, the private key that signs the attestation")
    if attest and not save:
        raise InputError("attest=True records the attestation in the store; it cannot be combined with save=False")
    target = os.fspath(attestation_out) if attestation_out is not None else f"{version}.attestation.json"
    if attest:
        _refuse_attestation_there(target, replace_attestation)
    pol = policy if isinstance(policy, PolicyType) else load_policy(os.fspath(policy) if policy is not None else None)
    opened = open_store(store, pins)
    from provenance.gate.attestation import attest as write_attestation
    from provenance.gate.attestation import check_attester
    from provenance.trust.pins import NothingPinned, pins_of

    try:
        pins_of(opened).require_trust_decision(f"prov check {version}")
    except NothingPinned:  # worded for a Python caller (prov check pins first and says --signer)
        raise InputError(
            f"check {version}: nothing is pinned; give pins= (e.g. prov.Pins.load(['maintainer.pub'])) or open "
            "the store with pins, as --signer, PROV_SIGNERS or --root do for prov check"
        ) from None
    if attest:
        assert key is not None
        check_attester(opened, os.fspath(key), pol)  # a key or policy that cannot attest is exit 2 before the work
        from provenance.gate.base_release import UNRELEASED, base_release, not_ancestor_refusal, unreleased_refusal

        opened.version(base), opened.version(version)  # unknown names first, as gate.check words them
        refused = not_ancestor_refusal(opened, base, version)  # before its standing (newcomer review 16, finding 4)
        if refused is not None:
            raise refused
        kept = [os.fspath(base_attestation)] if base_attestation is not None else []
        standing = base_release(opened, base, version, kept)
        if standing["standing"] == UNRELEASED and not base_unreleased:
            raise unreleased_refusal(base, version, standing, "--base-unreleased (base_unreleased=True)")
        from provenance.commit_checks import refuse_unvouched

        # the attestation's write would refuse a planted version entry only after the check stored its detector
        # run, while saying nothing was written: refused before the work, as commit does (attack review 27c, A27c-5)
        refuse_unvouched(opened)
    from provenance.api_inputs import kept_paths
    from provenance.gate.kept_states import read_kept_states

    kept_states = read_kept_states(opened, kept_paths(kept_log_state))  # a bad file fails before any work
    from provenance import progress
    from provenance.gate.release_history import place_release
    from provenance.store.log_state import current, require_extends

    # One state of the store decides the check (attack review 6, finding 6): every rule reads a
    # private copy taken now, so rows edited in .prov/ while the check runs change nothing it
    # decides on; its own writes (findings, the attestation) go to the live store.
    with opened.snapshot() as frozen:
        # the log the release signs: the check appends entries (its detector run) a CI checkout does not keep
        log_before = current(frozen) if attest else None
        # the release is placed once, on this state, before the check writes: one it cannot place in commit order
        # is refused with the store as it was; the attestation's write takes the number under the lock
        placed = place_release(frozen, version, log_before) if attest else None
        with progress.stage("check: verify, diff, detectors, rules", unit="steps"):
            result = gate.check(
                frozen,
                version,
                base,
                pol,
                [os.fspath(w) for w in waivers],
                save_findings=save,
                base_unreleased=base_unreleased,
                base_attestations=[os.fspath(base_attestation)] if base_attestation is not None else [],
                kept_states=kept_states,
            )
    # what prov log and prov show say of it: an unsigned record (gate.check_record), appended only beside the
    # detector run the check stored: a check that wrote nothing (a broken log, detectors that did not run) leaves
    # .prov byte for byte as it was
    if result.detection_saved is not None:
        from provenance.gate.check_record import record_check

        record_check(opened, result)
    if attest and result.decision in ("pass", "warned"):
        assert key is not None and log_before is not None
        # the live log must still hold the state the check verified and the attestation signs
        require_extends(opened, log_before, f"prov check {version} --attest")
        from provenance.output_file import AlreadyExists

        try:
            write_attestation(opened, result, pol, os.fspath(key), target, log_before, replace_attestation, placed)
        except AlreadyExists:  # created while the check ran: still never replaced
            _refuse_attestation_there(target, replace_attestation)
            raise
        result.attestation = target
        from provenance.store.coverage import coverage

        # the attestation's closing checkpoint signs the check's own entries: report the log as it is now
        result.audit = coverage(opened, pins_of(opened).maintainer_keys(opened)).to_dict()
    return result


def _refuse_attestation_there(target: str, replace: bool) -> None:
    """The CLI's refusal of an attestation file already at ``target`` (``prov check --attest`` without
    ``--force``), worded for a Python caller: ``replace_attestation=True`` or another ``attestation_out=``."""
    from provenance import output_file

    try:
        output_file.check_output(target, "attestation_out=", replace=replace)
    except output_file.AlreadyExists:
        link = output_file.link_refusal(target, "attestation_out=")
        if link is not None:
            raise link from None
        refused = output_file.AlreadyExists(target, "attestation_out=")
        refused.args = (
            f"{target}: already exists; give replace_attestation=True (prov check --force) to replace it, "
            "or attestation_out= to write another",
        )
        raise refused from None
