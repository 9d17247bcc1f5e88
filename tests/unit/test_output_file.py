"""The one writer of requested output files: regular files and new paths only, symlinks written through."""

from __future__ import annotations

import os
import stat

import pytest

from provenance.errors import InputError
from provenance.output_file import check_output, write_output


@pytest.fixture
def char_device(tmp_path):
    """A real character device node (a copy of /dev/null's numbers) inside the test's folder."""
    path = tmp_path / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    return path


def test_a_new_path_is_created(tmp_path):
    write_output(tmp_path / "report.txt", "hello\n")
    assert (tmp_path / "report.txt").read_text() == "hello\n"
    assert stat.S_IMODE((tmp_path / "report.txt").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]  # no temporary file left


def test_a_regular_file_is_replaced_whole_keeping_its_mode(tmp_path):
    target = tmp_path / "report.txt"
    target.write_text("old and longer\n")
    target.chmod(0o600)
    write_output(target, b"new\n")
    assert target.read_bytes() == b"new\n" and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "report.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_output(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(tmp_path / "real" / "fresh.txt")
    write_output(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "real" / "fresh.txt").read_text() == "made"


def test_a_device_is_never_replaced(char_device):
    with pytest.raises(InputError, match=r"is a character device; prov writes only to a regular file or a new path"):
        check_output(char_device)
    with pytest.raises(InputError, match="character device"):
        write_output(char_device, "x")
    assert stat.S_ISCHR(char_device.lstat().st_mode)


def test_a_symlink_to_a_device_is_refused(tmp_path, char_device):
    link = tmp_path / "out.txt"
    link.symlink_to(char_device)
    with pytest.raises(InputError, match=r"out.txt \(-> .*null\): is a character device"):
        write_output(link, "x")
    assert stat.S_ISCHR(char_device.lstat().st_mode) and link.is_symlink()


def test_a_fifo_and_a_folder_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"is a FIFO \(named pipe\)"):
        write_output(fifo, "x")  # opening a FIFO to write would block until a reader came
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    with pytest.raises(InputError, match="is a folder"):
        write_output(tmp_path, "x")


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(InputError, match=r"--attest-out .*nowhere/a.json: folder .*nowhere does not exist"):
        check_output(tmp_path / "nowhere" / "a.json", "--attest-out")


def test_dash_is_stdout(capfdbinary):
    assert check_output("-") is None
    write_output("-", b"to stdout\n")
    assert capfdbinary.readouterr().out == b"to stdout\n"
