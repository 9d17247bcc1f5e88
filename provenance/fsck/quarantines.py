"""fsck of quarantines made before quarantines kept their removed rows (attack review 8b, B5).

Such a quarantine signs no object of the records it removed, so every check with additions reads them from its
parent's data, and errors once that data changed or is gone. ``prov fsck`` warns about each one with no kept copy,
and ``prov fsck --repair`` keeps one (``lineage.removed_rows.keep_old_rows``) while the data still holds them:
a one-time repair, so that checks only read.
"""

from __future__ import annotations

from provenance.errors import InputError, VerificationError
from provenance.fsck.problems import FsckReport, Inspection, Problem
from provenance.lineage.removed_rows import keep_old_rows, old_quarantines_without_rows
from provenance.store.store import Store


def check_old_quarantines(insp: Inspection) -> None:
    """Warn (repairable) about each quarantine that keeps no copy of the records it removed."""
    for tag, parent, _ in old_quarantines_without_rows(insp.opened):
        insp.warn(
            "quarantines",
            f"version {tag}: a quarantine made before quarantines kept their removed rows, with no copy kept: every "
            f"check with additions reads them from {parent}'s data (an error once it changed or is gone); "
            "`prov fsck --repair` keeps a copy",
            repairable=True,
        )


def keep_old_quarantine_rows(store: Store, report: FsckReport) -> None:
    """Keep a copy of each such quarantine's removed rows (paths in ``report.kept``); one whose parent's data
    no longer holds them stays a warning (not repairable) saying why."""
    for tag, parent, removed in old_quarantines_without_rows(store):
        try:
            oid = keep_old_rows(store, tag, parent, removed)
        except (InputError, VerificationError) as exc:
            report.problems.append(
                Problem(
                    "warning",
                    "quarantines",
                    f"version {tag}: cannot keep the records it removed: {parent}'s data no longer holds them ({exc})",
                )
            )
            continue
        report.kept.append(str(store.objects.path(oid)))
