"""``prov fsck --repair``: remove what interrupted writes leave, and nothing else.

Objects are written before the transaction that references them, so an interrupted or
failed write can leave unreferenced objects and ``.tmp-`` files; an interrupted ``prov
init`` leaves ``.prov.db.init``. Repair removes exactly those, under the store's write
lock, and only when fsck found no integrity error (a damaged database could make a
needed object look unreferenced).
"""

from __future__ import annotations

from provenance.fsck.objects import OBJECT_NAME, referenced_objects
from provenance.fsck.problems import FsckReport
from provenance.output_file import fsync_dir
from provenance.store.store import Store


def repair(store: Store, report: FsckReport) -> None:
    """Remove unreferenced objects, temp files and an init leftover; list them in ``report.repaired``.

    The repairable warnings are dropped from ``report``. The caller checks ``report.ok`` first.
    """
    with store.write():  # no writer can be between its object writes and its commit now
        found = referenced_objects(store.db)
        if found.unreadable:  # planted since the check: it may name any object, so none is removed
            from provenance.errors import VerificationError

            raise VerificationError(f"{store.root / 'prov.db'}: {found.unreadable[0]}; nothing was removed")
        refs = found.objects
        folder = store.root / "objects"
        for p in sorted(folder.iterdir()):
            oid = p.name.split(".")[0]
            stray_temp = p.name.startswith(".tmp-")
            orphan = OBJECT_NAME.match(p.name) and oid not in refs
            if (stray_temp or orphan) and p.is_file():
                p.unlink()
                report.repaired.append(str(p))
        init_leftover = store.root / ".prov.db.init"
        if init_leftover.exists():
            init_leftover.unlink()
            report.repaired.append(str(init_leftover))
    if report.repaired:
        fsync_dir(store.root / "objects")
    report.problems = [p for p in report.problems if not p.repairable]
