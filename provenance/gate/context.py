"""Everything the gate's rules read, computed once and only when a rule asks for it.

A rule never reads the store on its own: it asks the ``GateContext``. So each fact a
check relies on (who is trusted, the diff, the lineage, the quarantined sources, the
waivers, the detectors' results) comes from one place, and changing where a fact comes
from (for example, keys pinned by the verifier rather than keys cached in the store)
changes that place and no rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from provenance.errors import InputError, ProvError, VerificationError
from provenance.features.base import FeatureError
from provenance.gate.results import LISTED
from provenance.gate.waivers import Waivers, judge_waivers
from provenance.store import Store

if TYPE_CHECKING:
    import pyarrow as pa
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from provenance.delta.report import DiffReport
    from provenance.detectors.base import DetectorResult
    from provenance.detectors.pipeline import Detection


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
    """

    names: tuple[str, ...]
    fpr: float
    detection: Detection | None = None
    failure: ProvError | None = None

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
        trusted_keys: key id (SHA-256 hex of the raw public key) -> Ed25519 public key,
            the keys whose signatures the checks accept. None means the store's
            registered, unrevoked keys (today's behaviour; issue 12 passes the keys the
            verifier pinned here instead). Waivers are judged with these keys; version
            signatures are still checked by ``provenance.versions`` against the store's keys.
        waiver_envelopes: extra waiver envelopes (bytes, origin for messages), e.g. read
            from ``--waiver`` files by ``provenance.gate.waivers.read_waiver_files``.
        listed: how many example records the diff keeps per kind of change.
    """

    def __init__(
        self,
        store: Store,
        base: str,
        new: str,
        *,
        trusted_keys: Mapping[str, Ed25519PublicKey] | None = None,
        waiver_envelopes: Sequence[tuple[bytes, str]] = (),
        listed: int = LISTED,
    ):
        self.store, self.base, self.new = store, base, new
        self.trusted_keys: Mapping[str, Ed25519PublicKey] = (
            store.trusted_keys() if trusted_keys is None else dict(trusted_keys)
        )
        self.waiver_envelopes = list(waiver_envelopes)
        self.listed = listed
        self.detection_run: DetectionRun | None = None

    def computed(self, fact: str) -> bool:
        """Whether a lazy fact (``diff``, ``lineage``, ``waivers``, ...) has been computed."""
        return fact in self.__dict__

    @cached_property
    def diff(self) -> DiffReport:
        """The diff of ``new`` against ``base`` (``provenance.delta.compare.diff_versions``).

        Raises VerificationError if either side's manifest does not match what it signed.
        """
        from provenance.delta.compare import diff_versions

        return diff_versions(self.store, self.base, self.new, limit=self.listed)

    @cached_property
    def report(self) -> dict[str, Any]:
        """``self.diff.to_dict()``: the ``prov diff --format json`` document."""
        return self.diff.to_dict()

    @cached_property
    def lineage(self) -> pa.Table:
        """The new version's lineage: ``digest``, ``label``, ``status``, ``source``, ``batch``,
        ``signed_label`` per record (``provenance.lineage.classify.version_lineage``).

        Raises VerificationError if the stored lineage differs from the one the version signed.
        """
        from provenance.lineage.classify import version_lineage

        return version_lineage(self.store, self.new)

    @cached_property
    def quarantined_sources(self) -> frozenset[str]:
        """Sources cut out of a version with ``prov quarantine`` (from the audit log)."""
        out = set()
        for (detail,) in self.store.db.execute("select detail from audit where action = 'quarantine'"):
            source = json.loads(detail).get("source")
            if source:
                out.add(source)
        return frozenset(out)

    @cached_property
    def waivers(self) -> Waivers:
        """The waivers of ``new`` (stored and given), judged against ``trusted_keys``."""
        return judge_waivers(self.store, self.new, self.waiver_envelopes, self.trusted_keys)

    def detection(self, names: Sequence[str], fpr: float) -> DetectionRun:
        """Run the detectors ``names`` on the delta and combine them into one verdict per
        record at ``fpr`` (``provenance.detectors.pipeline.detect_diff``), once; later
        calls reuse the run. The findings are also saved in the store (``prov findings``). A failure of the
        run as a whole is kept in ``DetectionRun.failure``, not raised, except new records
        that cannot be featurised (NaN, an undecodable file, another feature dimension):
        that is the user's input to fix, so the ``FeatureError`` (exit 2) propagates.

        Raises:
            ValueError: if asked again with other detectors or another rate (a
                programming error: one check runs the detectors once).
        """
        key = (tuple(names), fpr)
        if self.detection_run is not None:
            if (self.detection_run.names, self.detection_run.fpr) != key:
                raise ValueError(f"the detectors already ran as {self.detection_run.names} at FPR {fpr:g}")
            return self.detection_run
        from provenance.detectors.pipeline import detect_diff

        run = DetectionRun(*key)
        try:
            run.detection = detect_diff(self.store, self.base, self.new, self.diff.delta, list(names), fpr)
        except FeatureError:
            raise  # records that cannot be featurised are bad input (exit 2, naming them), not "could not evaluate"
        except (InputError, VerificationError) as exc:
            run.failure = exc
        self.detection_run = run
        return run
