"""Cut a compromised source (or flagged records) out of a version in one step.

``quarantine`` checks the version's data still matches what was signed, writes the
filtered dataset beside the original (tables as Parquet, which keeps every typed row and
so every digest; file trees as a copied tree), and commits it as a new signed version
whose predicate and audit entry say what was removed and why. If anything fails, the
written dataset is removed again and the store is left as it was.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from provenance import commit_checks, keys, versions
from provenance.errors import InputError, VerificationError
from provenance.features.registry import FeaturizerSpec
from provenance.lineage import classify as lineage
from provenance.lineage.filtered_copy import default_output, remove_path, write_without
from provenance.lineage.findings_recheck import digests_of_findings, recheck_findings
from provenance.lineage.removed_rows import FACT as REMOVED_ROWS
from provenance.lineage.removed_rows import keep_removed_rows
from provenance.profiles.loading import load_profile
from provenance.sources.build import build_manifest, resolve_kind
from provenance.stages import CommitJob
from provenance.store.store import Store
from provenance.trust import source_keys as trust
from provenance.version_facts import load_manifest, version_dataset

if TYPE_CHECKING:  # the gate reads quarantines (gate.missing_signed): the caller checks the kept states
    from provenance.kept_log import KeptLog


@dataclass
class QuarantineResult:
    """What ``quarantine`` did (``prov quarantine --json``): the new version, what was cut and why, and its commit.

    ``tag``/``parent`` are the new and the quarantined version; ``reason`` is
    ``{"source": name}`` or ``{"findings": report path, "detection": what the re-run
    detection used and found (``FindingsRecheck.facts``)}``; ``removed``/``kept`` count
    records; ``output`` is the filtered copy's path; ``commit`` is ``CommitResult.to_dict()``;
    ``notes`` are sentences for people (a stored detector run that disagrees with the re-run);
    ``kept_signed`` is ``{other source: records}`` a ``--source`` quarantine kept because a
    trusted signed batch of that source carries them (:func:`signed_by_others`); ``partly_cut``, for ``--findings``,
    the sources most of whose added records were flagged and cut, the rest kept
    (``findings_recheck.partly_cut_sources``: ``[{"source", "added", "cut", "kept", "records"}]``, each also a note).
    """

    tag: str
    parent: str
    reason: dict
    removed: int
    kept: int
    output: str
    commit: dict
    notes: list[str] = field(default_factory=list)
    kept_signed: dict[str, int] = field(default_factory=dict)
    partly_cut: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The result as JSON-able data."""
        return dict(self.__dict__)


@dataclass
class QuarantineFacts:
    """Commit stage that signs what a quarantine removed and why, and audit-logs it.

    ``facts`` is ``{"from", "source" | "findings" + "detection", "removed", "kept", "output"}`` (and, for a
    source, ``keptSigned``: ``{other source: records}`` when some were kept); it goes
    into the version's signed predicate as ``quarantine`` and into a ``quarantine`` audit entry.
    """

    facts: dict
    name: str = "quarantine"

    def prepare(self, job: CommitJob) -> QuarantineFacts:
        """Nothing to prepare: the facts are known before the commit starts."""
        return self

    def record(self, store: Store, tag: str, predicate: dict) -> None:
        """Under the lock: put the facts in the signed predicate and the audit log."""
        predicate["quarantine"] = self.facts
        store.audit("quarantine", tag, self.facts)


def digests_of_source(store: Store, tag: str, source: str) -> set[bytes]:
    """Every digest of ``tag`` that lineage or the version's own source column gives to ``source``.

    Returns 32-byte record digests (the signed lineage, not re-judged under the pins, and
    the manifest's ``source`` column). Raises ``InputError`` for an unknown version and
    ``VerificationError`` as ``classify.version_lineage`` and ``load_manifest`` do.
    """
    table = lineage.version_lineage(store, tag)
    found = set(table.filter(pc.equal(table.column("source"), source)).column("digest").to_pylist())
    manifest = load_manifest(store, store.version(tag)).table
    found |= set(manifest.filter(pc.equal(manifest.column("source"), source)).column("digest").to_pylist())
    return found


