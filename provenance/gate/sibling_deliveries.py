"""Versions committed beside the candidate's history since the base, as deliveries a check judges again.

``provenance.gate.steps`` judges each step of the candidate's signed history on the records it brought
in. That history is whatever parent the committer named: a pipeline that commits each day's candidate on
top of the last release (``prov commit DATA --tag v4r --parent v1``) makes a one-step history, and a
day-2 delivery that ``prov check v2 --base v1`` blocked (17 of 200 flagged, at most 10) passed inside
``v4r``'s one budget once two clean days were committed with it (22 of 997, at most 29: attack review
14, A14-6). The version graph is the committer's choice; which versions were committed before the
candidate is not: the candidate signs its audit-log head (``auditLogHead``), and the hash chain up to it
holds a ``commit`` entry for every version committed before it, each naming the version's parent and
its manifest object (by SHA-256). So every version committed after the base and before the candidate,
descending from the base by those signed parent links, but not in the candidate's history, is a
*delivery*: the rows of its manifest that its parent's manifest lacks. A check judges each such
delivery on the records of its delta it holds, at that delivery's size, whatever parent the candidate
names (``steps.judge_steps``).

What is relied on, and who can write it: the log entries up to the candidate's signed head (the
chain is walked and every entry re-hashed here; a ``.prov/`` writer cannot drop or edit one after the
candidate was committed without the head leaving the chain, which raises), and manifest objects,
re-hashed against the digest the entry names (``ObjectStore.get``: missing or altered raises). Before
the candidate is committed the log is anyone's to extend or re-chain (a hash chain needs no key), so:

- a version is committed once: a second ``commit`` entry of any tag up to the signed head fails the
  check closed, whichever is the real one (attack review 15b: a parentless ``v2`` entry planted before
  the real one took the blocked ``v2`` out of the base's descendants, A15b-1; a copy of a signed
  version's entry naming a small manifest blocked an honest candidate for a false reason, A15b-3);
- the entries and the versions agree both ways (``_entries_agree``): a version whose signature verifies under
  the verifier's pins and whose signed ``auditLogHead`` lies before the candidate's has its one entry up to
  the candidate's head, at its row's ``audit_seq``, naming the parent and manifest object it signed (an entry
  edited, or renamed to another tag or action, in a re-chained log raises: attack review 16, F3; ``prov audit
  verify`` checks the same), and every entry names a version that has a row (an entry planted for a tag never
  committed was judged as a delivery and blocked an honest candidate for a false reason, F5);
- otherwise the entries' word is taken over the rows': a delivery's parent and manifest are its entry's, and
  a version whose signature does not verify under the pins (re-signed, or its key not pinned) still counts
  by its entry, so re-signing the blocked version does not hide it. Deleting its row *and* its entry before
  the candidate is committed (the log's last entry, so nothing needs re-chaining) is a rollback this store
  alone cannot tell (attack review 16, F1; README Known gaps).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance.errors import InputError, VerificationError
from provenance.store import audit

if TYPE_CHECKING:
    import pyarrow as pa

    from provenance.gate.quarantine_history import VersionDigests
    from provenance.store import Store

ROW_COLUMNS = ("digest", "label")


@dataclass(frozen=True)
class SiblingDelivery:
    """A version committed beside the candidate's history (see the module), as its commit entry names it.

    Attributes:
        version: its tag.
        parent: its parent's tag (the commit entry's).
        manifest: its manifest object (hex SHA-256 of the Parquet bytes).
        parent_manifest: its parent's manifest object.
        position: its commit's place among the commits before the candidate (0 for the first).
    """

    version: str
    parent: str
    manifest: str
    parent_manifest: str
    position: int


@dataclass(frozen=True)
class CommitsBefore:
    """The versions committed before a candidate, as its signed audit-log head fixes them.

    Attributes:
        deliveries: the versions beside its history since the base, oldest first.
        positions: each tag committed before the candidate -> its commit's place (0 for the first).
    """

    deliveries: list[SiblingDelivery]
    positions: dict[str, int]


def commit_entries_before(store: Store, new: str, statement: dict) -> list[dict]:
    """The ``commit`` entries of the audit log up to ``new``'s signed ``auditLogHead``, oldest first.

    Args:
        store: the open store.
        new: the version's tag (for messages).
        statement: its verified in-toto Statement (``version_facts.verified_statement``).

    Returns:
        Each entry as ``audit.entries`` gives it, ``detail`` parsed (a dict; ``{}`` when it is not one).

    Raises:
        VerificationError: the signed head is not in the log's intact chain (an entry before it is
            missing, out of order or edited), naming the version.
    """
    chain = audit.chain_up_to(audit.entries(store.db), (statement.get("predicate") or {}).get("auditLogHead"))
    if chain is None:
        raise _not_in_log(new)
    return _commits(chain)


def _not_in_log(new: str) -> VerificationError:
    """The error of a version whose signed ``auditLogHead`` is not in the log's intact chain."""
    return VerificationError(
        f"version {new}: the audit-log head it signed is not in the intact audit log (history rewritten?), "
        "so which versions were committed before it is unknown; run prov audit verify"
    )


