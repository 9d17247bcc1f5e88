"""What earlier releases of a store vouch for: their release counters and the audit log's state they signed.

A release attestation (``provenance.gate.attestation``) carries, in its signed prov facts
(``https://prov.dev/release/v1``), the audit log's state when the release was checked:
``auditLog`` = ``{"treeSize", "rootHash", "headHash"}``, an RFC 9162 tree head
(``provenance.store.log_state``). A later release of the same store must carry a
log that *extends* it: an RFC 9162 §2.1.4 consistency proof, built from the store's own
log, shows the older tree is a prefix of the newer. So a ``.prov/`` writer who truncates
the log and its checkpoints back to before a revocation (attack review 5, finding 3) is
caught by whoever kept an attestation signed after that revocation: ``prov check --attest``
(the store's own attestations), ``prov audit verify --checkpoint ATTESTATION`` (one kept
outside the store, as the example CI workflow does) and a training job's
``prov verify --attestation A --release-state FILE`` (the newest log state it accepted).

The release counter (:func:`next_release`, :func:`commit_ordinal`) grows with every
release of the store; see ``provenance.gate.attestation``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance import signing
from provenance.errors import InputError, VerificationError
from provenance.store import audit
from provenance.store.checkpoints import leaves
from provenance.store.log_state import LogState, current, require_extends
from provenance.trust.pins import pins_of
from provenance.trust.roles import ATTEST

if TYPE_CHECKING:
    from provenance.store.store import Store

EXTENSION = "https://prov.dev/release/v1"


def other_store(facts: dict, version_store: object, store_id: str | None) -> str | None:
    """Why a release attestation's signed prov ``facts`` are another store's release, or ``None``.

    ``version_store`` is the store id the attested version's own verified statement signs (``None``: made
    before ids), ``store_id`` this store's id (``identity.expected``: pinned, or of record; ``None``: none
    yet). An attestation names the id its version signed (``facts["store"]``); one naming another than
    either is a release of another store holding the same data (a mirror, a staging store), which this
    store's gate never passed (attack review 19, F19-2). One made before attestations named their store
    (fix18a) names none and is not judged here."""
    named = facts.get("store")
    if named is None:
        return None
    if named != version_store:
        signs = f"store id {str(version_store)[:16]}" if version_store is not None else "no store id"
        return f"attests a release of store {str(named)[:16]}, but {facts.get('version')} signs {signs} here"
    if store_id is not None and named != store_id:
        return f"attests a release of store {str(named)[:16]}, but this store's id is {store_id[:16]}"
    return None


def store_attestations(store: Store) -> Iterator[tuple[str, dict]]:
    """``(object id, prov facts)`` of every attestation kept in the store that verifies under the
    pinned ``attest`` role and attests a version of this store: its tag *and* Merkle root, and the
    store id that version signs (:func:`other_store`).

    A forged row, a broken object or a genuine attestation of another dataset's version or of another
    store planted in ``.prov/`` is left out (this never raises for them). While this store's id cannot be
    read from signed history (``identity.expected`` raises) the version's own signed id still decides; one whose
    version does not verify is judged by this store's id alone, and kept when that cannot be read either:
    dropping them would let a ``.prov/`` writer switch off :func:`require_extends_attested`.
    """
    from provenance.store import identity
    from provenance.version_facts import verified_statement

    roots = dict(store.db.execute("select tag, merkle_root from versions").fetchall())
    try:
        store_id: str | None = identity.expected(store).store_id
    except VerificationError:
        store_id = None
    # tag -> (whether its statement verifies, the store id it signs): each version verified once per call, a
    # failing one too (it was verified again for every attestation naming it)
    signs: dict[str, tuple[bool, object]] = {}

    def of_this_store(facts: dict) -> bool:
        if facts.get("store") is None:
            return True
        tag = str(facts.get("version"))
        if tag not in signs:
            try:
                signs[tag] = (True, verified_statement(store, store.version(tag))["predicate"].get("store"))
            except (InputError, VerificationError):
                signs[tag] = (False, None)
        verifies, signed = signs[tag]
        if not verifies:  # the version's own id cannot be told: judged by this store's id alone (attack review
            # 19c, F19c-2: another store's release after a rotation of the commit key); with neither, kept as
            # before ids (a kept one can only make require_extends_attested refuse)
            return store_id is None or facts.get("store") == store_id
        return other_store(facts, signed, store_id) is None

    for (oid,) in store.db.execute("select object from attestations").fetchall():
        name = f"attestation {oid[:12]}"
        try:
            env = signing.parse_envelope(store.objects.get(oid, name), name)
            stmt = pins_of(store).verify(env, ATTEST, name, store).statement
            facts = (stmt.get("predicate") or {}).get(EXTENSION)
            root = signing.subject_root(stmt).hex()
        except (InputError, VerificationError):
            continue
        if isinstance(facts, dict) and roots.get(str(facts.get("version"))) == root and of_this_store(facts):
            yield oid, facts


def require_extends_attested(store: Store) -> None:
    """``prov check --attest``: refuse when the store's log does not extend the log state of an
    attestation kept in the store (:func:`store_attestations`). Raises VerificationError (exit 1)."""
    log = None  # the audit log, read once for every attestation's state (it was read again for each)
    for oid, facts in store_attestations(store):
        where = f"attestation {oid[:12]} of {facts.get('version')} (release {facts.get('release')})"
        try:
            state = LogState.from_dict(facts.get("auditLog"), where)
        except VerificationError:
            continue  # signed but malformed: it vouches for nothing
        if state is not None:
            log = log or leaves(store.db)
            require_extends(store, state, where, log)


def commit_ordinal(store: Store, statement: dict) -> int:
    """How many versions the store had committed when the version of ``statement`` was: 1 for the first.

    ``statement`` is the version's verified in-toto Statement; its signed ``auditLogHead``
    is the chain hash of the last audit entry before its own commit entry, so the count of
    ``commit`` entries up to that head is covered by the version's signature: whoever can
    write ``.prov/`` cannot add or remove one without the version's head leaving the log
    (``prov audit verify``, the gate's integrity rule). It grows with every version
    committed, and the store (``.prov/``) is committed with the data, so it needs nothing
    kept outside git: a fix committed after a bad release gets a higher number even when
    it is attested in a fresh checkout (attack review 3, finding 4).

    Raises VerificationError when the signed head is no longer in the log.
    """
    ordinal = _ordinal(statement, _commits_up_to(store))
    if ordinal is None:
        raise VerificationError(
            f"version {(statement.get('predicate') or {}).get('version')}: its signed audit head is no longer in the log"
        )
    return ordinal


def _commits_up_to(store: Store) -> dict[str, int]:
    """Audit entry hash -> how many ``commit`` entries the log holds up to and including it."""
    counts, before = {}, 0
    for e in audit.iter_entries(store.db):
        before += e["action"] == "commit"
        counts[e["hash"]] = before
    return counts


def _ordinal(statement: dict, commits: dict[str, int]) -> int | None:
    """:func:`commit_ordinal` from :func:`_commits_up_to`, or None when the signed head is not in the log."""
    head = (statement.get("predicate") or {}).get("auditLogHead")
    if head == audit.GENESIS:
        return 1
    return commits[head] + 1 if isinstance(head, str) and head in commits else None


def _placed(store: Store, releases_of: dict[str, int], version: str) -> dict[str, int]:
    """Tag -> :func:`commit_ordinal` of each version of ``releases_of`` (tag -> its kept release) but ``version``.

    Raises VerificationError (exit 1) for one whose statement does not verify under the pins or whose signed head
    is no longer in the log: its attestation verifies (:func:`store_attestations`), so its release is kept, but
    where it stands in commit order cannot be told, and counting it (or leaving it out) would be a guess a
    ``.prov/`` writer picks with one row edit (attack review 22a, finding 1). That holds for a version signed by a
    commit key a newer root dropped too (its attestation, by a key still pinned for ``attest``, verifies): the
    refusal says how to pin the key again (:func:`_pin_again`), as what that key signed verifies nowhere else
    either (README, Known gaps)."""
    from provenance.version_facts import verified_statement

    commits = _commits_up_to(store)
    out = {}
    for tag in sorted(set(releases_of) - {version}):
        kept = f"release {releases_of[tag]} of {tag} is kept in the store"
        cannot = f"so prov cannot place a release of {version} against it"
        try:
            ordinal = _ordinal(verified_statement(store, store.version(tag)), commits)
        except (InputError, VerificationError) as exc:
            raise VerificationError(
                f"{kept} but {tag}'s statement does not verify under your pins ({exc}), {cannot}: pin the key that "
                f"signed {tag} again ({_pin_again(store)}), or restore .prov/ if it was edited"
            ) from None
        if ordinal is None:
            raise VerificationError(
                f"{kept} but {tag}'s signed audit head is no longer in the log, so its commit order cannot be read, "
                f"{cannot}: restore .prov/"
            )
        out[tag] = ordinal
    return out


def _pin_again(store: Store) -> str:
    """How to pin again a commit key the pins no longer hold, for :func:`_placed`'s refusal: under a root (one that
    rotated the key out), a newer root that keeps it in the commit role beside the new one; else ``--signer``."""
    if getattr(getattr(store, "pins", None), "root", None) is not None:
        return (
            "a root that dropped it: sign a newer root that keeps it in the commit role beside the new key, "
            "prov root new ROOT.json --version N --commit OLD.pub --commit NEW.pub ..., and add it last to --root "
            "or PROV_ROOT"
        )
    return "--signer OLD.pub, or PROV_SIGNERS"


def kept_releases(store: Store) -> dict[str, int]:
    """Tag -> the highest release counter of the store's attestations of it (:func:`store_attestations`)."""
    releases_of: dict[str, int] = {}
    for _, facts in store_attestations(store):
        release = facts.get("release")
        if isinstance(release, int) and not isinstance(release, bool):
            releases_of[facts["version"]] = max(release, releases_of.get(facts["version"], 0))
    return releases_of


