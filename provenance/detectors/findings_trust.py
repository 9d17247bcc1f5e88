"""How far ``prov findings`` can trust the stored detector run it lists (attack review 9b, F9b-1).

A detector run is stored by ``prov diff --detect``, which signs nothing: its findings object and
the ``detect`` audit entry naming it are what ``.prov/`` says. Whoever can write ``.prov/`` can
store an edited copy of the object and append an entry naming it (the hash chain re-made), and
``prov findings`` then listed "0 of 60 flagged" to the reviewer deciding waivers. So:

- the audit chain must be whole (an edited entry is exit 1, as ``prov audit verify`` says);
- the run is *signed* only when a signed head by a key the verifier pins (a checkpoint, or a
  later version's ``auditLogHead``) covers its ``detect`` entry, as every other fact a check
  relies on (DESIGN: audit entries after the last signed head are pending);
- otherwise it is listed as *not signed*, and :func:`recompute` re-runs the detectors on the
  signed versions and compares, record by record: a run that differs is exit 1.

Signing each run with the key of whoever ran it was the other way; it needs a key (and a role
for it in the pins) on every ``prov diff --detect``, which a reviewer rarely has at hand, while
the recompute needs nothing but the signed versions and gives the same assurance.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from provenance.errors import InputError, VerificationError

if TYPE_CHECKING:
    from provenance.gate.policy import Policy

# scores written by one run and recomputed by another agree to float64 rounding; a planted
# object moves a score by far more to change what a reviewer reads
SCORE_TOLERANCE = 1e-9


def signed_by(store: Any, audit_entry: int) -> str | None:
    """The signed head (``checkpoint <id> (time)`` or ``version <tag>``) by a key the verifier pins that
    covers audit entry ``audit_entry``, or None: nothing pinned, or the entry is pending.

    Raises:
        VerificationError: the audit chain is broken (an entry edited, missing or out of order), exit 1.
    """
    from provenance.store import audit
    from provenance.store.coverage import coverage
    from provenance.trust.pins import pins_of

    audit.verify_chain(store.db)
    pinned = pins_of(store).maintainer_keys(store)
    if pinned is None:
        return None  # keys found in .prov/ prove nothing to its writer
    covered = coverage(store, pinned)
    return covered.by if covered.covers(audit_entry) else None


def with_signature(store: Any, result: dict) -> dict:
    """``result`` (``stored_findings``' dict) with ``covered_by`` (the pinned head covering its entry, see
    :func:`signed_by`; None when no run) and ``signed_by`` None: no key signs a run, and the next signing write covers
    a ``detect`` entry a ``.prov/`` writer planted as it covers an honest one (attack review 26e), so a covering head
    dates a run and never makes it signed; only ``--recompute`` vouches for one.

    Raises:
        VerificationError: the audit chain is broken (exit 1).
    """
    entry = result.get("audit_entry")
    return result | {"signed_by": None, "covered_by": signed_by(store, entry) if isinstance(entry, int) else None}


def recompute(store: Any, version: str, base: str | None = None, policy: Policy | None = None) -> dict:
    """Re-run the detectors the stored run names on the signed versions (its base and ``version``, at its
    FPR) and compare with the stored run, record by record (digest and label): its verdict and score. ``base``
    (``prov findings V --base B --recompute``): the newest stored run against B, not the newest run.

    The base, the detectors and the FPR are the stored run's (a check's policy may name fewer detectors
    or another rate), so they are returned for the listing to show: a run recomputed against another
    base, or at a vanishing FPR, agrees with itself and says so in plain sight.

    Returns ``{"base", "fpr", "detectors", "records", "flagged", "differences": 0, "expected_at_most",
    "findings"}`` when they agree; ``expected_at_most`` is the combined verdict's flag budget
    (``detectors.budget``) of the re-run, which a stored run does not keep; ``findings`` the re-run's
    every scored record in the stored run's shape and order (``findings.findings_document``), which a
    listing prints instead of the stored ones. A run a check stored with ``class_free`` classes (``gate.class_free``)
    has the re-run's added records of those classes judged as that check judged them (``class_free.rejudged``), and
    ``class_free`` is returned, in plain sight as the base is; only classes ``policy`` (the verifier's
    ``gate.policy.Policy``, default: the built-in policy, which lists none) lists in ``[class_mix]
    expected_new_classes``: the classes are what ``.prov/`` says, and a check under a policy of a writer's own stores
    a run excusing any class (attack review 32c, A32c-1). ``wording``
    (``{"written_by", "recomputed_with", "explanations_differ", "first"}``) when only explanations differ and the run
    was written by another prov (its ``prov_version``, or none: older): a wording change, not an edit.

    Raises:
        InputError: no detector run is stored for ``version`` (against ``base``, when given) (exit 2).
        VerificationError: the stored run differs from the re-run (exit 1), naming how many
            records and the first few: a verdict, score, flag or Detectors row whatever prov wrote it, an
            explanation when this prov did; it judges a class on class-free evidence that ``policy`` does not
            list (exit 1, naming the run and the class); it names a detector this prov does not have (exit 1:
            ``stored_run_shape.check_detectors_known``); the versions' own checks raise as ``prov diff`` does.
    """
    from provenance.delta.compare import diff_versions
    from provenance.detectors.findings import COMBINED, stored_findings
    from provenance.detectors.pipeline import detect_diff
    from provenance.detectors.stored_run_shape import check_detectors_known

    stored = stored_findings(store, version, flagged_only=False, base=base)
    if stored["run"] is None or not stored["base"]:
        raise InputError(
            f"no detector run is stored for {version}; run `prov diff BASE {shlex.quote(version)} --detect`"
        )
    base = stored["base"]
    combined = next((d for d in stored["detectors"] if d["detector"] == COMBINED), None)
    if combined is None:
        raise VerificationError(f"findings of run {stored['run']} on {version}: the run stores no combined verdict")
    names = sorted({d["detector"] for d in stored["detectors"]} - {COMBINED})
    check_detectors_known(stored["detectors"], stored["run"], version)  # a run it cannot re-run is not vouched for
    fpr = float(combined["fpr"])
    # what provenance.detect does, on this store handle (its pins): the diff's delta, scored, nothing saved
    detection = detect_diff(
        store, base, version, diff_versions(store, base, version, signed_delta=False).delta, names, fpr, save=False
    )
    class_free = listed_class_free(stored, version, policy)
    if class_free:  # judged as the check that stored the run judged them (gate.class_free; A31d-2)
        from provenance.gate.class_free import rejudged
        from provenance.profiles.waived import detection_profile

        detection = rejudged(detection, detection_profile(store, base, version), class_free)
    labels: list[str | None] = list(detection.labels) if detection.labels else [None] * len(detection.verdicts.records)
    now = {(v.digest, label): (bool(v.flagged), float(v.score)) for v, label in zip(detection.verdicts.records, labels)}
    was = {(f["digest"], f["label"]): (bool(f["flagged"]), float(f["score"])) for f in stored["findings"]}
    if stored["from_rows"]:  # a run stored before findings objects kept its flagged records only
        now = {k: v for k, v in now.items() if v[0]}
        was = {k: v for k, v in was.items() if v[0]}
    differ = sorted(k for k in now.keys() | was.keys() if k not in now or k not in was or not _same(now[k], was[k]))
    if differ:
        digest, label = differ[0]
        first = f"{digest[:12]} label {label}: stored {_say(was.get(differ[0]))}, re-run {_say(now.get(differ[0]))}"
        raise VerificationError(
            f"prov findings {version}: stored run {stored['run']} differs from the detectors re-run on the signed "
            f"versions {base} and {version} in {len(differ)} record(s) (first: {first}); it is not what the detectors "
            f"say: decide from prov diff {shlex.quote(base)} {shlex.quote(version)} --detect, and look for who wrote .prov/"
        )
    wording = None
    if not stored["from_rows"]:  # the listing prints more than flags and scores (attack review 10b, F10b-2)
        columns = _named_columns(detection)
        what = _entries_differ(stored, detection, labels, columns) or _detectors_differ(
            stored["detectors"], detection, columns
        )
        reworded = _explanations_differ(stored, detection, labels)
        if not what and reworded:
            wording = _wording_note(stored, reworded)
            what = "" if wording else f"the explanation of {reworded[0]}"
        if what:
            raise VerificationError(
                f"prov findings {version}: stored run {stored['run']} has the detectors' flags and scores, but "
                f"{what} differs from the re-run on the signed versions {base} and {version}; it is not what the "
                f"detectors say: decide from prov diff {shlex.quote(base)} {shlex.quote(version)} --detect, and look for who wrote .prov/"
            )
    flagged = sum(v[0] for v in now.values())
    from provenance.delta.detection_report import DEFAULT_ALPHA
    from provenance.detectors.budget import flag_budget

    v = detection.verdicts  # the combined verdict's budget, as prov diff computes it (the stored run lacks it)
    budget = flag_budget(
        len(v.records), fpr, DEFAULT_ALPHA, v.reference_size, v.reference_batch_sizes, v.reference_batch_flags
    )
    return (
        {
            "base": base,
            "fpr": fpr,
            "detectors": names,
            "records": len(now),
            "flagged": flagged,
            "differences": 0,
            "expected_at_most": budget.flags if v.records else None,
            "findings": _rerun_findings(stored, version, detection),
        }
        | ({"class_free": class_free} if class_free else {})
        | ({"wording": wording} if wording else {})
    )


def listed_class_free(stored: dict, version: str, policy: Policy | None = None) -> list[str]:
    """The stored run's ``class_free`` classes (``stored_findings``' dict), each one ``policy`` (default: the built-in
    policy) lists in ``[class_mix] expected_new_classes``: the classes a check under that policy may have judged on
    class-free evidence.

    Raises:
        VerificationError: the run names a class ``policy`` does not list: no check under it stored that run (exit 1).
    """
    from provenance.gate.policy import default_policy

    chosen = policy if policy is not None else default_policy()
    class_free = list(stored.get("class_free") or [])
    listed = set(chosen["class_mix"]["expected_new_classes"] or [])
    unlisted = [c for c in class_free if c not in listed]
    if unlisted:
        where = f"--policy {shlex.quote(chosen.path)}" if chosen.path else "the default policy"
        raise VerificationError(
            f"prov findings {version}: stored run {stored['run']} judges the added records of "
            f"{', '.join(map(repr, unlisted))} on class-free evidence, but {where} does not list "
            f"{'them' if len(unlisted) > 1 else 'it'} in [class_mix] expected_new_classes: no check under this policy "
            "stored that run; recompute under the policy your checks run (prov findings --recompute --policy FILE), "
            "and look for who wrote .prov/ or ran prov check under another policy"
        )
    return class_free


def _named_columns(detection: Any) -> list[tuple[str, list[float], list[bool]]]:
    """The re-run's (detector, scores, flags), detectors by name, as the stored run keeps them (the columns of a
    class-free re-judged run with the class-conditional flags it set aside cleared: ``ClassFreeJudged.columns``)."""
    named = [(r.detector, *cols) for r, cols in zip(detection.results, detection.columns)]
    return sorted(named, key=lambda c: c[0])


def _rerun_findings(stored: dict, version: str, detection: Any) -> list[dict]:
    """The re-run's every scored record as ``stored_findings`` gives the stored ones (no ``position``)."""
    from provenance.detectors.findings import findings_document

    labels = list(detection.labels) if detection.labels else None
    document = findings_document(
        stored["run"],
        stored["base"],
        version,
        stored["detectors"],
        detection.results,
        labels,
        detection.verdicts,
        _named_columns(detection),
    )
    return [{k: x for k, x in f.items() if k != "position"} for f in document["findings"]]


