"""The one writer of files a command is asked for: reports (``--out``), envelopes (``prov sign``), attestations.

A path given on a command line may name anything: a device (``--out /dev/null`` run as
root used to replace the device node with a regular file), a FIFO, a folder, a symlink.
The rules, the same for every command:

- ``-`` is standard output.
- A new path (its folder exists) is created; never over something that appears meanwhile.
- A regular file is replaced atomically (temporary file beside it, fsync, rename), keeping
  its permission bits, so a reader never sees half a report.
- A symlink is written *through*: the rules apply to the file it points to, and the link
  stays a link.
- Anything else (a folder, a FIFO, a character or block device, a socket) is refused with
  exit 2 before any work is done, and checked again just before the rename.
- ``replace=False`` (``prov sign`` without ``--force``): anything already at the path is
  refused, before any work and again at the write, which never replaces.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from provenance.errors import InputError

STDOUT = "-"


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk, so a rename inside it survives a crash.

    Here rather than in the store: ``prov sign`` writes its envelope without a store, and
    importing ``provenance.store`` loads sqlite-utils.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


class AlreadyExists(InputError):
    """``replace=False`` and something is already at the path (exit 2); the caller words the way out."""

    def __init__(self, out: str, flag: str):
        super().__init__(f"{flag} {out}: already exists")
        self.path = out


def link_refusal(out: str | os.PathLike[str], flag: str) -> InputError | None:
    """The refusal for a symlink at a path written only when new (``replace=False``): it names where
    the link points and never suggests ``--force``, which would write through it (a data-folder
    writer's planted link would then aim the signer's write at any file it can write; attack
    review 9b). ``None`` when ``out`` is not a link."""
    if not os.path.islink(out):
        return None
    return InputError(
        f"{os.fspath(out)}: is a symbolic link to {os.readlink(out)}; prov will not write through it: "
        f"remove the link, or give {flag} FILE to write another"
    )


def _target(out: str, flag: str, replace: bool = True) -> Path:
    """The file that will be written for ``out``: ``out`` itself, or what its symlinks point to.

    Raises ``InputError`` if that is not a regular file or a new path in an existing folder,
    and ``AlreadyExists`` if anything is at ``out`` and ``replace`` is false.
    """
    if not replace and os.path.islink(out):  # a link, dangling or not, is something at the path
        raise AlreadyExists(out, flag)
    path = Path(os.path.realpath(out)) if os.path.islink(out) else Path(out)
    try:
        st = path.lstat()
    except FileNotFoundError:
        if not path.parent.is_dir():
            shown = f"{out} (-> {path})" if str(path) != out else out
            raise InputError(f"{flag} {shown}: folder {path.parent} does not exist") from None
        return path
    except OSError as exc:
        raise InputError(f"{flag} {out}: cannot be examined ({exc.strerror})") from exc
    if not stat.S_ISREG(st.st_mode):
        shown = f"{out} (-> {path})" if str(path) != out else out
        raise InputError(
            f"{flag} {shown}: is {_kind(st.st_mode)}; prov writes only to a regular file or a new path "
            f"(give {STDOUT} for standard output)"
        )
    if not replace:
        raise AlreadyExists(out, flag)
    if not os.access(path, os.W_OK):
        raise InputError(f"{flag} {out}: file is not writable")
    return path


def check_output(out: str | os.PathLike[str], flag: str = "--out", replace: bool = True) -> Path | None:
    """Check an output path before any work is done: ``None`` for ``-`` (standard output), else the file
    that will be written (what a symlink points to).

    Raises:
        InputError: the path is a folder, FIFO, device or socket, its folder does not exist,
            or the file is not writable. The message names ``flag`` and the path.
        AlreadyExists: ``replace`` is false and something is at the path.
    """
    out = os.fspath(out)
    if out == STDOUT:
        return None
    return _target(out, flag, replace)


def write_output(out: str | os.PathLike[str], data: bytes | str, flag: str = "--out", replace: bool = True) -> None:
    """Write ``data`` (text is UTF-8) to ``out`` under the rules above; ``-`` writes it to standard output.

    Raises:
        InputError: as :func:`check_output` (checked again now), or the file cannot be
            written (message with the OS reason); nothing is left half-written.
        AlreadyExists: ``replace`` is false and something is at the path, now or by the time
            the file would be created (the write then never replaces it).
    """
    stage_output(out, data, flag, replace).place()


def stage_output(
    out: str | os.PathLike[str], data: bytes | str, flag: str = "--out", replace: bool = True
) -> StagedOutput:
    """The first half of :func:`write_output`: ``data`` written and flushed to disk in a temporary file beside
    ``out`` (nothing for ``-``), which :meth:`StagedOutput.place` then puts at ``out`` and
    :meth:`StagedOutput.discard` removes. For a write that must only be seen once something else has committed
    (``prov check --attest``'s file, once the store's write has): what can fail for want of space or permission
    fails here, before that commit.

    Raises as :func:`write_output` does; nothing is left behind then.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    out = os.fspath(out)
    if out == STDOUT:
        return StagedOutput(out, flag, replace, payload)
    path = _target(out, flag, replace)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        existed = True
    except FileNotFoundError:
        mode, existed = 0o644, False
    except OSError as exc:
        raise InputError(f"{flag} {out}: cannot write ({exc.strerror or exc})") from exc
    if existed and not replace:
        raise AlreadyExists(out, flag)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    except OSError as exc:
        raise InputError(f"{flag} {out}: cannot write ({exc.strerror or exc})") from exc
    staged = StagedOutput(out, flag, replace, payload, path, tmp, mode, existed)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        staged.discard()
        if isinstance(exc, OSError):
            raise InputError(f"{flag} {out}: cannot write ({exc.strerror or exc})") from exc
        raise
    return staged


@dataclass
class StagedOutput:
    """A file :func:`stage_output` wrote beside ``out`` (``tmp``; None for standard output), to be put at ``out``."""

    out: str
    flag: str
    replace: bool
    payload: bytes
    path: Path | None = None
    tmp: str | None = None
    mode: int = 0o644
    existed: bool = False

    def place(self) -> None:
        """Put the staged file at ``out`` (a new path is only ever created, never taken over; a regular file is
        replaced atomically), or write the bytes to standard output. Raises as :func:`write_output`; the
        temporary file is removed then."""
        if self.path is None:
            sys.stdout.flush()
            sys.stdout.buffer.write(self.payload)
            sys.stdout.buffer.flush()
            return
        try:
            self._place(self.path)
        except OSError as exc:
            raise InputError(f"{self.flag} {self.out}: cannot write ({exc.strerror or exc})") from exc
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the temporary file, if it is still there (after :meth:`place`, or instead of it)."""
        if self.tmp is not None and os.path.lexists(self.tmp):
            os.unlink(self.tmp)

    def _place(self, path: Path) -> None:
        tmp, out, flag = self.tmp, self.out, self.flag
        assert tmp is not None
        if self.existed:
            _target(str(path), flag)  # still a regular file: never rename over what replaced it meanwhile
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # creates the name only if nothing took it meanwhile (never replaces)
            except FileExistsError:
                if not self.replace:
                    raise AlreadyExists(out, flag) from None
                raise InputError(f"{flag} {out}: something was created at this path while prov wrote it") from None
            except OSError:  # a filesystem without hard links: create exclusively and copy
                _create_exclusive(path, self.payload, self.mode)
        fsync_dir(path.parent)


def _create_exclusive(path: Path, payload: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
