"""Detection on the delta: features of added and relabeled records, scored against the
trusted base's reference profile, with results stored as findings.

Cost follows the change: the base contributes only its bounded profile, and only the
delta's records are read (and re-hashed, so they are the signed content).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.change_pairing import natural_bytes
from provenance.delta.rows import DeltaRecords
from provenance.detectors.base import DEFAULT_EXTREME_ALPHA, ColumnFindings, Delta, DetectorResult
from provenance.detectors.combine import Verdicts, combine
from provenance.detectors.drift import BatchShift, batch_drift, remove_shift
from provenance.detectors.drift_columns import ColumnMove, column_moves
from provenance.detectors.extreme import batch_label_support
from provenance.detectors.findings import flagged_count, save_findings
from provenance.detectors.registry import DEFAULT_FPR, run_detectors
from provenance.detectors.relabel_scan import HeldOutNull, profile_null
from provenance.detectors.shared import delta_Z, reference_neighbours
from provenance.detectors.tight_cluster import stand_down_tight_cluster
from provenance.features.base import FeatureError
from provenance.profiles.base_clumping import with_version_clumping
from provenance.profiles.featurize import delta_features
from provenance.profiles.reference import ReferenceProfile
from provenance.profiles.shift import Shift
from provenance.profiles.waived import detection_profile
from provenance.sources.records import Records, read_records
from provenance.version_facts import load_manifest, verified_statement, version_dataset


def _as_digests(values) -> list[bytes]:
    """32-byte digests from an ``S32`` array (whose items would lose trailing zero bytes) or a list."""
    if isinstance(values, np.ndarray):
        raw = np.ascontiguousarray(values).tobytes()
        return [raw[i : i + 32] for i in range(0, len(raw), 32)]
    return [bytes(v) for v in values]


def delta_records(
    store,
    base: str,
    new: str,
    added: np.ndarray,
    relabeled: np.ndarray,
    copies: tuple[np.ndarray, np.ndarray] | None = None,
) -> DeltaRecords:
    """Rows of the new version's manifest for the added and relabeled digests (``S32`` arrays),
    one per (digest, label).

    ``copies`` is the diff's ``(digests, extra rows)`` of records the new version has more
    rows of than the base (beyond one for a new record): their counts go with the records,
    and base records among them join the delta as ``copied``.

    The reference: loads both whole manifests (re-checking their Merkle roots). A diff hands
    detection the same rows taken from its merge instead (``delta.rows``), in O(change).
    """
    new_m = load_manifest(store, store.version(new))
    added_digests, relabeled_digests = _as_digests(added), _as_digests(relabeled)
    extra: dict[bytes, int] = {}
    if copies is not None:
        extra = dict(zip(_as_digests(copies[0]), (int(c) for c in copies[1])))
    kinds = (
        {d: "copied" for d in extra} | {d: "added" for d in added_digests} | {d: "relabeled" for d in relabeled_digests}
    )
    wanted = list(kinds)
    if not wanted:
        return DeltaRecords([], [], [], [], [], [])
    table = new_m.table
    mask = pc.is_in(table.column("digest"), value_set=pa.array(wanted, pa.binary(32)))
    rows = table.filter(mask)
    old_labels: dict[bytes, str] = {}
    base_rows: dict[bytes, int] = {}
    in_base = [d for d, k in kinds.items() if k != "added"]
    if in_base:
        base_t = load_manifest(store, store.version(base)).table
        found = base_t.filter(pc.is_in(base_t.column("digest"), value_set=pa.array(in_base, pa.binary(32))))
        for d, label in zip(found.column("digest").to_pylist(), found.column("label").to_pylist()):
            old_labels.setdefault(d, label)
            base_rows[d] = base_rows.get(d, 0) + 1
    out = DeltaRecords([], [], [], [], [], [])
    seen = set()
    for d, label, source, loc in zip(
        rows.column("digest").to_pylist(),
        rows.column("label").to_pylist(),
        rows.column("source").to_pylist(),
        rows.column("locator").to_pylist(),
    ):
        if (d, label) in seen:  # one copy per (record, label) is enough to score; the count goes with it
            continue
        seen.add((d, label))
        out.digests.append(d)
        out.labels.append(label)
        out.sources.append(source)
        out.kinds.append(kinds[d])
        out.old_labels.append(old_labels.get(d) if kinds[d] == "relabeled" else None)
        out.locators.append(loc)
        out.extra_copies.append(extra.pop(d, 0))  # counted per digest: once, on its first label
        out.base_copies.append(base_rows.get(d, 0))
    return out


def featurize_delta(profile: ReferenceProfile, kind: str, records, delta_rows: DeltaRecords) -> np.ndarray:
    """The delta's features in the profile's space, or a ``FeatureError`` (exit 2) naming
    the records that cannot be featurised by their place in the new version's data (row
    number or path) and digest: NaN or missing values, an undecodable file, a feature
    dimension that differs from the base's. Never a silent skip."""
    try:
        X = delta_features(profile, kind, records)
        if X.ndim != 2 or X.shape[1] != profile.dim:
            raise FeatureError(
                f"the new records have {X.shape[1] if X.ndim == 2 else X.shape} features each, the base's "
                f"reference profile {profile.dim}; featurise both versions the same way"
            )
    except FeatureError as exc:
        named = exc.records
        if named and all(isinstance(r, int | np.integer) and 0 <= int(r) < len(delta_rows.digests) for r in named):
            named = [
                f"{delta_rows.locators[r]} ({bytes(delta_rows.digests[r]).hex()[:12]})"
                # each once, in the data's order (row 2 before row 10)
                for r in sorted({int(r) for r in named}, key=lambda r: natural_bytes(str(delta_rows.locators[r])))
            ]
        elif not named and not exc.missing_columns:  # a missing column is named in the problem, not per record
            named = [f"{loc} ({bytes(d).hex()[:12]})" for loc, d in zip(delta_rows.locators, delta_rows.digests)]
        # the featuriser's problem may end by introducing its own list ("...; rows"): this one names the records
        problem = exc.problem.removesuffix("; rows").removesuffix("; records")
        if exc.missing_columns:
            raise FeatureError(
                f"new records of the delta cannot be scored: {problem}", missing_columns=exc.missing_columns
            ) from exc
        raise FeatureError(f"new records of the delta cannot be scored: {problem}; records", named) from exc
    return X


