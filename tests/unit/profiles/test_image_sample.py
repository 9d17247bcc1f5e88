"""An image tree's profile samples at most ``IMAGE_MAX_TOTAL`` images; a table's keeps the larger bound.

Decoding a sampled image is most of a tree commit's profile (issue 15), so the image
featuriser's sample is smaller. The sample is still the manifest's rule
(``profiles/sample.py``): the same records whatever the order of the files. The bound is
lowered to ``BOUND`` here, so the tree stays small (the rule does not depend on the number).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from provenance.executor import InlineExecutor
from provenance.profiles import stage
from provenance.profiles.sample import DEFAULT_MAX_PER_CLASS, DEFAULT_MAX_TOTAL, sample_manifest
from provenance.profiles.stage import IMAGE_MAX_TOTAL, build_version_profile
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec

BOUND = 40
FILES = BOUND + 20


def _profile(path):
    spec = DatasetSpec(str(path))
    hashed = build_manifest(spec, executor=InlineExecutor())
    profile = build_version_profile(hashed.manifest, hashed.kind, hashed.columns, spec, captured=hashed.sample)
    return hashed.manifest, profile


def test_an_image_tree_profile_samples_at_most_the_image_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "IMAGE_MAX_TOTAL", BOUND)
    rng = np.random.default_rng(0)
    for i in range(FILES):
        folder = tmp_path / "tree" / ("cat" if i % 3 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    manifest, profile = _profile(tmp_path / "tree")
    assert len(manifest) == FILES
    assert profile.sample_size == BOUND
    assert profile.n_records == FILES  # counts still come from the whole manifest
    expected = sample_manifest(manifest, DEFAULT_MAX_PER_CLASS, BOUND).table.column("digest").to_pylist()
    assert sorted(bytes(d) for d in profile.sample_digests) == sorted(expected)


def test_a_table_profile_keeps_the_larger_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "IMAGE_MAX_TOTAL", BOUND)
    rng = np.random.default_rng(1)
    table = pa.table({"x": rng.normal(size=FILES), "y": rng.normal(size=FILES), "label": ["a", "b"] * (FILES // 2)})
    pq.write_table(table, tmp_path / "t.parquet")
    _, profile = _profile(tmp_path / "t.parquet")
    assert profile.sample_size == FILES


def test_the_image_bound_is_below_the_tables():
    assert 0 < IMAGE_MAX_TOTAL < DEFAULT_MAX_TOTAL
