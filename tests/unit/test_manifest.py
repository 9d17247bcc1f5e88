"""The manifest a commit builds commits to the documented Merkle entries (``merkle.merkle_entry``) for every source."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import fastsha, merkle
from provenance.executor import InlineExecutor
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions


@pytest.mark.parametrize("path", ["python", "compiled"])
def test_a_source_column_holding_nul_is_not_no_source(tmp_path, path):
    """Attack review 3, finding 12: sources ["\\x00", "v"] and [None, "v"] gave one root (two manifests)."""
    if path == "compiled" and not fastsha.available():
        pytest.skip("the compiled fastsha extension is not built")
    roots = {}
    for name, sources in (("nul", ["\x00", "v"]), ("null", [None, "v"])):
        file = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"x": [1, 2], "label": ["a", "b"], "src": pa.array(sources, pa.string())}), file)
        with fastsha.forced(path):
            built = build_manifest(
                DatasetSpec(str(file), options=TableOptions(source_column="src")), executor=InlineExecutor()
            ).manifest
        assert set(built.sources) == set(sources)  # "\x00" stays the string it is
        leaves = merkle.leaf_hashes(built.digests, built.labels, built.sources)
        assert built.root == merkle.merkle_root(leaves)  # the documented reference, entry by entry
        roots[name] = built.root
    assert roots["nul"] != roots["null"]
