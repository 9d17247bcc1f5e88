"""Everything the gate's rules read, computed once and only when a rule asks for it.

A rule never reads the store on its own: it asks the ``GateContext``. So each fact a
check relies on (who is trusted, the diff, the lineage, the quarantined sources, the
waivers, the detectors' results) comes from one place. Who is trusted is the verifier's
pins (``store.pins``, ``provenance.trust.pins``), never keys cached in the store: versions
are checked against the ``commit`` role, waivers against ``waive``, batches against the
keys pinned for their source, and the quarantined sources are read from the signed
versions, not from the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from provenance.errors import InputError, ProvError, VerificationError
from provenance.features.base import FeatureError
from provenance.gate.results import LISTED
from provenance.gate.waivers import Waivers, judge_waivers
from provenance.store import Store
from provenance.trust.pins import Pins, pins_of
from provenance.trust.roles import WAIVE, RoleKeys
from provenance.unscorable import UnscorableRecords

DEFAULT_EXTREME_ALPHA = 0.01  # detectors.base's: the detectors are imported only when they run

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from provenance.delta.report import DiffReport
    from provenance.delta.rows import DeltaRecords
    from provenance.detectors.base import DetectorResult
    from provenance.detectors.pipeline import Detection
    from provenance.gate.quarantine_history import SignedQuarantine, VersionDigests
    from provenance.profiles.reference import ReferenceProfile
    from provenance.store.coverage import AuditCoverage


@dataclass
class DetectionRun:
    """The outcome of running the detectors once on the delta.

    Attributes:
        names: the detectors asked for, in order.
        fpr: the false-positive rate the verdicts are calibrated to.
        detection: each detector's result and the combined per-record verdicts
            (``provenance.detectors.pipeline.Detection``); None when the run failed.
        failure: why the run as a whole could not happen: an ``InputError`` (no profile,
            features that cannot be computed: could not evaluate) or a
            ``VerificationError`` (the delta's records are not the signed ones: block).
        extreme_alpha: the level the detectors looked for extreme evidence at (the policy's
            ``detectors.extreme_alpha``: how far the copy index was searched).
    """

    names: tuple[str, ...]
    fpr: float
    detection: Detection | None = None
    failure: ProvError | None = None
    extreme_alpha: float = DEFAULT_EXTREME_ALPHA

    @property
    def results(self) -> list[DetectorResult]:
        """One ``DetectorResult`` per detector that reported (empty when the run failed)."""
        return self.detection.results if self.detection is not None else []

    def result(self, detector: str) -> DetectorResult | None:
        """The result of one detector, or None if it did not report."""
        return next((r for r in self.results if r.detector == detector), None)


class GateContext:
    """The facts of one check of ``new`` against ``base``, computed lazily and cached.

    Args:
        store: the open store.
        base: the trusted base version's tag.
        new: the candidate version's tag.
        waiver_envelopes: extra waiver envelopes (bytes, origin for messages), e.g. read
            from ``--waiver`` files by ``provenance.gate.waivers.read_waiver_files``.
        listed: how many example records the diff keeps per kind of change.
        save_findings: whether the detector run is stored (``prov findings``); False for a check
            that must leave the store as it was (``prov check --no-save``, newcomer review 10, finding 20).
        waivers_judged: ``(base tag, base Merkle root hex, the policy's fpr)``: a waiver of ``new`` that signs the
            base and rate it was judged at is honoured only at these (``waiver_judging.judged_elsewhere``).
    """

    def __init__(
        self,
        store: Store,
        base: str,
        new: str,
        *,
        waiver_envelopes: Sequence[tuple[bytes, str]] = (),
        listed: int = LISTED,
        save_findings: bool = True,
        waivers_judged: tuple[str, str, float] | None = None,
    ):
        self.store, self.base, self.new = store, base, new
        self.save_findings = save_findings
        self.pins: Pins = pins_of(store)
        self.waiver_envelopes = list(waiver_envelopes)
        self.waivers_judged = waivers_judged
        self.listed = listed
        self.delta_checked = False  # the candidate's signed delta recomputed (integrity.verify_signatures)
        self.detection_run: DetectionRun | None = None

    def computed(self, fact: str) -> bool:
        """Whether a lazy fact (``diff``, ``lineage``, ``waivers``, ...) has been computed."""
        return fact in self.__dict__

    @cached_property
    def diff(self) -> DiffReport:
        """The diff of ``new`` against ``base`` (``provenance.delta.compare.diff_versions``).

        Raises VerificationError if either side's manifest does not match what it signed. Both manifests
        are merged, never the candidate's signed delta: the gate's verdict does not rest on a fact only the
        candidate's commit key vouches for (``delta.signed_delta``; ``prov verify`` recomputes that).
        """
        from provenance.delta.compare import diff_versions

        return diff_versions(self.store, self.base, self.new, limit=self.listed, signed_delta=False)

    @cached_property
    def report(self) -> dict[str, Any]:
        """``self.diff.to_dict()``: the ``prov diff --format json`` document, each ``by_source`` row of a source
        whose signed batch attests nothing now because its key was revoked named so (``named_by`` gains
        ``"key revoked"``), as the check's Sources row reads it: its rules' reasons and records then say
        ``vendor (key revoked)`` too, not "signed and unsigned batches" (fix12a's leftover of newcomer 12, #4)."""
        from provenance.gate.results import REVOKED
        from provenance.report.wording import KEY_REVOKED

        report = self.diff.to_dict()
        lost = (report.get("lineage") or {}).get("not_trusted", {}).get("new", [])
        revoked = {item["source"] for item in lost if REVOKED in str(item.get("reason"))}
        for row in report.get("by_source", []):
            if row.get("source") in revoked:
                row["named_by"] = sorted({*(row.get("named_by") or []), KEY_REVOKED})
        return report

    @cached_property
    def lineage(self) -> pa.Table:
        """The new version's lineage: ``digest``, ``label``, ``status``, ``source``, ``batch``,
        ``signed_label`` per record: the lineage the version signed, re-judged under the
        verifier's pins (``provenance.lineage.classify.trusted_lineage``), so a record counts
        as attested only if its batch signer holds its source's role in what the verifier pinned.

        Raises VerificationError if the stored lineage differs from the one the version signed.
        """
        from provenance.lineage.classify import trusted_lineage

        return trusted_lineage(self.store, self.new)

    @cached_property
    def base_lineage(self) -> pa.Table:
        """The base's lineage as :attr:`lineage` is the candidate's: what the base signed, re-judged under the
        verifier's pins (``provenance.lineage.classify.trusted_lineage``); who delivered each base record.

        Raises VerificationError if the stored lineage differs from the one the base signed.
        """
        from provenance.lineage.classify import trusted_lineage

        return trusted_lineage(self.store, self.base)

    @cached_property
    def record_sources(self) -> pa.ChunkedArray:
        """The source column of the new version's signed manifest, row for row with :attr:`lineage`
        (``provenance.lineage.classify.manifest_sources``; null where a record has none)."""
        from provenance.lineage.classify import manifest_sources

        return manifest_sources(self.store, self.new)

    @cached_property
    def missing_signed_batches(self) -> tuple[int, list[dict]]:
        """``provenance.gate.missing_signed.signed_batches_missing``, computed once per check (two rules read it)."""
        from provenance.gate.missing_signed import compute_signed_batches_missing

        return compute_signed_batches_missing(self)

    @cached_property
    def version_digests(self) -> VersionDigests:
        """Reads versions' signed record digests once per check (``provenance.gate.quarantine_history``)."""
        from provenance.gate.quarantine_history import VersionDigests

        return VersionDigests(self.store)

    @cached_property
    def signed_quarantines(self) -> list[SignedQuarantine]:
        """Every quarantine (``--source`` or ``--findings``) that verifies under the verifier's pins, wherever it
        sits in the store, with what each removed (``provenance.gate.quarantine_history.signed_quarantines``;
        the chains of ``new`` and ``base`` must hold)."""
        from provenance.gate.quarantine_history import signed_quarantines

        return signed_quarantines(self.store, [self.new, self.base], self.version_digests)

    @property
    def source_quarantines(self) -> list[SignedQuarantine]:
        """The ``--source`` quarantines of :attr:`signed_quarantines`."""
        return [q for q in self.signed_quarantines if q.source is not None]

    @property
    def findings_quarantines(self) -> list[SignedQuarantine]:
        """The ``--findings`` quarantines of :attr:`signed_quarantines`."""
        return [q for q in self.signed_quarantines if q.source is None]

    @cached_property
    def signed_batch_records(self) -> pa.Table:
        """The records of every registered batch whose envelope verifies under the verifier's pins
        (``provenance.lineage.evidence.batch_records`` rows with ``signed`` true), read once per check."""
        from provenance.lineage.evidence import batch_records

        records = batch_records(self.store)
        return records.filter(records.column("signed"))

    @cached_property
    def unquarantined_batch_records(self) -> pa.Table:
        """:attr:`signed_batch_records` without the batches of :attr:`quarantined_sources`: the signed
        deliveries whose missing records ``lineage.signed_batches_incomplete`` judges and whose batches, when
        the base's signed lineage gives a record to one, make ``removals.max_unsigned_removed_rate`` count it
        as signed: every removed base record is judged by at least one of the two (attack review 7, finding 3,
        and its variant)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        records = self.signed_batch_records
        if not self.quarantined_sources:
            return records
        cut = pc.is_in(records.column("source"), value_set=pa.array(sorted(self.quarantined_sources)))
        return records.filter(pc.invert(cut))

    @cached_property
    def quarantined_sources(self) -> frozenset[str]:
        """Sources cut out with ``prov quarantine`` in ``new`` or a signed ancestor
        (``provenance.version_facts.quarantined_sources``: signed facts, not audit rows)."""
        from provenance.version_facts import quarantined_sources

        return quarantined_sources(self.store, self.new)

    @cached_property
    def waive_role(self) -> RoleKeys:
        """The keys whose waivers count: the ``waive`` role of the verifier's pins."""
        return self.pins.role_keys(WAIVE, self.store)

    @cached_property
    def audit_coverage(self) -> AuditCoverage:
        """How much of the audit log a signature by a maintainer key the verifier trusts covers
        (``Pins.maintainer_keys``; the store's keys when nothing is pinned); later entries are
        pending and no rule relies on them (``provenance.store.coverage``)."""
        from provenance.store.coverage import coverage

        trusted = self.pins.maintainer_keys(self.store)
        return coverage(self.store, self.store.trusted_keys() if trusted is None else trusted)

    @cached_property
    def signing_sources(self) -> frozenset[str]:
        """Sources that have an active batch-signing key the verifier trusts (``Pins.trusted_sources``)."""
        return frozenset(self.pins.trusted_sources(self.store))

    @cached_property
    def ancestry_waivers(self) -> dict[str, Waivers]:
        """The stored waivers of each version in ``new``'s signed ancestry but ``new`` itself (``{tag: Waivers}``,
        newest first), judged as :attr:`waivers` are; read by ``quarantine_returns.waived_rows`` (attack
        review 8, A5: a waiver that let a findings-quarantined record back on one release counts on the next)."""
        from provenance.version_facts import signed_ancestry

        tags = [row["tag"] for row, _ in signed_ancestry(self.store, self.new)][1:]
        return {tag: judge_waivers(self.store, tag, (), self.waive_role, self.audit_coverage.signed) for tag in tags}

    @cached_property
    def waivers(self) -> Waivers:
        """The waivers of ``new`` (stored and given), judged against ``waive_role``; a stored
        waiver whose audit entry no trusted signature covers yet is pending and not honoured."""
        return judge_waivers(
            self.store,
            self.new,
            self.waiver_envelopes,
            self.waive_role,
            self.audit_coverage.signed,
            self.waivers_judged,
        )

    @cached_property
    def delta_rows(self) -> DeltaRecords:
        """The manifest rows of the delta's added and relabeled records (``DiffReport.delta["rows"]``), read once."""
        from provenance.detectors.pipeline import delta_records

        delta = self.diff.delta
        rows = delta["rows"]() if callable(delta.get("rows")) else delta.get("rows")
        return (
            rows
            if rows is not None
            else delta_records(self.store, self.base, self.new, delta["added"], delta["relabeled"])
        )

    @cached_property
    def base_profile(self) -> ReferenceProfile:
        """``base``'s reference profile without the records a pinned waive key waived
        (``profiles.waived.detection_profile``: what the detectors judge by), read once; ``InputError`` when it has
        none."""
        from provenance.profiles.waived import detection_profile

        return detection_profile(self.store, self.base, self.new)

    @cached_property
    def delta_features(self) -> np.ndarray:
        """The raw features (``base``'s profile's featuriser) of every record of :attr:`delta_rows`, in its order,
        read from where ``new`` signed its data and re-hashed, as ``detectors.pipeline.run_detection`` reads them:
        computed once for the near-copy check (``gate.quarantine_near``) and the detectors, which featurised the
        added records a second time. Raises ``InputError`` when ``base`` has no profile, ``FeatureError`` (exit 2)
        naming records that cannot be featurised."""
        import numpy as np

        from provenance.detectors.pipeline import featurize_delta
        from provenance.sources.records import read_records
        from provenance.version_facts import verified_statement, version_dataset

        profile = self.base_profile
        rows = self.delta_rows
        if not rows.digests:
            return np.zeros((0, profile.dim), dtype=np.float32)
        new_row = self.store.version(self.new)
        schema = verified_statement(self.store, new_row)["predicate"].get("schema", {})
        kind = schema.get("kind", new_row["kind"])
        spec = version_dataset(self.store, new_row)
        records = read_records(spec, kind, rows.locators, rows.digests, schema.get("columns", []))
        try:
            return featurize_delta(profile, kind, records, rows)
        except FeatureError as exc:
            raise self.unscorable(exc) from exc

    def unscorable(self, exc: FeatureError) -> UnscorableRecords:
        """``exc`` (records of the delta no featuriser can score) naming the file ``new`` signed and what to do
        (``unscorable.name_file``; newcomer review 27, finding 2: the check named the records, not the file)."""
        from provenance.unscorable import name_file

        return name_file(self.store, self.new, exc, self.base)

    def detection(
        self,
        names: Sequence[str],
        fpr: float,
        tight_cluster: bool = True,
        extreme_alpha: float = DEFAULT_EXTREME_ALPHA,
    ) -> DetectionRun:
        """Run the detectors ``names`` on the delta and combine them into one verdict per
        record at ``fpr`` (``provenance.detectors.pipeline.detect_diff``), once; later
        calls reuse the run. The findings are stored by :meth:`save_detection` once every rule has run, so the
        stored run holds the verdicts the rules judged by; nothing the gate decides reads them. A failure of the
        run as a whole is kept in ``DetectionRun.failure``, not raised, except new records
        that cannot be featurised (NaN, an undecodable file, another feature dimension):
        that is the user's input to fix, so the ``FeatureError`` (exit 2) propagates.
        ``tight_cluster`` false stands down the duplicates detector's tight-cluster rule (the
        policy's ``[detectors] duplicates_tight_cluster``). ``extreme_alpha`` is the policy's
        ``detectors.extreme_alpha``: the collision detector searches the copy index out to that level's bar
        (attack review 34a, A34a-1).

        Raises:
            ValueError: if asked again with other detectors, another rate or another extreme_alpha (a
                programming error: one check runs the detectors once).
        """
        key = (tuple(names), fpr)
        if self.detection_run is not None:
            if (self.detection_run.names, self.detection_run.fpr) != key:
                raise ValueError(f"the detectors already ran as {self.detection_run.names} at FPR {fpr:g}")
            if self.detection_run.extreme_alpha != extreme_alpha:
                raise ValueError(f"the detectors already ran at extreme_alpha {self.detection_run.extreme_alpha:g}")
            return self.detection_run
        from provenance.detectors.pipeline import detect_diff

        run = DetectionRun(*key, extreme_alpha=extreme_alpha)
        try:
            # the near-copy check may have featurised the delta already: the detectors score those features
            features = self.delta_features if self.computed("delta_features") else None
            delta = self.diff.delta | {"rows": self.delta_rows}
            run.detection = detect_diff(
                self.store,
                self.base,
                self.new,
                delta,
                list(names),
                fpr,
                save=False,  # stored once the rules judged it (save_detection): the verdicts they judged by
                features=features,
                tight_cluster=tight_cluster,
                extreme_alpha=extreme_alpha,
            )
        except UnscorableRecords:
            raise
        except (
            FeatureError
        ) as exc:  # records that cannot be featurised are bad input (exit 2), not "could not evaluate"
            raise self.unscorable(exc) from exc
        except (InputError, VerificationError) as exc:
            run.failure = exc
        self.detection_run = run
        return run

    def save_detection(self) -> str | None:
        """Store the detector run (``prov findings``) as the rules left it: the verdicts they judged by, the added
        records of expected new classes judged on class-free evidence included (``gate.class_free``; attack review
        31d, A31d-2: the run stored before that re-judging listed 30 of 30 flagged where the check flagged 0).
        Nothing when the context was made with ``save_findings=False``, the detectors did not run (or failed),
        or the store is read-only. Returns the run id, or None."""
        run = self.detection_run
        if not self.save_findings or run is None or run.detection is None or not self.store.writable():
            return None
        from provenance.detectors.findings import save_findings
        from provenance.gate.class_free import ClassFreeJudged

        detection = run.detection
        classes = detection.classes if isinstance(detection, ClassFreeJudged) else None
        return save_findings(
            self.store,
            self.base,
            self.new,
            detection.results,
            run.fpr,
            detection.labels,
            detection.verdicts,
            detection.columns,
            classes,
        )
