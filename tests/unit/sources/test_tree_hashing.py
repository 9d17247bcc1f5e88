"""Hashing a tree signs exactly the files its listing admitted (attack review 3, finding 9).

The review raced a commit: a data-folder writer flipped ``c1/zz.png`` between a regular file
and a symlink to a file outside the tree, and the listing (``lstat``) admitted the regular
file while hashing (``open`` following links) read the outside file, whose digest was then
signed. The tests replay the swap deterministically: the listing is made, the file is
swapped on disk, and the hashing stage is given the listing made before the swap, on each
executor the commit path uses (inline for a small tree, threads for large files, worker
processes for an image tree).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from provenance import fastsha, merkle
from provenance.errors import InputError
from provenance.executor import InlineExecutor, LocalExecutor
from provenance.sources import build
from provenance.sources.build import build_manifest, hash_listed_tree
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
from provenance.sources.tree_hashing import _IMAGE_MAGIC, SMALL_FILE, hash_files
from provenance.sources.trees import list_tree

SECRET = b"SECRET-OUTSIDE-THE-TREE"
FILES = TableOptions(tree_reader="files")


def make_tree(tmp_path: Path, size: int = 64) -> tuple[Path, Path]:
    """``tree/c0``, ``tree/c1`` of ``size``-byte files (``c1/zz.png`` among them) and ``outside/secret.png``."""
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    for folder in (tree / "c0", tree / "c1", outside):
        folder.mkdir(parents=True)
    for i in range(6):
        (tree / f"c{i % 2}" / f"f{i}.png").write_bytes(bytes([i]) * size)
    (tree / "c1" / "zz.png").write_bytes(b"d" * size)
    (outside / "secret.png").write_bytes(SECRET)
    return tree, outside


def swap_for_link(path: Path, target: Path) -> None:
    """Put a symlink to ``target`` in ``path``'s place in one rename, as the attacker did (``mv -T``)."""
    link = path.with_name(path.name + ".tmp")
    os.symlink(target, link)
    os.replace(link, path)


def png(value: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (4, 4), value).save(out, format="PNG")
    return out.getvalue()


def commit_hash(tree: Path, listing, executor, options: TableOptions = FILES):
    spec = DatasetSpec(str(tree), kind="tree", options=options)
    return hash_listed_tree(spec, spec, None, executor, None, None, listing)


def test_a_file_swapped_for_a_link_to_outside_after_the_listing_is_refused_not_signed(tmp_path):
    tree, outside = make_tree(tmp_path)
    listing = list_tree(str(tree), reader="files")
    swap_for_link(tree / "c1" / "zz.png", outside / "secret.png")
    with pytest.raises(InputError, match=r"c1/zz\.png: changed while the commit read the tree \(now a symbolic link"):
        commit_hash(tree, listing, InlineExecutor())


def test_on_the_threaded_large_file_path_too(tmp_path):
    tree, outside = make_tree(tmp_path, size=(1 << 20) + 3)  # >= 1 MiB a file: hashed on threads
    listing = list_tree(str(tree), reader="files")
    swap_for_link(tree / "c1" / "zz.png", outside / "secret.png")
    with pytest.raises(InputError, match=r"c1/zz\.png: changed while the commit read the tree"):
        commit_hash(tree, listing, LocalExecutor(2))


def test_in_worker_processes_too(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "SMALL_TREE_BYTES", 0)  # a tree this small is hashed in this process
    tree = tmp_path / "tree"
    for i in range(130):  # more than one task of 64 files: more than one process
        folder = tree / f"c{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:03d}.png").write_bytes(png(i))
    (tmp_path / "secret.png").write_bytes(png(255))  # an image: only the swap can refuse it
    listing = list_tree(str(tree))  # imagefolder: images, hashed in processes when the tree is large
    swap_for_link(tree / "c1" / "129.png", tmp_path / "secret.png")
    with pytest.raises(InputError, match=r"c1/129\.png: changed while the commit read the tree"):
        commit_hash(tree, listing, LocalExecutor(2), TableOptions())


def test_another_file_renamed_into_place_is_refused(tmp_path):
    tree, outside = make_tree(tmp_path)
    listing = list_tree(str(tree), reader="files")
    (tree / "c1" / "new").write_bytes(b"d" * 64)  # same size, another inode
    os.replace(tree / "c1" / "new", tree / "c1" / "zz.png")
    with pytest.raises(InputError, match=r"zz\.png: changed .*another file than the one it listed"):
        commit_hash(tree, listing, InlineExecutor())


def test_a_class_folder_swapped_for_a_link_to_outside_is_refused(tmp_path):
    tree, outside = make_tree(tmp_path)
    listing = list_tree(str(tree), reader="files")
    for name in os.listdir(tree / "c1"):  # the same names outside, the folder swapped for a link to them
        (outside / name).write_bytes(SECRET + bytes(64 - len(SECRET)))
    os.rename(tree / "c1", tmp_path / "c1-moved")
    os.symlink(outside, tree / "c1")
    with pytest.raises(InputError, match=r"changed while the commit read the tree \(another file"):
        commit_hash(tree, listing, InlineExecutor())


