"""The embedded store: ``.prov/prov.db`` (SQLite via sqlite-utils) plus ``.prov/objects/``.

Writes follow one protocol, so a failure at any point leaves the previous state:
objects are written first (content-addressed, each by temp file + rename), then one
SQLite transaction records the new state. If anything fails before that transaction
commits, the objects this write created are removed again and the database is rolled
back, so a failed command leaves the store byte-for-byte as it was. A crash between the
two steps leaves only unreferenced objects, which are not a version and which
``prov fsck`` reports. A write may end, once its transaction has committed and before the
lock is released, by keeping the log state it left in a file outside ``.prov/``
(``Store.write(keep=...)``). Finding a store and opening its database are ``opening.py``'s.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import shlex
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import InputError, StoreBusyError, StoreError
from provenance.store import audit, dvc_links, identity, vouched
from provenance.store.objects import ObjectStore
from provenance.store.opening import (
    STORE_DIR,
    STORE_ENV,
    connect,
    decode_text,
    find_store,
    harden,
    master_rows,
    schema_refusal,
    shown_path,
)
from provenance.store.schema import create_schema
from provenance.store.sqlite import sqlite_utils

if TYPE_CHECKING:
    from provenance.store.checkpoints import CheckpointKey

__all__ = ["STORE_DIR", "STORE_ENV", "Store", "find_store"]  # finding and opening: ``opening.py``

LOCK_TIMEOUT_ENV = "PROV_LOCK_TIMEOUT"


class Store:
    """An open store: ``root`` is its ``.prov/`` folder, ``db`` the sqlite-utils database,
    ``objects`` the content-addressed files. Reads need no lock; writes go through :meth:`write`.

    Opening raises ``InputError`` (exit 2) when ``root`` holds no ``prov.db``, and
    ``StoreError`` (exit 3) when the database cannot be read, holds text that is not UTF-8,
    lacks a column prov's schema gives it, or holds a trigger, view, table or index prov did not
    create, or a table of prov's with a ``CREATE`` statement prov never wrote (``opening.schema_refusal``);
    ``inspect=True`` (``prov fsck``, which reports them) opens the last two kinds all the same, but its
    :meth:`write` refuses them too.
    """

    def __init__(self, root: Path, inspect: bool = False):
        self.root = Path(root)
        self.objects = ObjectStore(self.root / "objects")
        db_path = self.root / "prov.db"
        if not db_path.is_file():
            raise InputError(f"{self.root}: not a prov store (no prov.db)")
        conn = connect(db_path, self._lock_timeout(), foreign_ok=inspect)
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self._new_objects: list[str] | None = None
        self._live: Store | None = None  # set on a snapshot (:meth:`snapshot`): the store its writes go to
        self._owns_live = False  # a snapshot from open_snapshot closes its live store with itself
        self._inspect = inspect
        # The checkpoint the last write through this handle signed (``write(checkpoint=...)``), once committed: the
        # log state that write left, which a state kept after it must extend (attack review 19b, F19b-1).
        self.written_checkpoint: Any = None
        # The verifier's trust (provenance.trust.pins.Pins), set by whoever opened the store
        # from their own flags and environment; None means nothing pinned. Never read from .prov/.
        self.pins: Any = None
        # Log states the user kept outside .prov/ and passed on the command line (--checkpoint F), each signature
        # checked under those pins, with the words that name it: ``vouched.remember_kept`` sets them, and a head
        # among them by a pinned commit key vouches for version entries in every reader (attack review 28a, A28a-2).
        self.kept_log_heads: tuple = ()

    @property
    def base(self) -> Path:
        """The folder the store sits in; dataset paths are kept relative to it."""
        return self.root.parent

    @staticmethod
    def _lock_timeout() -> float:
        try:
            return float(os.environ.get(LOCK_TIMEOUT_ENV, "30"))
        except ValueError:
            return 30.0

    @classmethod
    def init(cls, where: str | Path = ".") -> Store:
        """Create an empty store in ``where/.prov/`` and open it (``prov init``).

        The database is built under a temporary name and renamed into place, so a crash
        leaves no half store. Raises ``InputError`` when a store already exists there.
        """
        root = Path(where) / STORE_DIR
        if (root / "prov.db").exists():
            raise InputError(f"{root}: a prov store already exists here")
        tracked = dvc_links.tracking_file(Path(where), STORE_DIR)
        if tracked is not None:  # an empty store here would stand in for the team's, until `dvc pull` clashes with it
            shown = shown_path(tracked)
            raise dvc_links.not_checked_out(
                shown_path(root), shown, f", not prov init (or `dvc remove {shlex.quote(str(shown))}` to start anew)"
            )
        (root / "objects").mkdir(parents=True, exist_ok=True)
        (root / "lock").touch()
        tmp = root / ".prov.db.init"
        db = sqlite_utils.Database(tmp, recreate=True, execute_plugins=False)
        # a temporary file until the rename: no sync per statement (~40 fsyncs: most of
        # `prov init`), one fsync of the finished file before it takes its name
        db.conn.execute("pragma synchronous = off")
        db.conn.execute("pragma journal_mode = memory")
        create_schema(db)
        identity.create(db)  # the store's id, signed into its trust entries and versions (store/identity.py)
        db.conn.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, root / "prov.db")
        return cls(root)

    @classmethod
    def open(cls, where: str | Path | None = None, pins: Any = None) -> Store:
        """The store at ``where`` (or the nearest one above the working directory), checking with ``pins``.

        ``pins`` is the verifier's :class:`provenance.trust.pins.Pins` (None: nothing pinned).
        """
        store = cls(find_store(where))
        store.pins = pins
        return store

    @classmethod
    def open_snapshot(cls, where: str | Path | None = None, pins: Any = None) -> Store:
        """The store at ``where`` (as :meth:`open`, checking with ``pins``) read from one :meth:`snapshot`.

        For commands that decide on what they read (``verify``, ``diff``, ``sources``, ``audit
        verify``): every query sees ``prov.db`` as it was when this returned, whatever a
        ``.prov/`` writer changes meanwhile; writes go to the live store, which stays open until
        the snapshot's :meth:`close` closes both. Raises what :meth:`open` and :meth:`snapshot` raise.
        """
        live = cls.open(where, pins)
        try:
            return live._frozen_copy(owns_live=True)
        except BaseException:
            live.close()
            raise

    def close(self) -> None:
        """Close the database connection (on a snapshot: its copy, and the live store it opened itself)."""
        self.db.conn.close()
        if self._live is not None and self._owns_live:
            self._live.close()

    # --- writing ------------------------------------------------------------------------

    def writable(self) -> bool:
        """Whether this process may write the store: its folder, database, objects and lock file.

        False on a read-only mount or without write permission. Reading commands (verify,
        diff, show, log, audit verify, fsck) need none of it; ``check`` and ``diff --detect``
        then run without saving their findings, and say so.
        """
        paths = (self.root, self.root / "prov.db", self.root / "objects", self.root / "lock")
        return all(os.access(p, os.W_OK) for p in paths)

    def refuse_links(self, instead: str = "") -> None:
        """Raise ``InputError`` (exit 2) when ``prov.db`` or its journal is a link into DVC's cache, which a
        write would change (``store/dvc_links.py``); ``instead``: another way out, added to the hint."""
        shared = dvc_links.shared_file(self.root)
        if shared is not None:
            raise InputError(
                f"{shown_path(self.root)}/{shared[0].name} {shared[1]} (DVC's cache, with cache.type symlink or hardlink); "
                f"run `dvc unprotect {shown_path(self.root)}` first{instead}"
            )

    def require_writable(self) -> None:
        """Before work that ends in a write: :meth:`refuse_links`, then ``StoreError`` (exit 3) naming the
        store if :meth:`writable` is false."""
        self.refuse_links()
        if not self.writable():
            raise StoreError(f"{self.root}: the store is read-only here; this command must write to it")

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """``.prov/lock``, held. Writers check :meth:`require_writable` first; a snapshot's copy only reads."""
        deadline = time.monotonic() + self._lock_timeout()
        with open(self.root / "lock", "a+b") as fh:
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreBusyError(
                            f"{self.root}: store busy (another prov command holds its lock); try again"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The store's file lock alone, no transaction: for the one step SQLite cannot run inside one
        (``prov gc``'s first VACUUM). Raises as :meth:`write` does when the lock cannot be taken."""
        self.require_writable()
        with self._file_lock():
            yield

    @contextlib.contextmanager
    def write(
        self, checkpoint: CheckpointKey | None = None, keep: Callable[[Store], None] | None = None
    ) -> Iterator[Store]:
        """One atomic write: lock, transaction, and clean-up of new objects on failure.

        Takes the store's file lock (``.prov/lock``, ``flock``; waits up to
        ``PROV_LOCK_TIMEOUT`` seconds, default 30, then raises ``StoreBusyError``, exit 3),
        begins an immediate SQLite transaction and yields this store. Objects written with
        :meth:`put_object` inside the block are removed again, and the transaction rolled
        back, if the block raises anything (including Ctrl-C); otherwise the transaction
        commits. Nested writes raise ``StoreError``. Keep the block short: anything slow
        (hashing, profiles) belongs before it, since every other writer waits on the lock.

        With ``checkpoint`` (a ``provenance.store.checkpoints.CheckpointKey``), a write that
        appended audit entries ends by signing a checkpoint over the log, in the same
        transaction: the entries are never on disk without it. Once committed, that checkpoint
        is ``written_checkpoint`` (None for a write that signed none), the log state a state kept
        after the write must extend (``checkpoints.keep_checkpoint``).

        With ``keep``, it is called with this store once the transaction has committed, the lock still held:
        the write that keeps a log state outside ``.prov/`` (``prov trust revoke --out``, ``prov commit
        --checkpoint-out``). No prov writer runs between the commit and it, so a ``.prov/`` writer waiting on
        the lock cannot cut the log first (attack review 19b, F19b-1). What it raises propagates once the lock
        is released; the write stands (it has committed), so the caller's message says so.

        Once the transaction holds SQLite's write lock, ``prov.db``'s schema is checked again: a trigger,
        view, table or index prov did not create, or a table definition changed, since the store was opened,
        raises ``StoreError`` (exit 3) before anything is written (``opening.schema_refusal``; attack review
        16b, B16-2).
        """
        if self._live is not None:  # a snapshot: the write goes to the live store, reads stay on the snapshot
            self.written_checkpoint = None
            with self._live.write(checkpoint, keep) as live:
                frozen, self.db = self.db, live.db
                try:
                    yield self
                finally:
                    self.db = frozen
            self.written_checkpoint = self._live.written_checkpoint
            return
        if self._new_objects is not None:
            raise StoreError("nested store writes are not supported")
        self.require_writable()
        with self._file_lock():
            self._new_objects = []
            try:
                self.db.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                self._new_objects = None
                raise StoreBusyError(f"{self.root}: store busy ({exc})") from exc
            try:
                refusal = schema_refusal(self.root / "prov.db", master_rows(self.db.conn))
                if refusal is not None:
                    raise refusal
                before = self.audit_head()
                # what the refusal reads, as the write begins (inside its transaction: nobody writes until it ends)
                judged = checkpoint is not None and not checkpoint.pending_over_broken_log
                state = vouched.log_state(self, before[0]) if judged else None
                self.written_checkpoint = signed = None
                yield self
                if checkpoint is not None and self.audit_head() != before:
                    signed = self._sign_vouched(checkpoint, before[0], state)
                self.db.conn.execute("COMMIT")
                self.written_checkpoint = signed
            except BaseException:
                if self.db.conn.in_transaction:
                    self.db.conn.execute("ROLLBACK")
                for oid in self._new_objects:
                    self.objects.remove(oid)
                raise
            finally:
                self._new_objects = None
            if keep is not None:  # committed; still under the lock, so no prov writer comes in between
                keep(self)

    def _sign_vouched(self, checkpoint: CheckpointKey, before: int, state: tuple | None = None) -> Any:
        """Inside :meth:`write`, its entries appended: sign ``checkpoint`` over the log, once no entry of the first
        ``before`` (those there when the write began) is a version's entry no trusted head signed
        (``vouched.refusal``: attack review 26e, A26e-5); such an entry raises, so the write rolls back. A
        revocation's key (``pending_over_broken_log``) signs all the same, since revoking a stolen key leaves the
        entries only its checkpoints covered pending and a revocation is never held up, but its checkpoint names
        those entries as left pending (``Checkpoint.left_pending``, signed): it vouches for none of them, so they
        stay pending until a maintainer signs them knowingly (``prov audit checkpoint``). Read after the
        revocation's own entries, in the same transaction: the revoked key's heads no longer count. ``state``: the
        log's state as the write began (``vouched.log_state``); one this process's first refusal already cleared is
        not read again (``vouched.refuse_at_write``)."""
        if not checkpoint.pending_over_broken_log:
            vouched.refuse_at_write(self, before, state)
            return checkpoint.sign(self)
        from provenance.keys import key_id

        # with nothing pinned, only the revocation's own key's heads vouch, never the store's keys (A28a-1)
        public = checkpoint.private.public_key()
        left = vouched.unvouched(self, self.audit_head()[0], unpinned={key_id(public): public})
        return checkpoint.sign(self, [e["seq"] for e in left])

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Store]:
        """One consistent state of ``prov.db`` to decide on: a private copy read by every query of the block.

        The database is copied with SQLite's online backup API (https://sqlite.org/backup.html)
        into memory (its size: about 110 MB at 10 M records), under the store's lock when this process may take
        it (no prov writer is half way), and the copy is opened as a store that shares this
        store's folder and objects (content-addressed, re-hashed on read). Reads in the block
        see the copy only, so a ``.prov/`` writer who edits rows while a check runs (attack
        review 6, finding 6) changes nothing the check decides on; writes made through the
        snapshot's :meth:`write` (a check's findings, its attestation) go to this live store.
        The copy is dropped when the block ends. On a snapshot, yields that snapshot itself
        (one state for the whole command, not a newer one). Raises ``StoreError`` if the copy fails.
        """
        if self._live is not None:
            yield self
            return
        snap = self._frozen_copy()
        try:
            yield snap
        finally:
            snap.close()

    def _frozen_copy(self, owns_live: bool = False) -> Store:
        """A store reading a private in-memory copy of ``prov.db`` (:meth:`snapshot`); its writes go to this store."""
        # in memory, not a file: a temporary file of mode 0600 kept out other users only, and a
        # .prov/ writer running as this user edited it while the rules read it (attack review 6b, finding 3)
        copy = sqlite3.connect(":memory:", isolation_level=None)
        try:
            # one backup step (pages=-1): SQLite copies under one read transaction, so the copy is one committed state
            with self._file_lock() if self.writable() else contextlib.nullcontext():
                self.db.conn.backup(copy)
        except BaseException as exc:
            copy.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(f"{self.root / 'prov.db'}: cannot copy the store database ({exc})") from exc
            raise
        copy.text_factory = functools.partial(decode_text, self.root / "prov.db")
        harden(copy)
        refusal = None if self._inspect else schema_refusal(self.root / "prov.db", master_rows(copy))  # since opened
        if refusal is not None:
            copy.close()
            raise refusal
        snap = object.__new__(Store)
        snap.root, snap.objects, snap.pins = self.root, self.objects, self.pins
        snap.kept_log_heads = self.kept_log_heads
        snap.db = sqlite_utils.Database(copy, execute_plugins=False)
        snap._new_objects, snap._live, snap._owns_live, snap._inspect = None, self, owns_live, self._inspect
        return snap

    def put_object(self, data: bytes | Path, ext: str, owned: bool = False) -> str:
        """Store bytes, or a file's bytes (streamed), as a content-addressed object.

        ``owned``: ``data`` is a file the caller made in its own temporary folder and no longer
        writes; it may be linked into the store rather than copied (``ObjectStore.put_file``)."""
        if self._live is not None:
            return self._live.put_object(data, ext, owned)
        if self._new_objects is None:
            raise StoreError("objects are written inside Store.write()")
        oid, created = (
            self.objects.put_file(data, ext, owned) if isinstance(data, Path) else self.objects.put(data, ext)
        )
        if created:
            self._new_objects.append(oid)
        return oid

    def audit(self, action: str, subject: str, detail: dict) -> str:
        """Append an audit entry inside the current write; return the new head hash (``store/audit.py``)."""
        return audit.append(self.db, action, subject, detail)

    def read_back(self, head: str, *rows: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
        """Inside a write, after a security-relevant append: check that what it wrote is there as written.

        ``head`` is what :meth:`audit` returned for the entry: one entry must carry that hash and hash to it
        (``audit.entry_bytes``: seq, time, action, subject and detail as written). Each of ``rows`` is
        ``(table, key, written)``: exactly one row of ``table`` matches the column values ``key`` and holds
        ``written`` (column -> value). Called before the write commits or signs a checkpoint, so nothing a
        trigger or a changed table definition swallowed is certified (attack review 16b, B16-2: the
        ``trust.revoke`` entry deleted as it was inserted, the row's ``revoked_at`` reset). Behind the refusal
        of foreign schema objects and changed table definitions at open and at the start of each write; an
        honest store always passes.

        Raises:
            StoreError: outside a write, or something is not there as written (exit 3); the write then rolls
                back, so nothing is committed.
        """
        db_path = self.root / "prov.db"
        if self._new_objects is None and self._live is None:
            raise StoreError("Store.read_back() is called inside Store.write()")
        cur = self.db.execute(
            "select seq, ts, action, subject, detail, prev_hash, hash from audit where hash = ?", [head]
        )
        cols = [c[0] for c in cur.description]
        found = [dict(zip(cols, r)) for r in cur.fetchall()]
        if len(found) != 1 or hashlib.sha256(audit.entry_bytes(found[0])).hexdigest() != head:
            raise StoreError(
                f"{db_path}: the audit entry just written is not in the log as written ({len(found)} entries carry "
                f"its hash {head[:16]}); nothing was saved: run `prov fsck`"
            )
        for table, key, written in rows:
            names = list(written)
            where = " and ".join(f"[{k}] = ?" for k in key)
            got = self.db.execute(
                f"select {', '.join(f'[{c}]' for c in names)} from [{table}] where {where}", list(key.values())
            ).fetchall()
            if got != [tuple(written[c] for c in names)]:
                shown = ", ".join(f"{k} {v}" for k, v in key.items())
                raise StoreError(
                    f"{db_path}: the {table} row of {shown} does not hold what was just written "
                    f"({', '.join(names)}); nothing was saved: run `prov fsck`"
                )

    # --- reading ------------------------------------------------------------------------

    def audit_head(self) -> tuple[int, str]:
        """(seq, hash) of the newest audit entry; ``(0, "0" * 64)`` for an empty log."""
        return audit.head(self.db)

    def version(self, tag: str) -> dict:
        """The ``versions`` row of ``tag`` as a ``dict`` (``store/schema.py`` lists its columns).

        Raises ``InputError`` (exit 2) naming the known tags when there is no such version.
        """
        row = self.db.execute("select * from versions where tag = ?", [tag]).fetchone()
        if row is None:
            from provenance.names import capped, did_you_mean

            known = [r[0] for r in self.db.execute("select tag from versions order by created_at")]
            hint = f"{did_you_mean(tag, known)}; known: {capped(known, 'versions')}" if known else ", nor any yet"
            raise InputError(f"{tag}: no such version in {shown_path(self.root)}{hint}")
        cols = [d[0] for d in self.db.execute("select * from versions limit 0").description]
        return dict(zip(cols, row))

    def versions(self) -> list[dict]:
        """Every version's row, oldest first by its ``commit`` entry in the hash-chained audit log (rows no
        commit entry names last, by tag), never by the rows' writable ``audit_seq``; the newest version
        a command defaults to is ``version_facts.newest_version``, which also checks it."""
        cursor = self.db.execute(
            "select v.* from versions v left join (select subject, min(seq) as seq from audit "
            "where action = 'commit' group by subject) c on c.subject = v.tag order by c.seq is null, c.seq, v.tag"
        )
        cols = [d[0] for d in cursor.description]
        return [dict(zip(cols, row)) for row in cursor]

    def trusted_keys(self) -> dict:
        """``{key id: Ed25519PublicKey}`` of the keys registered in this store and not revoked.

        Whoever can write ``.prov/`` can add a key here, so this set is only as trustworthy
        as the store's folder; DESIGN.md's trust model has the verifier pin its signers.
        """
        from provenance.keys import parse_public

        return {
            r["keyid"]: parse_public(r["public_pem"].encode(), f"store key {r['keyid'][:16]}")
            for r in self.db["keys"].rows_where("revoked_at is null")
        }