def signed_by_others(store: Store, tag: str, source: str, drop: set[bytes]) -> tuple[dict[bytes, str], dict[str, int]]:
    """Which of ``drop`` (digests :func:`digests_of_source` gives ``source`` in version ``tag``) are another source's.

    The source column is not part of a record's digest, so whoever writes the data can tag
    another source's records as ``source`` (attack review 6, finding 2). A record is kept,
    as that other source's, when a registered batch of a source other than ``source`` (and
    not itself quarantined: ``version_facts.quarantined_sources``) whose envelope verifies
    under the verifier's pins (``lineage.evidence.batch_records``) signed its content with
    every label ``tag`` gives it; a record ``tag`` carries with a label no such batch signed
    is cut (a flipped copy of another source's record is the quarantined source's).

    Returns ``{digest: the other source}`` (the first by name when several signed it) and
    ``{other source: records of tag}`` (manifest rows, sorted by source), from one read of
    ``tag``'s manifest. Raises ``VerificationError`` as ``load_manifest`` does.
    """
    from provenance.lineage.evidence import batch_records
    from provenance.version_facts import quarantined_sources

    records = batch_records(store)
    excluded = pa.array(sorted(quarantined_sources(store, tag) | {source}), pa.string())
    wanted = pa.array(sorted(drop), pa.binary(32))
    others = records.filter(
        pc.and_(
            pc.and_(records.column("signed"), pc.invert(pc.is_in(records.column("source"), value_set=excluded))),
            pc.is_in(records.column("digest"), value_set=wanted),
        )
    )
    if not others.num_rows:
        return {}, {}
    signed: dict[tuple[bytes, str], str] = {}
    for d, label, name in zip(*(others.column(c).to_pylist() for c in ("digest", "batch_label", "source"))):
        signed[(d, label)] = min(name, signed.get((d, label), name))
    manifest = load_manifest(store, store.version(tag)).table
    rows = manifest.filter(pc.is_in(manifest.column("digest"), value_set=pa.array(sorted({d for d, _ in signed}))))
    labels: dict[bytes, set[str]] = {}
    for d, label in zip(rows.column("digest").to_pylist(), rows.column("label").to_pylist()):
        labels.setdefault(d, set()).add(label)
    kept = {
        d: min(signed[(d, label)] for label in ls)
        for d, ls in labels.items()
        if all((d, label) in signed for label in ls)
    }
    counts: dict[str, int] = {}
    for d in rows.column("digest").to_pylist():
        if d in kept:
            counts[kept[d]] = counts.get(kept[d], 0) + 1
    return kept, dict(sorted(counts.items()))


def flipped_copies(store: Store, tag: str, source: str) -> frozenset[tuple[bytes, str]]:
    """The (digest, label) rows of ``tag`` that a registered batch of ``source`` delivered as label-flipped copies of
    another source's signed records: rows the version's signed lineage gives to that other source as *relabeled
    after source* (its batch signed the content under another label), whose (digest, label) a batch of ``source``
    carries. A digest-level cut would also cut the signed original; these rows alone go (attack review 8b, B3:
    they stayed in the quarantine, as the signer's). Raises as ``classify.version_lineage`` does.
    """
    from provenance.lineage.evidence import batch_records

    table = lineage.version_lineage(store, tag)
    flipped = table.filter(pc.equal(table.column("status"), "relabeled_after_source"))
    if not flipped.num_rows:
        return frozenset()
    records = batch_records(store)
    mine = records.filter(pc.equal(records.column("source"), source))
    delivered = set(zip(mine.column("digest").to_pylist(), mine.column("batch_label").to_pylist()))
    rows = zip(flipped.column("digest").to_pylist(), flipped.column("label").to_pylist())
    return frozenset(row for row in rows if row in delivered)


def by_source(counts: dict[str, int]) -> str:
    """``6 records signed by vendor, 2 records signed by lab`` for ``{source: records}``."""
    return ", ".join(f"{n} record{'s' if n != 1 else ''} signed by {name}" for name, n in counts.items())


# --- the one call --------------------------------------------------------------------


def parent_featurizer(store: Store, tag: str) -> str | FeaturizerSpec:
    """The featuriser of ``tag``'s reference profile (so a quarantined version is scored alike), else ``auto``.

    ``auto`` also when the profile cannot be loaded as input (``InputError``: none was
    made) or names no featuriser; other errors of ``load_profile`` propagate.
    """
    try:
        profile = load_profile(store, tag)
    except InputError:
        return "auto"
    if profile.featurizer_spec is None:
        return "auto"
    return FeaturizerSpec.from_dict(profile.featurizer_spec)


