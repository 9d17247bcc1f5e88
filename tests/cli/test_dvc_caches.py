"""A DVC project whose workspace links into DVC's cache (``cache.type = symlink`` or ``hardlink``), built with
the ``dvc`` command: its workspace and its revisions commit, verify and load like any tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from provenance.api import load
from provenance.profiles.stage import load_profile
from support import DVC, run


def _repo(folder: Path, cache_type: str) -> Path:
    """A git + DVC repository with an ImageFolder tree ``data/tree`` (2 classes x 3 PNGs) added with
    ``dvc add`` under ``cache.type``, and committed to git."""
    run("git", "init", "-q", cwd=folder)
    run("git", "config", "user.email", "t@example.com", cwd=folder)
    run("git", "config", "user.name", "t", cwd=folder)
    run(DVC, "init", "-q", cwd=folder)
    run(DVC, "config", "core.analytics", "false", cwd=folder)
    run(DVC, "config", "cache.type", cache_type, cwd=folder)
    for label in ("cat", "dog"):
        (folder / "data" / "tree" / label).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (4, 4), i * 60 + (9 if label == "dog" else 0)).save(
                folder / "data" / "tree" / label / f"{i}.png"
            )
    run(DVC, "add", "-q", "data/tree", cwd=folder)
    run("git", "add", "-A", cwd=folder)
    run("git", "commit", "-qm", "data", cwd=folder)
    return folder


@pytest.mark.parametrize("cache_type", ["symlink", "hardlink"])
def test_a_workspace_linked_into_the_dvc_cache_commits_verifies_and_loads(
    prov, workdir, store, keypair, pins, cache_type
):
    _repo(workdir, cache_type)
    first = workdir / "data" / "tree" / "cat" / "0.png"
    assert first.is_symlink() == (cache_type == "symlink") and first.stat().st_nlink == (
        2 if cache_type == "hardlink" else 1
    )
    r = prov("commit", "data/tree", "--tag", "v1", "--key", keypair.private_path, "--json")
    assert r.exit_code == 0, r.output
    r = prov(
        "commit",
        "data/tree",
        "--rev",
        "HEAD",
        "--tag",
        "v2",
        "--key",
        keypair.private_path,
        "--signer",
        keypair.public_path,
        "--json",
    )
    assert r.exit_code == 0, r.output
    roots = {tag: store.version(tag)["merkle_root"] for tag in ("v1", "v2")}
    assert roots["v1"] == roots["v2"]
    assert load_profile(store, "v2").n_records == 6  # a --rev version gets its reference profile like any other
    assert prov("verify", "v1", "--signer", keypair.public_path).exit_code == 0
    loaded = load("v1", store=store, pins=pins)
    assert sorted(r.locator for r in loaded) == [f"{c}/{i}.png" for c in ("cat", "dog") for i in range(3)]


def test_a_link_out_of_the_tree_that_is_not_a_dvc_object_is_still_refused(prov, workdir, store, keypair):
    _repo(workdir, "symlink")
    (workdir / "secret.png").write_bytes((workdir / "data" / "tree" / "cat" / "0.png").read_bytes())
    os.symlink(workdir / "secret.png", workdir / "data" / "tree" / "cat" / "9.png")
    r = prov("commit", "data/tree", "--tag", "v1", "--key", keypair.private_path)
    assert r.exit_code == 2 and "cat/9.png: symlink leaves the tree" in r.stderr