def _commits(chain: list[dict]) -> list[dict]:
    """The ``commit`` entries of ``chain``, ``detail`` parsed."""
    return [entry | {"detail": _detail(entry["detail"])} for entry in chain if entry["action"] == "commit"]


def _detail(text: object) -> dict:
    """A commit entry's ``detail`` parsed; ``{}`` when it is not a JSON object."""
    try:
        detail = json.loads(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return {}
    return detail if isinstance(detail, dict) else {}


def commits_before(store: Store, base: str, new: str) -> CommitsBefore:
    """The deliveries committed beside ``new``'s signed history since ``base`` (see the module).

    Args:
        store: the open store, carrying the verifier's pins.
        base, new: the check's base and candidate (tags).

    Returns:
        A ``CommitsBefore``: every version whose commit entry comes after ``base``'s (after none,
        when the log has no commit of ``base``) and before ``new``'s signed head, whose entries'
        parent links lead to ``base``, and which is not in ``new``'s signed history.

    Raises:
        VerificationError: ``new``'s signed history does not verify (``version_facts.signed_ancestry``),
            its signed head is not in the intact log, two of the commit entries up to that head name one tag (a
            version is committed once: one was planted, and taking either would let a ``.prov/`` writer re-parent
            a blocked delivery out of the judgement, attack review 15b, A15b-1, or add a false one, A15b-3), the
            entries and the versions disagree (``_entries_agree``: a version signed before ``new``'s head without its
            one entry naming the parent and manifest it signed, a version's entry before the head it signed, an
            entry of a tag with no row, a verified version's signed head not in the intact log), or such a
            version's entry names no manifest object or a parent whose manifest no commit entry (nor ``new``'s
            history) names.
    """
    from provenance.version_facts import signed_ancestry

    chain = signed_ancestry(store, new)
    log = audit.entries(store.db)
    position = _head_positions(log)
    head = (chain[0][1].get("predicate") or {}).get("auditLogHead")
    if not isinstance(head, str) or head not in position:
        raise _not_in_log(new)
    entries = _commits(log[: position[head]])
    twice = audit.committed_twice(entries)
    if twice is not None:  # which entry is the real one is unknown: fail closed (A15b-1, A15b-3)
        tag, seqs = twice
        raise VerificationError(
            f"version {tag}: {len(seqs)} commit entries of the audit log before {new}'s signed head commit it "
            f"(entries {', '.join(map(str, seqs))}); a version is committed once, so one was planted and which "
            "versions were committed before it is unknown; run prov audit verify, and restore the store from a copy "
            "you trust"
        )
    _entries_agree(store, new, entries, position, position[head])
    manifests: dict[str, str] = {}
    parents: dict[str, str | None] = {}
    positions: dict[str, int] = {}
    for i, entry in enumerate(entries):  # one entry per tag (checked above)
        tag, detail = entry["subject"], entry["detail"]
        positions[tag] = i
        parents[tag] = detail.get("parent") if isinstance(detail.get("parent"), str) else None
        if isinstance(detail.get("manifest"), str):
            manifests[tag] = detail["manifest"]
    history = {row["tag"] for row, _ in chain}
    manifests |= {row["tag"]: row["manifest_object"] for row, _ in chain}  # verified under the pins
    start = positions[base] + 1 if base in positions else 0
    out: list[SiblingDelivery] = []
    for i, entry in enumerate(entries[start:], start):
        tag = entry["subject"]
        if tag in history or not _descends(tag, base, parents):
            continue
        parent, manifest = entry["detail"].get("parent"), entry["detail"].get("manifest")
        if not isinstance(manifest, str) or not isinstance(parent, str) or parent not in manifests:
            raise VerificationError(
                f"version {tag}: its commit entry (audit entry {entry['seq']}, before {new}'s signed head) names "
                f"no manifest object or a parent whose manifest is unknown ({parent!r}); run prov audit verify"
            )
        out.append(SiblingDelivery(tag, parent, manifest, manifests[parent], i))
    return CommitsBefore(out, positions)


def _head_positions(log: list[dict]) -> dict[str, int]:
    """Each chain hash of ``log``'s intact leading entries (``audit.chain_up_to``'s checks) -> how many entries it
    covers; :data:`audit.GENESIS` -> 0. A version that signed head ``h`` as its ``auditLogHead`` was committed after
    the first ``position[h]`` entries."""
    prev, out = audit.GENESIS, {audit.GENESIS: 0}
    for seq, entry in enumerate(log, 1):
        if entry["seq"] != seq or entry["prev_hash"] != prev:
            break
        if hashlib.sha256(audit.entry_bytes(entry)).hexdigest() != entry["hash"]:
            break
        prev = entry["hash"]
        out[prev] = seq
    return out


def _entries_agree(store: Store, new: str, entries: list[dict], position: dict[str, int], before: int) -> None:
    """Raise ``VerificationError`` unless the commit ``entries`` up to ``new``'s signed head (its first ``before``
    log entries) and the versions agree, both ways (``position``: :func:`_head_positions`):

    - every version whose signature verifies under the verifier's pins (``version_facts.verified_statement``)
      and whose signed ``auditLogHead`` lies before ``new``'s has one entry, at its row's ``audit_seq``, naming the
      parent and manifest object it signed. An entry edited (A15b-1: a parentless ``v2``), renamed to another tag
      or another action (attack review 16, F3), with the log re-chained before ``new`` was committed, took the
      blocked delivery out of the judgement; a version whose signed head left the intact log is unplaceable;
    - no such version committed after ``new``'s head (or ``new`` itself) has an entry before it (planted);
    - every entry names a version that has a row: an entry for a tag never committed was judged as a delivery and
      blocked an honest candidate for a false reason (attack review 16, F5); the row of a committed one deleted
      is named the same way (its entry deleted too is a rollback this store alone cannot tell: README Known gaps).

    A version whose signature does not verify under the pins keeps its entry's word (the module).
    """
    from provenance.version_facts import verified_statement

    by_tag = {entry["subject"]: entry for entry in entries}  # one per tag (checked before)
    rows = {row["tag"]: row for row in store.versions()}
    for tag, row in rows.items():
        try:
            predicate = verified_statement(store, row)["predicate"]  # the row's parent and manifest are the signed ones
        except (InputError, VerificationError):
            continue
        signed_head, entry = predicate.get("auditLogHead"), by_tag.get(tag)
        if not isinstance(signed_head, str):
            continue
        if signed_head not in position:
            raise VerificationError(
                f"version {tag}: the audit-log head it signed is not in the intact audit log, so whether it was "
                f"committed before {new} is unknown (history rewritten?); run prov audit verify, and restore the "
                "store from a copy you trust"
            )
        if tag == new or position[signed_head] >= before:  # committed after new's head: no entry before it
            if entry is not None:
                raise VerificationError(
                    f"version {tag}: audit entry {entry['seq']} commits it before {new}'s signed head, but it signed "
                    f"a later audit-log head (after entry {position[signed_head]}): the entry was planted; run prov "
                    "audit verify, and restore the store from a copy you trust"
                )
            continue
        if entry is None:
            raise VerificationError(
                f"version {tag}: it was committed before {new} (it signed the audit-log head after entry "
                f"{position[signed_head]}), but no commit entry up to {new}'s signed head commits it (its row names "
                f"entry {row['audit_seq']}): the entry was renamed or removed and the log re-chained, so which "
                "versions were committed before it is unknown; run prov audit verify, and restore the store from a "
                "copy you trust"
            )
        if entry["seq"] != row["audit_seq"]:
            raise VerificationError(
                f"version {tag}: its commit entry is audit entry {entry['seq']}, but its row names entry "
                f"{row['audit_seq']}; run prov audit verify, and restore the store from a copy you trust"
            )
        said = (entry["detail"].get("parent"), entry["detail"].get("manifest"))
        signed = (row["parent"], row["manifest_object"])
        if said != signed:
            raise VerificationError(
                f"version {tag}: its commit entry (audit entry {entry['seq']}, before {new}'s signed head) names "
                f"parent {said[0]!r} and manifest {str(said[1])[:16]}, but the version signed parent {signed[0]!r} "
                f"and manifest {signed[1][:16]}: the entry was edited and the log re-chained, so which versions were "
                "committed before it is unknown; restore the store from a copy you trust"
            )
    for entry in entries:
        if entry["subject"] not in rows:
            raise VerificationError(
                f"audit entry {entry['seq']} commits version {entry['subject']}, which has no version row: planted, "
                "or the version was deleted; run prov audit verify, and restore the store from a copy you trust"
            )


def delivery_mask(
    store: Store,
    delivery: SiblingDelivery,
    delta_keys: pa.Array,
    delta_digests: pa.Array,
    manifests: VersionDigests,
    read: dict[str, pa.Table],
) -> pa.Array:
    """Which rows of the check's delta ``delivery`` brought in: in its manifest, not in its parent's.

    Args:
        store: the open store (its objects).
        delivery: the version beside the candidate's history.
        delta_keys: the delta's rows as ``quarantine_history.row_keys`` gives them (digest, then label).
        delta_digests: the delta's digests (Arrow ``binary(32)``), row for row with ``delta_keys``.
        manifests: the check's reader of signed manifests: a manifest it read already is not read again.
        read: this judgement's own manifest reads, by object (filled here; never ``manifests.read``, whose entries
            stand for a verified version's row).

    Returns:
        A boolean Arrow array, row for row with ``delta_keys``.

    Raises:
        VerificationError: a manifest object is missing, altered or not a manifest.
    """
    import pyarrow.compute as pc

    from provenance.gate.quarantine_history import row_keys

    def held(oid: str, name: str) -> pa.Array:
        table = _manifest_rows(store, oid, name, manifests, read)
        table = table.filter(pc.is_in(table.column("digest"), value_set=delta_digests))
        return pc.is_in(delta_keys, value_set=row_keys(table))

    own = held(delivery.manifest, f"manifest of {delivery.version}")
    before = held(delivery.parent_manifest, f"manifest of {delivery.parent}")
    return pc.and_(own, pc.invert(before))


def _manifest_rows(store: Store, oid: str, name: str, manifests: VersionDigests, read: dict[str, pa.Table]) -> pa.Table:
    """The (digest, label) columns of manifest object ``oid``, re-hashed, read once (``delivery_mask``'s ``read``)."""
    from provenance.gate.quarantine_history import manifest_columns

    if (oid, ROW_COLUMNS) in manifests.read:  # bytes already re-hashed for a verified version: the same object
        return manifests.read[(oid, ROW_COLUMNS)]
    if oid not in read:  # re-hashed against the digest the signed log names
        read[oid] = manifest_columns(store, oid, ROW_COLUMNS, name)
    return read[oid]


def _descends(tag: str, base: str, parents: dict[str, str | None]) -> bool:
    """Whether ``tag``'s parent links (the commit entries') lead to ``base``."""
    seen: set[str] = set()
    step: str | None = parents.get(tag)
    while step is not None and step not in seen:
        if step == base:
            return True
        seen.add(step)
        step = parents.get(step)
    return False