def _entries_differ(
    stored: dict, detection: Any, labels: list[str | None], columns: list[tuple[str, list[float], list[bool]]]
) -> str:
    """The first record whose per-detector entries (name, flag, score) differ between the stored run and the
    re-run, described; "" when none does. A listing prints them, so a run that keeps every combined flag and score
    but rewrites a detector's must not pass as recomputed."""
    entries = {}
    for i, (v, label) in enumerate(zip(detection.verdicts.records, labels)):
        entries[(v.digest, label)] = [
            (name, bool(flags[i]), float(scores[i])) for name, scores, flags in columns if i < len(scores)
        ]
    for f in stored["findings"]:
        mine = entries[(f["digest"], f["label"])]
        theirs = [(d["detector"], bool(d["flagged"]), float(d["score"])) for d in f["detectors"]]
        if len(theirs) != len(mine) or any(
            a[0] != b[0] or a[1] != b[1] or abs(a[2] - b[2]) > SCORE_TOLERANCE for a, b in zip(theirs, mine)
        ):
            return f"the per-detector scores of record {f['digest'][:12]} label {f['label']}"
    return ""


def _explanations_differ(stored: dict, detection: Any, labels: list[str | None]) -> list[str]:
    """The records (described, stored order) whose explanation differs word for word between the stored run and
    the re-run."""
    explanations = {(v.digest, label): v.explanation for v, label in zip(detection.verdicts.records, labels)}
    return [
        f"record {f['digest'][:12]} label {f['label']}"
        for f in stored["findings"]
        if f["explanation"] != explanations[(f["digest"], f["label"])]
    ]


