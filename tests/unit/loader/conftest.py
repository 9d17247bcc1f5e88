"""Fixtures shared by the loader's tests."""

from __future__ import annotations

import pytest

import provenance as prov
from provenance.loader import reading


@pytest.fixture
def tree(workdir, store, keypair, monkeypatch):
    """t2: an ImageFolder tree of 12 real PNGs (cat/0-5.png, dog/0-5.png), read 4 files a batch."""
    from PIL import Image

    for label in ("cat", "dog"):
        (workdir / "tree" / label).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (4, 4), (i * 40 + (0 if label == "cat" else 17)) % 256).save(
                workdir / "tree" / label / f"{i}.png"
            )
    prov.commit(store, "tree", tag="t2", key=keypair.private_path)
    monkeypatch.setattr(reading, "TREE_BATCH_FILES", 4)
    return workdir / "tree"
