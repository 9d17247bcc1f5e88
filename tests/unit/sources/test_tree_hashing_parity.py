"""The compiled batch (``fastsha.sha256_files``) refuses exactly what the reference loop refuses.

``tree_hashing.hash_files`` lets the C batch hash the small files that are as listed and leaves every other file
to the Python loop, the reference, which hashes it or names the error. So the C path is safe exactly when it
never hashes a file the reference would refuse or hash differently. Each test replays one hostile change for
real (links, a parent folder swapped, a file replaced, rewritten in place, hard-linked, a FIFO or device in its
place, a kernel file whose size lies, names with NUL, ``..`` or bytes that are not UTF-8) and runs hashing on
both paths: the compiled extension, and the pure-Python path ``PROV_NO_FASTSHA=1`` forces (``fastsha.forced``
in process; one test through the real ``prov`` CLI in a process with the variable set). Each asserts the same
digests or the same error on both, and, where the reference hashes, that the C batch did hash the file itself
(the parity is tested, not skipped by leaving every file to the loop).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_tree_hashing import mixed_tree, png

from provenance import fastsha
from provenance.errors import InputError
from provenance.sources.listing import Seen
from provenance.sources.tree_hashing import _IMAGE_MAGIC, SMALL_FILE, admit, hash_files
from provenance.sources.trees import list_tree, read_labels_csv

pytestmark = pytest.mark.skipif(not fastsha.available(), reason="the fastsha extension is not built")


def on_both_paths(root: Path | str, entries: list[tuple[str, str]], seen: list, images: bool = True) -> tuple:
    """``("digests", bytes)`` or ``("refused", message)``, the same on both paths (asserted)."""
    outcomes = {}
    for path in ("compiled", "python"):
        with fastsha.forced(path):
            try:
                outcomes[path] = ("digests", hash_files(str(root), entries, None, images, seen).digests)
            except InputError as exc:
                outcomes[path] = ("refused", str(exc))
    assert outcomes["compiled"] == outcomes["python"]
    return outcomes["python"]


def done_in_c(seen: list, images: bool = True) -> list[bool]:
    """Which files the C batch hashed itself (the rest it left to the reference loop)."""
    return [bool(flag) for flag in fastsha.sha256_files(list(seen), SMALL_FILE, _IMAGE_MAGIC if images else None)[1]]


def listed(tree: Path, reader: str = "imagefolder"):
    listing = list_tree(str(tree), reader=reader)
    return listing.records, listing.seen()


def sha(*paths: Path) -> bytes:
    return b"".join(hashlib.sha256(p.read_bytes()).digest() for p in paths)


def test_a_parent_folder_swapped_for_a_link_to_copies_outside_is_refused(tmp_path):
    tree = mixed_tree(tmp_path)
    entries, seen = listed(tree)
    shutil.copytree(tree / "c1", tmp_path / "outside-c1", symlinks=True)
    shutil.rmtree(tree / "c1")
    os.symlink(tmp_path / "outside-c1", tree / "c1")
    kind, message = on_both_paths(tree, entries, seen)
    assert kind == "refused" and "c1/" in message and "another file than the one it listed" in message
    in_c1 = [done for item, done in zip(seen, done_in_c(seen)) if "/c1/" in item.path]  # not the alias's c0 target
    assert len(in_c1) == 22 and not any(in_c1)


def test_a_parent_folder_moved_out_and_linked_back_still_holds_the_listed_files(tmp_path):
    """O_NOFOLLOW guards the last component only, on both paths; a moved folder's files are the same files
    (device and inode), whose bytes are what the listing admitted: hashed alike, by C for the small ones."""
    tree = mixed_tree(tmp_path)
    entries, seen = listed(tree)
    before = on_both_paths(tree, entries, seen)
    os.rename(tree / "c1", tmp_path / "moved-c1")
    os.symlink(tmp_path / "moved-c1", tree / "c1")
    assert on_both_paths(tree, entries, seen) == before
    small_pngs = [rel for rel, _ in entries if rel not in ("c1/big.png", "c0/t.png")]
    assert [rel for (rel, _), done in zip(entries, done_in_c(seen)) if done] == small_pngs


def test_a_folder_link_inside_the_tree_is_read_through_on_both_paths(tmp_path):
    tree = mixed_tree(tmp_path)
    os.symlink("c0", tree / "c2")
    entries, seen = listed(tree)
    kind, digests = on_both_paths(tree, entries, seen)
    assert kind == "digests" and digests == sha(*(tree / rel for rel, _ in entries))
    assert all(done for (rel, _), done in zip(entries, done_in_c(seen)) if rel.startswith("c2/") and rel != "c2/t.png")


def test_a_file_rewritten_in_place_with_its_size_and_inode_gives_its_new_bytes_on_both_paths(tmp_path):
    """Neither path checks the time of last change: the listing names a file (device, inode, size), hashing signs
    the bytes it reads from that file; a new time alone changes nothing either of them relies on."""
    tree = mixed_tree(tmp_path)
    entries, seen = listed(tree)
    target = tree / "c1" / "05.png"
    with open(target, "r+b") as fh:
        fh.seek(len(png(5)) - 13)
        fh.write(b"\0" * 4)  # the IEND chunk's length field: still a PNG's magic bytes, other bytes
    os.utime(target, (1, 1))
    kind, digests = on_both_paths(tree, entries, seen)
    assert kind == "digests" and digests == sha(*(tree / rel for rel, _ in entries))
    assert done_in_c(seen)[[rel for rel, _ in entries].index("c1/05.png")]


def test_a_hard_link_listed_in_the_tree_is_its_file_on_both_paths_and_one_put_after_is_refused(tmp_path):
    """The reference does not count links (a hard link is the file itself, and the loader reads it as such);
    one put in a listed file's place after the listing is another inode, refused on both paths."""
    tree = mixed_tree(tmp_path)
    (tmp_path / "outside.png").write_bytes(png(200))
    os.link(tmp_path / "outside.png", tree / "c0" / "hard.png")
    entries, seen = listed(tree)
    kind, digests = on_both_paths(tree, entries, seen)
    assert kind == "digests" and digests == sha(*(tree / rel for rel, _ in entries))
    assert done_in_c(seen)[[rel for rel, _ in entries].index("c0/hard.png")]
    (tmp_path / "outside-05.png").write_bytes(png(6))  # the listed file's size: only the inode tells them apart
    assert len(png(6)) == (tree / "c1" / "05.png").stat().st_size
    os.link(tmp_path / "outside-05.png", tree / "c1" / "tmp")
    os.replace(tree / "c1" / "tmp", tree / "c1" / "05.png")
    kind, message = on_both_paths(tree, entries, seen)
    assert kind == "refused" and message.endswith("c1/05.png: changed while the commit read the tree (another "
                                                  "file than the one it listed); nothing was signed, commit again")  # fmt: skip