def next_release(store: Store, version: str, depth: int, ordinal: int | None = None) -> int:
    """The release counter of a new attestation of ``version``; ``depth`` is its floor.

    ``attest`` passes the larger of the version's depth in its signed history and its
    :func:`commit_ordinal` (both signed, both committed with the store), and that ordinal as ``ordinal``
    (:func:`place_release` before the check, :func:`release_under_lock` when the store changed since). A release
    number names a version, in commit order:

    - ``version`` already has an attestation in the store (:func:`kept_releases`: only those the pinned
      ``attest`` role signed, of this store's versions): its number again (refreshing its attestation, or
      running an old check again, never puts it above a release committed since, which a training job's
      release state would then take as the newest);
    - else the larger of ``depth`` and one more than the highest kept release of a version committed before
      it (by :func:`commit_ordinal`), which must be below every kept release of a version committed after it
      (newcomer review 21, finding 15; attack review 22a, finding 2: releases made out of commit order by
      prov before 0.22 can leave no room). A deleted attestation can only lower the counter, which a training
      job's release state then refuses, fail closed. Attestations kept outside the store (CI artefacts) are
      not seen; the commit ordinal keeps a later-committed fix above them.

    Without ``ordinal`` every kept release counts (one more than the highest: the counter before commit order).

    Raises VerificationError (exit 1) when there is no room below a later-committed version's release (commit
    the data again as a new version), or when a kept release's version cannot be placed in commit order (its
    statement does not verify under the pins, or its signed head left the log: :func:`_placed`).
    """
    releases_of = kept_releases(store)
    if version in releases_of:
        return releases_of[version]
    if ordinal is None:
        return max([depth, *(r + 1 for r in releases_of.values())])
    placed = _placed(store, releases_of, version)
    release = max([depth, *(r + 1 for tag, r in releases_of.items() if placed[tag] <= ordinal)])
    later = sorted((r, tag) for tag, r in releases_of.items() if placed[tag] > ordinal)
    if later and release >= later[0][0]:
        r, tag = later[0]
        raise VerificationError(
            f"{version} would be release {release}, not below release {r} of {tag}, a version committed after it "
            f"(releases kept in the store are out of commit order): commit {version}'s data again as a new version "
            "to release it"
        )
    return release


