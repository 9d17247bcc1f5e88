"""What signed ``prov quarantine`` versions removed, recomputed from the signed manifests.

Read by ``lineage.block_quarantined_sources`` (records a source quarantine removed may not
come back under another source name, attack review 6b, finding 1; nor records a findings
quarantine removed, attack review 7b, finding 3) and by
``provenance.gate.missing_signed`` (which missing signed records a quarantine accounts for).
A quarantine version's removed records are its signed parent's manifest minus its own,
never read from a row, an audit entry or the quarantine's ``removed`` count: whoever can
write ``.prov/`` could edit those. Only the manifests' digest columns are read, once per
version and check, after the object's bytes are re-hashed against the digest its version
signed (``version_facts.verified_statement`` checks that digest against the row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance.store import audit

if TYPE_CHECKING:
    import pyarrow as pa

    from provenance.store import Store


class VersionDigests:
    """The record digests of versions' signed manifests, each read once.

    Call with a ``versions`` row: its signature is checked under the verifier's pins
    (``version_facts.verified_statement``, which binds the row's manifest object to the signed
    digest) and its manifest's ``digest`` column returned (an Arrow ``binary(32)`` array,
    sorted, a digest repeated once per label). Raises ``VerificationError`` when the signature
    does not hold, or the object is missing, altered or not a readable manifest.
    """

    def __init__(self, store: Store):
        self.store = store
        self.read: dict[tuple[str, tuple[str, ...]], pa.Table] = {}

    def __call__(self, row: dict) -> pa.Array:
        """The digest column of ``row``'s manifest (see the class)."""
        return self.columns(row, ("digest",)).column("digest").chunk(0)

    def columns(self, row: dict, names: tuple[str, ...]) -> pa.Table:
        """Columns ``names`` of ``row``'s signed manifest (one chunk each), checked as the class says.

        ``names`` must include ``digest``; the rows are the manifest's, in its order (``combine_chunks``: one chunk).
        """
        from provenance.version_facts import verified_statement

        oid = row["manifest_object"]
        if (oid, names) not in self.read:
            verified_statement(self.store, row)  # the row's manifest object is the one its version signed
            self.read[(oid, names)] = manifest_columns(self.store, oid, names, f"manifest of {row['tag']}")
        return self.read[(oid, names)]


def manifest_columns(store: Store, oid: str, names: tuple[str, ...], name: str) -> pa.Table:
    """Columns ``names`` (``digest`` among them) of the manifest object ``oid``, its bytes re-hashed against ``oid``.

    ``name`` says what it is in messages (``"manifest of v2"``). Raises ``VerificationError`` when the
    object is missing, altered or not a readable manifest. Whether ``oid`` is a version's is the caller's to check.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from provenance.errors import VerificationError

    data = store.objects.get(oid, name)  # re-hashed: the bytes named by the digest
    try:
        table = pq.ParquetFile(pa.BufferReader(data)).read(columns=list(names)).combine_chunks()
    except (pa.ArrowException, OSError, KeyError) as exc:
        raise VerificationError(f"{name}: not a readable manifest ({exc})") from exc
    if table.column_names != list(names) or table.schema.field("digest").type != pa.binary(32):
        raise VerificationError(f"{name}: its columns are not a manifest's ({table.schema})")
    return table


@dataclass
class SignedQuarantine:
    """One signed ``prov quarantine`` version and what it removed.

    ``tag``: the quarantine version; ``parent``: the version it was cut from (its signed
    parent); ``source``: the source its signed facts name, None for a ``--findings``
    quarantine (the records the detectors flagged); ``removed``: digests (Arrow
    ``binary(32)``, unique) in the parent's signed manifest and not in its own;
    ``registered``: the batches registered before the quarantine was made
    (:func:`registered_before`), the only ones that may vouch for a record it removed;
    ``removed_rows``: the (digest, label) rows of the parent's signed manifest not in its own, as
    :func:`row_keys`: a label-flipped copy of a record that another source signed and the quarantine
    kept keeps its digest, so only its row says it was removed (attack review 8b, B3).
    """

    tag: str
    parent: str
    source: str | None
    removed: pa.Array
    registered: frozenset[str] = frozenset()
    removed_rows: pa.Array | None = None


def row_keys(table: pa.Table) -> pa.Array:
    """One binary key per row of ``table`` (columns ``digest`` and ``label``): the 32 digest bytes, then the label's
    UTF-8 (a NUL for a missing label), so equal keys are equal (digest, label) rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    digest = table.column("digest").combine_chunks().cast(pa.binary())
    label = pc.fill_null(table.column("label").combine_chunks(), "\x00").cast(pa.binary())
    return pc.binary_join_element_wise(digest, label, pa.scalar(b"", pa.binary()))


def source_quarantines(store: Store, tags: list[str], digests: VersionDigests) -> list[SignedQuarantine]:
    """The ``--source`` quarantines among :func:`signed_quarantines`."""
    return [q for q in signed_quarantines(store, tags, digests) if q.source is not None]


