"""The store's identity: a random 128-bit id, made at ``prov init``, signed into trust entries and versions.

A trust entry's signed statement names the store it was signed for (``predicate.store``), and so does
each version's (attack review 16c, C16-2): a statement the same maintainer signed in another project is
then not a trust entry of this one, however a ``.prov/`` writer logs it here. The id is kept as the
``store_id`` row of the ``meta`` table (``prov init`` writes it; a store made before it gets one at the
first write that signs it: ``prov trust add``, ``retire``, ``commit``). That row is writable by whoever
writes ``.prov/``, so it is only a hint (attack review 17b). What decides is, first, an id the verifier pinned
(``--store-id``, ``PROV_STORE_ID`` or the root file's ``store``: ``Pins.store_id``), else the id *of record*
(:func:`of_record`): the one named by the earliest ``commit`` entry of the hash-chained audit log whose version
statement verifies under a commit key the pins vouch for (now or before a rotation, store revocations not
applied: the id is a signed fact, not a grant) and was signed at that place in this log; every other version
the store holds must sign the same id (:func:`expected`, attack review 19). Every write that signs the id
(:func:`ensure`) refuses a row that contradicts either.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from provenance.errors import InputError, StoreError, VerificationError
from provenance.store.audit import detail_json

if TYPE_CHECKING:
    from provenance.store.store import Store

META_KEY = "store_id"
"""The ``meta`` row holding the id (the table ``prov init`` creates; no new table)."""

ID_BYTES = 16

T = TypeVar("T")

# what may sit between the audit entry a version signs as its ``auditLogHead`` and its ``commit`` entry: the
# committer's key registration (``versions._register_committer``), written after the statement is made
BETWEEN_HEAD_AND_COMMIT = frozenset({"key.register"})


@dataclass(frozen=True)
class Record:
    """The store's id of record: the id the earliest id-naming version of the audit log signed.

    Attributes:
        store_id: the id (32 hex digits).
        tag: the version that signed it.
        seq: the seq of that version's ``commit`` audit entry.
        head_seq: the seq of the entry the version signed as its ``auditLogHead`` (0: the empty log).
    """

    store_id: str
    tag: str
    seq: int
    head_seq: int

    def describe(self) -> str:
        """``version v3's signed statement (audit entry 12)``, for messages."""
        return f"version {self.tag}'s signed statement (audit entry {self.seq})"


def is_store_id(value: object) -> bool:
    """Whether ``value`` is a store id: 32 lowercase hex digits (128 bits)."""
    return isinstance(value, str) and len(value) == 2 * ID_BYTES and all(c in "0123456789abcdef" for c in value)


def create(db: Any) -> str:
    """Write a new random id into ``db``'s ``meta`` table (``prov init``, on the new database); returns it."""
    new = os.urandom(ID_BYTES).hex()
    db.execute("insert into meta (key, value) values (?, ?)", [META_KEY, new])
    return new


def store_id(store: Store) -> str | None:
    """The id the store's ``meta`` table holds (a hint: a ``.prov/`` writer can change it), or ``None`` for a
    store made before ids, or whose row is not an id (:func:`is_store_id`)."""
    row = store.db.execute("select value from meta where key = ?", [META_KEY]).fetchone()
    return row[0] if row is not None and is_store_id(row[0]) else None


def of_record(store: Store, until: int | None = None) -> Record | None:
    """The store's id of record, read from the hash-chained audit log and signed versions, never from a row alone.

    The earliest ``commit`` entry (up to audit seq ``until``; ``None``: the whole log) whose envelope verifies
    for the ``commit`` role under a key set the handle's pins vouch for a fact (:func:`_version_predicate`:
    rotated-out and store-revoked commit keys too), signs a dataset version of the entry's tag naming a
    store id, and was signed at that place in this log: its ``auditLogHead`` is the entry just before (only
    ``key.register`` entries between), so a version signed in another project, copied here with a planted
    entry, is not one. Entries that do not meet this are passed over (the gate and ``prov audit verify`` judge
    them). ``None`` when no entry does (a store not committed to since ids, or a fresh one).

    Raises:
        VerificationError: the log's hash chain breaks before such an entry (an entry edited, moved or
            removed), so which version came first cannot be told.
    """
    from provenance.store.audit import GENESIS, entry_bytes, iter_entries

    prev, at = GENESIS, {GENESIS: -1}  # each hash read -> its place in log
    log: list[dict] = []
    for entry in iter_entries(store.db):
        if until is not None and entry["seq"] > until:
            break
        if entry["prev_hash"] != prev or hashlib.sha256(entry_bytes(entry)).hexdigest() != entry["hash"]:
            raise VerificationError(
                f"{store.root / 'prov.db'}: audit entry {entry['seq']} does not chain from the one before it, so "
                "the store's id of record cannot be read (run prov audit verify)"
            )
        prev = entry["hash"]
        if entry["action"] == "commit":
            found = _signed_id(store, entry, log, at)
            if found is not None:
                return found
        at[prev] = len(log)
        log.append(entry)
    return None