@pytest.mark.parametrize("size", [64, (5 << 20) + 3])  # read whole; read in chunks into a reused buffer
def test_a_file_written_to_after_the_listing_is_refused(tmp_path, size):
    tree, _ = make_tree(tmp_path, size)
    listing = list_tree(str(tree), reader="files")
    with open(tree / "c1" / "zz.png", "ab") as fh:
        fh.write(b"more")
    with pytest.raises(InputError, match=rf"zz\.png: changed .*{size + 4} bytes, listed with {size}"):
        commit_hash(tree, listing, InlineExecutor())


@pytest.mark.parametrize("size", [64, (1 << 20) + 3, (3 << 20) - 5])
def test_an_honest_tree_with_a_link_inside_signs_the_same_bytes_as_sha256sum(tmp_path, size):
    tree, _ = make_tree(tmp_path, size)
    os.symlink("../c0/f0.png", tree / "c1" / "alias.png")  # a link inside the tree is a record (its target's bytes)
    built = build_manifest(DatasetSpec(str(tree), options=FILES), executor=LocalExecutor(2))
    files = sorted(p for p in tree.rglob("*.png"))
    rels = [p.relative_to(tree).as_posix() for p in files]
    digests = [hashlib.sha256(p.read_bytes()).digest() for p in files]
    labels = [rel.split("/")[0] for rel in rels]
    order = sorted(range(len(files)), key=lambda i: (digests[i], labels[i]))
    leaves = merkle.leaf_hashes([digests[i] for i in order], [labels[i] for i in order], [None] * len(order))
    assert built.manifest.root == merkle.merkle_root(leaves)
    assert sorted(built.manifest.table.column("locator").to_pylist()) == rels


def test_without_a_listing_a_link_leaving_the_tree_is_still_refused(tmp_path):
    tree, outside = make_tree(tmp_path)
    swap_for_link(tree / "c1" / "zz.png", outside / "secret.png")
    with pytest.raises(InputError, match=r"zz\.png: symlink leaves the tree"):
        hash_files(str(tree), [("c1/zz.png", "c1")])


@pytest.mark.parametrize("side", [20, 700])  # 1,244 bytes (read whole), 1.47 MB (past SMALL_FILE: read in parts)
def test_an_image_pillow_identifies_by_content_is_hashed_as_sha256sum_and_junk_is_refused(tmp_path, side):
    # TGA has no magic bytes: only Pillow, reading the file's header, can tell it is an image
    tree = tmp_path / "tree"
    (tree / "c0").mkdir(parents=True)
    out = io.BytesIO()
    Image.new("RGB", (side, side), (10, 20, 30)).save(out, format="TGA", compression=None)
    (tree / "c0" / "a.png").write_bytes(out.getvalue())
    part = hash_files(str(tree), [("c0/a.png", "c0")], images=True)
    assert part.digests == hashlib.sha256(out.getvalue()).digest()
    (tree / "c0" / "a.png").write_bytes(b"\x00" * len(out.getvalue()))  # same size, not an image
    with pytest.raises(InputError, match="Pillow cannot open it"):
        hash_files(str(tree), [("c0/a.png", "c0")], images=True)


def test_a_small_image_tree_is_hashed_in_this_process_as_the_pool_hashes_it(tmp_path, monkeypatch):
    """Under ``SMALL_TREE_BYTES`` an image tree, like a tree of plain files, is hashed in the committing
    process (a pool's start cost more than hashing it: ~0.2 s of CPU of a 20,000-PNG commit), and the
    manifest is the pool's, byte for byte; a file that is not an image is refused on both paths."""
    tree = tmp_path / "tree"
    for i in range(150):
        folder = tree / f"c{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:03d}.png").write_bytes(png(i))
    spec = DatasetSpec(str(tree), kind="tree")
    pooled = []
    real_imap = LocalExecutor.imap

    def counting_imap(self, fn, items, window=None):
        pooled.append(self.workers)
        return real_imap(self, fn, items, window)

    monkeypatch.setattr(LocalExecutor, "imap", counting_imap)
    here = build_manifest(spec, executor=LocalExecutor(2))
    assert pooled == [1]  # the inline executor (a LocalExecutor of one worker): no pool
    monkeypatch.setattr(build, "SMALL_TREE_BYTES", 0)
    in_pool = build_manifest(spec, executor=LocalExecutor(2))
    assert pooled == [1, 2]
    assert here.manifest.root == in_pool.manifest.root and here.manifest.to_bytes() == in_pool.manifest.to_bytes()
    (tree / "c0" / "bad.png").write_bytes(b"not an image at all")
    for small in (64 << 20, 0):
        monkeypatch.setattr(build, "SMALL_TREE_BYTES", small)
        with pytest.raises(InputError, match=r"c0/bad\.png: the loader would read this file as an image"):
            build_manifest(spec, executor=LocalExecutor(2))


