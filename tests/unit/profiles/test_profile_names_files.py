"""A tree's image that cannot be decoded is named by its path, not by its place in the sample.

Newcomer review 12, finding 7: a truncated PNG (its header whole, so hashing's check that it is an
image passes) made the commit say "no reference profile (cannot decode image(s) (OSError): 71)",
and the check that could not use that version as a base gave the same number: a position in the
profile's sample, which names nothing a user can find.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from provenance.executor import InlineExecutor
from provenance.features.base import FeatureError
from provenance.profiles.stage import build_version_profile
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec


def _png(value: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (8, 8), value).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("name", ["1/013.png", "0/000.png"])  # in the sample, and the first file decoded
def test_an_undecodable_image_is_named_by_its_path(tmp_path, name):
    tree = tmp_path / "tree"
    for i in range(40):
        folder = tree / str(i % 2)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:03d}.png").write_bytes(_png(i * 5))
    (tree / name).write_bytes(_png(7)[:40])  # the header whole, the pixels cut off
    spec = DatasetSpec(str(tree), kind="tree")
    hashed = build_manifest(spec, executor=InlineExecutor())  # hashing admits it: it looks like an image
    with pytest.raises(FeatureError, match=r"cannot decode image") as caught:
        build_version_profile(hashed.manifest, "tree", hashed.columns, spec)
    assert caught.value.records == [name]
    assert str(caught.value).endswith(f": {name}")


def test_a_table_row_that_cannot_be_featurised_is_named_by_its_row_not_its_sample_position(tmp_path):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    x = np.random.default_rng(0).normal(size=(300, 4))
    x[7, 2] = np.nan  # the sample is in salted order: row 7 is not the sample's 7th
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({**{f"f{i}": x[:, i] for i in range(4)}, "label": [str(i % 3) for i in range(300)]}), path)
    spec = DatasetSpec(str(path))
    hashed = build_manifest(spec, executor=InlineExecutor())
    with pytest.raises(FeatureError, match=r"NaN or infinite in 1 row") as caught:
        build_version_profile(hashed.manifest, "table", hashed.columns, spec, sample_salt=b"s" * 32)
    assert caught.value.records == ["7"] and str(caught.value).endswith("rows: 7")  # a one-file table's locator