def quarantine(
    store: Store,
    from_tag: str,
    new_tag: str,
    key_path: str | Path,
    source: str | None = None,
    findings: str | Path | None = None,
    out: str | Path | None = None,
    executor: Any = None,
    featurizer: str | FeaturizerSpec | None = None,
    base: str | None = None,
    fpr: float | None = None,
    kept_log: KeptLog | None = None,
) -> QuarantineResult:
    """A new signed version of ``from_tag`` without ``source``'s records (or the flagged ones); ``prov quarantine``.

    Exactly one of ``source`` (a source name: every record lineage or the source column
    gives it) and ``findings`` (a ``prov diff --detect --format json`` report: its flagged
    digests, each of which the detectors, re-run on ``from_tag`` against ``base`` (default
    the base the report names) at ``fpr`` (default that of ``prov diff --detect``), must
    flag: ``findings_recheck.recheck_findings``) says what to cut. The data of ``from_tag`` must still match its signature;
    the filtered copy is written to ``out`` (default :func:`default_output`) and
    committed as ``new_tag`` with parent ``from_tag``, with every default stage
    (``featurizer`` defaults to that of ``from_tag``'s profile) and the signed facts
    ``{"from", "source" | "findings" + "detection", "removed", "kept", "output", "removedRecords"}`` (``keptSigned``
    too when a source quarantine kept another source's records; ``removedRecords``: the object keeping the removed
    rows, ``lineage.removed_rows``). Records are cut by content digest: a record
    of another source with the same content is cut too, except, for ``source``, the records a
    trusted signed batch of another source carries with the same label (:func:`signed_by_others`:
    kept, counted in ``kept_signed`` and a note), and plus, for ``source``, the rows it delivered as label-flipped
    copies of another source's signed records (:func:`flipped_copies`: cut as rows, the originals kept; a note).
    Tables are written as Parquet, trees copied file by file (``shutil.copy2``) with a
    new labels CSV when the version had one; the copy is written under a hidden
    ``.NAME.partial-PID`` name and renamed into place.

    ``kept_log`` (``--checkpoint PREV``, ``--checkpoint-out FILE [--checkpoint-key K]``, as ``prov commit`` takes
    them) is what ``kept_log.KeptLog.check`` found before any of this (``provenance.quarantine`` makes it); the
    commit checks it again under the write lock (``KeptLog.require_held``: exit 1, nothing left); once the
    commit's write has committed, before its lock is released, the new log state is written outside ``.prov/``
    (``KeptLog.keeper``; ``KeptLog.finish`` raises its failure after the copy is in place), and the result's ``commit`` has
    ``extends`` and ``checkpoint_out``.

    Raises:
        InputError: both or neither of ``source``/``findings``, a bad source or tag, an
            existing ``new_tag``, an unknown ``from_tag``, a file tree read at a git revision,
            nothing to cut (for ``source``: all its records are another trusted source's), findings the re-run detection does not flag, ``base`` or ``fpr``
            with ``source``, ``out`` exists (exit 2); ``KeyFileError`` for the key;
            ``ProvError`` (exit 3) when a detector fails in the re-run.
        VerificationError: ``from_tag``'s signature, or its data no longer matches its
            signed manifest; the audit log lost a kept state of ``kept_log`` (exit 1).
        StoreError: as ``versions.commit`` (exit 3).

    On any failure the written copy is removed again and the store is left as it was.
    """
    if (source is None) == (findings is None):
        raise InputError("quarantine needs exactly one of --source S or --findings F")
    if source is not None:
        trust.validate_source(source)
        if base is not None or fpr is not None:
            raise InputError("--base and --fpr go with --findings (a source quarantine runs no detectors)")
    commit_checks.validate_tag(new_tag)
    commit_checks.refuse_existing(store, new_tag)
    keys.load_private(key_path)
    row = store.version(from_tag)
    spec = version_dataset(store, row)
    if spec.rev is not None and row["kind"] != "table":
        copy = os.path.relpath(os.path.join(spec.repo or "", spec.path))
        raise InputError(
            f"version {from_tag}: a file tree read at git revision {spec.rev[:12]} (--rev), and quarantine copies "
            f"trees from local data only: commit the working copy without --rev (prov commit {shlex.quote(copy)} --tag "
            f"{shlex.quote(from_tag + '-local')} --key K; prov status {shlex.quote(copy)} --version {shlex.quote(from_tag)} shows whether it is the same), "
            "then quarantine that version"
        )
    reason: dict[str, str | dict]
    notes: list[str] = []
    rows: frozenset[tuple[bytes, str]] = frozenset()  # (digest, label) rows cut besides whole digests
    kept_signed: dict[str, int] = {}
    partly_cut: list[dict] = []
    if source is not None:
        drop = digests_of_source(store, from_tag, source)
        if not drop:
            known = sorted({s for s in lineage.version_lineage(store, from_tag).column("source").to_pylist() if s})
            from provenance.names import did_you_mean

            raise InputError(
                f"{from_tag}: source {source!r} has no records there{did_you_mean(source, known)} "
                f"(sources there: {', '.join(known) or 'none'})"
            )
        others, kept_signed = signed_by_others(store, from_tag, source, drop)
        if others:  # another trusted source signed them: theirs, whatever the unhashed source column says
            drop -= set(others)
            if not drop:
                raise InputError(
                    f"source {source!r}: every one of its records in version {from_tag} is signed, with the same "
                    f"label, by another trusted source ({by_source(kept_signed)}), which makes them that source's; "
                    "nothing to quarantine (quarantine that source, or revoke its key, to cut them)"
                )
            notes.append(f"kept {by_source(kept_signed)} though version {from_tag} gives them to {source}")
        rows = flipped_copies(store, from_tag, source)
        if rows:
            notes.append(
                f"cut {len(rows)} label-flipped cop{'ies' if len(rows) > 1 else 'y'} of another source's signed "
                f"records that {source} delivered (the signed originals are kept)"
            )
        older = parent_held_note(store, row, source, drop)
        if older:
            notes.append(older)
        reason = {"source": source}
    else:
        assert findings is not None
        drop = digests_of_findings(findings)
        if not drop:
            raise InputError(f"{findings}: no flagged findings to quarantine")
        recheck = recheck_findings(store, from_tag, findings, drop, base, fpr)
        reason, notes = {"findings": str(findings), "detection": recheck.facts()}, recheck.notes
        partly_cut = recheck.partly_cut
    from provenance.lineage.quarantine_classes import new_class_cut_note

    cut_new = new_class_cut_note(store, row, drop, new_tag)  # the class cannot be listed as new again (review 33)
    if cut_new:
        notes.append(cut_new)
    current = build_manifest(spec, executor=executor)
    if current.manifest.root.hex() != row["merkle_root"]:
        raise VerificationError(
            f"version {from_tag}: data at {spec.path} no longer matches its signed manifest; "
            f"run `prov verify {shlex.quote(from_tag)}` before quarantining"
        )
    kind = resolve_kind(spec) if spec.rev is None else "table"
    target = Path(out) if out else default_output(spec, new_tag, kind)
    if os.path.lexists(target):  # a dangling symlink too: the filtered dataset is only ever a new path
        raise InputError(f"{target}: already exists; remove it or pass --out")
    if featurizer is None:
        featurizer = parent_featurizer(store, from_tag)
    created = None
    try:
        removed, kept, new_spec = write_without(spec, drop, target, rows)
        if removed == 0:
            raise InputError(f"version {from_tag}: none of the {len(drop)} records to quarantine are in its data")
        facts = {"from": from_tag, **reason, "removed": removed, "kept": kept, "output": str(target)}
        oid, made = keep_removed_rows(store, from_tag, pa.array(sorted(drop), pa.binary(32)))
        facts[REMOVED_ROWS], created = oid, oid if made else None
        if kept_signed:
            facts["keptSigned"] = kept_signed
        stages = [*versions.default_stages(featurizer), QuarantineFacts(facts)]
        result = versions.commit(
            store,
            new_spec,
            new_tag,
            key_path,
            parent=from_tag,
            executor=executor,
            stages=stages,
            kept_log=kept_log,
            allow_empty=True,  # a signed quarantine that cuts every record is meant; prov check blocks its release
        )
    except BaseException:
        remove_path(target)
        if created is not None:
            store.objects.remove(created)
        raise
    if kept_log is not None:
        result = kept_log.finish(store, result)  # after the commit: a failure says the version was made
    return QuarantineResult(
        new_tag, from_tag, reason, removed, kept, str(target), result.to_dict(), notes, kept_signed, partly_cut
    )


def parent_held_note(store: Store, row: dict, source: str, drop: set[bytes]) -> str | None:
    """A note when a ``--source`` quarantine of version ``row`` cuts records its parent already held (newcomer
    review 32: a whole folder registered as one unsigned source, then quarantined, cut 240 clean base records with
    the 60 new ones), else None. ``drop``: the digests to cut; the parent's manifest is checked against its root."""
    parent = row.get("parent")
    if not parent:
        return None
    held = load_manifest(store, store.version(parent)).table.column("digest")
    older = int(pc.sum(pc.is_in(pa.array(sorted(drop), pa.binary(32)), value_set=held)).as_py() or 0)
    if not older:
        return None
    tag = shlex.quote(row["tag"])
    return (
        f"{older} of the records cut were already in {parent}, {row['tag']}'s parent: --source cuts every record "
        f"{source}'s batches carry, base records delivered again too; to cut only what {row['tag']} added, commit its "
        f"data without them instead (prov commit DATA --parent {tag} --tag NEW --key K)"
    )