SHA_PATHS = [
    "python",
    pytest.param(
        "compiled", marks=pytest.mark.skipif(not fastsha.available(), reason="the fastsha extension is not built")
    ),
]


def mixed_tree(tmp_path: Path) -> Path:
    """Files each of ``sha256_files``'s ways: PNGs (hashed in C), an image with no magic bytes (TGA: Pillow
    decides), an empty file, a file past ``SMALL_FILE``, a link inside the tree, a name that is no ASCII."""
    tree = tmp_path / "tree"
    for folder in ("c0", "c1"):
        (tree / folder).mkdir(parents=True)
    for i in range(40):
        (tree / f"c{i % 2}" / f"{i:02d}.png").write_bytes(png(i))
    tga = io.BytesIO()
    Image.new("RGB", (5, 5), (1, 2, 3)).save(tga, format="TGA", compression=None)
    (tree / "c0" / "t.png").write_bytes(tga.getvalue())
    (tree / "c1" / "big.png").write_bytes(png(7) + bytes(SMALL_FILE))
    (tree / "c1" / "é-ü.png").write_bytes(png(9))
    os.symlink("../c0/00.png", tree / "c1" / "alias.png")
    return tree


@pytest.mark.parametrize("images", [True, False])
def test_the_compiled_batch_and_the_reference_loop_sign_the_same_digests(tmp_path, images):
    tree = mixed_tree(tmp_path)
    (tree / "c0" / "empty.png").write_bytes(b"")  # no image: only a tree of plain files has it
    if images:
        (tree / "c0" / "empty.png").unlink()
    listing = list_tree(str(tree), reader="imagefolder" if images else "files")
    runs = {}
    for path in ("python", "compiled") if fastsha.available() else ("python",):
        with fastsha.forced(path):
            runs[path] = hash_files(str(tree), listing.records, None, images, listing.seen()).digests
    files = [tree / rel for rel, _ in listing.records]
    assert runs["python"] == b"".join(hashlib.sha256(p.read_bytes()).digest() for p in files)
    assert len(set(runs.values())) == 1
    if fastsha.available():  # the C batch took the small files (a link's resolved target too), the loop the rest
        hashed, done = fastsha.sha256_files(listing.seen(), SMALL_FILE, _IMAGE_MAGIC if images else None)
        left = {rel for (rel, _), flag in zip(listing.records, done) if not flag}
        assert left == {"c1/big.png"} | ({"c0/t.png"} if images else set())
        assert all(hashed[32 * i : 32 * i + 32] == bytes(32) for i, flag in enumerate(done) if not flag)


@pytest.mark.parametrize("sha_path", SHA_PATHS)
@pytest.mark.parametrize(
    "change, message",
    [
        ("link", r"c1/05\.png: changed while the commit read the tree \(now a symbolic link"),
        ("replaced", r"c1/05\.png: changed .*another file than the one it listed"),
        ("grown", r"c1/05\.png: changed .*bytes, listed with"),
        ("junk", r"c1/05\.png: the loader would read this file as an image, but Pillow cannot open it"),
        ("folder", r"c1/05\.png: is a folder, not a file"),
        ("gone", r"c1/05\.png: cannot read file \(No such file or directory\)"),
    ],
)
def test_each_change_after_the_listing_is_refused_with_the_same_message_on_both_paths(
    tmp_path, sha_path, change, message
):
    tree = mixed_tree(tmp_path)
    listing = list_tree(str(tree))
    target = tree / "c1" / "05.png"
    if change == "link":
        swap_for_link(target, tree / "c0" / "00.png")
    elif change == "replaced":
        (tree / "c1" / "new").write_bytes(target.read_bytes())
        os.replace(tree / "c1" / "new", target)
    elif change == "grown":
        with open(target, "ab") as fh:
            fh.write(b"more")
    elif change == "junk":  # same size and inode, no longer an image
        target.write_bytes(b"\0" * target.stat().st_size)
    elif change == "folder":
        target.unlink()
        target.mkdir()
    else:
        target.unlink()
    with fastsha.forced(sha_path), pytest.raises(InputError, match=message):
        hash_files(str(tree), listing.records, None, True, listing.seen())


def test_the_batch_refuses_a_magic_it_cannot_compare_on_both_paths():
    for path in ("python", "compiled") if fastsha.available() else ("python",):
        with fastsha.forced(path), pytest.raises(ValueError, match="at most 16"):
            fastsha.sha256_files([None], SMALL_FILE, (b"x" * 17,))
