"""What ``prov fsck`` finds: one ``Problem`` per finding, the ``FsckReport``, and the
``Inspection`` that every check records its problems into."""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from provenance.errors import ProvError, StoreError
from provenance.store.sqlite import sqlite_utils
from provenance.store.store import Store

MAX_PER_CHECK = 20
"""Problems listed per (level, check) before one "... and more like the above"."""


@dataclass
class Problem:
    """One thing fsck found: an integrity failure ("error") or a harmless leftover ("warning").

    ``check`` names what found it ("objects", "schema", "audit", "version v3", "batch B", ...);
    ``repairable`` marks a leftover that ``prov fsck --repair`` removes, or an error it mends (trust rows
    deleted while the log keeps their signed entry: ``provenance.fsck.trust_rows``).
    """

    level: str
    check: str
    message: str
    repairable: bool = False


@dataclass
class FsckReport:
    """Everything one fsck run found, what it checked (counts per kind), what it repaired (paths removed), what
    it kept (objects of old quarantines' removed rows it wrote) and what it restored (trust rows written back
    from logged signed trust entries)."""

    store: str
    problems: list[Problem] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: collections.Counter())
    repaired: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """The integrity failures, in the order found."""
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The harmless leftovers and oddities, in the order found."""
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        """True when no integrity failure was found (warnings allowed)."""
        return not self.errors

    def to_dict(self) -> dict:
        """The ``prov fsck --json`` document: store, status ("ok"/"failed"), errors, warnings, checked, repaired, kept,
        restored (``schemas/fsck.schema.json``)."""
        return {
            "store": self.store,
            "status": "ok" if self.ok else "failed",
            "errors": [asdict(p) for p in self.errors],
            "warnings": [asdict(p) for p in self.warnings],
            "checked": dict(self.checked),
            "repaired": list(self.repaired),
            "kept": list(self.kept),
            "restored": list(self.restored),
        }


class Inspection:
    """One fsck run in progress: the store folder, its open store, the report, and the audit log as read.

    Checks record into it with ``error`` and ``warn``; ``guarded`` turns whatever stops a
    check (a damaged row, an unreadable object) into a problem instead of a crash.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.report = FsckReport(str(self.root))
        self.store: Store | None = None
        self.pins: Any = None  # the verifier's provenance.trust.pins.Pins the store is checked with (None: store keys)
        self.entries: list[dict] = []  # audit entries, each with its parsed "detail_obj"
        self.by_action: dict[str, list[dict]] = collections.defaultdict(list)
        self._counts: collections.Counter = collections.Counter()
        self._summaries: dict[tuple[str, str], Problem] = {}

    @property
    def opened(self) -> Store:
        """The open store (checks after the database opened run only then)."""
        if self.store is None:
            raise StoreError(f"{self.root}: the store database is not open")
        return self.store

    @property
    def db(self) -> sqlite_utils.Database:
        """The open store's database."""
        return self.opened.db

    def error(self, check: str, message: str, repairable: bool = False) -> None:
        """Record an integrity failure found by ``check`` (``repairable``: ``prov fsck --repair`` mends it)."""
        self._add(Problem("error", check, message, repairable))

    def warn(self, check: str, message: str, repairable: bool = False) -> None:
        """Record a harmless leftover or oddity found by ``check``."""
        self._add(Problem("warning", check, message, repairable))

    def _add(self, problem: Problem) -> None:
        self._counts[(problem.level, problem.check)] += 1
        n = self._counts[(problem.level, problem.check)]
        if n <= MAX_PER_CHECK:
            self.report.problems.append(problem)
        elif n == MAX_PER_CHECK + 1:
            summary = Problem(problem.level, problem.check, "... and more like the above", problem.repairable)
            self._summaries[(problem.level, problem.check)] = summary
            self.report.problems.append(summary)
        else:  # the summary is repairable only if every problem it stands for is
            summary = self._summaries[(problem.level, problem.check)]
            summary.repairable = summary.repairable and problem.repairable

    def guarded(self, check: str, fn: Callable[[], None]) -> None:
        """Run one check; whatever stops it is itself an integrity finding, never a crash."""
        try:
            fn()
        except ProvError as exc:
            self.error(check, str(exc))
            for line in getattr(exc, "details", [])[:5]:
                self.error(check, line)
        except (sqlite3.Error, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
            self.error(check, f"unreadable or inconsistent ({type(exc).__name__}: {exc})")

    def rows(self, table: str, order: str) -> list[dict]:
        """Every row of ``table`` ordered by ``order``; an unreadable table is an error and no rows."""
        try:
            return list(self.db[table].rows_where(order_by=order))
        except sqlite3.Error as exc:
            self.error(table, f"cannot read table {table} ({exc})")
            return []
