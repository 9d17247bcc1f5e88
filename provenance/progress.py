"""Progress of long work (hashing, lineage, profiles, diff, detection), reported through one callback.

The library never prints: it announces stages and how far each has got, and whoever
called it decides what to show. ``prov`` installs a callback that draws ``rich.progress``
bars on stderr (``provenance/cli/_progress.py``); a program that embeds prov may install
its own with :func:`reporting`, or none (then every report is a no-op costing one
context-variable lookup). The callback runs in the caller's thread.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One report: ``stage`` (e.g. ``"hashing"``) has done ``done`` of ``total`` ``unit``s.

    ``total`` is ``None`` while unknown (a spinner, not a bar); ``finished`` is true once,
    when the stage ends (successfully or not).
    """

    stage: str
    done: int
    total: int | None
    unit: str
    finished: bool = False


ProgressCallback = Callable[[ProgressEvent], None]

_callback: contextvars.ContextVar[ProgressCallback | None] = contextvars.ContextVar("prov_progress", default=None)


@contextlib.contextmanager
def reporting(callback: ProgressCallback | None) -> Iterator[None]:
    """Send the progress of everything run inside the block to ``callback`` (``None``: to nobody)."""
    token = _callback.set(callback)
    try:
        yield
    finally:
        _callback.reset(token)


class Stage:
    """A running stage: :meth:`advance` reports more work done. Made by :func:`stage`."""

    def __init__(self, name: str, total: int | None, unit: str, callback: ProgressCallback | None):
        self.name, self.total, self.unit, self.done = name, total, unit, 0
        self._callback = callback

    def advance(self, amount: int = 1) -> None:
        """Report ``amount`` more units done (capped at the total when one is known)."""
        self.done += amount
        if self.total is not None:
            self.done = min(self.done, self.total)
        if self._callback is not None:
            self._callback(ProgressEvent(self.name, self.done, self.total, self.unit))


@contextlib.contextmanager
def stage(name: str, total: int | None = None, unit: str = "records") -> Iterator[Stage]:
    """Announce stage ``name`` of ``total`` ``unit``s for the block; it reports finished when the block ends."""
    callback = _callback.get()
    running = Stage(name, total, unit, callback)
    if callback is not None:
        callback(ProgressEvent(name, 0, total, unit))
    try:
        yield running
    finally:
        if callback is not None:
            callback(ProgressEvent(name, running.done, total, unit, finished=True))