def _signed_id(store: Store, entry: dict, log: list[dict], at: dict[str, int]) -> Record | None:
    """The :class:`Record` the ``commit`` audit ``entry`` makes, or ``None`` (see :func:`of_record`); ``log`` is
    the entries before it, ``at`` each one's hash -> its index in ``log`` (-1: the empty log)."""
    tag = str(entry["subject"])
    try:
        pred = _version_predicate(store, str(detail_json(entry["detail"])["envelope"]), tag)
    except (ValueError, KeyError, TypeError):
        return None
    if pred is None:
        return None
    sid, head = pred.get("store"), at.get(str(pred.get("auditLogHead")))
    if not is_store_id(sid) or head is None:
        return None
    if any(e["action"] not in BETWEEN_HEAD_AND_COMMIT for e in log[head + 1 :]):
        return None
    head_seq = int(log[head]["seq"]) if head >= 0 else 0
    return Record(str(sid), tag, int(entry["seq"]), head_seq)


def _version_predicate(store: Store, envelope: str, tag: str) -> dict | None:
    """The signed predicate of version ``tag`` in object ``envelope``, when it verifies for the ``commit`` role
    under a key set the verifier vouches for a fact (``Pins.fact_role_keys``: the commit keys of the root in
    force or of an earlier root, else the pinned signers, store revocations not applied: the id a version signed
    is a fact, not a grant, attack review 19, F19-3) and signs a dataset version of that name; else ``None``."""
    from provenance.signing import DATASET_VERSION_TYPE
    from provenance.trust.roles import COMMIT, RoleKeys, verify_role

    pins = getattr(store, "pins", None)  # the verifier's Pins (trust.pins imports the store: duck-typed here)
    try:
        env = store.objects.envelope(envelope, f"envelope of {tag}")
        if pins is not None:
            roles = tuple(pins.fact_role_keys(COMMIT, store))
        else:  # no Pins on the handle: the store's own keys, as Pins.unpinned() checks (NOT a trust decision)
            roles = (RoleKeys(COMMIT, store.trusted_keys(), 1, "keys found in the store", {}),)
    except (InputError, VerificationError, StoreError):
        return None
    for role in roles:
        try:
            stmt = verify_role(env, role, tag).statement
        except (InputError, VerificationError):
            continue
        pred = stmt.get("predicate")
        if stmt.get("predicateType") == DATASET_VERSION_TYPE and isinstance(pred, dict) and pred.get("version") == tag:
            return pred
        return None
    return None


def _signed_versions(store: Store) -> tuple[list[tuple[str, dict]], list[str]]:
    """What the store's versions sign: ``(verified, unverified)``. ``verified`` is ``(tag, signed predicate)`` of
    every version whose statement verifies (:func:`_version_predicate`), oldest first, read from the ``versions``
    rows *and* from the ``commit`` entries of the audit log (each envelope once: deleting a row does not hide
    a version whose entry the log keeps); ``unverified`` the tags of those that do not verify."""
    found = [
        (str(t), str(e))
        for t, e in store.db.execute("select tag, envelope_object from versions order by audit_seq, created_at")
    ]
    for subject, detail in store.db.execute("select subject, detail from audit where action = 'commit' order by seq"):
        try:
            found.append((str(subject), str(detail_json(detail)["envelope"])))
        except (ValueError, KeyError, TypeError):
            continue
    verified: list[tuple[str, dict]] = []
    unverified: list[str] = []
    for tag, envelope in dict.fromkeys(found):
        pred = _version_predicate(store, envelope, tag)
        if pred is not None:
            verified.append((tag, pred))
        else:
            unverified.append(tag)
    return verified, unverified


