"""A committed version read back: its signed statement (checked), its manifest, and where its data is.

Everything that reads a version (verify, diff, lineage, profiles, detectors, the gate)
starts here, so each relies only on facts under the version's signature: the statement
is verified before use, and the manifest must have the Merkle root the version signed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING

from provenance import signing
from provenance.errors import InputError, NotRereadable, VerificationError
from provenance.sources.schema_consistency import schema_contradiction
from provenance.sources.schema_delta import schema_problem
from provenance.store import identity
from provenance.store.audit import detail_json
from provenance.store.store import Store
from provenance.trust.pins import pins_of
from provenance.trust.roles import COMMIT

PREDICATE_TYPE = signing.DATASET_VERSION_TYPE

if TYPE_CHECKING:  # imported where used: `prov log` and `prov show` need neither numpy nor pyarrow
    from provenance.manifest import Manifest
    from provenance.sources.interface import DatasetSpec
    from provenance.sources.records import Records
    from provenance.store.coverage import AuditCoverage

# Statements verified during one block of work (``statement_cache``: a check, one listing of releases, the notes
# of one commit), keyed by everything verified_statement's answer depends on: the store handle, the state prov.db
# was read in and the verifier's pins (``identity.read_state``: a change through this connection or committed by
# another process is read afresh; other pins are another key), whether a commit may be the store's first to sign
# its id (``first_id_commit``) and every row field verified_statement compares. A check reads the same versions
# from many rules (42 verifications of 4 versions in one check of a quarantine's successor), `prov log` each
# release's whole signed ancestry (209 of 20 versions for 19 releases), a commit's four notes the version and its
# parent (7 of 2). Outside a block every call verifies again; inside, a hit still reads the envelope's object and
# re-hashes it, so one deleted or altered since is refused as when first verified. A failure is never kept.
_VERIFIED: ContextVar[dict[tuple, tuple] | None] = ContextVar("prov_verified_statements", default=None)
_ROW_FIELDS = ("tag", "envelope_object", "keyid", "merkle_root", "manifest_object", "parent", "kind")


# Set while a commit that may be the store's first to sign its id reads its parent (:func:`first_id_commit`).
_FIRST_ID: ContextVar[bool] = ContextVar("prov_first_id_commit", default=False)


@contextmanager
def first_id_commit() -> Iterator[None]:
    """Within the block (a commit or quarantine reading the version it builds on), a version that signs no store
    id is read under a pinned id while no version of the audit log signs one yet: the commit is the store's first
    to sign it (``identity.id_less_problem``). Once a version signs the id, the block changes nothing."""
    token = _FIRST_ID.set(True)
    try:
        yield
    finally:
        _FIRST_ID.reset(token)


@contextmanager
def statement_cache() -> Iterator[None]:
    """Within the block, :func:`verified_statement` verifies each version once per store, pins and state of
    ``prov.db`` (a check; ``prov log``'s and ``show``'s release lines; ``prov commit``'s notes), re-reading its
    envelope's bytes at each use. What it kept is dropped when the block ends; a block inside another starts
    empty."""
    token = _VERIFIED.set({})
    try:
        yield
    finally:
        _VERIFIED.reset(token)


def is_version(store: Store, name: str) -> bool:
    """Whether the store has a version called ``name``."""
    return store.db.execute("select 1 from versions where tag = ?", [name]).fetchone() is not None


# Manifests decoded during one check (``manifest_cache``), keyed by the store handle, the manifest object and the
# Merkle root the row names: a check decoded the candidate's twice (integrity.verify_signatures, then verify_data),
# and again for its judged lineage, each a Parquet read and a Merkle root (0.05 s of CPU at 100,000 records). The
# object is content-addressed, so a hit re-reads and re-hashes its bytes (one deleted or altered since is refused
# as when first read) and skips only the decoding. A Manifest is not changed by its readers (only a commit's merge
# sets ``within_batches``, on a manifest it built). A failure is never kept.
_MANIFESTS: ContextVar[dict[tuple, tuple] | None] = ContextVar("prov_decoded_manifests", default=None)


@contextmanager
def manifest_cache() -> Iterator[None]:
    """Within the block (a check), :func:`load_manifest` decodes each version's manifest once per store handle,
    re-reading and re-hashing its object at each use. What it kept is dropped when the block ends; a block inside
    another starts empty."""
    token = _MANIFESTS.set({})
    try:
        yield
    finally:
        _MANIFESTS.reset(token)


def load_manifest(store: Store, row: dict) -> Manifest:
    """The manifest of the version ``row`` (a ``versions`` table row), checked against its Merkle root.

    Raises ``VerificationError`` if the object is missing, damaged, or has another root. Inside
    :func:`manifest_cache` a manifest decoded before is not decoded again (its object is read and re-hashed again).
    """
    from provenance.manifest import Manifest

    data = store.objects.get(row["manifest_object"], f"manifest of {row['tag']}")
    cache = _MANIFESTS.get()
    key = (id(store), row["manifest_object"], row["merkle_root"])
    if cache is not None and key in cache:
        return cache[key][1]
    manifest = Manifest.from_bytes(data, f"manifest of {row['tag']}")
    if manifest.root.hex() != row["merkle_root"]:
        raise VerificationError(f"manifest of {row['tag']}: Merkle root does not match the version record")
    if cache is not None:  # the store handle kept with it, so its id is not reused meanwhile
        cache[key] = (store, manifest)
    return manifest


def verified_statement(store: Store, row: dict) -> dict:
    """The version's in-toto Statement (a dict), after checking its DSSE signature and what it names.

    The signature must meet the ``commit`` role of the verifier's pins (``store.pins``:
    a root file, pinned ``--signer`` keys, or, with nothing pinned, the keys cached in
    the store); the signed predicate type, subject (Merkle root), version name, manifest
    digest and parent (name and Merkle root) must equal the version's row, a store id it signs must be the
    one the verifier pinned, if any (``Pins.store_id``; a version from before ids signs none), and its signed
    ``schema`` must be the shape prov writes (``sources.schema_delta.schema_problem``) with facts that agree with
    each other and with the row's kind (``sources.schema_consistency.schema_contradiction``). Raises
    ``VerificationError`` naming the version and the fact that differs, or the key that
    is not trusted for commit. Inside :func:`statement_cache` a row verified before in the same state of ``prov.db``
    is not verified again (its envelope's object is read and re-hashed again).
    """
    cache = _VERIFIED.get()
    if cache is None:
        return _verify_statement(store, row)
    key = (id(store), identity.read_state(store), _FIRST_ID.get(), *(row.get(f) for f in _ROW_FIELDS))
    if key in cache:  # the same bytes still there (content-addressed, re-hashed): they verified under these pins
        store.objects.get(row["envelope_object"], f"envelope of {row['tag']}")
    else:  # the store, pins and connection are kept with the statement, so their ids are not reused meanwhile
        cache[key] = (store, getattr(store, "pins", None), store.db.conn, _verify_statement(store, row))
    return cache[key][3]


def verified_predicate(store: Store, tag: str) -> dict:
    """Version ``tag``'s verified predicate: ``verified_statement(store, store.version(tag))["predicate"]`` (verified
    once per :func:`statement_cache` block). Raises ``InputError`` for a version with no row and what
    :func:`verified_statement` raises."""
    return verified_statement(store, store.version(tag))["predicate"]


def _verify_statement(store: Store, row: dict) -> dict:
    """:func:`verified_statement`, uncached."""
    name = f"version {row['tag']}"
    env = store.objects.envelope(row["envelope_object"], f"envelope of {row['tag']}")
    signed = pins_of(store).verify(env, COMMIT, name, store)
    if row["keyid"] not in signed.keyids:
        raise VerificationError(
            f"{name}: signed by key {signed.keyid[:16]}, not the key {row['keyid'][:16]} it records"
        )
    stmt = signed.statement
    if stmt.get("predicateType") != PREDICATE_TYPE:
        raise VerificationError(f"{name}: its envelope signs a {stmt.get('predicateType')!r}, not a dataset version")
    if signing.subject_root(stmt).hex() != row["merkle_root"]:
        raise VerificationError(f"{name}: signed Merkle root differs from the version record")
    pred = stmt.get("predicate")
    if not isinstance(pred, dict):  # signed, but not by prov: a crash here would be exit 3, not a failed check
        raise VerificationError(f"{name}: its signed predicate is not a JSON object")
    if pred.get("version") != row["tag"] or stmt["subject"][0].get("name") != row["tag"]:
        raise VerificationError(f"{name}: envelope was signed for version {pred.get('version')!r}")
    manifest = pred.get("manifest")
    if not isinstance(manifest, dict) or manifest.get("sha256") != row["manifest_object"]:
        raise VerificationError(f"{name}: signed manifest digest differs from the version record")
    schema = pred.get("schema", {})
    problem = schema_problem(schema)
    if problem is None:  # attack review 26a, A26a-1/2: well shaped, yet contradicting itself
        problem = schema_contradiction(schema)
    if problem is not None:  # attack review 25a, A25a-3/4: what reads the schema would crash or write bad JSON
        raise VerificationError(
            f"{name}: its signed schema is not the shape prov writes ({problem}); prov did not sign it, whoever "
            "holds a commit key did: check who holds that key"
        )
    if schema_contradiction(schema, row.get("kind")) is not None:  # A26a-2: a table read as a tree, or the reverse
        raise VerificationError(
            f"{name}: its signed schema says kind {schema['kind']!r} but the version's record says {row['kind']!r}: "
            "a .prov/ writer edited the record (restore .prov/ from a copy you trust), or whoever holds a commit key "
            "signed a kind prov did not read (check who holds that key)"
        )
    parent = pred.get("parent") or {}
    if not isinstance(parent, dict):
        raise VerificationError(f"{name}: its signed parent is not a JSON object")
    if parent.get("version") != row["parent"]:
        raise VerificationError(f"{name}: signed parent {parent.get('version')!r} differs from {row['parent']!r}")
    pins = pins_of(store)
    if pins.store_id is not None and pred.get("store") not in (None, pins.store_id):  # 17b: a version of another store
        raise VerificationError(
            f"{name}: signs store id {str(pred['store'])[:16]}, not the store id you pinned ({pins.store_id[:16]}, "
            f"{pins.store_id_origin}): a version of another store, or the pin is wrong"
        )
    if pins.store_id is not None and pred.get("store") is None:  # attack review 19: another project's, copied?
        head, origin = pred.get("auditLogHead"), pins.store_id_origin
        problem = identity.id_less_problem(
            store, row["tag"], row["envelope_object"], head, pins.store_id, origin, _FIRST_ID.get()
        )
        if problem is not None:
            raise VerificationError(f"{name}: {problem}")
    return stmt


def statement_digest(stmt: dict) -> str:
    """The SHA-256 hex of a version's verified in-toto statement (``stmt``, as :func:`verified_statement` returns it)
    in canonical JSON (``signing.canonical_json``): what a release attestation signs of the version it releases
    (``versionStatement``), so a statement re-signed since (its labels, classes or schema changed by whoever holds
    a commit key) no longer matches the release."""
    import hashlib

    from provenance import signing

    return hashlib.sha256(signing.canonical_json(stmt)).hexdigest()


def signed_ancestry(store: Store, tag: str, limit: int | None = None) -> list[tuple[dict, dict]]:
    """``tag`` and its ancestors, newest first, as (row, verified statement), following signed parent links; at most
    ``limit`` versions (None: the whole chain).

    Each version's signature is checked (``verified_statement``) and its signed parent's
    Merkle root must be the root the parent signed, so the chain cannot be re-pointed
    without a trusted key. Raises ``VerificationError`` at the first link that does not
    hold, ``InputError`` for an unknown version.
    """
    out: list[tuple[dict, dict]] = []
    seen: set[str] = set()
    row: dict | None = store.version(tag)
    while row is not None:
        if row["tag"] in seen:
            raise VerificationError(f"version {row['tag']}: its parent links form a cycle")
        seen.add(row["tag"])
        stmt = verified_statement(store, row)
        out.append((row, stmt))
        parent = stmt["predicate"].get("parent") or None
        if parent is None or (limit is not None and len(out) >= limit):
            break
        try:
            row = store.version(parent["version"])
        except InputError as exc:
            raise VerificationError(
                f"version {row['tag']}: its signed parent {parent['version']!r} is missing"
            ) from exc
        if row["merkle_root"] != parent.get("merkleRoot"):
            raise VerificationError(
                f"version {out[-1][0]['tag']}: its signed parent {parent['version']} had Merkle root "
                f"{str(parent.get('merkleRoot'))[:16]}, not the stored {row['merkle_root'][:16]}"
            )
    return out


def newest_commit_entry(store: Store) -> tuple[int, str] | None:
    """``(seq, tag)`` of the newest ``commit`` entry of the hash-chained audit log, or ``None`` without one.

    Read from the log only: the entry names its version whether or not a ``versions`` row has it,
    and whether or not a checkpoint covers it yet (:func:`newest_version` checks the version).
    """
    row = store.db.execute(
        "select seq, subject from audit where action = 'commit' order by seq desc limit 1"
    ).fetchone()
    return (row[0], row[1]) if row else None


def committed_tags(store: Store, covered: AuditCoverage | None = None) -> frozenset[str]:
    """The versions a ``commit`` entry of the hash-chained audit log names (only entries ``covered`` vouches for,
    when given: ``AuditCoverage.covers``), the set :func:`newest_version` picks the last version from:
    a ``versions`` row no entry names (copied in from another store) is not this store's history."""
    rows = store.db.execute("select seq, subject from audit where action = 'commit'")
    return frozenset(t for s, t in rows if covered is None or (type(s) is int and covered.covers(s)))


