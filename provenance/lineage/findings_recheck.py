"""What a findings quarantine may cut: the detectors re-run on signed data, never the file's or the store's word.

``prov quarantine --findings FILE`` removes the records a findings report flags. The
report is an unsigned file whoever writes the working tree can edit, and a detector run
stored in ``.prov/`` is rows whoever writes the store can edit (attack review 5, finding
4; README "Flags planted in the store"). So before anything is cut, the detection of
``prov diff BASE TAG --detect`` runs again (:func:`recheck_findings`): the delta of the
two signed versions, the records re-read and re-hashed from the data, featurised with the
featuriser of ``BASE``'s signed reference profile, every registered detector, combined at
the false-positive rate the maintainer passes (never the file's). Only digests that run
flags may be cut; any other refuses the quarantine (exit 2). What the run used goes into
the quarantine's signed facts (:meth:`FindingsRecheck.facts`).

Detection is deterministic (no random draws; BLAS on one thread, ``features.blas``), so
the re-run flags what the maintainer's run flagged. A stored run of the same versions
and rate that flags other records is reported (``notes``): the re-run is what counts.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance import input_file
from provenance.errors import InputError, ProvError
from provenance.store.store import Store


def digests_of_findings(path: str | Path) -> set[bytes]:
    """Digests of flagged findings in a ``prov diff --detect --format json`` report.

    The file is a JSON object with a ``findings`` list, or the list itself; each finding
    needs a 64-hex ``digest``, and counts unless ``"flagged": false``. Returns 32-byte digests.

    Raises:
        InputError: the file cannot be read or is larger than ``input_file.REPORT_BYTES``,
            is not JSON, has no findings list, or a finding without a valid digest (exit 2).
    """
    report = _report(path)
    items = report.get("findings") if isinstance(report, dict) else report
    if not isinstance(items, list):
        raise InputError(f"{path}: expected a 'findings' list (prov diff --detect --format json)")
    out = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("digest"), str):
            raise InputError(f"{path}: finding {i} has no 'digest'")
        if item.get("flagged", True):
            try:
                d = bytes.fromhex(item["digest"])
            except ValueError as exc:
                raise InputError(f"{path}: finding {i} digest {item['digest'][:20]!r} is not hex") from exc
            if len(d) != 32:
                raise InputError(f"{path}: finding {i} digest is not a 64-character SHA-256")
            out.add(d)
    return out


def _report(path: str | Path) -> object:
    raw = input_file.read_bounded(path, input_file.REPORT_BYTES, "findings report")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: findings file is not JSON ({exc})") from exc


def findings_base(path: str | Path) -> str | None:
    """The base version a findings report names, or None.

    ``prov diff --detect --format json`` names it as ``{"base": {"name", "kind": "version"}}``,
    ``prov findings --json`` as ``{"base": TAG}``; a git-revision base or a bare list names none.
    """
    report = _report(path)
    base = report.get("base") if isinstance(report, dict) else None
    if isinstance(base, dict) and base.get("kind") == "version":
        base = base.get("name")
    return base if isinstance(base, str) else None


def findings_fpr(path: str | Path) -> float | None:
    """The false-positive rate a report says it used, or None: ``detection.fpr`` of ``prov diff --detect --format
    json``, the ``combined`` row's ``fpr`` of ``prov findings --json``. A claim only refuses (another rate than the
    re-run's); it never sets the rate."""
    report = _report(path)
    detection = report.get("detection") if isinstance(report, dict) else None
    fpr = detection.get("fpr") if isinstance(detection, dict) else None
    rows = report.get("detectors") if isinstance(report, dict) and fpr is None else None
    if isinstance(rows, list):
        fpr = next((r.get("fpr") for r in rows if isinstance(r, dict) and r.get("detector") == "combined"), None)
    return float(fpr) if isinstance(fpr, int | float) and not isinstance(fpr, bool) else None