def _head_missing(store: Store, verified: list[tuple[str, dict]]) -> str | None:
    """The tag of the first verified version whose signed ``auditLogHead`` is not an entry of the audit log (nor
    the empty log): the log before it was rewritten, as a ``.prov/`` writer who puts another project's log start
    at its head must (attack review 19, F19-1). ``None`` when every signed head is found."""
    from provenance.store.audit import GENESIS

    for tag, pred in verified:
        head = pred.get("auditLogHead")
        if isinstance(head, str) and head != GENESIS:
            if store.db.execute("select 1 from audit where hash = ?", [head]).fetchone() is None:
                return tag
    return None


def lost_head(store: Store) -> str | None:
    """The tag of a version whose statement verifies (:func:`_version_predicate`) but whose signed
    ``auditLogHead`` is not in the audit log (the log before it was rewritten), or ``None``: ``prov fsck
    --repair`` writes no store id while one is (attack review 19, F19-1)."""
    return _head_missing(store, _signed_versions(store)[0])


# pre_id_history()'s answer per store handle, with the state it was read in (:func:`read_state`)
_PRE_ID: weakref.WeakKeyDictionary[Any, tuple[tuple, tuple[Record | None, frozenset]]] = weakref.WeakKeyDictionary()


def pre_id_history(store: Store) -> tuple[Record | None, frozenset[tuple[str, str, str]]]:
    """The store's id of record and its own history before it: ``(record, {(tag, envelope, head), ...})``.

    The set holds, for each ``commit`` entry of the hash-chained audit log up to the id of record's signed audit
    head (:func:`of_record`, which checks the chain that far), the version's tag, its envelope object and the hash
    of the entry before it (only ``key.register`` entries between; the empty log's hash for the first): a version
    made before store ids belongs to this store only when it signed one of these, its own commit entry at that
    place (a copy of another project's version cannot be put there without breaking the id of record's signed
    head). Empty with no record (``None``: nothing signs an id yet). Remembered per handle while ``prov.db``
    does not change (:func:`read_state`).

    Raises:
        VerificationError: the log breaks before the id of record (:func:`of_record`).
    """
    return _remembered(_PRE_ID, store, lambda: _pre_id_history(store))


def _pre_id_history(store: Store) -> tuple[Record | None, frozenset[tuple[str, str, str]]]:
    """:func:`pre_id_history`, read now."""
    from provenance.store.audit import GENESIS, iter_entries

    record = of_record(store)
    places: set[tuple[str, str, str]] = set()
    head = GENESIS  # the hash of the entry before, key.register entries passed over
    until = record.head_seq if record is not None else 0
    for entry in iter_entries(store.db):
        if entry["seq"] > until:
            break
        if entry["action"] == "commit":
            try:
                places.add((str(entry["subject"]), str(detail_json(entry["detail"])["envelope"]), head))
            except (ValueError, KeyError, TypeError):
                pass
        if entry["action"] not in BETWEEN_HEAD_AND_COMMIT:
            head = entry["hash"]
    return record, frozenset(places)


