"""A report rendered in a child process while this one stores the findings: two cores for two GIL-bound steps.

After ``prov diff --detect`` has scored the delta, what is left is two steps that read the same finished results
and share nothing else: storing the findings (``detectors.pipeline.store_findings``: the findings object's bytes,
the rows, the store's write) and rendering the report (``report.render``: ~5 MB of JSON for a 10,000-record delta).
Both are Python, so threads would take turns on one core; a forked child renders while the parent stores
(~0.07-0.14 s of CPU each in a 1% delta of 1 M). The child only calls ``render`` on the report's dict, which it
has as the parent had it at the fork: its text is the text the parent would have made, byte for byte. It hands
the text back through an unlinked temporary file and ends with ``os._exit`` (no ``atexit``, no flushing of the
parent's buffered output, no teardown). Whatever goes wrong in the child (an exception, a signal, a full disk),
the parent renders the report itself, so an error is raised here as it always was, from the same code.

Used only where ``fork`` is plain: on Linux, and with no progress bars drawn (``rich``'s refresh thread may hold a
lock the child's text rendering would wait on for ever). Elsewhere the two steps run one after the other.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import tempfile
from collections.abc import Callable

TEXT_ENCODING = "utf-8"
TEXT_ERRORS = "surrogatepass"  # any str round-trips, lone surrogates included
# How long the child may go on rendering once the parent has stored the findings: a 10,000-record delta's report
# takes ~0.1 s; past this the child is taken for stuck, and the parent renders.
CHILD_WAIT_S = 60.0


def can_fork() -> bool:
    """Whether :func:`rendered_beside` may fork: on Linux only (``fork`` of a threaded process is unsafe on macOS)."""
    return sys.platform == "linux" and hasattr(os, "fork")


def rendered_beside(render: Callable[[], str], work: Callable[[], None] | None, fork: bool = True) -> str:
    """``render()``'s text, made in a forked child while ``work()`` runs in this process; ``work()`` first, then
    ``render()``, here when there is no work, ``fork`` is false (progress bars are drawn), :func:`can_fork` is
    false or the child fails.

    Exceptions: ``work()``'s propagate (the child is waited for first; its text is dropped); ``render()``'s are
    raised by the parent's own ``render()`` call, made when the child did not succeed.
    """
    if work is None or not fork or not can_fork():
        if work is not None:
            work()
        return render()
    with tempfile.TemporaryFile() as handed:
        child = _fork_renderer(render, handed.fileno())
        try:
            work()
        finally:
            succeeded = _succeeded(child)
        if succeeded:
            handed.seek(0)
            return handed.read().decode(TEXT_ENCODING, TEXT_ERRORS)
    return render()


def _fork_renderer(render: Callable[[], str], fd: int) -> int:
    """Fork a child that writes ``render()``'s text to ``fd`` and exits 0 (1 on any failure); its process id here."""
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        data = memoryview(render().encode(TEXT_ENCODING, TEXT_ERRORS))
        while data:
            data = data[os.write(fd, data) :]
        status = 0
    except BaseException:  # noqa: BLE001 (the parent renders again and raises what it raises)
        pass
    finally:
        os._exit(status)


def _succeeded(pid: int) -> bool:
    """Wait for the child ``pid`` (``CHILD_WAIT_S`` at most once this process's own work is done); whether it exited
    0 (its text is whole). A child still running then is killed and counted as failed: a lock another thread held
    at the fork could leave it waiting for ever, and the parent renders the report itself instead."""
    try:
        ended = _ended_within(pid, CHILD_WAIT_S)
    except OSError:  # no pidfd (Linux before 5.3): wait as long as it takes
        ended = True
    if not ended:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return ended and os.waitstatus_to_exitcode(status) == 0


def _ended_within(pid: int, seconds: float) -> bool:
    """Whether the child ``pid`` ends within ``seconds`` (``os.pidfd_open``: readable once it has ended)."""
    pidfd = os.pidfd_open(pid)
    try:
        return bool(select.select([pidfd], [], [], seconds)[0])
    finally:
        os.close(pidfd)
