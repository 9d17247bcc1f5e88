"""Property: in a file tree, changing any file's bytes or name, adding a file the loader skips or
a class folder, changes what is signed (the Merkle root, the listing or the class list)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.executor import InlineExecutor
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions

names = st.text(alphabet="abcxyz._-", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
trees = st.dictionaries(
    st.tuples(st.sampled_from(["cat", "dog", ".hid"]), names),
    st.binary(min_size=1, max_size=16),
    min_size=1,
    max_size=6,
)


def signed(layout: dict, root: Path) -> tuple:
    shutil.rmtree(root, ignore_errors=True)
    for (label, name), data in layout.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / name).write_bytes(data)
    spec = DatasetSpec(str(root), kind="tree", options=TableOptions(tree_reader="files"))
    hashed = build_manifest(spec, executor=InlineExecutor())
    return hashed.manifest.root, hashed.listing_fact()["sha256"], hashed.schema_fact().get("classes")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees, st.data())
def test_any_change_to_a_tree_changes_what_is_signed(layout, data):
    work = Path(tempfile.mkdtemp())
    try:
        before = signed(layout, work / "t")
        key = data.draw(st.sampled_from(sorted(layout)))
        change = data.draw(st.sampled_from(["byte", "name", "new class"]))
        changed = dict(layout)
        if change == "byte":
            blob = bytearray(changed[key])
            at = data.draw(st.integers(0, len(blob) - 1))
            blob[at] ^= data.draw(st.integers(1, 255))
            changed[key] = bytes(blob)
        elif change == "name":
            new = data.draw(names.filter(lambda n: (key[0], n) not in layout))
            changed[(key[0], new)] = changed.pop(key)
        else:
            changed[("zebra", "z")] = b"z"
        assert signed(changed, work / "t") != before, change
    finally:
        shutil.rmtree(work, ignore_errors=True)
