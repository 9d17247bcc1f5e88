"""fsck of the store's id (``provenance.store.identity``) against its signed history (attack review 17b).

``prov.db``'s ``meta`` row ``store_id`` is what the next commit or trust entry signs, and a ``.prov/`` writer
can change it. fsck compares it with the id the verifier pinned (``Pins.store_id``), else the store's id of
record (the earliest id-naming version of the audit log, verified under the pins): a missing, damaged or
different row is an error that ``prov fsck --repair`` mends by writing that id back (never a new one while
signed history names one, and none while the audit log is in error, a version's signed audit head is not in
it, or the log and the versions disagree on the id: attack review 19, F19-1). It also warns of logged trust entries naming no store that were logged after the
id of record's version signed its audit head or, before any version signs an id, after the last version's
signed head: the next id-signing commit would sign over them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance.errors import ProvError, VerificationError
from provenance.store import identity
from provenance.trust import statements
from provenance.trust.pins import Pins
from provenance.version_facts import verified_statement

if TYPE_CHECKING:
    from provenance.fsck.problems import FsckReport, Inspection
    from provenance.store.store import Store


def _pins(pins: Any) -> Pins:
    return pins if isinstance(pins, Pins) else Pins.unpinned()


def row_problem(store: Store, pins: Any) -> tuple[str, str | None] | None:
    """``(message, id to write back or None)`` when ``prov.db``'s store id row is missing, not an id, or not the
    pinned id or the id of record; ``None`` when it holds (or the store has none and nothing signed names one).

    Raises:
        VerificationError: the pinned id is not the id of record, or the log breaks before it
            (``identity.expected``).
    """
    want = identity.expected(store)
    row = store.db.execute("select value from meta where key = ?", [identity.META_KEY]).fetchone()
    where = f"{store.root / 'prov.db'}: meta {identity.META_KEY}"
    fix = f"; prov fsck --repair writes back {want.store_id}, the id {want.origin} names" if want.store_id else ""
    if row is None:  # a store made before ids gets the pinned one at its first signing write (identity.ensure)
        return (f"{where} is missing{fix}", want.store_id) if not want.first else None
    if not identity.is_store_id(row[0]):
        return (
            f"{where} is {str(row[0])[:40]!r}, not a store id{fix or ' (nothing signed names one: restore prov.db from a copy you trust)'}",
            want.store_id,
        )
    if want.store_id is not None and row[0] != want.store_id:
        return (
            f"{where} is {row[0]}, but {want.origin} names {want.store_id}: the next commit or trust entry would sign "
            f"another id (a .prov/ writer may have changed it){fix}",
            want.store_id,
        )
    return None


def check_store_id(insp: Inspection) -> None:
    """The row against the pinned id or the id of record (:func:`row_problem`: an error, repairable when there is
    an id to write back), then a warning per logged trust entry naming no store logged where a commit signs, or
    would sign, over it (``statements.id_less_entries``). An entry the verifier's pins already refuse (pinned
    keys, no root: ``statements.foreign_entries``, an error in ``trust_rows``) is not named twice."""
    store, pins = insp.opened, _pins(insp.pins)
    try:
        found = row_problem(store, pins)
        record = identity.of_record(store)
    except VerificationError as exc:
        insp.error("store id", str(exc))
        return
    if found is not None and found[1] is not None and blocked(store, insp.report):
        insp.error("store id", f"{found[0].split('; prov fsck --repair')[0]}; {NOT_WRITTEN}")
    elif found is not None:
        insp.error("store id", found[0], repairable=found[1] is not None)
    if record is not None and pins.pinned and pins.root is None:
        return  # trust_rows.check_statement_rows names them as errors (hint_scope's legacy_until)
    after, since = (
        (record.head_seq, f"version {record.tag} first signed a store id")
        if record is not None
        else _last_version_head(store)
    )
    for e in statements.id_less_entries(store, pins.role_keys("commit", store), after):
        insp.warn(
            "trust",
            f"audit entry {e.seq} ({e.action} of {e.source!r}): the signed trust entry of key {e.keyid[:16]} names "
            f"no store and was logged after {since}: "
            + (
                "it counts nowhere a pinned check decides"
                if record is not None
                else "the next commit will sign over it; make sure you added it (prov trust list)"
            ),
        )


def _last_version_head(store: Store) -> tuple[int, str]:
    """``(seq, words)``: the latest audit head a version of the store signed (0 and "the store was made" when none
    verifies), for a store whose versions sign no id yet."""
    best, last = 0, None
    for (tag,) in store.db.execute("select tag from versions").fetchall():
        try:
            head = verified_statement(store, store.version(tag))["predicate"].get("auditLogHead")
        except ProvError:  # a version that does not verify is fsck's error elsewhere (versions.check_version)
            continue
        found = store.db.execute("select seq from audit where hash = ?", [str(head)]).fetchone()
        if found is not None and int(found[0]) > best:
            best, last = int(found[0]), str(tag)
    return best, (f"version {last}'s signed audit head" if last else "the store was made")


NOT_WRITTEN = (
    "prov fsck --repair writes no store id while the audit log is in error or a version's signed audit head is "
    "not in it (the id of record is read from them): mend those first, or restore .prov/ from a copy you trust"
)


def blocked(store: Store, report: FsckReport | None) -> bool:
    """Whether ``report`` (this fsck's findings so far) has an error in the audit log, or a verified version's
    signed audit head is not in it (``identity.lost_head``): the id of record is read from them."""
    audit_error = report is not None and any(p.check == "audit" for p in report.errors)
    return audit_error or identity.lost_head(store) is not None


def restore(store: Store, pins: Any, report: FsckReport | None = None) -> list[str]:
    """Write the pinned id or the id of record back into a missing, damaged or different row (one write; an error
    leaves the store as it was). Returns the line for ``report.repaired``, or nothing to do.

    Nothing is written while the audit log is in error (in ``report``, this fsck's findings) or a version's
    signed audit head is not in it (:func:`blocked`): the id of record is read from them, and a ``.prov/``
    writer who put another project's log start at the head of this log would have fsck write that project's id
    (attack review 19, F19-1); nor when signed history cannot tell the id (``identity.expected`` raises: fsck
    reported why)."""
    if blocked(store, report):
        return []
    with store.write():
        try:
            found = row_problem(store, _pins(pins))
        except VerificationError:
            return []
        if found is None or found[1] is None:
            return []
        store.db.execute("insert or replace into meta (key, value) values (?, ?)", [identity.META_KEY, found[1]])
    return [f"{store.root / 'prov.db'}: meta {identity.META_KEY} restored to {found[1]}"]