@dataclass
class Detection:
    """What detection on a delta found: each detector's result and the combined verdicts."""

    results: list[DetectorResult]
    verdicts: Verdicts
    labels: list[str]
    # The delta as a batch against the base's own pseudo-batches (detectors.drift): a
    # warning when shifted, never a verdict on records; None with ``drift_error`` if it failed.
    drift: list[Shift] | None = None
    drift_error: str | None = None
    # The shift the batch's classes share when its mean moved beyond the base's batches, and
    # whether the detectors scored its records without it (detectors.drift.remove_shift).
    shift: BatchShift | None = None
    # The feature columns the batch's added records moved in most (detectors.drift_columns), None when the
    # profile's dimensions name no columns or drift could not be measured.
    drift_columns: list[ColumnMove] | None = None
    # Each record's kind ("added", "relabeled", "copied").
    kinds: list[str] | None = None
    # What computes ``relabel_null`` on first use: only a check's detectors.relabels rule reads it, so
    # `prov diff --detect` never pays for scoring the base's sample once per pseudo-batch.
    relabel_null_of: Callable[[], HeldOutNull | None] | None = field(default=None, repr=False, compare=False)
    # What gives each record's nearest base sample records (``shared.reference_neighbours``: (n x K) indexes and
    # distances), read on first use by the gate's test of a listed new class (``gate.class_inside``).
    base_neighbours_of: Callable[[], tuple[np.ndarray, np.ndarray]] | None = field(
        default=None, repr=False, compare=False
    )
    # Feature columns of the base's profile the new version dropped: the delta was scored on the others
    # (profiles.shared_columns), and the reports name these.
    columns_left_out: tuple[str, ...] = ()
    # What gives each record's standardised features as the detectors scored them (``shared.delta_Z``), read on
    # first use by the gate's test of a listed new class (``gate.class_copies``: copies of base records).
    features_of: Callable[[], np.ndarray] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def relabel_null(self) -> HeldOutNull | None:
        """When the delta holds relabels, the base's sample records scored with their pseudo-batch held
        out (the null of detectors.relabels, ``detectors.relabel_scan.profile_null``), computed on first
        use and kept; None when there is no relabel."""
        return self.relabel_null_of() if self.relabel_null_of is not None else None

    @cached_property
    def base_neighbours(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Each record's nearest base sample records, ``(idx, dist)`` (n x K, -1 / inf where none; the neighbours
        ``knn_label`` votes with), computed on first use and kept; None when the run does not say."""
        return self.base_neighbours_of() if self.base_neighbours_of is not None else None

    @cached_property
    def features(self) -> np.ndarray | None:
        """Each record's standardised features (n x d, float32, the profile's space), computed on first use and
        kept; None when the run does not say."""
        return self.features_of() if self.features_of is not None else None

    @cached_property
    def columns(self) -> list[tuple[list[float], list[bool]]]:
        """Each result's columns (``DetectorResult.columns()``: scores, flags), read on first use and kept: the
        stored run and the report's per-detector counts read them once (each read checks every finding made so
        far against the columns: ~15 ms for 7 detectors once the combined verdict read 10,000 explanations)."""
        return [r.columns() for r in self.results]

    @property
    def flagged_counts(self) -> list[int]:
        """Each result's count of flagged records (``len(r.flagged)``), from :attr:`columns`."""
        return [
            sum(flags) if isinstance(r.findings, ColumnFindings) else flagged_count(r)
            for r, (_, flags) in zip(self.results, self.columns)
        ]

    @property
    def errors(self) -> list[DetectorResult]:
        """The detectors that failed (a gate fails closed on them)."""
        return [r for r in self.results if r.status != "ran"]