@dataclass
class FindingsRecheck:
    """The re-run detection a findings quarantine relied on (:func:`recheck_findings`).

    ``base``/``version`` are the two versions and ``base_root``/``version_root`` their
    signed Merkle roots (hex); ``fpr`` the rate the verdicts were combined at; ``detectors``
    the detectors that ran; ``featurizer`` the base profile's featuriser spec (a dict, or
    None for a profile that names none); ``scored``/``flagged`` the records the run scored
    and flagged; ``notes`` what a person should know (a stored run that disagrees, a source
    mostly cut); ``partly_cut`` the sources whose delivery was mostly cut (:func:`partly_cut_sources`).
    """

    base: str
    version: str
    base_root: str
    version_root: str
    fpr: float
    detectors: list[str]
    featurizer: dict | None
    scored: int
    flagged: int
    notes: list[str] = field(default_factory=list)
    # sources whose added records were mostly cut, the rest kept (:func:`partly_cut_sources`)
    partly_cut: list[dict] = field(default_factory=list)

    def facts(self) -> dict:
        """What goes into the quarantine's signed facts as ``detection``: the run's inputs and counts."""
        return {
            "base": self.base,
            "baseRoot": self.base_root,
            "version": self.version,
            "versionRoot": self.version_root,
            "fpr": self.fpr,
            "detectors": self.detectors,
            "featurizer": self.featurizer,
            "scored": self.scored,
            "flagged": self.flagged,
        }


def resolve_base(store: Store, tag: str, path: str | Path, base: str | None) -> str:
    """The base the detection is re-run against: ``base`` (``--base``), else the one the report names.

    Raises ``InputError`` (exit 2) when the report names another base than ``base``, when
    neither names one, or for an unknown version.
    """
    named = findings_base(path)
    if base is not None and named is not None and named != base:
        raise InputError(f"{path}: its findings are of {tag} against {named}, not against --base {base}")
    chosen = base or named
    if chosen is None:
        raise InputError(
            f"{path}: names no base version; pass --base BASE (the version `prov diff BASE {shlex.quote(tag)} --detect` compared with)"
        )
    store.version(chosen)
    return chosen


@dataclass
class DetectionRerun:
    """The detectors of ``prov diff BASE TAG --detect`` run now on the signed versions (:func:`rerun_detection`):
    ``base`` and ``fpr`` as run, ``report`` the merged diff it scored, ``detection`` its ``DiffDetection`` (nothing
    stored), ``profile`` the base's reference profile."""

    base: str
    fpr: float
    report: Any
    detection: Any
    profile: Any


def rerun_detection(
    store: Store, tag: str, path: str | Path, base: str | None, fpr: float | None, undone: str
) -> DetectionRerun:
    """Run every registered detector on the delta of the signed versions BASE and ``tag``, at ``fpr``, as
    ``prov diff BASE TAG --detect`` does, saving nothing: what a command acting on a findings file ``path`` decides
    from, never the file's or the store's word (``prov quarantine --findings``, ``prov waive --findings``).

    Args:
        base: ``--base``; default the base ``path`` names (:func:`resolve_base`).
        fpr: the rate in (0, 1); default ``detectors.registry.DEFAULT_FPR``. A file that says it was combined at
            another rate is refused, naming ``--fpr``.
        undone: what the command did not do, for the error of a failed detector ("nothing was cut").

    Raises:
        InputError: exit 2 for a bad base or rate, a file made at another rate, a base without a reference profile.
        ProvError: exit 3 when a detector fails (it could not be evaluated).
        VerificationError: exit 1 when a version fails its signature or manifest check.
    """
    from provenance.delta.compare import diff_versions
    from provenance.detectors.pipeline import detect_diff
    from provenance.detectors.registry import DEFAULT_FPR
    from provenance.profiles.loading import load_profile

    base = resolve_base(store, tag, path, base)
    rate = DEFAULT_FPR if fpr is None else fpr
    if not 0 < rate < 1:
        raise InputError(f"--fpr {rate}: give a false-positive rate between 0 and 1")
    claimed = findings_fpr(path)
    if claimed is not None and abs(claimed - rate) > 1e-12:
        raise InputError(
            f"{path}: its findings were combined at fpr {claimed:g}, prov re-runs the detectors at {rate:g}; the "
            f"rate is yours, never the file's: re-make the file at the rate your checks run, or pass that rate as --fpr"
        )
    profile = load_profile(store, base)
    # merged, as prov check does: the decision rests on no fact only the version's commit key signs
    report = diff_versions(store, base, tag, signed_delta=False)
    detection = detect_diff(store, base, tag, report.delta, fpr=rate, save=False)
    if detection.errors:
        failed = ", ".join(f"{r.detector} ({r.error})" for r in detection.errors)
        raise ProvError(f"{path}: re-running the detectors on {tag} against {base} failed: {failed}; {undone}")
    return DetectionRerun(base, rate, report, detection, profile)