def newest_version(store: Store, option: str = "--version") -> str | None:
    """The tag of the newest version by the audit log (:func:`newest_commit_entry`), or ``None`` without versions.

    The default parent of ``prov commit`` and the default version of ``prov status`` and ``prov
    sources``. Never the writable ``versions.audit_seq`` row, which a ``.prov/`` writer can bump to
    steer the next commit's parent past a source quarantine (attack review 7, finding 1), and never
    a fall-back to an older version (attack review 7b, finding 4: hiding the quarantine's row, or
    deleting the checkpoint that covered its commit entry, made the commit take the version before).
    The newest commit entry must name a version whose row is there, whose statement verifies under
    the pins (``verified_statement``: its own signature, so an entry no checkpoint covers yet is
    not relied on for anything but its name) and which no other commit entry names (a planted copy
    of an older version's entry); otherwise raises ``VerificationError`` naming the version and a step that
    works (:func:`_instead`: the ``option`` of the failing command that names a version instead, ``--parent`` for
    ``prov commit``, only when another version verifies under the pins).
    """
    entry = newest_commit_entry(store)
    if entry is None:
        return None
    seq, tag = entry
    what = f"version {tag}: the newest commit in the audit log (entry {seq})"
    if not is_version(store, tag):
        raise VerificationError(
            f"{what} has no version row in {store.root / 'prov.db'} (hidden or deleted?); {_instead(store, tag, option)}"
        )
    try:
        verified_statement(store, store.version(tag))
    except VerificationError as exc:
        reason = str(exc).removeprefix(f"version {tag}: ")
        raise VerificationError(f"{what} does not verify: {reason}; {_instead(store, tag, option)}") from exc
    seqs = [r[0] for r in store.db.execute("select seq from audit where action = 'commit' and subject = ?", [tag])]
    if len(seqs) > 1:
        raise VerificationError(
            f"{what} is one of {len(seqs)} commit entries of it (entries {', '.join(map(str, sorted(seqs)))}): "
            f"a version is committed once, so one was planted; {_instead(store, tag, option)}"
        )
    return tag


