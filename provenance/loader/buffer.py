"""The verified batches a streaming read keeps from its verifying pass, within a memory budget.

With ``verify_first`` (the default) a streaming read verifies the whole version before it hands
out anything. When the version's decoded batches fit ``budget`` bytes, the verifying pass keeps
them and the read then hands out exactly those batches (the Arrow buffers whose bytes were hashed
and checked; Arrow arrays are immutable) instead of reading and hashing the data a second time:
one read instead of two, and a file changed after the verifying pass is never read. Above the
budget the kept batches are dropped as soon as it is passed, and the read falls back to a second
pass that hands out a batch only if it is the one the verifying pass read at that place (a file
changed between the passes is refused before any of its records: ``verified_pass.py``).

The budget is the ``buffer`` argument of ``provenance.load``, else ``PROV_LOADER_BUFFER`` (bytes,
or with a unit: ``512MiB``, ``4GiB``; ``0`` always reads twice), else ``DEFAULT_BUDGET`` (1 GiB,
the same default as a commit's ``PROV_MEMORY_LIMIT``), and never more than half of the memory
the machine has available when the read starts (the training job needs the rest).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator

from provenance.errors import InputError
from provenance.loader.reading import HashedBatch
from provenance.sources.memory import available_memory, parse_size

DEFAULT_BUDGET = 1 << 30
ENV = "PROV_LOADER_BUFFER"


def budget(explicit: int | None = None) -> int:
    """The buffer budget in bytes: ``explicit`` if given, else ``PROV_LOADER_BUFFER``, else 1 GiB; at most half of
    ``MemAvailable``. Raises ``InputError`` for a negative ``explicit`` or an unreadable ``PROV_LOADER_BUFFER``."""
    if explicit is not None:
        if explicit < 0:
            raise InputError(f"buffer={explicit}: expected a size in bytes, 0 or more")
        limit = explicit
    else:
        setting = os.environ.get(ENV)
        try:
            limit = parse_size(setting) if setting else DEFAULT_BUDGET
        except InputError:
            raise InputError(f"{ENV}={setting!r}: expected a size such as 1073741824, 512MiB or 4GiB") from None
    free = available_memory()
    return min(limit, free // 2) if free else limit


def held_bytes(hashed: HashedBatch) -> int:
    """Bytes a kept batch holds: its columns, digests, label texts, sources and locators (Arrow's ``nbytes``,
    which counts a slice's own range: the slices of one row group, all kept, add up to it once)."""
    arrays = (hashed.labels, hashed.sources, hashed.locators)
    return hashed.batch.nbytes + len(hashed.digests) + sum(a.nbytes for a in arrays)


class VerifiedBuffer:
    """The batches of one verifying pass, kept while they fit ``limit`` bytes (see the module docstring).

    ``add`` each batch as the pass verifies it; once the total would pass ``limit`` every kept
    batch is dropped (``whole`` is then False) and nothing more is kept. ``held`` is the bytes kept.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0
        self._kept: deque[HashedBatch] | None = deque()

    @property
    def whole(self) -> bool:
        """True while every batch added so far is kept."""
        return self._kept is not None

    def add(self, hashed: HashedBatch) -> None:
        """Keep ``hashed`` (a batch the pass has checked), or drop everything if it does not fit."""
        if self._kept is None:
            return
        size = held_bytes(hashed)
        if self.held + size > self.limit:
            self._kept, self.held = None, 0
            return
        self._kept.append(hashed)
        self.held += size

    def fill(self, batches: Iterator[HashedBatch]) -> None:
        """Run a pass to its end, adding each batch it yields (no reference to one is left behind here)."""
        for hashed in batches:
            self.add(hashed)

    def drain(self) -> Iterator[HashedBatch]:
        """The kept batches in the order they were read, each released as it is handed out."""
        kept = self._kept
        while kept:
            hashed = kept.popleft()
            self.held -= held_bytes(hashed)
            yield hashed