def _wording_note(stored: dict, reworded: list[str]) -> dict | None:
    """``{"written_by", "recomputed_with", "explanations_differ", "first"}`` when the stored run was written by
    another prov than this one (its ``prov_version``; None: a run from before prov kept it), whose words may differ:
    only explanations differ, every verdict, score, flag and Detectors row being equal (checked before), and the
    listing prints the re-run's words, not the stored ones. None when this prov wrote it: then a reworded
    explanation is an edit (the caller says so). The version is what ``.prov/`` says, so it can turn only wording
    into a note, never a changed verdict, score or flag (sec32)."""
    from provenance import __version__

    written_by = stored.get("prov_version")
    if written_by == __version__:
        return None
    return {
        "written_by": written_by if isinstance(written_by, str) else None,
        "recomputed_with": __version__,
        "explanations_differ": len(reworded),
        "first": reworded[0],
    }


def _detectors_differ(rows: list[dict], detection: Any, columns: list[tuple[str, list[float], list[bool]]]) -> str:
    """The first detector whose stored row (status, records scored and flagged) differs from the re-run,
    the ``combined`` row included, described; "" when none does."""
    from provenance.detectors.findings import COMBINED

    flagged = {name: sum(flags) for name, _, flags in columns}
    now = {r.detector: (r.status, len(r.findings), flagged.get(r.detector, 0)) for r in detection.results}
    now[COMBINED] = ("ran", len(detection.verdicts.records), len(detection.verdicts.flagged))
    was = {d["detector"]: (d["status"], d["scored"], d["flagged"]) for d in rows}
    for name in sorted(now.keys() | was.keys()):
        if now.get(name) != was.get(name):
            return (
                f"the Detectors row of {name} (stored {was.get(name)}, re-run {now.get(name)}: status, scored, flagged)"
            )
    return ""


def _same(a: tuple[bool, float], b: tuple[bool, float]) -> bool:
    return a[0] == b[0] and abs(a[1] - b[1]) <= SCORE_TOLERANCE


def _say(verdict: tuple[bool, float] | None) -> str:
    if verdict is None:
        return "not scored"
    return f"{'flagged' if verdict[0] else 'not flagged'} at {verdict[1]:.6f}"
