"""A report rendered on a second thread while this one stores what the command found.

``prov diff --detect`` ends with two independent steps: storing the detector run (one store write:
an object and the database, each fsynced; ~0.03-0.05 s of it waits on the disk with the GIL
released) and rendering the report (~0.07 s of Python for 3,000 flagged findings as JSON). Done
one after the other, the disk's waits add to the wall time; with the render on a thread of its
own, it runs while the store write waits. The render is pure (a dict in, text out) and the store
write touches nothing it reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def render_beside(render: Callable[[], str], work: Callable[[], object] | None) -> str:
    """``render()`` on a thread of its own while ``work()`` runs on this one; returns what ``render`` returned.

    With ``work`` None, ``render()`` runs here. What ``work`` raises propagates at once (the render
    thread, a daemon, is left to end: its text is not wanted); what ``render`` raises is raised here
    once ``work`` has returned, so a stored run is never undone by a failed render (as when the two
    ran in turn, the store write first)."""
    if work is None:
        return render()
    done: dict[str, object] = {}

    def run() -> None:
        try:
            done["text"] = render()
        except BaseException as exc:  # handed to the caller's thread, raised there
            done["error"] = exc

    thread = threading.Thread(target=run, name="prov-render", daemon=True)
    thread.start()
    work()
    thread.join()
    if "error" in done:
        raise done["error"]  # type: ignore[misc]
    return done["text"]  # type: ignore[return-value]