def verifies(store: Store, tag: str) -> bool:
    """Whether version ``tag`` has a row and its statement verifies under the pins (:func:`verified_statement`)."""
    if not is_version(store, tag):
        return False
    try:
        verified_statement(store, store.version(tag))
    except (VerificationError, InputError):
        return False
    return True


def _instead(store: Store, newest: str, option: str) -> str:
    """What to do instead of using ``newest``, which does not verify under the pins (or has no row, or two entries).

    Naming another version (``option VERSION``) works only for one that verifies under the same pins: after a wrong
    pin or a maintainer key's revocation (``prov keys revoke``) none does, and the hint to name one failed the same
    way (newcomer review 20). So it names the versions that verify, newest last, or, with none, the steps that work:
    pin the maintainer key you trust, or commit again into a new store, or restore the store.
    """
    fine = [str(row["tag"]) for row in store.versions() if row["tag"] != newest and verifies(store, str(row["tag"]))]
    if fine:
        shown = ", ".join(fine[-3:])
        return (
            f"name a version yourself ({option} VERSION; {shown} verif{'ies' if len(fine) == 1 else 'y'} under your "
            "pins) once you have checked it, or restore the store"
        )
    return (
        f"no version here verifies under your pins, so naming one ({option} VERSION) fails too: if a maintainer key "
        "you trust signed them, pin it (--signer KEY.pub or PROV_SIGNERS; prov log names each version's key); if "
        "their key was revoked, commit the data you still trust again, oldest first, with a key you pin, into a new "
        "store (prov init in a fresh checkout; docs/security-model.md, A stolen key); else restore .prov/ from a copy you trust"
    )


