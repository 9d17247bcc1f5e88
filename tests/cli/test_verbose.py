"""Errors are one line on stderr; `prov --verbose` adds the error's full diagnostics under it."""

from __future__ import annotations

import numpy as np
from PIL import Image


def test_verbose_names_every_offending_record(prov, workdir, keypair):
    for i in range(40):
        folder = workdir / "tree" / str(i % 2)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (np.random.default_rng(i).random((8, 8, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    assert prov("init").exit_code == 0
    key = str(keypair.private_path)
    assert prov("commit", "tree", "--tag", "v1", "--key", key, "--featurizer", "image").exit_code == 0
    for i in range(12):  # a delivery of files that are not images
        (workdir / "tree" / "1" / f"bad{i}.png").write_text(f"not an image {i}")
    # ImageFolder's rules refuse them at commit; read as plain files they reach the detectors
    assert (
        prov(
            "commit",
            "tree",
            "--tag",
            "v2",
            "--key",
            key,
            "--signer",
            str(keypair.public_path),
            "--tree-reader",
            "files",
        ).exit_code
        == 0
    )

    short = prov("diff", "v1", "v2", "--detect")
    assert short.exit_code == 2
    lines = short.stderr.splitlines()
    assert len(lines) == 1 and "cannot decode image(s) (UnidentifiedImageError)" in lines[0]
    assert "(and 2 more)" in lines[0] and "1/bad" in lines[0]  # named by path and digest

    full = prov("--verbose", "diff", "v1", "v2", "--detect")
    assert full.exit_code == 2
    lines = full.stderr.splitlines()
    assert lines[0] == short.stderr.splitlines()[0]
    assert len(lines) == 2 and lines[1].startswith("  all offending records:") and lines[1].count("/bad") == 12
    again = prov("diff", "v1", "v2", "--detect")  # the flag of one call does not stick to the next
    assert again.stderr == short.stderr
