"""Newcomer review 35, finding 6: a dataset root holding ``train/`` and ``test/`` folders committed with the labels
``train`` and ``test`` and no word, as torchvision's ImageFolder reads it; the commit now notes it (stderr) and says
the two ways on. Real PNG files, real keys, the real CLI."""

from __future__ import annotations

import numpy as np
from PIL import Image

from support import commit_signed


def _tree(root, splits: tuple[str, ...]) -> None:
    rng = np.random.default_rng(35)
    for split in splits:
        for cls in ("flower", "temple"):
            folder = root / split / cls if split else root / cls
            folder.mkdir(parents=True)
            for i in range(3):
                Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")


def test_split_folders_at_the_top_are_noted(prov, keypair, workdir):
    _tree(workdir / "data", ("train", "test"))
    assert prov("init").exit_code == 0
    r = prov("commit", "data", "--tag", "s1", "--key", keypair.private_path, "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    assert "data: its class folders are named like dataset splits (test, train)" in r.stderr, r.stderr
    assert "prov commit data/train" in r.stderr and "--tree-reader hf-imagefolder" in r.stderr, r.stderr
    commit_signed(prov, keypair, "s2", "data/train")  # the way the note gives: two classes, no note


def test_control_class_folders_get_no_note(prov, keypair, workdir):
    _tree(workdir / "data", ("",))
    assert prov("init").exit_code == 0
    r = prov("commit", "data", "--tag", "c1", "--key", keypair.private_path, "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    assert "dataset splits" not in r.stderr, r.stderr