def quarantine_versions(store: Store) -> dict[str, dict]:
    """The versions that are a ``prov quarantine``, each with its signed quarantine facts (``{"from", "source"}``
    or ``{"from", "findings", "detection"}``, with counts): read from the statements that verify under the pins
    only, for ``prov sources`` and ``prov lineage`` to say what was cut where (a row's word is not enough)."""
    out: dict[str, dict] = {}
    for row in store.versions():
        try:
            facts = verified_statement(store, row)["predicate"].get("quarantine")
        except (VerificationError, InputError):
            continue
        if isinstance(facts, dict):
            out[row["tag"]] = facts
    return out


def quarantined_sources(store: Store, tag: str) -> frozenset[str]:
    """Sources cut out with ``prov quarantine`` in any version this verifier can trust.

    Read from signed facts only: the ``quarantine`` facts of version predicates (those of
    ``tag``'s signed ancestry, which cannot be dropped without breaking a signature, and
    those of every other version whose signature verifies under the pins: a quarantine
    made after ``tag`` was committed still counts), and ``quarantine`` audit entries that a
    trusted checkpoint covers (so deleting the quarantining version's row is not enough). A
    version whose signature does not verify contributes nothing; ``tag``'s own chain
    must verify (``VerificationError`` otherwise).
    """
    found = [stmt for _, stmt in signed_ancestry(store, tag)]
    for row in store.versions():
        try:
            found.append(verified_statement(store, row))
        except (VerificationError, InputError):
            continue
    out: set[str] = set()
    for stmt in found:
        facts = stmt["predicate"].get("quarantine") or {}
        if isinstance(facts, dict) and isinstance(facts.get("source"), str):
            out.add(facts["source"])
    return frozenset(out | _checkpointed_quarantines(store))


