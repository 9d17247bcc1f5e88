"""A listing's entries: the written-out encoding equals prov's value encoding, and the one-lstat
entry of a local file equals check_link + file_entry."""

from __future__ import annotations

import os

import pytest

from provenance.encoding import encode_value
from provenance.errors import InputError
from provenance.sources.listing import Entry, check_link, file_entry, local_entry

ENTRIES = [
    Entry("a/b.png", "record", 2048),
    Entry("a/b.png", "record"),
    Entry("x", "ignored", 0, None, "not inside a class folder"),
    Entry("cat/é漢字.jpg", "record", (1 << 63) - 1, "../elsewhere/é.jpg"),
    Entry("p" * 300, "ignored", 1 << 40, "l" * 130, "r" * 20_000),  # multi-byte length prefixes
    Entry("", "record", -1),
    Entry("big", "record", 1 << 63),  # past int64: the generic encoder's 16-byte integer
]


@pytest.mark.parametrize("entry", ENTRIES)
def test_entry_bytes_are_the_value_encoding_of_its_five_fields(entry):
    assert entry.encoded() == encode_value([entry.path, entry.role, entry.size, entry.link, entry.reason])


def test_a_local_entry_is_check_link_and_file_entry(tmp_path):
    root = tmp_path / "tree"
    (root / "cat").mkdir(parents=True)
    (root / "cat" / "a.png").write_bytes(b"x" * 777)
    os.symlink("a.png", root / "cat" / "inside.png")
    os.symlink("missing.png", root / "cat" / "dangling.png")  # inside the tree, to nothing
    (tmp_path / "outside.png").write_bytes(b"y")
    os.symlink(tmp_path / "outside.png", root / "cat" / "leaves.png")
    real = os.path.realpath(root)
    for name in ("a.png", "inside.png", "dangling.png", "gone.png"):
        full = str(root / "cat" / name)
        check_link(str(root), real, full)
        assert local_entry(str(root), real, full, f"cat/{name}", "record") == file_entry(full, f"cat/{name}", "record")
    assert local_entry(str(root), real, str(root / "cat" / "a.png"), "cat/a.png", "record").size == 777
    with pytest.raises(InputError, match="symlink leaves the tree"):
        local_entry(str(root), real, str(root / "cat" / "leaves.png"), "cat/leaves.png", "record")