def recheck_findings(
    store: Store, tag: str, path: str | Path, digests: set[bytes], base: str | None = None, fpr: float | None = None
) -> FindingsRecheck:
    """Re-run ``prov diff BASE TAG --detect`` on signed data and refuse digests of ``path`` it does not flag.

    Args:
        store: the open store (its pins verify both versions).
        tag: the version to quarantine.
        path: the findings report (for messages, its ``base`` and its ``detection.fpr``).
        digests: the report's flagged digests (:func:`digests_of_findings`), 32 bytes each.
        base: ``--base``; default the base the report names (:func:`resolve_base`).
        fpr: the false-positive rate to combine at (in (0, 1)); default that of ``prov diff
            --detect`` (``detectors.registry.DEFAULT_FPR``).
            The report's own rate is never used: a report made at another rate is refused
            and the message says to pass it explicitly.

    Returns:
        The :class:`FindingsRecheck` (nothing is stored: the re-run is not a new detector run).

    Raises:
        InputError: exit 2 for a bad base or rate, a report made at another rate, a base
            without a reference profile, and digests the re-run does not flag (one line
            naming ``path`` and the count, and how many are not records of ``tag`` at all).
        ProvError: exit 3 when a detector fails in the re-run (it could not be evaluated).
        VerificationError: exit 1 when a version fails its signature or manifest check.
    """
    rerun = rerun_detection(store, tag, path, base, fpr, "nothing was cut")
    base, rate, report, detection = rerun.base, rerun.fpr, rerun.report, rerun.detection
    profile = rerun.profile
    flagged = {bytes.fromhex(v.digest) for v in detection.verdicts.records if v.flagged}
    stray = digests - flagged
    against = f"{tag} against {base} at fpr {rate:g}"
    if stray:
        from provenance.version_facts import load_manifest

        present = set(load_manifest(store, store.version(tag)).table.column("digest").to_pylist())
        absent = len(stray - present)
        where = f" ({absent} of them are not records of {tag} at all)" if absent else ""
        raise InputError(
            f"{path}: {len(stray)} of its {len(digests)} flagged digests are not flagged when prov re-runs the "
            f"detectors on {against}{where}; quarantine only what `prov diff {shlex.quote(base)} {shlex.quote(tag)} --detect` flagged"
        )
    out = FindingsRecheck(
        base,
        tag,
        store.version(base)["merkle_root"],
        store.version(tag)["merkle_root"],
        rate,
        sorted(r.detector for r in detection.results),
        profile.featurizer_spec,
        len(detection.verdicts.records),
        len(flagged),
    )
    unlisted = sorted(d.hex() for d in flagged - digests)
    if unlisted:  # cut only what the file lists, and say what else the re-run flags (newcomer review 10, finding 21)
        shown = ", ".join(d[:12] for d in unlisted[:10]) + (
            f" and {len(unlisted) - 10} more" if len(unlisted) > 10 else ""
        )
        out.notes.append(
            f"{len(flagged) - len(unlisted)} of the {len(flagged)} records the re-run flags are listed in {path} and "
            f"cut; {len(unlisted)} it does not list {'is' if len(unlisted) == 1 else 'are'} kept: {shown} (for "
            "example a record a reviewer waived, which a check JSON leaves out)"
        )
    out.partly_cut = partly_cut_sources(report, flagged & digests)
    out.notes += [partly_cut_note(p, tag, base) for p in out.partly_cut]
    disagreement = stored_run_disagreement(store, tag, base, rate, flagged)
    if disagreement:
        out.notes.append(disagreement)
    return out