def signed_quarantines(store: Store, tags: list[str], digests: VersionDigests) -> list[SignedQuarantine]:
    """Every quarantine (``--source`` or ``--findings``) this verifier can trust, wherever it sits in the
    store (each once, oldest first by its signed ``createdAt``, then the audit log's order of commits).

    The chains of ``tags`` must hold (``version_facts.signed_ancestry``: signatures under the
    verifier's pins and signed parent links). Beyond them every stored version whose
    signature verifies under the pins counts, as in ``version_facts.quarantined_sources``: a
    candidate cut from a pre-quarantine version (``--parent``, a side branch, or a default
    parent steered through the writable ``versions.audit_seq``; attack review 7, finding 1)
    still meets the quarantine. Each quarantine's parent is the one its own predicate signed,
    whose row must hold the signed Merkle root and verify (the quarantine's whole signed chain must). Raises ``VerificationError`` where a
    chain does not hold, where a quarantine's signed parent is missing or does not verify, or
    where a ``quarantine`` audit entry that a trusted signature covers names a version that is
    missing or does not verify (deleting or re-signing the row must not drop what it removed);
    ``InputError`` for an unknown tag.
    """
    import pyarrow.compute as pc

    from provenance.errors import InputError, VerificationError
    from provenance.version_facts import signed_ancestry, verified_statement

    trusted: dict[str, tuple[dict, dict]] = {}
    for tag in tags:
        trusted.update((row["tag"], (row, stmt)) for row, stmt in signed_ancestry(store, tag))
    stored = store.versions()  # in the audit log's order of commits
    for row in stored:
        try:
            trusted.setdefault(row["tag"], (row, verified_statement(store, row)))
        except (VerificationError, InputError):
            continue  # not signed under the pins: it contributes nothing (an entry it logged is checked below)
    for tag in checkpointed_quarantines(store):
        if tag not in trusted:
            raise VerificationError(
                f"version {tag}: a signed audit checkpoint covers its quarantine, but the version "
                "is missing or its signature does not verify under the pins"
            )
    out: list[SignedQuarantine] = []
    log = audit.entries(store.db)
    logged = {row["tag"]: i for i, row in enumerate(stored)}

    def made(pair: tuple[dict, dict]) -> tuple[str, int]:  # the signed time, then the log: never the row's audit_seq
        return str(pair[1]["predicate"].get("createdAt") or ""), logged.get(pair[0]["tag"], len(logged))

    for row, stmt in sorted(trusted.values(), key=made):
        facts = stmt["predicate"].get("quarantine")
        if not isinstance(facts, dict):
            continue
        source = facts.get("source")
        if not isinstance(source, str) and "findings" not in facts:
            continue
        chain = signed_ancestry(store, row["tag"])  # its signed parent, whose root and signature must hold
        if len(chain) < 2:
            raise VerificationError(f"quarantine {row['tag']}: it signs no parent version")
        parent = chain[1][0]
        before, own = digests(parent), digests(row)
        removed = pc.unique(pc.filter(before, pc.invert(pc.is_in(before, value_set=own))))
        registered = registered_before(log, stmt["predicate"].get("auditLogHead"))
        rows_before = row_keys(digests.columns(parent, ("digest", "label")))
        rows_own = row_keys(digests.columns(row, ("digest", "label")))
        removed_rows = pc.unique(pc.filter(rows_before, pc.invert(pc.is_in(rows_before, value_set=rows_own))))
        name = source if isinstance(source, str) else None
        out.append(SignedQuarantine(row["tag"], parent["tag"], name, removed, registered, removed_rows))
    return out


def registered_before(log: list[dict], head: object) -> frozenset[str]:
    """The batches whose ``batch.add`` entry in ``log`` (``audit.entries``) comes before ``head``, the chain hash
    a version signed as its ``auditLogHead``: registered before that version was made.

    The order is the one the version's signature fixes: every entry up to ``head`` must
    chain from the first (each following the one before and hashing to its own ``hash``),
    so whoever writes ``.prov/`` cannot move a later registration before it, nor rely on a
    row's ``audit_seq`` or an entry's time. When ``head`` is not in the intact chain (a
    rewritten log, which the integrity rule reports), no batch counts: empty.
    """
    chain = audit.chain_up_to(log, head)
    return frozenset(e["subject"] for e in chain or () if e["action"] == "batch.add")


def checkpointed_quarantines(store: Store) -> list[str]:
    """Tags named by ``quarantine`` audit entries that a signature of a key the verifier trusts covers
    (``provenance.store.coverage``): whoever writes ``.prov/`` cannot drop those without breaking it."""
    from provenance.store.coverage import coverage
    from provenance.trust.pins import pins_of

    covered = coverage(store, pins_of(store).maintainer_keys(store))  # a version entry: under a commit key's head
    rows = store.db.execute("select seq, subject from audit where action = 'quarantine'")
    return [subject for seq, subject in rows if type(seq) is int and covered.covers(seq)]