def _checkpointed_quarantines(store: Store) -> set[str]:
    """Sources named by ``quarantine`` audit entries that a trusted signature covers.

    The quarantining version's row can be deleted by whoever writes ``.prov/``; its audit
    entry cannot, once a checkpoint or version head signed by a key the verifier trusts
    covers it (``provenance.store.coverage``), without breaking that signature.
    """
    from provenance.store.coverage import coverage

    covered = coverage(store, pins_of(store).maintainer_keys(store))
    out: set[str] = set()
    rows = store.db.execute("select seq, detail from audit where action = 'quarantine'")
    for seq, detail in rows:
        if type(seq) is not int or not covered.covers(seq):  # a version entry: under a commit key's head
            continue
        try:
            source = detail_json(detail).get("source")
        except (TypeError, ValueError, AttributeError):
            continue
        if isinstance(source, str):
            out.add(source)
    return out


def portable_spec(spec: DatasetSpec, store: Store) -> DatasetSpec:
    """``spec`` with local paths inside the store's folder made relative to it, so a moved project still verifies.

    fsspec URLs are kept as they are; a DVC revision keeps its repository relative too.
    """
    base = str(store.base.resolve())
    if "://" in spec.path:  # an fsspec URL names its data wherever the store is
        return spec
    if spec.rev is not None:
        from provenance.sources.dvc import normalise

        spec = normalise(spec)
        if spec.repo and (spec.repo == base or spec.repo.startswith(base + os.sep)):
            spec = replace(spec, repo=os.path.relpath(spec.repo, base))
        return spec
    path = os.path.abspath(spec.path)
    if path == base or path.startswith(base + os.sep):
        path = os.path.relpath(path, base)
    labels = spec.labels_csv
    if labels and os.path.abspath(labels).startswith(base + os.sep):
        labels = os.path.relpath(os.path.abspath(labels), base)
    return replace(spec, path=path, labels_csv=labels)


