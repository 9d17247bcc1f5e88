"""A report rendered on a second thread while this one waits on the disk for what the command stores.

``prov diff --detect`` ends with two independent steps: storing the detector run (one store write:
an object and the database, each fsynced; ~0.03-0.05 s of it waits on the disk with the GIL
released) and rendering the report (~0.07 s of Python for 3,000 flagged findings as JSON). Done
one after the other, the disk's waits add to the wall time. The render cannot run beside the whole
write: SQLite releases the GIL at every statement step (3,000 inserted rows), and each time the
writer then waits up to a switch interval (5 ms) for the render to hand it back, so the write took
0.12-0.16 s instead of 0.07 (measured, session 31). So the writer starts the render when what is
left of its write is few calls that each wait long (the object's fsync, the transaction's commit).
The render is pure (a dict in, text out) and the store write touches nothing it reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def render_beside(render: Callable[[], str], work: Callable[[Callable[[], None]], object] | None) -> str:
    """``work(start)`` on this thread; ``render()`` on a thread of its own from when ``work`` calls ``start()``
    (at most once), else here once ``work`` has returned. Returns what ``render`` returned.

    With ``work`` None, ``render()`` runs here. What ``work`` raises propagates at once (a started render
    thread, a daemon, is left to end: its text is not wanted); what ``render`` raises is raised here once
    ``work`` has returned, so a stored run is never undone by a failed render (as when the two ran in turn,
    the store write first)."""
    if work is None:
        return render()
    done: dict[str, object] = {}

    def run() -> None:
        try:
            done["text"] = render()
        except BaseException as exc:  # handed to the caller's thread, raised there
            done["error"] = exc

    thread = threading.Thread(target=run, name="prov-render", daemon=True)

    def start() -> None:
        if not thread.is_alive() and not done:
            thread.start()

    work(start)
    if thread.ident is None:  # work never started it
        run()
    else:
        thread.join()
    if "error" in done:
        raise done["error"]  # type: ignore[misc]
    return done["text"]  # type: ignore[return-value]