def partly_cut_sources(report, cut: set[bytes]) -> list[dict]:
    """The sources most of whose added records (in ``report``, the diff the re-run scored) are in ``cut``, the rest
    kept: ``[{"source", "added", "cut", "kept", "records"}]`` (``source`` None for records of no source; ``records``:
    the source's records in the new version, all of which ``--source`` would cut), most added first.

    A findings quarantine cuts only flagged records; when a delivery is mostly flagged, its unflagged rest is as
    suspect and went through in silence (newcomer review 17, F2). Counts are records added in the delta (rows).
    """
    if report.records is None or not cut:
        return []
    described = report.records.describe(sorted(d.hex() for d in cut))
    cut_by: dict[str | None, int] = {}
    for item in described.values():
        if item["change"] == "added":
            cut_by[item["source"]] = cut_by.get(item["source"], 0) + 1
    out = []
    for row in report.by_source:
        n, added = cut_by.get(row["source"], 0), int(row["added"])
        if added and n < added and 2 * n > added:  # most, not all: something of it is kept
            out.append({"source": row["source"], "added": added, "cut": n, "kept": added - n, "records": row["new"]})
    return sorted(out, key=lambda p: (-p["added"], str(p["source"])))


def partly_cut_note(part: dict, tag: str, base: str) -> str:
    """The sentence for a person about one of :func:`partly_cut_sources`: the counts, and the way to cut it all."""
    from provenance.escaping import visible

    kept = f"{part['kept']} {'is' if part['kept'] == 1 else 'are'} kept"
    if part["source"] is None:
        return (
            f"records of no source: {part['added']} added to {tag} since {base}, {part['cut']} flagged and cut, {kept} "
            "though most of them were flagged; no --source names them: leave them out of the data and commit again"
        )
    name = visible(part["source"])
    return (
        f"source {name}: {part['added']} records added to {tag} since {base}, {part['cut']} flagged and cut, {kept} "
        f"though most of its delivery was flagged; to cut it all: prov quarantine --from {shlex.quote(tag)} --source "
        f"{shlex.quote(part['source'])} --tag NEW --key K (it cuts every one of {name}'s {part['records']} records in "
        f"{tag})"
    )


def stored_run_disagreement(store: Store, tag: str, base: str, fpr: float, flagged: set[bytes]) -> str | None:
    """A sentence when the newest stored detector run of ``tag`` against ``base`` at ``fpr`` flags other records than ``flagged``.

    Stored runs are ``.prov/`` rows (``detectors.findings``), so they are only compared,
    never relied on; None when they agree or no such run is stored.
    """
    row = store.db.execute(
        "select run from detector_runs where version = ? and base = ? and detector = 'combined' and abs(fpr - ?) < 1e-12 "
        "order by created_at desc, rowid desc limit 1",
        [tag, base, fpr],
    ).fetchone()
    if row is None:
        return None
    stored: set[bytes] = set()
    for (digest,) in store.db.execute(
        "select digest from findings where run = ? and detector = 'combined' and flagged = 1", [row[0]]
    ):
        try:
            stored.add(bytes.fromhex(digest))
        except (TypeError, ValueError):
            continue
    if stored == flagged:
        return None
    return (
        f"stored detector run {row[0]} of {tag} against {base} flags {len(stored - flagged)} records the re-run does "
        f"not and misses {len(flagged - stored)} it flags; the re-run on signed data is what counts "
        "(was .prov/ edited? see prov audit verify)"
    )