def run_detection(
    store,
    base: str,
    new: str,
    added: np.ndarray,
    relabeled: np.ndarray,
    names: list[str] | None = None,
    fpr: float = DEFAULT_FPR,
    save: bool = True,
    copies: tuple[np.ndarray, np.ndarray] | None = None,
    rows: DeltaRecords | Callable[[], DeltaRecords] | None = None,
    features: np.ndarray | None = None,
    tight_cluster: bool = True,
    content: Callable[[list[str], list[bytes], list[str], str], pa.Table] | None = None,
    extreme_alpha: float = DEFAULT_EXTREME_ALPHA,
) -> Detection:
    """Run the detectors on the delta of ``new`` against ``base``'s profile, combine them
    into one verdict per record at ``fpr`` (``detectors.combine``) and store the findings
    (unless ``save`` is false or the store is read-only: ``Store.writable``).

    ``added`` and ``relabeled`` are the delta's digests (numpy ``S32``); ``copies`` the
    diff's ``(digests, extra rows)`` of records with more rows than the base had
    (``DiffReport.delta["copies"]``), so exact-copy floods are scored too; ``rows`` the
    delta's manifest rows as the diff's merge found them (``DiffReport.delta["rows"]``, or a
    callable giving them), else they are read from both whole manifests; ``features`` those
    rows' raw features when the caller featurised them already (``GateContext.delta_features``,
    read as here), else they are read and featurised. ``tight_cluster`` false (the policy's
    ``[detectors] duplicates_tight_cluster = false``) stands down the duplicates detector's
    tight-cluster rule (``tight_cluster.stand_down_tight_cluster``). ``content``: a table's delta rows'
    content columns as a signed delta object keeps them (``DiffReport.delta["content"]``: ``read(locators,
    digests, columns, encoding)``, each row re-hashed against its digest), read instead of the data file.
    ``extreme_alpha``: the level the gate judges extreme evidence at (the policy's ``detectors.extreme_alpha``,
    ``Delta.extreme_alpha``), so the collision detector searches the copy index as far as that bar needs. Raises
    InputError / FeatureError (exit 2) when the delta cannot be featurised, naming the
    records; a detector that crashes is an "error" result, never skipped. The profile's within-pseudo-batch
    arrays are replaced by the count of the base's signed manifest (``profiles.base_clumping``; a profile is
    a fact only a commit key vouches for) when the delta has copies, and left out when it has none. The profile
    leaves out the base records a pinned waive key waived (``profiles.waived.detection_profile``).
    VerificationError (exit 1) when that manifest does not verify.
    """
    profile = detection_profile(store, base, new)  # without the base records a pinned waive key waived (A30b-2)
    new_row = store.version(new)
    pred = verified_statement(store, new_row)["predicate"]
    if callable(rows):
        rows = rows()
    delta_rows = rows if rows is not None else delta_records(store, base, new, added, relabeled, copies)
    spec = version_dataset(store, new_row)
    kind = pred.get("schema", {}).get("kind", new_row["kind"])
    columns = pred.get("schema", {}).get("columns", [])
    if delta_rows.digests and features is not None and len(features) == len(delta_rows.digests):
        X = features
    elif delta_rows.digests:
        records = _delta_content(spec, kind, delta_rows, columns, content)
        X = featurize_delta(profile, kind, records, delta_rows)
    else:
        X = np.zeros((0, profile.dim), dtype=np.float32)
    delta = Delta(
        delta_rows.digests,
        X,
        delta_rows.labels,
        delta_rows.sources,
        delta_rows.kinds,
        delta_rows.old_labels,
        np.asarray(delta_rows.extra_copies, dtype=np.int64),
        np.asarray(delta_rows.base_copies, dtype=np.int64),
        extreme_alpha,
    )
    # the copy test's base clumping is counted from the base's signed manifest, never read from the profile, and
    # only for a delta with copies (nothing else reads it): a delta of new records reads no base manifest
    profile = with_version_clumping(store, base, profile, bool(delta.extra_copies.any()))
    results = run_detectors(profile, delta, names, fpr)
    if not tight_cluster:
        for result in results:
            if result.detector == "duplicates":
                stand_down_tight_cluster(result)
    verdicts = combine(results, fpr, profile.sample_batches, batch_label_support(profile, delta), delta.hexes)
    drift, drift_error, shift, moved_columns = None, None, None, None
    try:
        drift = batch_drift(profile, delta)
        shift = remove_shift(profile, delta)  # run_detectors measured both already: cached
        moved_columns = column_moves(profile, delta) if any(s.shifted for s in drift) else None
    except Exception as exc:  # reported (the gate fails closed on it), never skipped
        drift_error = f"{type(exc).__name__}: {exc}"
    null = (lambda: profile_null(profile, results, fpr, verdicts.held_out)) if "relabeled" in delta_rows.kinds else None
    detection = Detection(
        results,
        verdicts,
        delta_rows.labels,
        drift,
        drift_error,
        shift,
        moved_columns,
        list(delta_rows.kinds),
        null,
        lambda: reference_neighbours(profile, delta),
        profile.columns_left_out,
        lambda: delta_Z(profile, delta),
    )
    if save and store.writable():  # a read-only store still gets its findings computed (the CLI says so)
        save_findings(store, base, new, results, fpr, delta_rows.labels, verdicts, detection.columns)
    return detection


