"""Reference profiles, made when a version is committed and read by detectors later.

The profile's sample is chosen from the manifest alone (per class, the distinct digests
that sort first, up to a cap), so a commit reads only those few records again, whatever
the dataset's size; its statistics are estimated from that sample, while its counts
come from the whole manifest. A version whose content cannot be featurised still
commits: its signed predicate says why it has no profile, and ``--detect`` against it
fails with that reason instead of passing.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.errors import InputError, ProvError
from provenance.features.base import FeatureError
from provenance.manifest import Manifest
from provenance.profiles.batches import file_order
from provenance.profiles.reference import DEFAULT_MAX_PER_CLASS, ReferenceProfile, build_profile
from provenance.sources.interface import DatasetSpec
from provenance.sources.records import read_records

AUTO = "auto"
PROBE = 16  # files decoded before the whole sample, so a non-image tree fails fast


def make_featurizer(kind: str, spec: DatasetSpec, name: str = AUTO, columns: list[str] | None = None):
    """The featuriser for a version's content: numeric columns for tables, pixels for trees."""
    from provenance.features.image import ImageFeaturizer
    from provenance.features.numeric import NumericFeaturizer
    from provenance.features.registry import get_featurizer

    if name != AUTO:
        return get_featurizer(name)
    if kind == "tree":
        return ImageFeaturizer()
    return NumericFeaturizer(exclude=sorted(spec.options.excluded()))


def featurizer_from_name(name: str):
    """The same featuriser a profile was made with, from the name it recorded."""
    from provenance.features.image import ImageFeaturizer
    from provenance.features.numeric import NumericFeaturizer
    from provenance.features.registry import get_featurizer

    if name.startswith("numeric/v1:cols="):
        return NumericFeaturizer(name.split("=", 1)[1].split(","))
    if name.startswith("image/v1:"):
        opts = dict(kv.split("=") for kv in name.split(":", 1)[1].split(","))
        return ImageFeaturizer(size=int(opts["size"]), mode=opts["mode"])
    return get_featurizer(name)


def featurize(featurizer, kind: str, records) -> np.ndarray:
    if kind == "tree":
        return featurizer.featurize(records.blobs)
    if hasattr(featurizer, "resolve"):
        featurizer = featurizer.resolve(records.table.schema)
    return featurizer.featurize(records.table)


def sample_rows(manifest: Manifest, cap: int = DEFAULT_MAX_PER_CLASS) -> np.ndarray:
    """Manifest rows of the profile sample: per label, the first ``cap`` distinct digests.

    The manifest is sorted by (digest, label), so copies of a record sit together and the
    first rows of each label are its smallest digests; vectorised, since it runs on every
    commit over the whole manifest.
    """
    table = manifest.table
    n = table.num_rows
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    digests = table.column("digest").combine_chunks()
    d = np.frombuffer(digests.buffers()[1], dtype="S32", count=n, offset=digests.offset * 32)
    labels = pc.dictionary_encode(table.column("label")).combine_chunks()
    codes = labels.indices.to_numpy().astype(np.int64)
    first = np.ones(n, dtype=bool)
    first[1:] = (d[1:] != d[:-1]) | (codes[1:] != codes[:-1])
    rows = np.flatnonzero(first)
    classes = codes[rows]
    order = np.argsort(classes, kind="stable")  # stable: digest order kept within a label
    sorted_classes = classes[order]
    starts = np.searchsorted(sorted_classes, np.arange(len(labels.dictionary)))
    rank = np.arange(len(rows)) - starts[sorted_classes]
    return np.sort(rows[order[rank < cap]])


def build_version_profile(
    manifest: Manifest,
    kind: str,
    columns: list[str],
    spec: DatasetSpec,
    featurizer_name: str = AUTO,
    cap: int = DEFAULT_MAX_PER_CLASS,
) -> ReferenceProfile:
    rows = sample_rows(manifest, cap)
    part = manifest.table.take(pa.array(rows))
    digests = part.column("digest").to_pylist()
    featurizer = make_featurizer(kind, spec, featurizer_name)
    if kind == "tree":
        # Decode a few files first: a tree of files that are not images (or not what the
        # featuriser reads) should say so at once, not after decoding the whole sample.
        probe = read_records(spec, kind, part.column("locator").to_pylist()[:PROBE], digests[:PROBE], columns)
        featurize(featurizer, kind, probe)
    records = read_records(spec, kind, part.column("locator").to_pylist(), digests, columns)
    if hasattr(featurizer, "resolve") and records.table is not None:
        featurizer = featurizer.resolve(records.table.schema)
    X = featurize(featurizer, kind, records)
    profile = build_profile(
        X,
        part.column("label").to_pylist(),
        digests,
        featurizer=featurizer.name,
        sources=part.column("source").to_pylist(),
        max_per_class=cap,
        positions=file_order(part.column("locator").to_pylist()),
    )
    counts = manifest.label_counts()
    return dataclasses.replace(
        profile,
        n_records=len(manifest),
        class_counts=[int(counts.get(c, 0)) for c in profile.classes],
        source_counts={str(k): int(v) for k, v in manifest.source_counts().items()},
    )


def make_commit_hook(featurizer_name: str = AUTO):
    """A commit hook that adds the version's profile (or the reason it has none)."""

    def commit_hook(store, tag, hashed, predicate) -> None:
        spec = hashed.spec
        try:
            if spec is None:
                raise InputError("the dataset spec is not known to the profile hook")
            profile = build_version_profile(hashed.manifest, hashed.kind, hashed.columns, spec, featurizer_name)
        except (FeatureError, InputError) as exc:
            predicate["featurizer"] = None
            predicate["profile"] = {"status": "unavailable", "reason": str(exc)}
            return
        except ProvError:
            raise
        data = profile.to_bytes()
        oid = store.put_object(data, "npz")
        store.db["profiles"].insert(
            {
                "version": tag,
                "object": oid,
                "featurizer": profile.featurizer,
                "dim": profile.dim,
                "sample": profile.sample_size,
            }
        )
        predicate["featurizer"] = profile.featurizer
        predicate["profile"] = {
            "status": "ok",
            "sha256": oid,
            "dim": profile.dim,
            "sample": profile.sample_size,
            "maxPerClass": profile.max_per_class,
        }

    return commit_hook


def load_profile(store, tag: str) -> ReferenceProfile:
    """The base version's profile, checked against the digest its signed statement names."""
    from provenance.versions import verified_statement

    row = store.version(tag)
    stmt = verified_statement(store, row)
    info = stmt["predicate"].get("profile") or {}
    if info.get("status") != "ok":
        reason = info.get("reason", "it was committed before profiles existed")
        raise InputError(f"version {tag} has no reference profile, so detectors cannot run against it ({reason})")
    data = store.objects.get(info["sha256"], f"profile of {tag}")
    return ReferenceProfile.from_bytes(data)