def local_spec(spec: DatasetSpec, store: Store) -> DatasetSpec:
    """The inverse of :func:`portable_spec`: relative paths resolved against the store's folder."""
    if "://" in spec.path:
        return spec
    if spec.rev is not None:
        return replace(spec, repo=str(store.base / spec.repo)) if spec.repo and not os.path.isabs(spec.repo) else spec
    if os.path.isabs(spec.path):
        return spec
    labels = spec.labels_csv
    if labels and not os.path.isabs(labels):
        labels = str(store.base / labels)
    return replace(spec, path=str(store.base / spec.path), labels_csv=labels)


def signed_dataset(row: dict, predicate: dict) -> dict | None:
    """Where and how the version's data is read, as its signed predicate says (the portable form), or None.

    Versions committed before prov signed their data location have none.
    """
    dataset = predicate.get("dataset")
    return dataset if isinstance(dataset, dict) else None


def version_dataset(store: Store, row: dict) -> DatasetSpec:
    """How to read the version ``row``'s data again: its *signed* location and read options,
    with relative paths resolved against the store's folder.

    The ``versions`` row's copy is never used (whoever can write ``.prov/`` can edit it).
    Raises ``VerificationError`` if the signature does not verify or the signed
    description is damaged, ``InputError`` (exit 2) for a version committed before its
    location was signed, with the way forward.
    """
    return dataset_from_predicate(store, row, verified_statement(store, row)["predicate"])


def dataset_from_predicate(store: Store, row: dict, pred: dict) -> DatasetSpec:
    """:func:`version_dataset` from a predicate already verified (``verified_statement(store, row)["predicate"]``)."""
    dataset = signed_dataset(row, pred)
    if dataset is None:
        raise NotRereadable(
            f"version {row['tag']}: committed by an older prov that did not sign where its data is, so it "
            f"cannot be re-read safely; commit the data again as a new version (prov commit DATA --tag NEW)"
        )
    try:
        from provenance.sources.interface import DatasetSpec

        return local_spec(DatasetSpec.from_dict(dataset), store)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise VerificationError(f"version {row['tag']}: its signed dataset description is damaged ({exc})") from exc


def read_version_records(store: Store, tag: str, locators: list, digests: list) -> tuple[Records, str]:
    """Records ``digests`` of version ``tag``, read from where and how it signed its data, at ``locators`` (row
    numbers or paths, as its manifest has them), each re-hashed against its digest; and the version's signed kind
    (``table`` or ``tree``). Raises as ``sources.records.read_records`` and :func:`verified_statement` do."""
    from provenance.sources.records import read_records

    row = store.version(tag)
    predicate = verified_statement(store, row)["predicate"]
    schema = predicate.get("schema", {})
    kind = schema.get("kind", row["kind"])
    spec = dataset_from_predicate(store, row, predicate)
    return read_records(spec, kind, locators, digests, schema.get("columns", [])), kind


def version_log(store: Store) -> list[dict]:
    """Every version, oldest first: ``{"tag", "parent", "created_at", "records", "merkle_root", "keyid",
    "message", "quarantine_of"}`` (``prov log --json``; times ISO 8601 UTC, roots and key ids hex; ``message``
    the ``-m`` text its statement carries, None without one or when its envelope does not read;
    ``quarantine_of`` the version a ``prov quarantine`` version was cut from, else None). Read from the
    store, not verified, as ``git log`` lists commits (``prov show`` and ``prov verify`` check them)."""
    keep = ("tag", "parent", "created_at", "records", "merkle_root", "keyid")
    out = []
    for r in store.versions():
        pred = _unverified_predicate(store, r)
        message, quarantine = pred.get("message"), pred.get("quarantine")
        origin = quarantine.get("from") if isinstance(quarantine, dict) else None
        out.append(
            {k: r[k] for k in keep}
            | {
                "message": message if isinstance(message, str) else None,
                "quarantine_of": origin if isinstance(origin, str) else None,
            }
        )
    return out


def _unverified_predicate(store: Store, row: dict) -> dict:
    """The predicate of a version's statement, read without verifying it (``{}`` when it does not read)."""
    from provenance.errors import ProvError

    try:
        env = store.objects.envelope(row["envelope_object"], f"envelope of {row['tag']}")
    except (ProvError, ValueError, OSError):
        return {}
    pred = signing.unverified_statement(env).get("predicate")
    return pred if isinstance(pred, dict) else {}
