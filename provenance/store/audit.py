"""The audit log: append-only and hash-chained (the ``audit`` table of ``prov.db``).

Each entry carries the hash of the one before, and the head goes into every signed
version, so an edited, removed or reordered entry breaks either the chain or a signature.

An entry is (seq, ts, action, subject, detail, prev_hash, hash): ``seq`` counts from 1,
``ts`` is UTC ISO 8601 with microseconds, ``detail`` is canonical JSON (keys sorted, no
spaces), ``prev_hash`` is the previous entry's hash (64 zeros for the first) and ``hash``
is the SHA-256, hex, of the compact JSON array ``[seq, ts, action, subject, detail,
prev_hash]`` (UTF-8, non-ASCII kept). The chain alone does not stop someone who can write
``.prov/`` and recomputes it; entries under a signed head do.
The same entries are also the leaves of an RFC 9162 Merkle tree whose signed tree heads
(checkpoints) are ``provenance.store.checkpoints``; a leaf is :func:`entry_bytes`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from provenance import clock
from provenance.errors import VerificationError

GENESIS = "0" * 64


def _body(seq: int, ts: str, action: str, subject: str, detail: str, prev: str) -> bytes:
    fields = [seq, ts, action, subject, detail, prev]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False, default=_not_text).encode()


def _not_text(value: object) -> object:
    """A field SQLite returned as a BLOB (``cast(subject as blob)``, a ``.prov/`` writer's retyping): written as
    ``{"blob": HEX}``, which no entry prov appends holds there, so its hash matches no signed head and readers that
    recompute it see an edited entry rather than an internal error (attack review 23a, A23a-5)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"blob": bytes(value).hex()}
    raise TypeError(f"audit entry field of type {type(value).__name__}")


def _entry_hash(seq: int, ts: str, action: str, subject: str, detail: str, prev: str) -> str:
    return hashlib.sha256(_body(seq, ts, action, subject, detail, prev)).hexdigest()


def entry_bytes(entry: dict) -> bytes:
    """The canonical bytes of one entry (a row of :func:`entries`): the JSON array
    ``[seq, ts, action, subject, detail, prev_hash]``, compact, UTF-8. Its SHA-256 is the
    entry's chain hash; it is also the entry's leaf in the log's Merkle tree."""
    return _body(entry["seq"], entry["ts"], entry["action"], entry["subject"], entry["detail"], entry["prev_hash"])


def detail_json(detail: object) -> Any:
    """An entry's ``detail`` parsed as JSON (RFC 8259), whatever shape it holds.

    Raises ``json.JSONDecodeError`` (a ``ValueError``) when it is no JSON text: malformed, not
    text (a ``TypeError``), or nested so deep that the parser raises ``RecursionError`` (a ``.prov/``
    writer's planted entry, attack review 23c, A23c-1). Every reader of a detail goes through
    here, so each handles a deep nesting as it handles malformed JSON (a broken entry), never
    as an internal error.
    """
    try:
        return json.loads(detail)  # type: ignore[arg-type]
    except RecursionError:
        raise json.JSONDecodeError("audit entry detail nested too deep", "", 0) from None
    except TypeError:
        raise json.JSONDecodeError("audit entry detail is not text", "", 0) from None


def head(db) -> tuple[int, str]:
    """(seq, hash) of the newest entry; ``(0, GENESIS)`` for an empty log. ``db`` is the store's connection."""
    row = db.execute("select seq, hash from audit order by seq desc limit 1").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def append(db, action: str, subject: str, detail: dict) -> str:
    """Append one entry inside the caller's transaction; return the new head hash (64 hex digits).

    ``action`` names what happened (``commit``, ``add``, ...), ``subject`` what it happened
    to (a tag, a batch), ``detail`` any JSON object. Timestamps come from the UTC clock.
    """
    seq, prev = head(db)
    seq += 1
    ts = clock.now_iso("microseconds")
    detail_json = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    h = _entry_hash(seq, ts, action, subject, detail_json, prev)
    db.execute(
        "insert into audit (seq, ts, action, subject, detail, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?)",
        [seq, ts, action, subject, detail_json, prev, h],
    )
    return h


def entries(db) -> list[dict]:
    """Every entry as a ``dict`` of the table's columns, oldest first."""
    return list(iter_entries(db))


def iter_entries(db) -> Iterator[dict]:
    """:func:`entries`, read one at a time (a reader that stops early does not load the whole log)."""
    cur = db.execute("select seq, ts, action, subject, detail, prev_hash, hash from audit order by seq")
    cols = [c[0] for c in cur.description]
    for row in cur:
        yield dict(zip(cols, row, strict=True))


def verify_chain(db) -> tuple[int, str]:
    """Walk the chain from the first entry; return the head (seq, hash) when it is whole.

    Raises ``VerificationError`` (exit 1) naming the first entry that is malformed,
    missing, out of order or edited.
    """
    rows = chained_entries(db)
    return (rows[-1]["seq"], rows[-1]["hash"]) if rows else (0, GENESIS)


