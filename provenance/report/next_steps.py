"""What a blocked check's reader does next: the "To release:" lines under BLOCKED.

A blocked check listed its rules and records and ended there (newcomer review 11, finding
18); the way to a release (review, waive, cut a source or the flagged records out, withdraw
a batch that is not shipped, a policy key for a change made on purpose) was only in the
README's tour. Each blocking rule gives the steps that address it, in the order a reviewer
takes them, each said once.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from dataclasses import dataclass

from provenance.gate.shrink_bound import smallest_lifting_fraction

NEW = "NEW"  # the new version's name, for the reader to choose
KEY = "--key K"
RELABELED = "lineage.max_relabeled_after_source"
POLICY = "(a policy file: start from prov check --print-default-policy, check with --policy FILE)"


@dataclass(frozen=True)
class Step:
    """One step: what it does, the command that does it (None: a policy key, said in ``after``), and words after."""

    what: str
    command: str | None = None
    after: str = ""

    @property
    def text(self) -> str:
        """The step as one line of text: ``"review the flagged records: prov findings v4"``."""
        return f"{self.what}: {self.command}{self.after}" if self.command else f"{self.what}{self.after}"


def release_steps(report: dict) -> list[Step]:
    """The steps for a blocked check report (empty for any other decision)."""
    if report.get("decision") != "blocked":
        return []
    blocking = [rule for rule in report.get("rules") or [] if rule["status"] == "block"]
    steps: list[Step] = _respelled_steps(blocking)  # first: what the detectors flag follows from it
    for rule in sorted(blocking, key=lambda r: next((i for i, f in enumerate(ORDER) if r["rule"].startswith(f)), 9)):
        steps += [*_own_check(rule, report), *_steps(rule, report)]
    said: set[str] = set()  # each command once: the first rule that asks for it says why
    out = []
    for step in steps:
        key = step.command or step.text
        if key not in said:
            said.add(key)
            out.append(step)
    return out


def _respelled_steps(blocking: list[dict]) -> list[Step]:
    """One step per added label that a blocking class-mix rule names as a base class spelled otherwise (its
    statistic's ``spelled_as_base``): its records read as a new class, so the detectors flag them too, and a
    stolen key is not what to suspect first (newcomer review 34, finding 3)."""
    rule = next((r for r in blocking if r["rule"] == "class_mix.min_p_value"), None)
    spelled = ((rule or {}).get("statistic") or {}).get("spelled_as_base") or {}
    return [
        Step(
            f"{str(label)!r} is the base's {str(base)!r} spelled otherwise: ask the source to keep the base's "
            "spelling, or map it before adding"
        )
        for label, base in spelled.items()
    ]


# the order a reviewer takes the steps in: data that cannot be read first, then the records to review
ORDER = ("integrity.", "detectors.", "copies.", "lineage.", "relabels.", "removals.", "class_mix.")


def _steps(rule: dict, report: dict) -> list[Step]:
    # every value prov did not write is quoted as sh reads it: a version name may be v2x;touch${IFS}PWNED;#
    # (attack review 15b, A15b-5); placeholders (NEW, K, S, R, DATA, F.json) stay bare for the reader to fill
    name, v, base = rule["rule"], shlex.quote(report["version"]), shlex.quote(report["base"])
    named = _source(rule, report)
    source = shlex.quote(named) if named is not None else "S"
    cut_source = f"prov quarantine --from {v} --source {source} --tag {NEW} {KEY}"
    # a source that signs its batches is not cut out for records no signature of it attests: --source cuts its
    # signed records too, and whoever registers batches can name an unsigned one after it (attack review 14b, A14b-2)
    signs = named is not None and named in _signing_sources(report)
    relabeled = any(r["rule"] == RELABELED and r["status"] == "block" for r in report.get("rules") or [])
    leave_out = Step(  # one step (one command, said once) for the records under S's name no signature attests
        ("or restore the labels the sources signed, or leave out " if relabeled else "or leave out ")
        + f"{source}'s records no signature of it attests, and commit again",
        f"prov commit DATA --parent {v} --tag {NEW} {KEY}",
        f" (prov quarantine --source {source} would cut {source}'s signed records too)",
    )
    if name.startswith("detectors."):
        # every added record of the signing source is attested: nothing to leave out (newcomer review 30), but most
        # flagged records are its signed ones, so cutting it stays the way when its key is no longer trusted
        # a stolen key signs a campaign, not one odd record: below a few of its signed records flagged, the advice
        # to end the source's trust only frightens (newcomer review 35, finding 5: 1 record of 160)
        few = _flagged_of(named, report) < STOLEN_KEY_MIN_FLAGGED
        distrust = [] if few else _stolen_key_steps(source, cut_source)
        copied = _copied_beyond_signed(rule, named)
        if copied:  # the version's maker repeated S's signed records: S's key is not what they point at (A31d-6)
            distrust = [
                Step(
                    f"or, as {copied} of the flagged records are {source}'s signed records held more times than "
                    f"{source}'s signed batches hold them (copies whoever made {v} added, not what {source} signed), "
                    "remove the copies and commit again",
                    f"prov commit DATA --parent {v} --tag {NEW} {KEY}",
                )
            ]
        return (
            _listed_in_full(rule, v, base)
            + _detector_steps(name, v, base, source if named and not signs else None, cut_source, report)
            + (([leave_out] if _unattested_records(named, report) else distrust) if signs else [])
        )
    if name == "class_mix.min_p_value":
        cells = [c for c in (rule.get("statistic") or {}).get("cells") or [] if c.get("residual", 0) > 0]
        top = max(cells, key=lambda c: c["residual"], default=None)  # the most over-represented class
        held = (rule.get("statistic") or {}).get("expected_classes_judged") or {}
        if top is not None and str(top["class"]) in held:  # listing it again would change nothing (attack review 30a)
            n = held[str(top["class"])]
            return [
                Step(
                    f"class {str(top['class'])!r} is in [class_mix] expected_new_classes, but the base already holds {n} "
                    "of it, so its share is tested: check where its records came from (Sources); for a growth made on "
                    f"purpose, lower [class_mix] min_p_value {POLICY}"
                )
            ]
        spelled = ((rule.get("statistic") or {}).get("spelled_as_base") or {}).get(str(top["class"])) if top else None
        if top is not None and spelled is not None:  # not a new class: listing it would excuse nothing (A32a-5)
            return [
                Step(
                    f"class {str(top['class'])!r} is base class {str(spelled)!r} spelled otherwise (labels are compared "
                    "after NFKC normalisation, case folding and stripping): not a new class, so listing it in "
                    "[class_mix] expected_new_classes would excuse nothing; correct the labels in the data and "
                    "commit again",
                    f"prov commit DATA --parent {v} --tag {NEW} {KEY}",
                )
            ]
        extreme = _class_free_extreme(report, str(top["class"])) if top is not None else 0
        if top is not None and extreme:  # listing the class would not release them: not offered (A31a-3)
            return [
                Step(
                    f"class {str(top['class'])!r}: {extreme} of its records lie far outside the base on evidence that "
                    "does not read their class (detectors.extreme), which listing it in [class_mix] "
                    "expected_new_classes does not excuse: review them first"
                )
            ]
        return _new_class_steps(rule, top, _unlisted_inside(report))
    if name == RELABELED and signs:  # whoever wrote the data changed the labels S signed, not S
        return [Step(leave_out.what.removeprefix("or "), leave_out.command, leave_out.after)]
    if name == "lineage.max_conflicting_signed_labels":
        return _conflict_steps(rule, v, base)
    if name == RELABELED:
        return [Step("restore the labels the sources signed, or cut out the source that changed them", cut_source)]
    if name in ("lineage.forbidden_sources", "lineage.block_quarantined_sources"):
        return [Step("cut the source out", cut_source)]
    statistic = rule.get("statistic") or {}
    rekeyed = int(statistic.get("rekeyed") or 0) if name == "lineage.unattributed_beside_signed" else 0
    added_columns = [str(c) for c in statistic.get("added_columns") or []] if rekeyed else []
    retype = []
    if rekeyed and (not added_columns or statistic.get("other_schema_changes")):
        # records a batch signed with the old types, re-keyed by a schema change (newcomer review 16, #2); a Parquet
        # base carries its own types, so --schema cannot re-read it and the re-commit looped (newcomer review 31, #1)
        if statistic.get("base_parquet"):
            retype += [
                Step(
                    f"a schema change re-keyed {rekeyed} base records: cast the columns back to the signed types"
                    f"{_old_types(report)} in the data (Parquet carries its own types; --schema does not apply), "
                    "then commit it again",
                    f"prov commit DATA --tag {NEW} --parent {base} {KEY}",
                    f" and check {NEW} against {base}",
                ),
                Step(
                    "or keep the new types: write the base's data with them and re-commit it",
                    f"prov commit BASEDATA --tag B2 --parent {base} {KEY}",
                    f" and check against it (to attest against B2, commit {v}'s data again with --parent B2)",
                ),
            ]
        else:
            retype += [
                Step(
                    f"a schema change re-keyed {rekeyed} base records: re-commit the base with the new types",
                    f"prov commit BASEDATA --tag B2 --parent {base} {_new_types(report)} {KEY}",
                    f" and check against it (to attest against B2, commit {v}'s data again with --parent B2)",
                ),
                Step("or keep the signed types: cast the columns back and commit the data again"),
            ]
    signing = statistic.get("added_columns_signed_by") or {}
    if added_columns and signing:  # a source signed them as content: it added them (newcomer review 33, #5)
        from provenance.lineage.vendor_columns import signs_again_way

        retype.append(Step(f"{'and for ' if retype else ''}the columns the data adds: {signs_again_way(signing)}"))
    elif added_columns:  # columns the data adds to the signed ones: no cast removes them (newcomer review 24)
        from provenance.lineage.retyped import added_column_flags, column_names_text

        one = len(added_columns) == 1
        retype.append(
            Step(
                f"{'and for ' if retype else ''}the column{'' if one else 's'} {column_names_text(added_columns)} the data "
                f"adds: if your own pipeline adds {'it' if one else 'them'}, commit the data again with "
                f"{'it' if one else 'them'} left out of the digest ({'its' if one else 'their'} values are then signed "
                f"by no source and scored by no detector; if not, drop {'it' if one else 'them'})",
                f"prov commit DATA --parent {v} --tag {NEW} {' '.join(added_column_flags(added_columns))} {KEY}",
                f" and check {NEW} against {base}",
            )
        )
    signed_types = statistic.get("signed_types") if name == "lineage.unattributed_beside_signed" else None
    if signed_types and statistic.get("data_parquet"):  # Parquet is read with its own types (newcomer review 31)
        from provenance.lineage.retyped import schema_flags

        retype.append(
            Step(
                "the data holds other column types than its signed batches: cast the columns in the file to the "
                f"signed types ({schema_flags(signed_types).replace('--schema ', '')}; --schema does not apply to "
                "Parquet), then commit it again",
                f"prov commit DATA --parent {base} --tag {NEW} {KEY}",
                f" and check {NEW} against {base}",
            )
        )
    elif signed_types:  # the data read with other column types than the signed batches (newcomer review 30, #4)
        from provenance.lineage.retyped import schema_flags

        retype.append(
            Step(
                "the data was read with other column types than its signed batches: commit it again read with the "
                "signed types",
                f"prov commit DATA --parent {base} --tag {NEW} {schema_flags(signed_types)} {KEY}",
                f" and check {NEW} against {base}",
            )
        )
    if rekeyed and rekeyed >= int(rule.get("count") or 0):  # every record counted: withdraw or add do not apply
        return retype
    # lineage is signed at commit: a batch registered now changes nothing until the data is committed again
    # (newcomer review 17, F3: "register the batch" read as if it fixed the version checked)
    recommit = f" && prov commit DATA --parent {v} --tag {NEW} {KEY}"
    replaced = int(statistic.get("replaced") or 0) if name == "lineage.unattributed_beside_signed" else 0
    if replaced:  # records edited in place: not a batch to register (newcomer review 31, #3)
        return _edit_steps(statistic, replaced, int(rule.get("count") or 0), v, base, recommit)
    conflicts = statistic.get("type_conflicts") if name == "lineage.unattributed_beside_signed" else None
    if conflicts:  # two signed batches disagree on a column's type: no cast helps (newcomer review 32, #2)
        from provenance.lineage.retyped import type_conflict_step

        return [Step(*type_conflict_step(conflicts, base, v))]
    metadata_signing = statistic.get("metadata_signed_by") if name == "lineage.unattributed_beside_signed" else None
    if metadata_signing:  # the batch is registered: its source signs again without the columns (review 33, #5)
        from provenance.lineage.vendor_columns import signs_again_way

        return [
            *retype,
            Step(f"the records of a registered batch re-keyed by --metadata: {signs_again_way(metadata_signing)}"),
        ]
    if name in ("lineage.unattributed_beside_signed", "lineage.signed_batches_incomplete"):
        # withdraw applies only where a trusted signed batch has records missing (F3): the rule says so
        missing = name == "lineage.signed_batches_incomplete" or statistic.get("signed_missing")
        withdraw = Step(
            "a signed batch not shipped on purpose",
            f"prov withdraw BATCH --reason R {KEY}",
            " (prov sources lists the batches)",
        )
        # the command registers the envelope the source signed, so its labels bind; --unsigned is named in words only,
        # for records no source signed: run on a signed delivery never registered, it passed the labels flipped in it
        # (attack review 33a, A33a-2, as A32d-3 for the type-conflict advice); the rule's reason names both
        # (newcomer review 32, #2: only the JSON named --unsigned); where signed records are missing it helps nothing
        own = "" if missing else "; only records of your own that no source signed go in with --unsigned instead"
        return [
            *retype,
            *([withdraw] if missing else []),
            Step(
                "register the added records' batch with the envelope its source signed, then commit again (lineage is "
                "signed at commit)",
                f"prov add BATCH --source S{recommit}",
                f" (prov add reads BATCH.prov.json, or --envelope E{own})",
            ),
        ]
    if name.startswith("lineage."):  # unattributed records, unsigned additions, unsigned batches of signing sources
        register = Step(
            "register the added records' batch, signed by its source, then commit again (lineage is signed at commit)",
            f"prov add BATCH --source {source}{recommit}",
        )
        if signs:
            return [register, leave_out]
        return [register, Step("or cut the source out", cut_source)]
    if name.startswith("copies."):  # exact copies of records the candidate already holds (a re-delivered batch)
        anchor_only = anchor_steps(rule.get("statistic") or {}, base)
        if anchor_only is not None:
            return anchor_only
        return [
            *([Step("cut out the source that delivered them again", cut_source)] if named and not signs else []),
            *([leave_out] if signs else []),
            Step(f'copies delivered on purpose: [copies] copies_added = "warn" {POLICY}'),
        ]
    if name == "relabels.max_relabels_of_others_records":  # a source flipped records it never delivered (A32e-2)
        return [
            Step("review the relabels: each record's detail names its base label and who delivered it",
                 f"prov diff {base} {v}"),
            Step("accept a relabel you reviewed", f"prov waive DIGEST --version {v} --detector combined --reason R {KEY}"),
            Step("relabels made on purpose by a source whose job is relabelling: declare it by name, "
                 f"[relabels] relabelling_sources = {{ SOURCE = N }} {POLICY}"),
        ]  # fmt: skip
    if name.startswith("relabels."):
        return [
            Step("review the relabels", f"prov diff {base} {v}"),
            Step(f"relabels made on purpose: raise [relabels] {name.split('.', 1)[1]} {POLICY}"),
        ]
    if name.startswith("removals.") and (rule.get("statistic") or {}).get("emptied"):  # newcomer review 27, #5
        return [
            Step(
                "restore the data (an empty file is more often a failed export than a meant version), commit it again",
                f"prov commit DATA --tag {NEW} --parent {base} {KEY}",
            )
        ]
    if name.startswith("removals.") and (rule.get("statistic") or {}).get("test") == "shrunk":
        # the shrink bound blocks whatever unsigned_removed says: only its own key lifts it (attack review 29a, A29a-5)
        # the smallest two-place value the bound's own comparison accepts (attack review 30a, A30a-5: rounded up in
        # floating point, 0.57 for 171 of 300 still blocked as 0.57 * 300 < 171)
        removed, records = ((rule.get("statistic") or {}).get(k) for k in ("removed", "records_base"))
        need = ""
        if isinstance(removed, int) and isinstance(records, int) and 0 <= removed <= records and records:
            need = f" to at least {smallest_lifting_fraction(removed, records):g}"
        return [Step(f"a shrink made on purpose: raise [removals] max_removed_fraction{need} {POLICY}")]
    if name.startswith("removals."):
        return [Step(f'a removal made on purpose: [removals] unsigned_removed = "warn" {POLICY}')]
    if name == "integrity.verify_data":
        return [
            Step(
                f"fetch or restore {report['version']}'s data",
                "dvc pull",
                " (or dvc checkout); data changed on purpose: commit it anew",
            )
        ]
    if name == "integrity.kept_log_state":  # the log lost entries a kept state signed (attack review 16, F1)
        kept = [k["path"] for k in (rule.get("statistic") or {}).get("kept") or [] if k.get("path")]
        named = " ".join(f"--checkpoint {shlex.quote(str(p))}" for p in kept) or "--checkpoint F"
        return [
            Step(
                "see where the audit log departs from the kept state",
                f"prov audit verify {named}",
                "; entries deleted or rewritten: restore .prov/ from a copy you trust, run prov audit verify (a "
                "version's commit entry deleted or rewritten: one whose own check blocked must stay judged), then "
                "check again; never sign the log as it is now (prov audit checkpoint --out) to get past this rule: "
                "that keeps the cut; only a state kept for another store (one key signing for several) is swapped, "
                "for the one kept for this store",
            )
        ]
    if name == "integrity.verify_signatures":
        # the log broken, not a signature: prov verify V passes and does not lead to the entry (attack review 16, F5)
        if str(rule.get("reason") or "").startswith("audit log"):
            return [
                Step(
                    "see where the audit log breaks",
                    "prov audit verify",
                    "; restore .prov/ from a copy you trust (an entry planted, edited or deleted)",
                )
            ]
        # a version signing another store id than the pinned one: the keys are not the problem, the pin or the
        # store is, and prov verify V fails the same way (newcomer review 20)
        if "not the store id you pinned" in str(rule.get("reason") or ""):
            return [
                Step(
                    "see the id this store's signed history names",
                    "prov audit verify",
                    " (run without --store-id and PROV_STORE_ID); a wrong pin: pin that id (the one prov init "
                    "printed); a version of another store in .prov/: restore .prov/ from a copy you trust",
                )
            ]
        return [
            Step("see what does not verify", f"prov verify {v}", "; pin the keys that signed it (--signer KEY.pub)")
        ]
    return []


def _unlisted_inside(report: dict) -> dict[str, str]:
    """``{label: base classes}``: the detector rules' ``listed_in_full.unlisted_inside`` (``gate.detection_common``),
    new classes not listed whose added records sit inside base classes, so listing them would not help."""
    out: dict[str, str] = {}
    for rule in report.get("rules") or []:
        out |= ((rule.get("statistic") or {}).get("listed_in_full") or {}).get("unlisted_inside") or {}
    return out


def _new_class_steps(rule: dict, top: dict | None, inside: dict[str, str]) -> list[Step]:
    """The step for a class-mix block none of the cases above explain: list the classes new on purpose, the added
    classes the base does not hold (the statistic's ``new_classes``, most over-represented first); a new class whose
    records sit inside base classes (``inside``, ``{label: base classes}``) is named with why listing it would not
    release them; a base class that grows is named with the way that excuses growth, since listing one the base
    holds changes nothing (newcomer review 33, finding 3: the step offered ``["other low"]``, a base class, and never
    named 'tropical wave', whose records sit among tropical storms')."""
    statistic = rule.get("statistic") or {}
    residual = {str(c["class"]): c.get("residual", 0) for c in statistic.get("cells") or []}
    ordered = sorted(statistic.get("new_classes") or {}, key=lambda c: (-residual.get(c, 0), c))
    new = [c for c in ordered if c not in inside]
    steps = [
        Step(
            f"class {c!r} is new, but its added records sit among base classes' records ({inside[c]}): listed in "
            "[class_mix] expected_new_classes, it would leave the class-mix tests and its records would still be "
            "judged in full, so listing it would not release them; review them and accept the new class's with a "
            "waive key (prov waive, or prov waive --findings F.json for a reviewed list), and lower [class_mix] "
            "min_p_value for a change made on purpose"
        )
        for c in ordered
        if c in inside
    ]
    if new:
        listed = ", ".join(json.dumps(c) for c in new)
        steps.append(
            Step(
                f"a class new on purpose: list it in [class_mix] expected_new_classes = [{listed}] {POLICY}; its "
                "records then leave the class-mix tests, and the detectors judge them on class-free evidence unless "
                "they sit among a base class's records (judged in full all the same: the check then says so)"
            )
        )
    if top is not None and str(top["class"]) not in ordered and "new_classes" in statistic:
        steps.append(
            Step(
                f"class {str(top['class'])!r} grows beyond its share of the base, which holds it: listing it in "
                "[class_mix] expected_new_classes would excuse nothing; check where its records came from (Sources); "
                f"for a growth made on purpose, lower [class_mix] min_p_value {POLICY}"
            )
        )
    if not steps:  # a report from before new_classes was signed into the statistic: the step as it was
        listed = f" = [{json.dumps(str(top['class']))}]" if top is not None else ""
        steps.append(
            Step(f"a class new or growing on purpose: list it in [class_mix] expected_new_classes{listed} {POLICY}")
        )
    return steps


def _listed_in_full(rule: dict, v: str, base: str) -> list[Step]:
    """The step for a detector rule whose listed new classes' records were judged in full because records were
    removed (its statistic's ``listed_in_full``, ``gate.detection_common``): in this delta alone, commit the new
    class first, on the base, and the removal after it, each checked; in the base's signed ancestry, no order of
    commits makes them new again, so the records are reviewed and accepted one by one (attack review 32a, A32a-6:
    the steps offered waiving or cutting out the new class, and the reason's "commit the removal and the new class
    apart" was the attack's own way once removals committed before the base counted for nothing, A32a-1)."""
    listed = (rule.get("statistic") or {}).get("listed_in_full") or {}
    removal, records = listed.get("removal"), int(listed.get("records") or 0)
    if records and not removal and listed.get("inside"):  # listed, but its records sit among base classes'
        sits = "; ".join(f"{label!r} among {classes}" for label, classes in sorted(listed["inside"].items()))
        return [
            Step(
                f"{records} added record(s) of [class_mix] expected_new_classes sit among base classes' records "
                f"({sits}), so they are judged in full: listing does not release them (docs/release-gate.md); review "
                "them and accept each one that is the new class's with a waive key (the steps below)"
            )
        ]
    if not removal or not records:
        return []
    if removal.get("ancestor") or removal.get("problem"):
        where = (
            f"{removal['ancestor']}, a signed ancestor of {base}, held records {v} lacks"
            if removal.get("ancestor")
            else f"{base}'s signed ancestry does not verify"
        )
        return [
            Step(
                f"{records} added record(s) of [class_mix] expected_new_classes were judged in full because {where} "
                "(removed records re-added under a new name are a relabel no digest pairs): no order of commits "
                "makes them new again; review them and accept each one that is the new class's with a waive key "
                "(the steps below), not by listing or cutting the class"
            )
        ]
    return [
        Step(
            f"{records} added record(s) of [class_mix] expected_new_classes were judged in full because {v} also "
            f"removes base records: commit the new class and the removal apart, the new class first, on {base} "
            "(its records are then judged against a base that still holds every record), then the removal on it",
            f"prov commit DATA --parent {base} --tag {NEW} {KEY}",
            f" (DATA: {base}'s records and the new class), check {NEW} against {base}, then commit {v}'s data "
            f"with --parent {NEW}",
        )
    ]


def _review_step(v: str, base: str, report: dict) -> Step:
    """``prov findings V``, or, when the check stored no detector run (``findings_stored`` false: ``--no-save``, a
    read-only store), ``prov diff BASE V --detect``, which lists the flagged records and stores the run the later
    steps read: ``prov findings V`` said no run is stored (newcomer review 34, finding 5)."""
    if report.get("findings_stored", True):
        return Step("review the flagged records", f"prov findings {v}")
    return Step(
        f"review the flagged records (this check stored no detector run for prov findings {v} to list; this stores "
        "one)",
        f"prov diff {base} {v} --detect",
    )


def _detector_steps(name: str, v: str, base: str, source: str | None, cut_source: str, report: dict) -> list[Step]:
    """The steps for a blocking detector rule; ``source`` (quoted) is the unsigned source most flagged records
    come from, or ``None``.

    Flagged records are evidence against the source that delivered them: a verdict that flags 4 of 6 flipped
    labels leaves 2 behind, so cutting only the flagged records out released poison (newcomer review 30,
    finding 2). The source's cut comes first, with why; the records-only cut says what it leaves, after the
    review that ranks the records the verdict did not flag."""
    detector = shlex.quote(
        "combined"
        if name in ("detectors.combined", "detectors.extreme", "detectors.relabels", "detectors.scaling")
        else name.split(".", 1)[1]
    )
    cut_source_step = Step(
        "cut out the source most of them come from (they are evidence against it; its records the verdict did"
        " not flag are suspect too)",
        cut_source,
    )
    ran = {d.get("detector") for d in report.get("detectors") or [] if d.get("status") == "ran"}
    # the Known gaps' review: every record knn_label scored, highest score first (flips the verdict missed)
    missed = Step(
        "review the records the verdict did not flag too, the most doubted labels first",
        f"prov findings {v} --detector knn_label --all --wide",
    )
    return [
        _review_step(v, base, report),
        *([cut_source_step] if source is not None else []),
        Step(
            "accept a record you reviewed",
            f"prov waive DIGEST --version {v} --detector {detector} --reason R {KEY}",
        ),
        *([missed] if "knn_label" in ran else []),
        Step(
            "or cut only the flagged records out (the records the verdict missed stay)",
            # "; " not "&&": the check exits 1 when it blocks, which is when this step is shown
            f"prov check {v} --base {base} --format json --out F.json; "
            f"prov quarantine --from {v} --findings F.json --tag {NEW} {KEY}",
        ),
    ]


def _edit_steps(statistic: dict, replaced: int, counted: int, v: str, base: str, recommit: str) -> list[Step]:
    """Steps for ``lineage.unattributed_beside_signed`` when ``replaced`` of the ``counted`` records replaced a base
    record at the same place (``statistic["replaced_records"]``, ``gate.replaced``): restore them, or have the
    source sign the corrected batch; registering the other additions only for those that are not edits."""
    from provenance.gate.replaced import relabeled, replaced_text

    one = replaced == 1
    listed = [r for r in statistic.get("replaced_records") or [] if isinstance(r, dict)]
    where = f" ({replaced_text(listed)})" if listed and len(listed) == replaced else ""
    steps = [
        Step(
            f"restore the record{'' if one else 's'} edited in place{where} as {base} holds "
            f"{'it' if one else 'them'}, then commit again",
            f"prov commit DATA --parent {v} --tag {NEW} {KEY}",
            f" (prov diff {base} {v} lists {'it' if one else 'them'} as removed and added)",
        ),
        Step(
            "or, if the edit is intended, have the source sign the corrected batch (prov sign BATCH --source S --key "
            "S.key, where its key is), then register it and commit again (lineage is signed at commit)",
            f"prov add BATCH --source S{recommit}",
        ),
    ]
    if relabeled(listed):
        steps.insert(
            1,
            Step(
                "the edit also changes a label: review it as a relabel (the source that signed the base record "
                "signs its labels) before any signing",
                f"prov diff {base} {v}",
            ),
        )
    if replaced < counted:
        steps.append(
            Step(
                "and register the other added records' batch with its source's envelope",
                "prov add BATCH2 --source S2",
            )
        )
    return steps


def _old_types(report: dict) -> str:
    """`` (body_mass_g: int64)``: each column the schema change retyped with the type the base signed
    (``summary.schema_delta.retyped``); nothing when none is known or there are many."""
    from provenance.escaping import name_in_sentence, visible
    from provenance.lineage.retyped import MAX_SCHEMA_FLAGS

    retyped = ((report.get("summary") or {}).get("schema_delta") or {}).get("retyped") or {}
    old = [(str(c), str(t[0])) for c, t in sorted(retyped.items()) if isinstance(t, list) and len(t) == 2 and t[0]]
    if not 0 < len(old) <= MAX_SCHEMA_FLAGS:
        return ""
    return " (" + ", ".join(f"{name_in_sentence(c)}: {visible(t)}" for c, t in old) + ")"


def _new_types(report: dict) -> str:
    """``--schema x:string --schema y:double``: the flags that read the base's data with the candidate's types for
    each column the schema change retyped (``summary.schema_delta.retyped``, old and new type); ``--schema
    COLUMN:TYPE`` when none is known or there are many (newcomer review 27, finding 6: give the exact flags)."""
    from provenance.lineage.retyped import MAX_SCHEMA_FLAGS, schema_flags

    retyped = ((report.get("summary") or {}).get("schema_delta") or {}).get("retyped") or {}
    new = {str(c): str(t[1]) for c, t in retyped.items() if isinstance(t, list) and len(t) == 2 and t[1]}
    return schema_flags(new) if 0 < len(new) <= MAX_SCHEMA_FLAGS else "--schema COLUMN:TYPE"


def _conflict_steps(rule: dict, v: str, base: str) -> list[Step]:
    """Steps for ``lineage.max_conflicting_signed_labels``: trusted sources signed one record with different labels.

    The record's row names the source whose label the version holds, which may be the honest one: a second
    trusted source that signs other labels for a vendor's records and ships none of them made this step offer
    ``prov quarantine --source vendor``, cutting the vendor's signed records (attack review 15, A15-1). Which
    signer is wrong is the reviewer's call, so the steps name every signer and cut none: see the records'
    signers, revoke the key of the source in the wrong, or correct the labels in the data.
    """
    signers = sorted({s["source"] for r in rule.get("records") or [] for s in r.get("signers") or []})
    named = ", ".join(shlex.quote(s) for s in signers) if signers else "each record's detail"
    return [
        Step(
            "see which source signed which label",
            f"prov check {v} --base {base} --format json",
            " (this rule's records: detail and signers)",
        ),
        Step(
            f"a source whose signed labels are wrong (signers: {named}): revoke its key",
            "prov trust revoke S --reason R --yes",
            " (final: its batches stop being attested in every version)",
        ),
        Step(
            "or correct the records' labels in the data and commit again",
            f"prov commit DATA --parent {v} --tag {NEW} {KEY}",
        ),
    ]


# the fewest flagged records of a signing source for "its key may be stolen" to be advised
STOLEN_KEY_MIN_FLAGGED = 3


def _flagged_of(source: str | None, report: dict) -> int:
    """How many of the check's flagged records, relabels of base records aside, come from ``source`` (0 for none)."""
    if source is None:
        return 0
    return sum(
        1
        for f in report.get("findings") or []
        if f.get("flagged", True) and f.get("source") == source and f.get("change") != "relabeled"
    )


def _stolen_key_steps(source: str, cut_source: str) -> list[Step]:
    """The way on when ``source``'s signing key may be stolen (most flagged records are its signed ones), batch by
    batch first: cutting the source out removed its whole clean history too (newcomer review 32: 372 records cut,
    332 of them its clean earlier deliveries). ``source`` is quoted for the shell; ``cut_source`` the quarantine."""
    return [
        Step(
            f"or, if {source}'s key may be stolen (most flagged records are its signed ones), end its trust from "
            f"when it may have been, so what it signed before stays attested, and have {source} sign with a new key",
            f"prov trust retire {source} --key-id ID --at T {KEY}",
            f" (prov trust revoke {source} --reason R --checkpoint-key K takes away all it signed; docs/security-model.md, "
            "A stolen key)",
        ),
        Step(
            f"then leave out only the batches signed since, not {source}'s whole history: remove their records, "
            f"commit again, and withdraw each by its id ({source}@ROOT12: prov sources lists them)",
            f"prov withdraw BATCH --reason R {KEY}",
        ),
        Step(f"or, if every batch of {source} is in doubt, cut {source} out (its clean history too)", cut_source),
    ]


def _source(rule: dict, report: dict) -> str | None:
    """The source to cut out, or ``None`` when the evidence points at none.

    A lineage or copies rule: the one source its records name. A detector rule: the one source most of
    the check's flagged records that its signature does not attest come from, the same for every detector
    rule so the reader gets one suggestion (newcomer review 14, finding 6). Records a trusted source
    signed count only when nothing else is flagged: near copies of a vendor's records flag the vendor's
    originals too (``duplicates`` flags both halves of a pair), and cutting the source that signs its
    data out keeps the poison. Relabeled base records count against none (the relabel is not the source's).
    Records with no source count against every source. Whichever records count, the source named holds
    more than half of ALL the flagged records, relabels and signed records included (attack review 31a,
    A31a-1 and A31a-2): one odd record of an honest delivery never outweighs the rest. The name is the one a
    record's batch was registered under, a registrant's claim for an unsigned batch: whether the source
    signs is :func:`_signing_sources`'."""
    if rule["rule"].startswith("detectors."):
        flagged = [f for f in report.get("findings") or [] if f.get("flagged", True)]
        # a relabel of a base record is the act of whoever made the new version, not evidence against the source
        # that delivered the record with its label (attack review 30c, A30c-1), so it counts towards no source; it
        # stays among the flagged records the source must hold most of: one odd added record beside eight flagged
        # flips made its innocent source the first cut (attack review 31a, A31a-1)
        added = [f for f in flagged if f.get("change") != "relabeled"]
        unsigned = [f for f in added if f.get("lineage") != "attested"]
        # a signed source's records count only when no unsigned one is flagged (its originals beside near copies of
        # them), but the source named must still hold most of ALL flagged records: one flagged unsigned record beside
        # a signed source's 20 outliers made its own source the first cut (attack review 31a, A31a-2)
        counts = Counter(f.get("source") for f in unsigned or added if f.get("source"))
        if counts:
            source, n = counts.most_common(1)[0]
            if 2 * n > len(flagged):
                return str(source)
        return None
    named = {r.get("source") for r in rule.get("records") or [] if r.get("source")}
    if len(named) == 1:
        return str(named.pop())
    return None


def _unattested_records(source: str | None, report: dict) -> bool:
    """Whether ``source``'s row in the check's Sources holds an added record its signatures do not attest, or a
    relabel: something to leave out. True when the report has no row for it (the step is then offered, not lost);
    a step that leaves out nothing (60 of 60 added records attested) is not one (newcomer review 30)."""
    row = next((r for r in report.get("sources") or [] if r.get("source") == source), None)
    if row is None:
        return True
    return row["added"] > row["attested_added"] or bool(row.get("relabeled") or row.get("relabeled_after_source_added"))


def _copied_beyond_signed(rule: dict, source: str | None) -> int:
    """How many of ``source``'s flagged signed records the version holds beyond the rows its signed batches hold
    (the rule's ``signed_copies`` statistic, ``gate.signed_copies``), when that is most of them; else 0: the
    flagged records are the source's as it signed them, and its key is what they point at."""
    counts = ((rule.get("statistic") or {}).get("signed_copies") or {}).get(source) or {}
    beyond, flagged = int(counts.get("held_beyond_signed") or 0), int(counts.get("flagged_signed") or 0)
    return beyond if beyond * 2 > flagged else 0


def _class_free_extreme(report: dict, label: str) -> int:
    """How many of ``label``'s records ``detectors.extreme`` blocks on with class-free evidence alone (its
    statistic's ``class_free_labels``, ``gate.class_free``): records no listing of their class would release."""
    rule = next((r for r in report.get("rules") or [] if r["rule"] == "detectors.extreme"), None)
    if rule is None or rule["status"] != "block":
        return 0
    return int(((rule.get("statistic") or {}).get("class_free_labels") or {}).get(label) or 0)


def _signing_sources(report: dict) -> set[str]:
    """The sources of a check report that sign their batches: a signed batch names records of theirs in the
    check (the Sources table's ``named_by`` has ``"signed batch"``, or ``"key revoked"`` for a source whose
    signed batch lost standing to a revocation; ``provenance.delta.attribution``), or
    ``lineage.unsigned_from_signing_sources`` blocks on records of theirs (its set of sources that sign)."""
    from provenance.delta.attribution import SIGNED_BATCH
    from provenance.report.wording import KEY_REVOKED

    out = {
        str(row["source"])
        for row in report.get("sources") or []
        if row.get("source") and {SIGNED_BATCH, KEY_REVOKED} & set(row.get("named_by") or [])
    }
    for rule in report.get("rules") or []:
        if rule["rule"] == "lineage.unsigned_from_signing_sources" and rule["status"] == "block":
            out |= {str(r["source"]) for r in rule.get("records") or [] if r.get("source")}
    return out


def _own_check(rule: dict, report: dict) -> list[Step]:
    """For ``detectors.combined`` over several signed versions (``gate.steps``): the check of the first version
    whose delivery blocks on its own, against its parent: ``"v3's parent is v1b, not v2b: prov check v3 --base
    v1b judges only what v3 added"`` (newcomer review 16, finding 4); nothing when that check is this one."""
    if rule["rule"] != "detectors.combined":
        return []
    step = next((s for s in (rule.get("statistic") or {}).get("steps") or [] if s.get("blocked_by")), None)
    if step is None or not step.get("parent"):
        return []
    if step["version"] == report.get("version") and step["parent"] == report.get("base"):
        return []  # the check already judges only what the version added (newcomer review 34, finding 4)
    at, parent = shlex.quote(step["version"]), shlex.quote(step["parent"])
    base, version = shlex.quote(str(report.get("base"))), shlex.quote(str(report.get("version")))
    said = f"{at}'s parent is {parent}, not {base}" if at == version else f"{at} (in {version}'s history) blocks"
    return [Step(said, f"prov check {at} --base {parent}", f" judges only what {at} added")]


def anchor_steps(statistic: dict, base: str) -> list[Step] | None:
    """The steps when the copies rule's anchor test alone blocks (attack review 26d, A26d-4): restore ``.prov/``
    when the anchor's chain or manifest does not verify, else name a later ``copies.anchor``; turning the whole rule
    to warn would stop the test against the base too. None when the test against the base is over too."""
    anchor = statistic.get("anchor") or {}
    if int(statistic.get("excess") or 0) > 0 or not (anchor.get("problem") or int(anchor.get("excess") or 0) > 0):
        return None
    problem = anchor.get("problem") or ""
    if problem and not problem.startswith("copies.anchor names"):  # .prov/ altered (gate.copies_anchor, A26d-3)
        return [
            Step(
                "the anchor's signed chain or manifest does not verify: restore .prov/ from a copy you trust",
                "prov fsck",
                " (shows what is missing or changed)",
            )
        ]
    if problem:
        return [Step(f'name a version in {base}\'s signed chain you trust: [copies] anchor = "VERSION" {POLICY}')]
    return [
        Step(
            f"copies since the anchor {anchor.get('version')} reviewed and meant: [copies] anchor = "
            f'"<a later version>" (one that holds them, e.g. {base}: later releases are then judged against its '
            f"rates) {POLICY}"
        )
    ]