def id_less_problem(
    store: Store, tag: str, envelope: str, head: object, pinned: str, origin: str, first: bool = False
) -> str | None:
    """Why version ``tag`` (envelope object ``envelope``, signed ``auditLogHead`` ``head``), whose verified
    statement signs no store id, is not this store's under the ``pinned`` id (``origin``: where it was pinned):
    ``None`` when it is part of the store's own history before its id of record (:func:`pre_id_history`) and
    that record names the pinned id (attack review 19: same maintainer keys across projects, another project's
    version from before ids copied into ``.prov/`` was taken as this store's). With no id of record, fails closed
    (the message says to make one id-signing commit), unless ``first``: read by the commit that will be the store's
    first to sign the id (``version_facts.first_id_commit``). Raises as :func:`pre_id_history`."""
    record, places = pre_id_history(store)
    pin = f"the store id you pinned ({pinned[:16]}, {origin})"
    if record is None and first:
        return None
    if record is None:
        return (
            f"signs no store id, and no version of this store's audit log signs one yet, so under {pin} it cannot "
            "be told from another project's version made before store ids: make one id-signing commit first "
            "(prov commit with the id pinned signs it and this store's history before it)"
        )
    if record.store_id != pinned:
        return f"signs no store id, and this store's id of record, {record.store_id[:16]} ({record.describe()}), is not {pin}"
    if (tag, envelope, str(head)) not in places:
        return (
            f"signs no store id and was not committed here before {record.describe()} (its commit entry is not in "
            f"the audit log up to that version's signed head, at the place it signed): another project's version, "
            f"not this store's under {pin}"
        )
    return None


@dataclass(frozen=True)
class Expected:
    """The id a signing write must sign (:func:`expected`): ``store_id`` (``None``: nothing names one yet),
    ``origin`` for messages, whether the verifier ``pinned`` it, the id of ``record`` if any, and whether no
    version signs an id yet (``first``: the next commit is the first to)."""

    store_id: str | None
    origin: str
    pinned: bool
    record: Record | None
    first: bool = False


# expected()'s answer per store handle, with the state it was read in (:func:`read_state`)
_EXPECTED: weakref.WeakKeyDictionary[Any, tuple[tuple, Expected]] = weakref.WeakKeyDictionary()


def read_state(store: Store) -> tuple:
    """What :func:`expected`'s answer (and a statement ``version_facts.statement_cache`` keeps) depends on beyond
    the content-addressed objects: the connection read
    (a write swaps it), every change made through it (``total_changes``) or committed by another connection
    since (SQLite's ``PRAGMA data_version``), and the verifier's pins."""
    conn = store.db.conn
    pins = getattr(store, "pins", None)
    version = conn.execute("pragma data_version").fetchone()[0]
    return (id(conn), conn.total_changes, version, id(pins), getattr(pins, "store_id", None))


def expected(store: Store) -> Expected:
    """The id a signing write must sign (:func:`_expected`), remembered for the store handle while nothing in
    ``prov.db`` changes: ``prov log`` asks once per release attestation, and each answer verifies every
    version, so without it a log of N releases verified N x N statements. Raises as :func:`_expected` (a
    failure is not remembered)."""
    return _remembered(_EXPECTED, store, lambda: _expected(store))


def _remembered(cache: weakref.WeakKeyDictionary[Any, tuple[tuple, T]], store: Store, read: Callable[[], T]) -> T:
    """``read()``'s answer, remembered in ``cache`` for the store handle while ``prov.db`` is in the same state
    (:func:`read_state`); what ``read`` raises propagates and is not remembered."""
    state = read_state(store)
    kept = cache.get(store)
    if kept is not None and kept[0] == state:
        return kept[1]
    answer = read()
    cache[store] = (state, answer)
    return answer


