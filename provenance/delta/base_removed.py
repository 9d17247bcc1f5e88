"""The base's manifest rows of the records only the base holds, kept from the merge for what later asks about them.

The release gate names an added record that took a removed base record's place as an edit (``gate.replaced``); it
read the base's whole manifest again for that (every row hashed into a Merkle root, every column decoded) although
the merge had already found the removed records and where they sit in the base's manifest, which it verified.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from provenance.delta.merge import Changes


@dataclass(frozen=True)
class BaseRemoved:
    """``rows``: the sorted int64 base manifest rows of every copy of each record only the base holds (the merge's
    ``removed``, before a schema change pairs any of them); ``take(rows, columns)`` reads columns of sorted rows of
    the base's verified manifest (``delta.sides.Side.take``)."""

    rows: np.ndarray
    take: Callable[[np.ndarray, list[str]], dict[str, list]]

    @classmethod
    def of(cls, changes: Changes, take: Callable[[np.ndarray, list[str]], dict[str, list]]) -> BaseRemoved:
        """The removed records of ``changes`` (each one's first row and copies, in digest order, so in manifest
        order) as every row they hold in the base's manifest."""
        first, copies = changes.array("removed", "first_row"), changes.array("removed", "rows")
        start = np.repeat(first - (np.cumsum(copies) - copies), copies)
        return cls(np.sort(start + np.arange(int(copies.sum()), dtype=np.int64)), take)

    def columns(self, names: list[str]) -> dict[str, list]:
        """``names`` (manifest columns) of :attr:`rows`, as Python values in manifest order."""
        if not len(self.rows):
            return {name: [] for name in names}
        return self.take(self.rows, names)