def _delta_content(spec, kind: str, rows: DeltaRecords, columns: list[str], content) -> Records:
    """The delta rows' content: from the signed delta object's content part where it keeps a table's
    (re-hashed under the signed row encoding: ``VerificationError`` naming the object), else read
    again from the data (``sources.records.read_records``)."""
    if content is not None and kind != "tree":
        table = content(rows.locators, rows.digests, columns, spec.options.row_encoding)
        return Records(rows.digests, table=table)
    return read_records(spec, kind, rows.locators, rows.digests, columns)


def detect_diff(
    store,
    base: str,
    new: str,
    delta: dict,
    names: list[str] | None = None,
    fpr: float = DEFAULT_FPR,
    save: bool = True,
    features: np.ndarray | None = None,
    tight_cluster: bool = True,
    extreme_alpha: float = DEFAULT_EXTREME_ALPHA,
) -> Detection:
    """``run_detection`` on a diff's delta (``DiffReport.delta``: ``added`` and ``relabeled``
    digests, and ``copies``), so every caller scores the same records, copies included."""
    return run_detection(
        store,
        base,
        new,
        delta["added"],
        delta["relabeled"],
        names,
        fpr,
        save,
        delta.get("copies"),
        delta.get("rows"),
        features,
        tight_cluster,
        delta.get("content"),
        extreme_alpha,
    )