def _expected(store: Store) -> Expected:
    """The id a signing write must sign: the pinned one (``Pins.store_id``) when there is one, else the id of
    record (:func:`of_record`), else the id a version's verified statement signs (when the log holds no record:
    an entry moved or the log rewritten), else ``None`` (nothing signed names one yet). Every version the store
    holds (rows and the log's commit entries) whose statement verifies and names an id must name that one, and,
    when the id of record decides, must have its signed audit head in the log (attack review 19, F19-1: another
    project's log start put at the head of this log names its id, which the versions here contradict, or, in a
    store whose versions name no id, whose rewritten log loses their signed heads).

    Raises:
        VerificationError: the pinned id is not the id of record or one a version signs (the store is another
            project's, its log was rewritten, or the pin is wrong); the id of record or, with no record, the
            oldest version's id is not the one another version signs (the log and the versions disagree:
            tampered); with an id of record, a version's signed audit head is not in the log (rewritten); the
            store has versions but none verifies under any key the pins vouch for, and nothing is pinned (the
            id cannot be told, and ``prov.db``'s row is not taken instead: F19-3); or the log breaks before the
            record (:func:`of_record`).
    """
    pins = getattr(store, "pins", None)  # Pins, duck-typed (trust.pins imports the store package)
    pinned = getattr(pins, "store_id", None)
    origin = f"the store id you pinned ({getattr(pins, 'store_id_origin', 'pinned')})"
    where = store.root / "prov.db"
    record = of_record(store)
    verified, unverified = _signed_versions(store)
    signed = [(tag, str(p["store"])) for tag, p in verified if p.get("store") is not None]
    if pinned is not None:
        if record is not None and record.store_id != pinned:
            raise VerificationError(
                f"{where}: {record.describe()} names store id {record.store_id}, not {origin}, {pinned}: this is "
                "another project's store, its audit log was rewritten, or the pin is wrong"
            )
        want, against = pinned, f"{origin}, {pinned}"
    elif record is not None:
        want, origin = record.store_id, record.describe()
        against = f"{record.store_id}, the id {origin} names: the audit log and the versions disagree on the store id"
    elif signed:
        want = signed[0][1]
        origin = f"version {signed[0][0]}'s signed statement (its audit entry not found: run prov audit verify)"
        against = f"version {signed[0][0]}'s, {want}, and no commit entry of the audit log is where a version signing an id was signed"
    else:
        want = None
    for tag, sid in signed:
        if sid != want:
            raise VerificationError(
                f"{where}: version {tag} signs store id {sid}, not {against} (tampered: run prov audit verify; "
                "restore .prov/ from a copy you trust, or pin the store id with --store-id)"
            )
    if pinned is not None:
        return Expected(pinned, origin, True, record, first=not signed)
    missing = _head_missing(store, verified) if record is not None else None
    if missing is not None:  # the log before a version was rewritten: its record may be another project's start
        raise VerificationError(
            f"{where}: version {missing}'s signed audit head is not in the audit log, so the log was rewritten "
            "and the store id of record cannot be told from it (tampered: run prov audit verify; restore .prov/ "
            "from a copy you trust, or pin the store id with --store-id)"
        )
    if want is None and unverified and not verified:
        raise VerificationError(
            f"{where}: the store has versions ({', '.join(unverified[:3])}) but none verifies under a key your pins "
            "vouch for, so the store id they sign cannot be told and prov.db's row is not taken instead: pin the "
            "store id (--store-id ID, PROV_STORE_ID, or a root file's store: the id prov init printed)"
        )
    return Expected(want, origin, False, record, first=not signed)


def ensure(store: Store) -> str:
    """The id a signing write signs (``prov commit``, ``trust add``, ``trust retire``); call inside ``store.write()``.

    ``prov.db``'s row, checked against the pinned id or the id of record (:func:`expected`); when the store
    has no row yet (made before ids), the pinned id, else a new random one, is written first.

    Raises:
        VerificationError: (exit 1) the row names another id than the pinned one or the one of record (a
            ``.prov/`` writer set it to make this write sign another project's id: attack review 17b), or the
            pin contradicts the id of record.
        StoreError: the row is missing or not an id while signed history names one (``prov fsck --repair``
            restores it), or not an id while nothing does; prov never replaces an id signed statements name.
    """
    want = expected(store)
    sid, origin = want.store_id, want.origin
    where = store.root / "prov.db"
    row = store.db.execute("select value from meta where key = ?", [META_KEY]).fetchone()
    if row is None:
        if sid is None:
            return create(store.db)
        if want.pinned and want.record is None:  # a store made before ids, given the id its verifiers pin
            store.db.execute("insert into meta (key, value) values (?, ?)", [META_KEY, sid])
            return sid
        raise StoreError(f"{where}: meta {META_KEY} is missing, but {origin} names {sid} (run prov fsck --repair)")
    if not is_store_id(row[0]):
        fix = f"prov fsck --repair writes back {sid}, the id {origin} names" if sid is not None else "run prov fsck"
        raise StoreError(f"{where}: meta {META_KEY} is {row[0]!r}, not a store id ({fix})")
    if sid is not None and row[0] != sid:
        raise VerificationError(
            f"{where}: meta {META_KEY} is {row[0]}, but {origin} names {sid}: refusing to sign an id the store's "
            "signed history contradicts (prov fsck --repair restores it)"
        )
    return str(row[0])