def special_file(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    else:  # a character device: /dev/null's numbers
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))


@pytest.mark.parametrize(
    "kind",
    ["fifo", pytest.param("device", marks=pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root"))],
)
def test_a_fifo_or_device_put_in_a_listed_files_place_is_refused_without_blocking(tmp_path, kind):
    tree = mixed_tree(tmp_path)
    entries, seen = listed(tree)
    (tree / "c1" / "05.png").unlink()
    special_file(tree / "c1" / "05.png", kind)
    kind_, message = on_both_paths(tree, entries, seen)
    assert kind_ == "refused" and message.endswith(
        "c1/05.png: not a regular file (a FIFO, socket or device cannot be a record)"
    )


@pytest.mark.parametrize(
    "root, name, more", [("/proc", "version", True), ("/sys/kernel/mm/transparent_hugepage", "enabled", False)]
)
def test_a_file_that_gives_more_or_fewer_bytes_than_its_size_is_refused(root, name, more):
    """Kernel files are regular files whose size lies (``/proc``: 0, gives more; ``/sys``: 4096, gives fewer):
    exactly what a file that grows or is cut while it is read shows the reader, replayed without a race."""
    full = os.path.join(root, name)
    if not os.path.exists(full):
        pytest.skip(f"{full} is not on this machine")
    seen = [admit(root, os.path.realpath(root), full)]
    kind, got = on_both_paths(root, [(name, "x")], seen, images=False)
    found = re.fullmatch(
        re.escape(full) + r": changed while the commit read the tree \((\d+) bytes read, listed with (\d+)\); .*", got
    )
    assert kind == "refused" and found and int(found[2]) == seen[0].size
    assert (int(found[1]) > seen[0].size) == more


def test_a_name_with_a_nul_is_refused_on_both_paths_as_one_line(tmp_path):
    tree = mixed_tree(tmp_path)
    st = (tree / "c0" / "00.png").stat()
    name = "c0/00.png\0.png"
    seen = [Seen(str(tree / name), st.st_dev, st.st_ino, st.st_size)]
    kind, message = on_both_paths(tree, [(name, "c0")], seen)
    assert kind == "refused" and message.endswith("00.png\\x00.png': cannot read file (embedded null byte)")


def test_dot_dot_parts_inside_the_tree_name_the_same_file_on_both_paths(tmp_path):
    tree = mixed_tree(tmp_path)
    entries = [("c1/../c0/00.png", "c0"), ("c0/./02.png", "c0"), ("c0//04.png", "c0")]
    seen = [admit(str(tree), os.path.realpath(tree), str(tree / rel)) for rel, _ in entries]
    kind, digests = on_both_paths(tree, entries, seen)
    assert kind == "digests" and digests == sha(*(tree / "c0" / n for n in ("00.png", "02.png", "04.png")))
    assert done_in_c(seen) == [True] * 3


@pytest.mark.parametrize("rel", ["../outside.png", "c0/../../outside.png", "/etc/hostname", "//etc/hostname"])
def test_a_name_that_climbs_out_or_is_absolute_never_reaches_hashing(tmp_path, rel):
    """The labels CSV is where a name is given: it refuses the name before any file is listed or hashed."""
    tree = mixed_tree(tmp_path)
    (tmp_path / "outside.png").write_bytes(png(1))
    (tmp_path / "labels.csv").write_text(f"path,label\n{rel},x\n")
    with pytest.raises(InputError, match=r"labels\.csv: row 0 path .* climbs out of"):
        read_labels_csv(str(tree), str(tmp_path / "labels.csv"))


def test_a_name_that_is_not_utf8_is_opened_alike_and_refused_alike(tmp_path):
    """The C batch opens the name as ``os.open`` does (the file system encoding, undecodable bytes as they were);
    a manifest's locator is UTF-8, so both paths then refuse the file by name (exit 2), never a crash."""
    tree = mixed_tree(tmp_path)
    with open(os.fsencode(tree / "c0") + b"/\xff\xfe-latin1-\xe9.png", "wb") as fh:
        fh.write(png(77))
    entries, seen = listed(tree)
    kind, message = on_both_paths(tree, entries, seen)
    assert kind == "refused" and message.endswith(
        "c0/\\xff\\xfe-latin1-\\xe9.png: file name is not UTF-8; rename the file (a manifest names it)"
    )
    assert done_in_c(seen)[[i for i, (rel, _) in enumerate(entries) if "latin1" in rel][0]]


def prov_in_a_process(folder: Path, *args: str, python_path: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    if python_path:
        env["PROV_NO_FASTSHA"] = "1"
    prov = Path(sys.executable).with_name("prov")
    return subprocess.run([str(prov), *args], cwd=folder, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("refused", [False, True])
def test_the_prov_cli_commits_the_same_root_or_refuses_alike_with_prov_no_fastsha(tmp_path, refused):
    """``prov commit`` of an image tree (links inside, a hard link, a non-ASCII name; ``refused``: a FIFO too) in
    a fresh process with the extension and with ``PROV_NO_FASTSHA=1``: the same Merkle root, or the same exit 2
    and one-line message."""
    tree = mixed_tree(tmp_path / "made")
    os.symlink("c0", tree / "c2")
    results = []
    for python_path in (False, True):
        folder = tmp_path / ("python" if python_path else "compiled")
        folder.mkdir()
        shutil.copytree(tree, folder / "data", symlinks=True)
        os.link(folder / "data" / "c0" / "02.png", folder / "data" / "c1" / "hard.png")
        if refused:
            os.mkfifo(folder / "data" / "c1" / "pipe.png")
        for args in (("init",), ("keys", "generate", "k")):
            assert prov_in_a_process(folder, *args, python_path=python_path).returncode == 0
        done = prov_in_a_process(folder, "commit", "data", "--tag", "v1", "--key", "k.key", "--json",
                                 python_path=python_path)  # fmt: skip
        root = json.loads(done.stdout)["merkle_root"] if done.returncode == 0 else None
        results.append((done.returncode, root, done.stderr.strip().replace(str(folder), "FOLDER")))
    assert results[0] == results[1]
    if refused:
        assert results[0][0] == 2 and results[0][2].endswith("c1/pipe.png: not a regular file (a FIFO, socket "
                                                            "or device cannot be a record)")  # fmt: skip
    else:
        assert results[0][0] == 0 and results[0][1] is not None