def chained_entries(db) -> list[dict]:
    """Every entry (:func:`entries`) of a log whose hash chain is whole; raises as :func:`verify_chain` does."""
    rows = entries(db)
    prev, expected_seq, problems = GENESIS, 1, []
    for e in rows:
        if not isinstance(e["seq"], int) or not all(
            isinstance(e[k], str) for k in ("ts", "action", "subject", "detail", "prev_hash", "hash")
        ):  # subject and detail too: a BLOB of the same bytes is not the text prov wrote (A23a-5)
            problems.append(f"entry {expected_seq} is malformed (a field has the wrong type)")
            break
        if e["seq"] != expected_seq:
            problems.append(f"entry {expected_seq} is missing (next entry is {e['seq']})")
        if e["prev_hash"] != prev:
            problems.append(f"entry {e['seq']} ({e['action']} {e['subject']}) does not follow entry {e['seq'] - 1}")
        if _entry_hash(e["seq"], e["ts"], e["action"], e["subject"], e["detail"], e["prev_hash"]) != e["hash"]:
            problems.append(f"entry {e['seq']} ({e['action']} {e['subject']}) was edited")
        prev, expected_seq = e["hash"], e["seq"] + 1
        if problems:
            break
    if problems:
        raise VerificationError(f"audit log is broken: {problems[0]}", problems)
    return rows


def intact_entries(db) -> list[dict]:
    """Every entry (:func:`entries`) of a log that ``prov audit verify`` does not call broken by its own rows: its
    hash chain whole (:func:`verify_chain`), no batch id registered twice or out of order
    (:func:`registered_twice`), no version committed twice (:func:`committed_twice`). Checkpoints and versions'
    signed heads, which need the verifier's keys, are not judged here.

    Raises ``VerificationError`` (exit 1) naming the first break, in ``prov audit verify``'s words."""
    rows = chained_entries(db)
    twice = registered_twice(db)
    if twice:  # what the lineage reader refuses: named, so CI stops the pull request that planted it
        raise VerificationError(twice)
    committed = committed_twice(rows)
    if committed:  # what prov check's deliveries refuse (gate.sibling_deliveries), named as fsck names it
        tag, seqs = committed
        raise VerificationError(
            f"audit log is broken: version {tag} is committed by {len(seqs)} audit entries (entries "
            f"{', '.join(map(str, seqs))}); a version is committed once, so one was not written by prov commit"
        )
    return rows


def chain_up_to(log: list[dict], head: object) -> list[dict] | None:
    """The leading entries of ``log`` (:func:`entries`) up to and including the one whose hash is ``head``
    (a chain hash a version signed as its ``auditLogHead``), each checked to chain from the first: in order,
    following the one before and hashing to its own ``hash``. ``[]`` when ``head`` is :data:`GENESIS` (signed
    before any entry); ``None`` when ``head`` is not in the intact chain (an entry before it missing, moved or
    edited, or a head the log never had), so a caller can neither trust a row's ``seq`` nor an entry's time.
    """
    prev = GENESIS
    if head == prev:
        return []
    for seq, entry in enumerate(log, 1):
        if entry["seq"] != seq or entry["prev_hash"] != prev:
            return None
        if hashlib.sha256(entry_bytes(entry)).hexdigest() != entry["hash"]:
            return None
        prev = entry["hash"]
        if prev == head:
            return log[:seq]
    return None


def registered_twice(db) -> str | None:
    """The error of a log in which two ``batch.add`` entries register one batch id, or None.

    ``prov add`` registers an id once, so a second entry was written by hand (a planted
    entry for an upcoming batch, attack review 6 finding 10), and it registers ``SOURCE@ROOT12.N``
    only after ``SOURCE@ROOT12.(N-1)`` (``lineage/batch_ids.py``), so one out of order was written by hand
    too (``... entry S registers batch B.N, but no earlier entry registers B.(N-1) ...``): ``prov audit verify``,
    ``prov fsck`` and the lineage reader (``provenance.lineage.evidence``) all call it
    broken, in these words: ``audit log is broken: batch ID is registered twice (entries A and B)...``.
    """
    from provenance.lineage.batch_ids import first_registration, registration_id

    seen: dict[str, int] = {}
    for seq, subject in db.execute("select seq, subject from audit where action = 'batch.add' order by seq"):
        if subject in seen:
            return (
                f"audit log is broken: batch {subject} is registered twice (entries {seen[subject]} and {seq}); "
                "one was not written by prov add"
            )
        first, n = first_registration(subject)
        before = registration_id(first, n - 1) if n > 1 else None
        if before is not None and before not in seen:
            return (
                f"audit log is broken: entry {seq} registers batch {subject}, but no earlier entry registers "
                f"{before}; prov add numbers a batch's registrations in order, so it was not written by prov add"
            )
        seen[subject] = seq
    return None


def committed_twice(log: list[dict]) -> tuple[str, list[int]] | None:
    """The first tag that two or more ``commit`` entries of ``log`` (:func:`entries`, or a part of it) name,
    with the seq of each of its commit entries, oldest first; None when each version is committed once.

    ``prov commit`` writes a version's one ``commit`` entry in the transaction that inserts its row (a tag
    whose row is there is refused, and no command deletes a version), so a second entry was written by
    hand: a planted entry for an upcoming tag, or a copy of a past one (attack review 15b, A15b-1 and -3).
    """
    seqs: dict[str, list[int]] = {}
    for entry in log:
        if entry["action"] == "commit":
            seqs.setdefault(entry["subject"], []).append(entry["seq"])
    return next(((tag, found) for tag, found in seqs.items() if len(found) > 1), None)


def batch_entry(db, batch: str) -> int | None:
    """The seq of the first ``batch.add`` entry naming ``batch``, or None."""
    row = db.execute(
        "select seq from audit where action = 'batch.add' and subject = ? order by seq limit 1", [batch]
    ).fetchone()
    return row[0] if row else None
