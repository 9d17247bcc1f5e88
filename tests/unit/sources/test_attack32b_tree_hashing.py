"""Attack review 32b on perf32's compiled tree hashing (``fastsha.sha256_files``): the edges of its memory and its
descriptors that the parity tests (test_tree_hashing_parity.py) do not reach. Held: sizes at the read buffer's edge,
names at and past the kernel's limits, listed fields no C type holds, and a process out of file descriptors, each
hashed as ``sha256sum`` hashes it or left to the reference loop, with no descriptor left open."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provenance import fastsha
from provenance.sources.listing import Seen
from provenance.sources.tree_hashing import SMALL_FILE

pytestmark = pytest.mark.skipif(not fastsha.available(), reason="the fastsha extension is not built")


def seen_of(path: Path) -> Seen:
    st = os.stat(path)
    return Seen(str(path), st.st_dev, st.st_ino, st.st_size)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_sizes_at_the_buffer_edge_are_hashed_whole_or_left(tmp_path):
    files = {"empty": b"", "one": b"x", "limit": os.urandom(SMALL_FILE), "past": os.urandom(SMALL_FILE + 1)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as fh:
        fh.truncate(SMALL_FILE)  # a hole the size of the buffer: its bytes are zeros, as read gives them
    seen = [seen_of(tmp_path / name) for name in files] + [seen_of(sparse)]
    digests, done = fastsha.sha256_files(seen, SMALL_FILE, None)
    assert list(done) == [1, 1, 1, 0, 1]
    want = [hashlib.sha256(d).digest() for d in files.values()] + [hashlib.sha256(bytes(SMALL_FILE)).digest()]
    want[3] = bytes(32)  # past the limit: left to the reference loop, zeros in its place
    assert digests == b"".join(want)


def test_names_at_and_past_the_kernels_limits_are_hashed_or_left(tmp_path):
    longest = tmp_path / ("n" * 255)  # NAME_MAX
    longest.write_bytes(b"longest name")
    deep = tmp_path
    for _ in range(17):  # a path past PATH_MAX (4096 bytes): open gives ENAMETOOLONG
        deep = deep / ("d" * 250)
    seen = [seen_of(longest), Seen(str(deep / "f"), 1, 1, 1), Seen(str(tmp_path / ("n" * 256)), 1, 1, 1)]
    digests, done = fastsha.sha256_files(seen, SMALL_FILE, None)
    assert list(done) == [1, 0, 0] and digests[:32] == hashlib.sha256(b"longest name").digest()


@pytest.mark.parametrize(
    "item",
    [
        None,
        ("only a path",),
        Seen("f", -1, 1, 1),  # a device no dev_t holds
        Seen("f", 1 << 70, 1, 1),
        Seen("f", 1, 1, -1),  # a negative size
        Seen("f", 1, 1, 1 << 70),
        Seen("f", 1, 1, "1"),  # not an int
        Seen(b"f", 1, 1, 1),  # not a str
        Seen("\udcff", 1, 1, 1),  # a lone surrogate the file system encoding takes back to a byte
        Seen("f\0g", 1, 1, 1),
    ],
)
def test_listed_fields_no_c_type_holds_are_left_to_the_reference_loop(tmp_path, item):
    (tmp_path / "f").write_bytes(b"real")
    before = open_descriptors()
    digests, done = fastsha.sha256_files([item, seen_of(tmp_path / "f")], SMALL_FILE, None)
    assert list(done) == [0, 1] and digests == bytes(32) + hashlib.sha256(b"real").digest()
    assert open_descriptors() == before


def test_many_files_and_failures_leave_no_descriptor_open(tmp_path):
    files = []
    for i in range(600):
        path = tmp_path / f"{i}.bin"
        path.write_bytes(i.to_bytes(2, "big") * 5)
        files.append(seen_of(path))
    os.mkfifo(tmp_path / "fifo")
    changed = tmp_path / "changed"
    changed.write_bytes(b"before")
    listed = seen_of(changed)
    changed.write_bytes(b"after it was listed")
    hostile = [seen_of(tmp_path / "fifo"), listed, Seen(str(tmp_path / "gone"), 1, 1, 1), Seen(str(tmp_path), 1, 1, 1)]
    before = open_descriptors()
    for _ in range(3):
        digests, done = fastsha.sha256_files(hostile + files, SMALL_FILE, None)
    assert open_descriptors() == before
    assert list(done) == [0] * len(hostile) + [1] * len(files)


def test_a_process_out_of_descriptors_leaves_every_file_to_the_reference_loop(tmp_path):
    """With every descriptor under RLIMIT_NOFILE taken, every open fails: each file is left (flag 0, zeros), nothing
    raises; given a few descriptors back, the same call hashes them all (a process, so the limit stays there)."""
    for i in range(50):
        (tmp_path / f"{i}.bin").write_bytes(bytes([i]) * 100)
    script = textwrap.dedent(
        f"""
        import hashlib, os, resource
        from pathlib import Path
        from provenance import fastsha
        from provenance.sources.listing import Seen
        paths = sorted(Path({str(tmp_path)!r}).glob("*.bin"))
        seen = [Seen(str(p), os.stat(p).st_dev, os.stat(p).st_ino, os.stat(p).st_size) for p in paths]
        want = b"".join(hashlib.sha256(p.read_bytes()).digest() for p in paths)
        assert fastsha.available()  # loaded now: a first import out of descriptors would leave every file to Python
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        held = []
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:  # EMFILE: not one descriptor left
            pass
        digests, done = fastsha.sha256_files(seen, 1 << 20, None)
        assert done == bytes(len(seen)) and digests == bytes(32 * len(seen)), "hashed with no descriptor left"
        for fd in held[-3:]:
            os.close(fd)
        digests, done = fastsha.sha256_files(seen, 1 << 20, None)
        assert done == b"\\x01" * len(seen) and digests == want, "a descriptor leaked while out of them"
        print("ok")
        """
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
