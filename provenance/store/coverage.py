"""What of the audit log is under a trusted signature, and ``prov audit verify``.

A check relies on two kinds of signed heads: a checkpoint (``provenance.store.checkpoints``)
and a version's signed ``auditLogHead``. Entries after the last head signed by a key the
verifier trusts are **pending**: shown by ``audit verify``, ``diff``, ``check`` and
``show``, never relied on (:func:`coverage`). :func:`verify_log` is ``prov audit verify``:
the chain, every checkpoint's signature and root, RFC 9162 §2.1.4 consistency proofs
between consecutive checkpoints, and every version's signed head.

``pinned`` arguments map key id to Ed25519 public key: the keys the verifier pinned;
``None`` means none were, and the store's registered, unrevoked keys are used (every
result then says ``pinned: False``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provenance import clock, merkle, signing
from provenance.errors import InputError, VerificationError
from provenance.store import audit
from provenance.store.audit import detail_json
from provenance.store.checkpoints import (
    Checkpoint,
    Keys,
    UnknownSigner,
    checkpoint_rows,
    intact_leaves,
    leaves,
    read_checkpoint,
    trusted_keys,
)
from provenance.store.log_mismatch import mismatch
from provenance.store.log_state import proves_extension
from provenance.store.vouching import SIGNED_AS_WRITTEN, Head, commit_keys, unvouched_entries


@dataclass
class AuditCoverage:
    """How much of the log a trusted signature covers.

    ``entries`` in the log; the first ``signed`` are under a signed head (``by`` names it:
    ``checkpoint <id>`` or ``version <tag>``, None if nothing is signed); ``pending`` are
    the later entries (``seq``, ``ts``, ``action``, ``subject``), and before them each version
    entry among the first ``signed`` that ``unvouched`` names, never relied on by a check.
    ``pinned`` says whether the signatures were checked against keys the verifier pinned
    (False: only against keys found in the store). ``broken`` is None, or why the
    log is not the one a trusted checkpoint signed (it lost or changed entries the
    checkpoint covers: a rolled-back store); ``signed`` then counts only the entries an
    older head that still matches covers, and every report says the log is broken.
    ``unvouched``: the ``commit`` and ``quarantine`` entries no head by a commit key vouches for
    (``vouching.unvouched_entries``; ``{"seq", "action", "subject"}``), those among the first ``signed`` too
    (a waive key's checkpoint covers the entries it signs, no version's); not in :meth:`to_dict` (every one
    is among ``pending``). Read a version entry's standing with :meth:`covers`, never ``signed`` alone.
    """

    entries: int
    signed: int
    by: str | None
    pinned: bool
    pending: list[dict] = field(default_factory=list)
    broken: str | None = None
    unvouched: list[dict] = field(default_factory=list)
    # the unvouched seqs as a set, made once (``coverage`` builds this object whole): a scan of ``unvouched`` per
    # :meth:`covers` call was quadratic over many planted entries (attack review 28a)
    _unvouched_seqs: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._unvouched_seqs = frozenset(e["seq"] for e in self.unvouched)

    def covers(self, seq: int) -> bool:
        """Whether audit entry ``seq`` (1-based) is under a trusted signature: a version entry only when a head by a
        commit key vouches for it (``unvouched``)."""
        return 1 <= seq <= self.signed and seq not in self._unvouched_seqs

    def to_dict(self) -> dict:
        """``{"entries", "signed", "by", "pinned", "pending": [...], "broken"}``."""
        return {k: v for k, v in self.__dict__.items() if k not in ("unvouched", "_unvouched_seqs")}

    def summary(self) -> str:
        """One line for people (``report.audit_words.audit_line``)."""
        from provenance.report.audit_words import audit_line

        return audit_line(self.to_dict())


# --- coverage: what a check may rely on --------------------------------------------------


def coverage(
    store: Any,
    pinned: Keys | None = None,
    version_heads: bool = True,
    kept: Sequence[tuple[Checkpoint, str]] = (),
    heads_before: int | None = None,
) -> AuditCoverage:
    """How many leading audit entries are under a signed head by a trusted key; the rest are pending.

    Signed heads are checkpoints (their root must equal the log's own) and versions (their
    signed ``auditLogHead`` must be an entry's chain hash, followed in the log by the version's
    own ``commit`` entry). A checkpoint by a trusted key that the log no longer matches (it
    covers more entries than the log has, or other ones) is a rolled-back log: ``broken`` says so, and only an older head that still matches
    counts (attack review 14, A14-1: it was skipped, and ``prov show`` said "all 14 entries
    signed" over a log that had lost its 15th). A head that does not verify covers nothing
    (``prov audit verify`` says why); this function never raises for it. ``version_heads=False`` counts
    checkpoints alone (a lower bound: no version's envelope is read or verified). ``kept``: checkpoints kept
    outside the store (``--checkpoint F``), already verified, each with the words ``by`` gives it; one that fits
    the log counts as a stored one does. ``heads_before``: only heads over at most that many entries count, and a
    version's only when its commit entry is among them (a write judging the entries there when it began: the
    version it is signing right now is no earlier evidence, ``vouched.unvouched``).

    A version entry counts only under a head by a commit key (``vouching.unvouched_entries``): one that none
    vouches for is pending (``unvouched``, ``pending``, :meth:`AuditCoverage.covers`) even where ``signed``
    reaches past it, so every reader names as pending what a signing write refuses (attack review 27d, A27d-4).
    """
    rows, hashes = leaves(store.db)
    trusted = trusted_keys(store, pinned)
    stored = checkpoint_rows(store.db)
    sizes = {r["size"] for r in stored if type(r["size"]) is int} | {cp.size for cp, _ in kept if cp.size <= len(rows)}
    roots = merkle.prefix_roots(hashes, sizes)

    last = len(rows) if heads_before is None else heads_before

    def fits(size: object, root: object) -> bool:
        return type(size) is int and size in roots and roots[size].hex() == root

    def counts(size: object, root: object) -> bool:
        return fits(size, root) and type(size) is int and size <= last

    read: dict[str, Checkpoint | None] = {}

    def verified(row: dict) -> Checkpoint | None:
        if row["object"] not in read:
            try:
                read[row["object"]] = read_checkpoint(store, row, trusted)
            except (InputError, VerificationError):
                read[row["object"]] = None
        return read[row["object"]]

    best, by, broken = 0, None, None
    for row in reversed(stored):
        fit = fits(row["size"], row["root"])
        if fit and not counts(row["size"], row["root"]):
            continue
        if (fit and row["size"] <= best) or (not fit and broken is not None):
            continue
        cp = verified(row)
        if cp is None:
            continue
        if not fit:  # signed by a key the verifier trusts over entries this log no longer has
            broken = _lost(cp, len(rows))
        elif best == 0:
            best, by = cp.size, f"checkpoint {cp.object[:12]} ({clock.iso(clock.parse(cp.timestamp, 'checkpoint'))})"
    intact = _intact_prefix(rows)  # a version head covers entries only as far as the chain recomputes
    position = {e["hash"]: e["seq"] for e in rows[:intact]}
    committed = _last_commit_entries(rows[:intact]) if version_heads else {}
    versions: list[Head] = []
    for tag, head, keyid in _version_heads(store, trusted) if version_heads else ():
        at = position.get(head)
        # a version's head counts only when its own commit entry follows it in the log: a rolled-back version's
        # row put back without its entry vouched for the entries before it (attack review 27c, A27c-2)
        if at is not None and at < committed.get(tag, 0) <= last:
            versions.append(Head(at, keyid))
            if at > best:
                best, by = at, f"version {tag}"
    fitting_kept = [(cp, words) for cp, words in kept if cp.keyid in trusted and counts(cp.size, cp.root)]
    for cp, words in fitting_kept:
        if cp.size > best:
            best, by = cp.size, words

    def checkpoint_heads():  # largest first, each envelope read once and only when an entry still waits
        for row in reversed(stored):
            cp = verified(row) if counts(row["size"], row["root"]) else None
            if cp is not None:
                yield Head(cp.size, cp.keyid, frozenset(cp.left_pending))

    kept_heads = sorted(
        (Head(cp.size, cp.keyid, frozenset(cp.left_pending)) for cp, _ in fitting_kept), key=lambda h: -h.size
    )
    ids = commit_keys(store)
    unvouched = unvouched_entries(
        rows[:best],
        (checkpoint_heads(), kept_heads, sorted(versions, key=lambda h: -h.size)),
        None if ids is None else set(ids),
    )
    held = {e["seq"] for e in unvouched}
    unvouched += [  # and those no head covers at all
        {k: e[k] for k in ("seq", "action", "subject")} for e in rows[best:] if e["action"] in SIGNED_AS_WRITTEN
    ]
    return AuditCoverage(
        len(rows),
        best,
        by,
        pinned is not None,
        [{k: e[k] for k in ("seq", "ts", "action", "subject")} for e in rows if e["seq"] in held]
        + [{k: e[k] for k in ("seq", "ts", "action", "subject")} for e in rows[best:]],
        broken,
        unvouched,
    )


def _last_commit_entries(rows: list[dict]) -> dict[str, int]:
    """Version tag -> seq of the last ``commit`` entry naming it among ``rows``."""
    return {e["subject"]: e["seq"] for e in rows if e["action"] == "commit" and isinstance(e["subject"], str)}


def _lost(cp: Checkpoint, entries: int) -> str:
    """What checkpoint ``cp``, signed by a trusted key, says this log lost or changed (``AuditCoverage.broken``)."""
    signed = f"checkpoint {cp.object[:12]} (signed by key {cp.keyid[:16]} at {cp.timestamp[:19]})"
    either = "the log lost or changed entries it covered (a rolled-back store), or a stolen key signed another log"
    if cp.size > entries:
        return f"{signed} covers {cp.size} entries but the log has {entries}: {either}"
    return f"the log's first {cp.size} entries are not the ones {signed} covers: {either}"


def signed_before(store: Any, pinned: Keys | None = None) -> list[tuple[int, str]]:
    """When each audit entry is known, by a trusted signature, to have existed: ``(entries, time)`` pairs.

    One pair per signed head by a key in ``pinned`` (else the store's keys): a checkpoint
    whose root is the log's own (its signed ``timestamp``) and a version whose signed
    ``auditLogHead`` is in the intact chain (its signed ``createdAt``). The first
    ``entries`` entries existed at ``time`` (ISO 8601 UTC), a time written by the signer of
    the head, not by whoever wrote the entry. Smallest ``entries`` first; heads that do not
    verify are left out (this never raises for them).
    """
    rows, hashes = leaves(store.db)
    trusted = trusted_keys(store, pinned)
    out: list[tuple[int, str]] = []
    found = []
    for row in checkpoint_rows(store.db):
        if type(row["size"]) is not int or not 1 <= row["size"] <= len(rows):
            continue
        try:
            found.append(read_checkpoint(store, row, trusted))
        except (InputError, VerificationError):
            continue
    roots = merkle.prefix_roots(hashes, {cp.size for cp in found})
    out += [(cp.size, cp.timestamp) for cp in found if roots[cp.size].hex() == cp.root]
    position = {e["hash"]: e["seq"] for e in rows[: _intact_prefix(rows)]}
    for _, head, created in _version_heads(store, trusted, with_time=True):
        at = position.get(head)
        if at is not None and created:
            out.append((at, created))
    return sorted(out)


def _intact_prefix(rows: list[dict]) -> int:
    """How many leading entries form an unbroken hash chain (each in order, following the
    previous, and hashing to its stored ``hash``); an edited entry ends the prefix."""
    prev = audit.GENESIS
    for i, e in enumerate(rows):
        if e["seq"] != i + 1 or e["prev_hash"] != prev or hashlib.sha256(audit.entry_bytes(e)).hexdigest() != e["hash"]:
            return i
        prev = e["hash"]
    return len(rows)


def _version_heads(store: Any, trusted: Keys, strict: bool = False, with_time: bool = False) -> list:
    """(tag, signed auditLogHead, signing key id) of every version whose envelope verifies under ``trusted``
    (with ``with_time``: (tag, head, signed createdAt or "")).

    Others are skipped, or with ``strict`` raise VerificationError naming the version (an
    object that is not an envelope too: ``ObjectStore.envelope``).
    """
    out = []
    for tag, pred, keyid in _signed_predicates(store, trusted, strict):
        created = pred.get("createdAt") if isinstance(pred.get("createdAt"), str) else ""
        out.append((tag, pred["auditLogHead"], created) if with_time else (tag, pred["auditLogHead"], keyid))
    return out


def _signed_predicates(store: Any, trusted: Keys, strict: bool = False) -> list[tuple[str, dict, str]]:
    """(tag, signed predicate, signing key id) of every version whose envelope verifies under ``trusted`` and signs its tag and an
    ``auditLogHead``; others skipped, or with ``strict`` raise as :func:`_version_heads` says."""
    out = []
    for row in store.versions():
        name = f"envelope of {row['tag']}"
        try:
            verified = signing.verify(store.objects.envelope(row["envelope_object"], name), trusted, name)
            pred = verified.statement.get("predicate") or {}
            if pred.get("version") != row["tag"] or not isinstance(pred.get("auditLogHead"), str):
                raise VerificationError(f"version {row['tag']}: its envelope was signed for another version")
        except (InputError, VerificationError):
            if strict:
                raise
            continue
        out.append((row["tag"], pred, verified.keyid))
    return out


def _commit_facts(detail: object) -> tuple[object, object]:
    """(parent, manifest object) as a ``commit`` entry's ``detail`` (JSON text) names them; (None, None) if unreadable."""
    try:
        facts = detail_json(detail)
    except (TypeError, ValueError):
        return None, None
    return (facts.get("parent"), facts.get("manifest")) if isinstance(facts, dict) else (None, None)


def _signed_facts(pred: dict) -> tuple[object, object]:
    """(parent tag, manifest object) as a version's signed predicate names them (``versions.predicate``)."""
    parent, manifest = pred.get("parent"), pred.get("manifest")
    return (
        parent.get("version") if isinstance(parent, dict) else None,
        manifest.get("sha256") if isinstance(manifest, dict) else None,
    )


# --- prov audit verify --------------------------------------------------------------------


def verify_log(
    store: Any,
    pinned: Keys | None = None,
    extra_heads: Sequence[Checkpoint] = (),
    known: Keys | None = None,
    retired: Keys | None = None,
    kept_names: Mapping[str, str] | None = None,
) -> dict:
    """``prov audit verify``: the whole log against every signed statement about it.

    Checks, failing on the first problem: the hash chain; that no batch id is registered
    by two ``batch.add`` entries (``audit.registered_twice``), nor a version by two ``commit``
    entries (``audit.committed_twice``); each checkpoint's envelope, signature, and root and
    head against the log's own first ``treeSize`` entries; an RFC 9162 §2.1.4 consistency
    proof from each checkpoint to the next; each version's signed ``auditLogHead`` and its
    commit entry, which must name the parent and manifest object the version signed.
    ``extra_heads`` are checkpoints kept outside the store (``--checkpoint FILE``), checked
    the same way, so a log rewritten together with its checkpoints table is still caught;
    ``kept_names`` maps such a head's ``object`` to the file it was read from, which a mismatch names.

    Whose checkpoints count (see :func:`verify_checkpoints`): one signed by a key in
    ``pinned`` (else the store's keys) is checked and may cover the log; one signed by a
    key only in ``known`` (``Pins.known_keys``: a key an earlier root gave a maintainer
    role, a pinned root key) is checked but covers nothing, and when its key is in
    ``retired`` (``Pins.retired_keys``: rotated out) a mismatch is a warning, not a
    failure; one signed by any other key is listed under ``not_relied_on`` and changes nothing.

    Returns ``schemas/audit-verify.schema.json``'s shape. Raises VerificationError (exit
    1) naming the break, or InputError (exit 2) naming a malformed checkpoint file.
    """
    rows, hashes = intact_leaves(store.db)
    seq, head = (rows[-1]["seq"], rows[-1]["hash"]) if rows else (0, audit.GENESIS)
    trusted = trusted_keys(store, pinned)
    checked = verify_checkpoints(store, trusted, extra_heads, (rows, hashes), known, retired, kept_names)
    versions = _verify_version_heads(store, rows, trusted)
    # a kept log state (--checkpoint FILE) a trusted key signed covers its entries as a stored checkpoint does: it
    # was just checked against the log's own first entries (newcomer review 24: `audit verify --checkpoint F`
    # listed the entries F signs as PENDING, "under no signature"); under the same rule for version entries
    kept_objects = {h.object for h in extra_heads}
    kept = [(c, kept_words(c, kept_names)) for c in checked.checked if c.object in kept_objects]
    cov = coverage(store, pinned, kept=kept)
    return {
        "status": "ok",
        "entries": seq,
        "head": head,
        "root": merkle.merkle_root(hashes).hex(),
        "pinned": pinned is not None,
        "checkpoints": [{**c.to_dict(), "relied_on": c.keyid in trusted} for c in checked.checked],
        "not_relied_on": checked.not_relied_on,
        "versions": versions,
        "signed": cov.signed,
        "signed_by": cov.by,
        "pending": cov.pending,
    }


def kept_words(cp: Checkpoint, kept_names: Mapping[str, str] | None) -> str:
    """How ``signed_by`` names the kept log state ``cp`` (read from ``kept_names[cp.object]``)."""
    from provenance.escaping import visible

    name = visible((kept_names or {}).get(cp.object, cp.object[:12]))
    return f"kept log state {name} ({clock.iso(clock.parse(cp.timestamp, 'checkpoint'))})"


def log_break(store: Any, pins: Any) -> str | None:
    """Why the audit log cannot be relied on under ``pins`` (a ``trust.pins.Pins``), as ``prov verify --attestation``
    and ``prov audit verify`` judge it (:func:`verify_log` with the pins' maintainer, known and retired keys), or
    None when it verifies. For displays (``prov log``, ``prov show``): raises nothing for a broken log or a
    malformed checkpoint in ``.prov/``; either is returned as the reason (attack review 14, A14-1)."""
    try:
        verify_log(store, pins.maintainer_keys(store), (), pins.known_keys(store), pins.retired_keys(store))
    except (InputError, VerificationError) as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class CheckedCheckpoints:
    """What :func:`verify_checkpoints` found.

    ``checked``: the checkpoints whose signature verified under a key the verifier knows,
    smallest first, each matching the log and consistent with the next. ``not_relied_on``:
    ``{"object", "size", "keyid", "reason", "warning"}`` of each stored checkpoint that was
    not used: signed by a key the verifier did not pin (``keyid`` as the envelope claims
    it, or None; ``warning`` false), or signed by a rotated-out key over another log
    (``warning`` true: the key may be stolen).
    """

    checked: list[Checkpoint]
    not_relied_on: list[dict]


def verify_checkpoints(
    store: Any,
    trusted: Keys,
    extra_heads: Sequence[Checkpoint] = (),
    log: tuple[list[dict], list[bytes]] | None = None,
    known: Keys | None = None,
    retired: Keys | None = None,
    kept_names: Mapping[str, str] | None = None,
) -> CheckedCheckpoints:
    """Every stored checkpoint (and ``extra_heads``), smallest first, each checked against
    the log's own entries, and an RFC 9162 §2.1.4 consistency proof between consecutive ones.

    A checkpoint is checked when it is signed by a key of ``trusted`` or ``known`` (default:
    ``trusted`` alone); one that names such a key but does not verify under it (forged) or
    does not match the log fails. One signed by any other key is no evidence: whoever can
    write ``.prov/`` can plant one with a key of their own, and honest ones come from a
    reviewer's waive key or a key a newer root rotated out; it is returned under
    ``not_relied_on``, and the log's coverage rests on the checkpoints that do verify
    (``coverage`` already uses only ``trusted`` ones).

    A key in ``retired`` and not in ``trusted`` (a maintainer key an earlier root trusted
    and the root in force does not: rotated out) can at most fail to add coverage: its
    checkpoint that does not match the log is returned under ``not_relied_on`` with
    ``warning`` true (a rotated-out key signed a checkpoint of another log: the key may be
    stolen; attack review 5, finding 5), never a failure, so a thief holding an old key
    cannot block every check.

    ``log`` is ``leaves(store.db)`` if the caller has it. Raises VerificationError naming
    the checkpoint's file and the break, InputError for a malformed checkpoint.
    """
    rows, hashes = log if log is not None else leaves(store.db)
    keys = {**(known or {}), **trusted}
    checked: list[Checkpoint] = []
    ignored: list[dict] = []
    for r in checkpoint_rows(store.db):
        try:
            checked.append(read_checkpoint(store, r, keys))
        except UnknownSigner as exc:
            who = f"key {exc.keyid[:16]}" if exc.keyid else "an unnamed key"
            reason = f"signed by {who}, which the verifier did not pin"
            size = r["size"] if type(r["size"]) is int else None
            ignored.append(
                {"object": r["object"], "size": size, "keyid": exc.keyid, "reason": reason, "warning": False}
            )
    stored = {c.object for c in checked}
    checked += [c for c in extra_heads if c.object not in stored]
    checked.sort(key=lambda c: (c.size, c.timestamp))
    roots = merkle.prefix_roots(hashes, {c.size for c in checked if c.size <= len(rows)})

    def matches(cp: Checkpoint) -> bool:
        return cp.size <= len(rows) and roots[cp.size].hex() == cp.root and rows[cp.size - 1]["hash"] == cp.head

    old_keys = {k for k in (retired or {}) if k not in trusted}
    odd = [cp for cp in checked if cp.keyid in old_keys and cp not in extra_heads and not matches(cp)]
    for cp in odd:
        differs = (
            f"{cp.size} entries; this log has {len(rows)}"
            if cp.size > len(rows)
            else f"its {cp.size} entries are not this log's first {cp.size}"
        )
        reason = (
            f"a rotated-out key ({cp.keyid[:16]}) signed a checkpoint of another log ({differs}): the key may be "
            f"stolen; revoke it with `prov keys revoke {cp.keyid[:16]} --checkpoint-key NEW.key`"
        )
        ignored.append({"object": cp.object, "size": cp.size, "keyid": cp.keyid, "reason": reason, "warning": True})
    checked = [cp for cp in checked if cp not in odd]
    for cp in checked:
        if not matches(cp):
            kept = (kept_names or {}).get(cp.object) if cp in extra_heads else None
            raise VerificationError(mismatch(store, cp, len(rows), trusted, coverage(store, trusted), kept))
    for older, newer in zip(checked, checked[1:]):
        if not proves_extension(hashes, older, newer):
            raise VerificationError(
                f"audit log is broken: checkpoints {older.object[:12]} (size {older.size}) and {newer.object[:12]} "
                f"(size {newer.size}) are not consistent (RFC 9162 §2.1.4)"
            )
    return CheckedCheckpoints(checked, ignored)


def _verify_version_heads(store: Any, rows: list[dict], trusted: Keys) -> int:
    """Each version's signature verifies under ``trusted``, its signed audit head is an entry
    of the log (or the empty log's), and its commit entry is there, naming the parent and
    manifest object the version signed (an entry edited and the log re-chained after it
    names another: ``prov check`` would judge deliveries by it, attack review 15b). Returns how many."""
    position = {e["hash"] for e in rows} | {audit.GENESIS}
    heads = _signed_predicates(store, trusted, strict=True)
    for tag, pred, _ in heads:
        if pred["auditLogHead"] not in position:
            raise VerificationError(f"audit log is broken: version {tag} signed a head that is no longer in the log")
        seq = store.version(tag)["audit_seq"]
        entry = store.db.execute("select action, subject, detail from audit where seq = ?", [seq]).fetchone()
        if entry is None or entry[0] != "commit" or entry[1] != tag:
            raise VerificationError(f"audit log is broken: the commit entry of version {tag} is missing")
        if _commit_facts(entry[2]) != _signed_facts(pred):
            raise VerificationError(
                f"audit log is broken: the commit entry of version {tag} (entry {seq}) names another parent or "
                "manifest object than the version signed (edited, and the log re-chained after it)"
            )
    tags = {r[0] for r in store.db.execute("select tag from versions")}
    for e in rows:  # no command deletes a version: a commit entry without its row is a deleted version
        if e["action"] == "commit" and e["subject"] not in tags:
            raise VerificationError(
                f"audit log is broken: version {e['subject']} (commit entry {e['seq']}) is missing from the store"
            )
    return len(heads)
