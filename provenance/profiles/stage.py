"""Reference profiles, made when a version is committed and read by detectors later.

The profile's sample is chosen from the manifest alone (``profiles/sample.py``), so a
commit reads only those few records again, whatever the dataset's size; its statistics
are estimated from that sample, while its counts come from the whole manifest. All of
that happens in the commit stage's *prepare* phase, with no store lock held; recording
only writes the finished profile. A version whose content cannot be featurised still
commits: its signed predicate says why it has no profile, and ``--detect`` against it
fails with that reason instead of passing.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from provenance.encoding import table_digest_blob
from provenance.errors import InputError
from provenance.escaping import visible
from provenance.features.base import FeatureError, named_records
from provenance.features.numeric import check_named_columns
from provenance.features.registry import FeaturizerSpec, build
from provenance.manifest import Manifest
from provenance.profiles.batch_copies import COPY_PSEUDO_BATCHES, BatchCopies, manifest_batch_copies
from provenance.profiles.copy_index_build import copy_index_or_reason
from provenance.profiles.featurize import AUTO, build_for_commit, featurize, requested_spec
from provenance.profiles.loading import load_profile as load_profile  # read by detection: profiles.loading
from provenance.profiles.non_finite import NonFiniteValues
from provenance.profiles.reference import ReferenceProfile, build_profile
from provenance.profiles.sample import DEFAULT_MAX_PER_CLASS, DEFAULT_MAX_TOTAL, sample_manifest
from provenance.sources.hf_imagefolder import IMAGE_EXTENSIONS
from provenance.sources.interface import DatasetSpec
from provenance.sources.records import Records, read_records
from provenance.sources.sample_capture import CapturedSample
from provenance.sources.trees import IMG_EXTENSIONS
from provenance.stages import CommitJob
from provenance.store.store import Store

PROBE = 1  # files decoded before the whole sample, so a tree of files that are not images fails fast
# An image costs a decode (~55 us of CPU for a small PNG) and 260 features, and the sample's
# neighbour graph grows with its square: 8,000 images were two thirds of a 20,000-image tree's
# commit (issue 15: the tree >= 10x `dvc add`). On that tree's batches
# (bench/results/image-profile-detect*.md, the same 48 clean and 48 poisoned deltas against
# each sample size) 4,000 passed 38 clean batches (8,000: 39) and blocked 26 poisoned ones
# (21), at a cost per record: clean records flagged 3.7% (2.9%), backdoors 44% (53%); 2,000
# passed 3 of 12 clean batches in render order (8,000: 7) and flagged 27% of the backdoors.
IMAGE_MAX_TOTAL = 4000
IMAGE_FILE_EXTENSIONS = frozenset(IMG_EXTENSIONS) | IMAGE_EXTENSIONS  # what torchvision's or datasets' reader takes


def sample_bound(requested: FeaturizerSpec) -> int:
    """At most how many records the profile samples for featuriser ``requested``: ``IMAGE_MAX_TOTAL``
    for the image featuriser, ``DEFAULT_MAX_TOTAL`` for the others."""
    return IMAGE_MAX_TOTAL if requested.name == "image" else DEFAULT_MAX_TOTAL


def build_version_profile(
    manifest: Manifest,
    kind: str,
    columns: list[str],
    spec: DatasetSpec,
    featurizer: str | FeaturizerSpec = AUTO,
    cap: int = DEFAULT_MAX_PER_CLASS,
    captured: CapturedSample | None = None,
    sample_salt: bytes | None = None,
) -> ReferenceProfile:
    """The reference profile of a hashed version: sample, re-read, featurise, summarise.

    ``manifest``, ``kind`` (``"table"`` or ``"tree"``) and content ``columns`` are the
    hashed dataset's; ``spec`` says where its records are. Records read again are
    re-hashed, so features come from the signed content. ``captured`` (a table's sample
    candidates kept while hashing, ``sources/sample_capture.py``) chooses the sample without a
    pass over the manifest and serves its rows without decoding the table again when it can
    (the profile is the same bytes either way); otherwise the manifest is sampled and the rows
    re-read. ``sample_salt`` keys the sample
    (``profiles.sample.sample_key``: drawn by the committer's signature; None ranks by digest). Raises
    ``FeatureError`` (or ``InputError``) when the content cannot be featurised.
    """
    requested = requested_spec(featurizer, kind, spec)
    max_total = sample_bound(requested)
    # the hashing pass's pool gives the sample without a pass over the manifest (G1's keyed sample keys
    # every row: 1.4 s at 10M rows); otherwise the manifest's rows are keyed here
    sample = captured.sample(cap, max_total, sample_salt) if captured is not None else None
    if sample is None:
        sample = sample_manifest(manifest, cap, max_total, sample_salt)
    part = sample.table
    digests = part.column("digest").to_pylist()
    locators = part.column("locator").to_pylist()
    if kind == "tree":
        # Decode a few files first: a tree of files that are not images (or not what the
        # featuriser reads) should say so at once, not after decoding the whole sample.
        try:
            featurize(build(requested), kind, read_records(spec, kind, locators[:PROBE], digests[:PROBE], columns))
        except FeatureError as exc:
            raise _not_an_image(named_records(exc, locators), requested, locators[0]) from exc
    records = None
    if kind == "table":
        encoding = spec.options.row_encoding
        records = captured_records(captured, locators, digests, columns, encoding, cap, max_total, sample_salt)
    if records is None:
        records = read_records(spec, kind, locators, digests, columns)
    try:
        resolved_spec, resolved, X = build_for_commit(requested, kind, records)
    except FeatureError as exc:
        raise named_records(exc, locators) from exc
    profile = build_profile(
        X,
        part.column("label").to_pylist(),
        digests,
        featurizer=resolved.name,
        sources=part.column("source").to_pylist(),
        max_per_class=cap,
        max_total=max_total,
        positions=locators,
        copies=sample.copies,
        featurizer_spec=resolved_spec.to_dict(),
        within_batches=manifest_within_batches(manifest),
    )
    counts = manifest.label_counts()
    return dataclasses.replace(
        profile,
        n_records=len(manifest),
        class_counts=[int(counts.get(c, 0)) for c in profile.classes],
        source_counts={str(k): int(v) for k, v in manifest.source_counts().items()},
    )


def manifest_within_batches(manifest: Manifest) -> BatchCopies | None:
    """The version's within-pseudo-batch repetition (``profiles.batch_copies``) from every row of the manifest
    this commit hashed (its digests and locators, streamed two columns at a time), or as the merge that made
    the manifest counted it from the same rows (``Manifest.within_batches``: the same counts without a second
    pass over every row); the profile that keeps it is signed with the version, and the gate reads it from
    there only."""
    if manifest.within_batches is not None:
        return manifest.within_batches
    return manifest_batch_copies(
        lambda: manifest.iter_batches(["digest", "locator"], rows=1 << 16), len(manifest), COPY_PSEUDO_BATCHES
    )


def _not_an_image(exc: FeatureError, requested: FeaturizerSpec, locator: str) -> FeatureError:
    """``exc`` saying what to commit with when the image featuriser (a tree's automatic one) met a file with no
    image extension: a tree of text files read with ``--tree-reader files`` said only "cannot decode image(s)
    (UnidentifiedImageError): 9/0092.txt", and every ``--detect`` and check against that version the same, with
    no word of ``--featurizer`` (newcomer review 25). A damaged ``.png`` keeps the message: replace the file."""
    if requested.name != "image" or os.path.splitext(str(locator))[1].lower() in IMAGE_FILE_EXTENSIONS:
        return exc
    out = FeatureError(
        f"{exc}; the image featuriser (a file tree's automatic one) reads images, and {visible(str(locator))} is not one: "
        "commit files of UTF-8 text with --featurizer text, others with a featuriser you register "
        "(prov commit --help)"
    )
    out.records = exc.records
    return out


def captured_records(
    captured: CapturedSample | None,
    locators: list[str],
    digests: list[bytes],
    columns: list[str],
    row_encoding: str,
    cap: int,
    max_total: int,
    salt: bytes | None = None,
) -> Records | None:
    """The sample's records (as ``read_table_records`` returns them) from the captured pool, or
    None when the pool cannot serve them: no pool, another sample rule, a locator not in the
    pool, or rows whose re-hashed content differs from the signed ``digests``."""
    if captured is None or captured.keys is None or captured.content is None or not locators:
        return None
    if (captured.cap, captured.max_total, captured.salt) != (cap, max_total, salt):
        return None
    where = {loc: i for i, loc in enumerate(captured.keys.column("locator").to_pylist())}
    try:
        rows = [where[loc] for loc in locators]
    except KeyError:
        return None
    try:
        picked = captured.content.take(pa.array(rows, pa.int64())).select(columns)
        if table_digest_blob(picked, columns, row_encoding) != b"".join(digests):
            return None
    except (pa.ArrowException, KeyError, ValueError):
        return None
    return Records(list(digests), table=picked)


class ProfileStage:
    """Commit stage: the version's reference profile, or the signed reason it has none."""

    name = "profile"

    def __init__(self, featurizer: str | FeaturizerSpec = AUTO, cap: int = DEFAULT_MAX_PER_CLASS):
        self.featurizer = featurizer
        self.cap = cap

    def prepare(self, job: CommitJob) -> PreparedProfile:
        """Build the profile with no lock held; content that cannot be featurised gives ``unavailable``."""
        hashed = job.hashed
        if len(hashed.manifest) == 0:  # --allow-empty: said as such, not as "no numeric columns (columns: ; ...)"
            return PreparedProfile(None, b"", "no records")
        if hashed.kind == "table":  # a list naming no content column is a flag's mistake, not a version's (A30a-3)
            requested = requested_spec(self.featurizer, hashed.kind, job.spec)
            if requested.name == "numeric":
                check_named_columns(
                    requested.options, hashed.columns, job.spec.options.excluded(), job.spec.path, hashed.types
                )
        try:
            profile = build_version_profile(
                hashed.manifest,
                hashed.kind,
                hashed.columns,
                job.spec,
                self.featurizer,
                self.cap,
                hashed.sample,
                job.sample_salt,
            )
            # every record featurised for the copy index: one that cannot be is refused or leaves no profile, as in
            # the sample (never a silent fall back to the sample's copy evidence: attack review 33d, A33d-4)
            index, no_index = copy_index_or_reason(hashed.manifest, hashed.kind, hashed.columns, job.spec, profile)
        except FeatureError as exc:
            if exc.non_finite is not None:  # values no detector can score: refused where they enter
                running = requested_spec(self.featurizer, hashed.kind, job.spec)  # the parent's carried one included
                raise NonFiniteValues(exc, job.spec.path, hashed.columns, running) from exc
            return PreparedProfile(None, b"", str(exc))
        except InputError as exc:
            return PreparedProfile(None, b"", str(exc))
        salt = (job.sample_salt, job.sample_salt_signature, job.sample_salt_parent, job.sample_salt_nonce)
        facts: dict | None = {"reason": no_index} if no_index is not None else None
        if index is not None:  # kept inside the profile object: the digest the statement signs covers it
            profile = dataclasses.replace(profile, copy_index_bytes=np.frombuffer(index.to_bytes(), np.uint8))
            facts = {"rows": len(index.keys), "radius": index.radius}
        return PreparedProfile(
            profile, profile.to_bytes(), None, *salt, requested=self.requested(), copy_index_facts=facts
        )

    def requested(self) -> dict | None:
        """The featuriser this commit was given (``--featurizer`` and its options, or the parent's carried), as a spec;
        None for the automatic one. Signed as ``featurizerRequested`` so the next commit carries the request, not
        the columns it resolved to (newcomer review 28, finding 2: ``exclude=[...]`` was lost on the next commit)."""
        chosen = self.featurizer
        spec = chosen if isinstance(chosen, FeaturizerSpec) else FeaturizerSpec(chosen)
        return None if spec.name == AUTO else spec.to_dict()


@dataclass
class PreparedProfile:
    """A finished profile and its bytes, or the reason there is none."""

    profile: ReferenceProfile | None
    data: bytes
    reason: str | None
    sample_salt: bytes | None = None
    sample_salt_signature: bytes | None = None
    sample_salt_parent: bytes | None = None
    sample_salt_nonce: bytes | None = None
    requested: dict | None = None  # the featuriser spec the commit was given (ProfileStage.requested)
    copy_index_facts: dict | None = None  # the profile's copy index's rows and radius, or why it keeps none

    def record(self, store: Store, tag: str, predicate: dict) -> None:
        """Under the lock: store the profile object and row; sign its digest (or the reason) in the predicate.

        The profile depends only on the version's own records, so nothing another
        command does meanwhile can make it stale.
        """
        profile = self.profile
        if profile is None:
            predicate["featurizer"] = None
            predicate["profile"] = {"status": "unavailable", "reason": self.reason}
            return
        oid = store.put_object(self.data, "npz")
        store.db.table("profiles").insert(
            {
                "version": tag,
                "object": oid,
                "featurizer": profile.featurizer,
                "dim": profile.dim,
                "sample": profile.sample_size,
            }
        )
        predicate["featurizer"] = profile.featurizer
        if self.requested is not None:
            predicate["featurizerRequested"] = self.requested
        predicate["profile"] = {
            "status": "ok",
            "sha256": oid,
            "dim": profile.dim,
            "sample": profile.sample_size,
            "maxPerClass": profile.max_per_class,
            # the sample key's salt and what draws it (profiles.sample.verified_salt): the sample can be recomputed
            "sampleSalt": _hex(self.sample_salt),
            "sampleSaltSignature": _hex(self.sample_salt_signature),
            "sampleSaltParent": _hex(self.sample_salt_parent),
            "sampleSaltNonce": _hex(self.sample_salt_nonce),
        }
        if self.copy_index_facts is not None:  # profiles.copy_index: its rows and radius, or why there is none
            predicate["profile"]["copyIndex"] = self.copy_index_facts


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value is not None else None