@dataclass(frozen=True)
class ReleasePlace:
    """Where :func:`place_release` put a new release of ``version``: its counter ``release``, and what it read it
    from, so the write that records the attestation takes the number once more only when that changed.

    ``log`` is the audit log's state it read (the log a check's attestation signs, ``auditLog``); ``inputs`` the
    rows a number depends on beyond that log (:func:`_release_inputs`)."""

    version: str
    release: int
    log: LogState
    inputs: tuple


def _release_inputs(store: Store) -> tuple:
    """What :func:`next_release` reads besides the audit log and the content-addressed objects: the attestations
    kept, every versions row (tags, roots, statements, keys) and the maintainer keys revoked in the store (which
    take a kept attestation's key out of the ``attest`` role). Every prov write that changes a number changes one
    of these: a release (a row), a commit (a row), a revocation (a row and an entry)."""
    from provenance.trust.revocations import revoked_maintainer_keys

    return (
        tuple(r[0] for r in store.db.execute("select object from attestations order by object")),
        tuple(store.db.execute("select * from versions order by tag").fetchall()),
        tuple(sorted(revoked_maintainer_keys(store))),
    )


def place_release(store: Store, version: str, log: LogState | None = None) -> ReleasePlace | None:
    """The release counter a new attestation of ``version`` gets (:func:`next_release`, floor: the larger of its
    depth in its signed history and its :func:`commit_ordinal`), with what it was read from.

    ``prov check --attest`` places the release once, on the state the check decides on (``Store.snapshot``) and
    before the check writes anything, so a release that cannot be placed in commit order leaves the store as it
    was; the write that records the attestation takes that number under the store's lock
    (:func:`release_under_lock`). ``log``: ``store``'s audit log state, when the caller has read it (default: read
    now). Returns None when ``version``'s own signed history does not hold (the check fails it).

    Raises VerificationError (exit 1) as :func:`next_release` does: a release it cannot place in commit order.
    """
    from provenance.version_facts import signed_ancestry

    try:
        ancestry = signed_ancestry(store, version)
        ordinal = commit_ordinal(store, ancestry[0][1])
    except (InputError, VerificationError):
        return None
    release = next_release(store, version, max(len(ancestry), ordinal), ordinal)
    return ReleasePlace(version, release, log or current(store), _release_inputs(store))


def release_under_lock(
    store: Store, version: str, ancestry: list, placed: ReleasePlace | None, log: LogState | None
) -> int:
    """The release counter the attestation of ``version`` signs, taken inside ``Store.write`` (the lock held).

    ``ancestry`` is ``version_facts.signed_ancestry(store, version)``. ``placed`` (:func:`place_release`, before
    the check) is the number when it was read from this store's state: the same ``log`` (the one the attestation
    signs, which the write has just checked the store's log extends) and the same rows (:func:`_release_inputs`).
    Else another writer released, committed or revoked since (a concurrent ``prov check --attest``), and the
    number is placed again here, where no prov writer can come in between: two releases placed on one state and
    recorded one after the other could share a number, or put a version committed earlier above a later one.

    Raises VerificationError (exit 1) as :func:`next_release` does, or when ``version``'s signed audit head left
    the log (:func:`commit_ordinal`); the write then records nothing.
    """
    if (
        placed is not None
        and (placed.version, placed.log) == (version, log)
        and placed.inputs == _release_inputs(store)
    ):
        return placed.release
    ordinal = commit_ordinal(store, ancestry[0][1])
    return next_release(store, version, max(len(ancestry), ordinal), ordinal)
