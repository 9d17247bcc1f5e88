"""The public API: one function per command, doing exactly what the command does.

``provenance/__init__.py`` re-exports these names lazily (``import provenance`` stays
light); import them from there: ``from provenance import commit, diff, check``. Each
function takes an open :class:`~provenance.store.store.Store` (or a path to the folder
holding ``.prov/``, or ``None`` for the nearest store above the working directory, as
the commands find it) and raises the errors of :mod:`provenance.errors`, whose
``exit_code`` is what the command exits with: ``InputError`` 2, ``VerificationError``
1, ``StoreError`` 3 (``StoreBusyError`` when the write lock is not free within
``PROV_LOCK_TIMEOUT`` seconds, default 30).

How a dataset is read is given as keyword arguments, the same as the commands' flags:
``label_column`` (default ``"label"``), ``source_column``, ``id_column``, ``metadata``
(columns left out of the content digest), ``schema`` (``{column: Arrow type}`` for CSV
and JSON Lines), ``encoding``, ``tree_reader``, ``labels_csv`` (a file tree's ``path,label`` CSV)
and ``kind`` (``"table"``, ``"tree"`` or ``"auto"``); or pass a ready
:class:`~provenance.sources.interface.DatasetSpec` as ``data``. ``commit``, as ``prov commit``,
takes the parent version's signed read options for those not given.

The versions' functions (``commit``, ``verify``) and the training job's ``load`` are
here; ``diff``, ``detect`` and ``check`` are in ``api_review.py``, ``sign``, ``add`` and
``quarantine`` in ``api_batches.py``, and the argument handling they share
(``open_store``, ``dataset``) in ``api_inputs.py``; this module re-exports them all.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from provenance.api_batches import add, quarantine, sign
from provenance.api_inputs import as_pins, dataset, kept_paths, open_store, optional_path, store_and_name
from provenance.api_review import check, detect, diff

if TYPE_CHECKING:
    from provenance.api_inputs import PinsLike
    from provenance.features.registry import FeaturizerSpec
    from provenance.loader.dataset import VerifiedDataset
    from provenance.sources.interface import DatasetSpec
    from provenance.store.store import Store
    from provenance.trust.pins import Pins
    from provenance.versions import CommitResult


__all__ = ["add", "check", "commit", "dataset", "detect", "diff", "load", "open_store", "quarantine", "sign", "verify"]


def commit(
    store: Store | str | os.PathLike[str] | None,
    data: str | os.PathLike[str] | DatasetSpec,
    *,
    tag: str,
    key: str | os.PathLike[str],
    parent: str | None = None,
    featurizer: str | FeaturizerSpec | None = None,
    executor: str | None = None,
    pins: PinsLike | None = None,
    message: str | None = None,
    parent_defaults: bool = True,
    checkpoint_out: str | os.PathLike[str] | None = None,
    checkpoint_key: str | os.PathLike[str] | None = None,
    kept_log_state: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    allow_empty: bool = False,
    **read: Any,
) -> CommitResult:
    """Commit ``data`` as the signed version ``tag``: ``prov commit DATA --tag TAG --key KEY``.

    Hashes every record (SHA-256 of its ``prov-row-v2`` encoding, ``provenance/encoding``, or of a
    file's bytes), builds the sorted manifest and its RFC 6962 Merkle root, classifies every record's
    lineage against the registered batches (attested / relabeled_after_source /
    unattributed), builds the reference profile with ``featurizer`` (``"auto"``, a
    registry name, or a ``FeaturizerSpec`` with options), signs an in-toto Statement in
    a DSSE envelope with the Ed25519 ``key`` (PKCS#8 PEM) and records the version.
    ``parent`` defaults to the latest version; ``executor`` is ``"local"``,
    ``"local:N"`` or ``"dask://HOST:PORT"`` (default ``PROV_EXECUTOR``, then every
    local core). Expensive stages run before the store's write lock is taken.
    ``message`` is signed into the version (``prov commit -m``). Data identical to the
    parent's still makes the version; ``result.identical_to`` then names the parent.

    As the command does, every read option not given in ``read`` (``label_column``,
    ``source_column``, ``id_column``, ``metadata``, ``schema``, ``encoding``, ``tree_reader``) is
    the parent's, from its verified signature, and ``featurizer=None`` is the parent's featuriser
    (``"auto"`` when it used the automatic one); a ready ``DatasetSpec`` is read with its own
    options, only the featuriser being carried. ``parent_defaults=False``
    (``--no-parent-defaults``) takes nothing from the parent. ``result.from_parent`` says what was
    taken and which options given differ from the parent's (None without a verified parent);
    ``checkpoint_out`` (``--checkpoint-out FILE``) also writes a checkpoint over the log, the commit's entry
    included, to that file outside ``.prov/``, signed by ``checkpoint_key`` (default ``key``), for
    ``check(..., kept_log_state=FILE)``; ``result.checkpoint_out`` names it (``commit_defaults.commit_on_parent``);
    ``kept_log_state`` (``--checkpoint FILE``: one path or several, log states kept outside the store; one inside
    ``.prov/``, or a link resolving there, is ``InputError``) refuses the commit (``VerificationError``, nothing
    written) when the audit log no longer holds one, before any work or under the write lock;
    ``result.retype_note`` why records are unattributed when a trusted signed batch signed other
    column types than this data has (cast them back, e.g. ``schema={"x": "double"}``), and ``result.schema_note``
    the columns whose type changed since the parent (one line, old -> new types; None when none did), and
    ``result.unfeatured_note`` the content columns the automatic numeric featuriser left out as not numeric
    (at most five named; None when none were, or the featuriser was given columns or exclusions).
    Data with no records is ``InputError`` unless ``allow_empty=True`` (``--allow-empty``).

    Returns a :class:`~provenance.versions.CommitResult` (``.to_dict()`` is
    ``schemas/commit.schema.json``). Raises ``InputError`` (tag taken or malformed,
    unreadable data or key, a label column the data lacks: ``label_column=``), ``VerificationError``
    (revoked key), ``StoreError``.
    """
    from provenance.commit_defaults import commit_on_parent
    from provenance.commit_read_options import READ_FLAGS
    from provenance.errors import InputError
    from provenance.executor import executor_from
    from provenance.sources.interface import DatasetSpec

    opened = open_store(store, pins)
    spec = dataset(data, **read)
    given = None if isinstance(data, DatasetSpec) else set(read) & {param for param, _ in READ_FLAGS.values()}
    runner = executor_from(executor)
    try:
        return commit_on_parent(
            opened,
            spec,
            tag,
            os.fspath(key),
            parent,
            given=given,
            featurizer=featurizer,
            carry=parent_defaults,
            executor=runner,
            message=message,
            way_out="give the options this data needs, or parent_defaults=False",
            checkpoint_out=os.fspath(checkpoint_out) if checkpoint_out is not None else None,
            checkpoint_key=os.fspath(checkpoint_key) if checkpoint_key is not None else None,
            kept_log_state=kept_paths(kept_log_state),
            allow_empty=allow_empty,
        )
    except InputError as exc:
        worded = _python_words(str(exc))
        if worded == str(exc):
            raise
        raise InputError(worded) from exc
    finally:
        runner.close()


# the flags a library error names, as a Python caller gives them (the README: messages name the Python parameters)
_PYTHON_WORDS = {
    "give --label-column NAME": "give label_column=NAME",
    "--no-parent-defaults": "parent_defaults=False",
    "--checkpoint-out": "checkpoint_out=",
    "--checkpoint-key": "checkpoint_key=",
    "prov commit --allow-empty": "allow_empty=True",
}


def _python_words(message: str) -> str:
    """``message`` with the command-line flags it tells the reader to give named as ``commit``'s parameters."""
    for flag, param in _PYTHON_WORDS.items():
        message = message.replace(flag, param)
    return message


def verify(
    *args: Store | str | os.PathLike[str] | DatasetSpec | None,
    store: Store | str | os.PathLike[str] | None = None,
    target: str | os.PathLike[str] | DatasetSpec | None = None,
    envelope: str | os.PathLike[str] | None = None,
    read_data: bool = True,
    attestation: str | os.PathLike[str] | None = None,
    policy: str | os.PathLike[str] | None = None,
    base: str | None = None,
    release_state: str | os.PathLike[str] | None = None,
    min_release: int | None = None,
    pins: PinsLike | None = None,
    store_keys: bool = False,
    fail_on_revoked: bool = False,
    at_release: bool = False,
    kept_log_state: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    **read: Any,
) -> dict:
    """Verify a version or a signed batch: ``prov verify TARGET``.

    Called ``verify(store, target, ...)``, store first as ``commit``, ``diff`` and ``check`` take it, or
    ``verify(target, store=..., ...)`` as ``load`` is written: both read alike (``store`` None or left out: the
    store ``PROV_STORE`` names, else the nearest ``.prov/`` above the working directory).

    Signatures are checked against ``pins`` (the keys the verifier trusts; default the
    pins the store handle carries). Nothing pinned is an ``InputError`` (exit 2): keys
    cached in ``.prov/`` are written by whoever can write the store, so a check against
    them decides nothing. ``store_keys=True`` (``prov verify --store-keys``) asks for that
    check all the same, with nothing pinned only; its report says ``"trust_decision":
    false`` and why (``trust_note``). Every report carries ``trust_decision`` (true: the
    signatures held under keys the verifier pinned). If
    ``target`` names a version of the store: check its signature, objects and audit
    anchor and (unless ``read_data`` is false) re-read its data from the location it
    signed and recompute every digest; with ``attestation`` (a ``prov check --attest``
    file; needs ``pins``) also check that a key trusted to attest signed it for this
    version, that it has not expired and that its base is a signed ancestor, optionally
    that it passed ``policy`` (a policy file), was checked against ``base``, and is not
    older than the release recorded in ``release_state`` (updated on success) or than
    ``min_release``; records the version signed as attested that its batches no longer attest under
    ``pins`` (a source key revoked since) are listed in ``attestation.lineage_not_trusted``, and with
    ``fail_on_revoked`` refused (``VerificationError``); ``at_release=True`` audits a past release: an
    expired attestation is reported (``attestation.expired``), not refused; ``kept_log_state`` (``prov verify
    --checkpoint F``: a checkpoint or release attestation file kept outside the store, or a list of them) is a
    log state the store's audit log must extend, checked under the pins, so a log cut back to before a
    revocation, its checkpoints deleted with it, is refused (``VerificationError``). Returns ``schemas/verify-version.schema.json``'s shape. Otherwise
    ``target`` is a batch's data, checked against ``envelope`` (default
    ``DATA.prov.json``) and the keys trusted for its source; returns the batch report
    (``status: "ok"``). With ``store`` None and no store here or above, a batch is checked
    against the ``pins`` alone (a vendor checking its own batch: ``pins="vendor.pub"``): no
    trust list, revocation or validity window exists to consult, and ``trust_note`` says so.

    Raises ``VerificationError`` (exit 1) naming every record changed, added, removed or
    relabeled since signing (for a batch, ``.report`` holds the full report), or a bad,
    unpinned or wrong-role signature, an expired or rolled-back attestation;
    ``InputError`` (exit 2) for unknown names, bad files, an attestation without pins, or
    release options given for a batch.
    """
    from provenance.errors import InputError
    from provenance.sources.interface import DatasetSpec
    from provenance.version_facts import is_version
    from provenance.versions import verify_version

    store, target = store_and_name("verify", args, store, target, "target")
    release: dict[str, object] = {"attestation": attestation, "policy": policy, "base": base}
    release |= {"release_state": release_state, "min_release": min_release, "fail_on_revoked": fail_on_revoked or None}
    release["at_release"] = at_release or None
    release["kept_log_state"] = kept_log_state or None
    batch = isinstance(target, DatasetSpec) or envelope is not None or os.path.exists(target)
    if store is None and batch and _no_store_here():  # a vendor checking its own batch before shipping it
        return _verify_batch_without_store(dataset(target, **read), envelope, as_pins(pins), store_keys, release)
    opened = open_store(store, pins)
    trust = _verify_trust(opened, target, store_keys)
    if isinstance(target, DatasetSpec) or (
        batch and (envelope is not None or not is_version(opened, os.fspath(target)))
    ):
        spec = dataset(target, **read)
        _refuse_release_options(spec.path, release)
        if envelope is None:
            _refuse_a_versions_own_data(opened, spec.path)
        return _batch_report(opened, spec, envelope, trust)
    tag = os.fspath(target)
    extra: dict[str, object] = {"policy": policy, "base": base, "release_state": release_state}
    extra |= {"min_release": min_release, "fail_on_revoked": fail_on_revoked or None}
    extra["at_release"] = at_release or None
    extra["kept_log_state"] = kept_log_state or None
    needs = [name for name, value in extra.items() if value is not None]
    if needs and attestation is None:
        raise InputError(f"{needs[0]}= is checked against a release attestation: give attestation= too")
    if attestation is not None:
        from provenance.trust.pins import pins_of

        pins_of(opened).require_trust_decision(f"prov verify {tag} --attestation {os.fspath(attestation)}")
    report = verify_version(opened, tag, read_data=read_data)
    if attestation is not None:
        from provenance.gate.attestation_verify import verify_attestation
        from provenance.gate.policy import load as load_policy

        digest = load_policy(os.fspath(policy)).digest if policy is not None else None
        report["attestation"] = verify_attestation(
            opened,
            tag,
            os.fspath(attestation),
            policy_digest=digest,
            base=base,
            release_state=optional_path(release_state),
            min_release=min_release,
            fail_on_revoked=fail_on_revoked,
            at_release=at_release,
            kept_log_states=kept_paths(kept_log_state),
        )
    return report | trust


def _refuse_a_versions_own_data(store: Store, path: str) -> None:
    """``prov verify DATA`` on a version's own data file, which has no batch envelope: say how to check it
    against that version (newcomer review 9, finding 5: it said only "cannot read envelope"). The store's
    rows name the version only for this hint; nothing is trusted from them."""
    from provenance.errors import InputError
    from provenance.lineage.batches import default_envelope

    if "://" in path or default_envelope(path).exists():
        return
    here = os.path.abspath(path)
    tags = [
        row["tag"]
        for row in store.versions()
        if row.get("dataset") and os.path.abspath(store.base / str(json.loads(row["dataset"]).get("path"))) == here
    ]
    if tags:
        raise InputError(
            f"{path}: the data of version {tags[-1]}, not a signed batch (no {default_envelope(path).name}); "
            f"to check it against that version: prov status {shlex.quote(os.fspath(path))} --version {shlex.quote(tags[-1])}"
        )


def _no_store_here() -> bool:
    """Whether there is no store to open here or above (nor at ``PROV_STORE``)."""
    from provenance.errors import InputError
    from provenance.store.store import find_store

    try:
        find_store()
    except InputError:
        return True
    return False


def _refuse_release_options(path: str, release: dict[str, object]) -> None:
    from provenance.errors import InputError

    given = [name for name, value in release.items() if value is not None]
    if given:
        raise InputError(f"{path}: {given[0]} applies to a version's release, not to a batch of data")


def _verify_batch_without_store(
    spec: DatasetSpec,
    envelope: str | os.PathLike[str] | None,
    pins: Pins | None,
    store_keys: bool,
    release: dict[str, object],
) -> dict:
    """``prov verify DATA`` with no store: the signature against the pinned keys alone, then every record.

    There is no trust list, revocation or validity window to consult, so the report's
    ``trust_note`` says what was checked (``source_signatures.NO_STORE``); ``prov add``
    checks them all in the receiving store.
    """
    from provenance.errors import InputError
    from provenance.trust.source_signatures import NO_STORE

    _refuse_release_options(spec.path, release)
    if store_keys:
        raise InputError(f"{spec.path}: --store-keys checks against a store's keys, and there is no prov store here")
    if pins is None or not pins.pinned:
        raise InputError(
            f"prov verify {spec.path}: no prov store here or above, so only a key you pin can vouch for the batch: "
            "pass --signer SOURCE.pub (the public key of the source that signed it), or run it where the store is"
        )
    return _batch_report(None, spec, envelope, {"trust_decision": True, "trust_note": NO_STORE}, pins)


def _batch_report(
    store: Store | None,
    spec: DatasetSpec,
    envelope: str | os.PathLike[str] | None,
    trust: dict[str, Any],
    pins: Pins | None = None,
) -> dict:
    """``prov verify DATA``'s report (``schemas/verify-batch.schema.json``) with ``trust``, what its signatures
    were checked against; a mismatch's report (``BatchMismatch.report``, its ``--json``) carries ``trust`` too.

    Raises what ``lineage.batches.check_batch`` raises.
    """
    from provenance.lineage.batches import BatchMismatch, check_batch

    try:
        return check_batch(store, spec, optional_path(envelope), pins=pins).report() | trust
    except BatchMismatch as exc:
        exc.report |= trust
        raise


def _verify_trust(store: Store, target: str | os.PathLike[str] | DatasetSpec, store_keys: bool) -> dict[str, Any]:
    """The report fields saying whether ``verify``'s signatures decide trust, after refusing what would not.

    Raises ``InputError`` (exit 2) when nothing is pinned and ``store_keys`` was not asked
    for (DESIGN.md: a check that needs a signer and has none exits 2), and when
    ``store_keys`` is asked for beside pins (which keys would decide would be unclear).
    """
    from provenance.sources.interface import DatasetSpec
    from provenance.trust.pins import STORE_KEYS_NOTE, pins_of

    name = target.path if isinstance(target, DatasetSpec) else os.fspath(target)
    pins = pins_of(store)
    pins.require_trust_decision(f"prov verify {name}", store_keys)
    return {"trust_decision": True} if pins.pinned else {"trust_decision": False, "trust_note": STORE_KEYS_NOTE}


def load(
    *args: Store | str | os.PathLike[str] | None,
    version: str | None = None,
    pins: PinsLike | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    attestation: str | os.PathLike[str] | None = None,
    policy: str | os.PathLike[str] | None = None,
    base: str | None = None,
    release_state: str | os.PathLike[str] | None = None,
    min_release: int | None = None,
    fail_on_revoked: bool = False,
    kept_log_state: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    verify_first: bool = True,
    shuffle: bool = False,
    seed: int | None = None,
    buffer: int | None = None,
) -> VerifiedDataset:
    """A signed version's records for a training job, each checked against the signed manifest before use.

    Called ``load("v1", store=..., pins=...)``, or store first as ``verify``, ``commit`` and ``check`` take it,
    ``load(store, "v1", pins=...)``. Opens ``version`` in ``store`` (a :class:`Store`, or the folder holding
    ``.prov/``; default: the one ``PROV_STORE`` names, else the nearest ``.prov/`` above the working directory, as
    the commands find it) and checks, under ``pins`` (required, and it must pin a key: the keys cached in
    ``.prov/`` are never trusted here), its DSSE signature, the signed facts it names and
    its manifest's Merkle root; with ``attestation`` (a ``prov check --attest`` file) also
    that a release attestation for this version verifies as for ``prov verify V
    --attestation A``, under ``policy`` (a policy file), checked against ``base``, not older
    than the release ``release_state`` (the job's state file, updated on success) records nor
    than ``min_release``, each when given (the rollback protection of ``prov verify V
    --attestation A --release-state F``). **Without ``attestation`` any version signed under
    ``pins`` loads, including one the gate blocked** (``prov check`` never attested it): the
    gate's verdict is the attestation; when no release attestation kept in the store names the version under
    ``pins`` (as ``prov log`` marks releases), it loads with an ``UnreleasedVersionWarning``
    (``provenance.loader.unreleased``, a ``UserWarning``; it names a blocked last check run here, an unsigned
    record). A release holding records no longer attested under ``pins``
    (a source key revoked since it was attested) loads with a ``RuntimeWarning`` naming the batches,
    or, with ``fail_on_revoked=True`` (``prov verify --fail-on-revoked``), raises ``VerificationError``.
    ``kept_log_state``: a log state the job keeps outside the store (a checkpoint file, or a release
    attestation, or a list of them; ``prov verify --checkpoint F``), signed by a key ``pins`` trusts for it,
    that the store's audit log must extend, so a log cut back to before a revocation is refused.
    Where the data is and how it reads come from the signed predicate. Nothing is read from the data yet.

    Returns a :class:`~provenance.loader.dataset.VerifiedDataset`, which reads the data as
    ``prov commit`` read it and yields each record (content and label) only after its
    SHA-256 digest, label and source are found in the manifest: ``for record in dataset``,
    ``dataset.batches()`` (Arrow record batches, the fast path), ``dataset.arrays()`` (``X,
    y`` for scikit-learn), ``dataset.torch()`` (a map-style dataset
    ``torch.utils.data.DataLoader`` accepts) and ``dataset.hf_generator()`` (for
    ``datasets.Dataset.from_generator``). When a pass ends, every signed record must have
    been read, or it raises. ``verify_first`` (default): a streaming read (``for record in
    dataset``, ``batches()``, ``numpy_batches()``) first reads and verifies every record without
    handing any out, so a changed dataset is refused before the first record; ``False`` checks
    only what is cheap first (the signed file listing; for Parquet, the total row and label
    counts) and refuses other changes at their batch (half the reading). As for ``prov verify``,
    which file of a folder a record is in is not signed: rows moved between files are the same version.
    ``buffer``: bytes the verifying pass may keep so the batches it verified are handed out
    without reading the data again (default ``PROV_LOADER_BUFFER``, else 1 GiB; never more than
    half the available memory; ``0`` always reads twice); a version above it is read twice.
    ``shuffle``/``seed``: ``for record in dataset`` in a random order only ``seed`` decides
    (record order is not signed; the whole version is read into memory first).
    ``record.source`` is the data's source column as the manifest signed it (None without one);
    ``dataset.lineage()`` gives each record's registered batch and its source, as reports name it.

    ``pins``: a ``prov.Pins``, or a public key file or list of them (``pins="keys/maintainer.pub"``,
    pinned as ``--signer`` pins them; a root file needs ``prov.Pins.load(roots=[...])``).

    Raises ``InputError`` (exit 2: no ``pins`` or nothing pinned, naming how to pass them,
    ``pins=prov.Pins.load(["KEY.pub"])``; unknown version, unreadable files; ``policy``,
    ``base``, ``release_state``, ``min_release``, ``fail_on_revoked`` or ``kept_log_state`` without ``attestation``),
    ``TypeError``
    (``pins`` of another type),
    ``VerificationError`` (exit 1: a signature, manifest or attestation that does not check
    out; while reading, a record the manifest does not list, a relabel, an extra copy, a
    changed column type or class list, or a signed record missing).
    """
    from provenance.errors import InputError
    from provenance.loader.dataset import VerifiedDataset
    from provenance.loader.signed_version import open_signed_version

    store, version = store_and_name("load", args, store, version, "version")
    if not isinstance(version, str):
        raise TypeError(f"load() takes the version's name (a str), not {type(version).__name__}")
    pins = as_pins(pins)  # pins="keys/maintainer.pub" pins that key, as --signer does
    if pins is None or not pins.pinned:
        given = "no pins" if pins is None else "pins that pin no key"
        raise InputError(
            f"prov.load({version!r}) was given {given}: pass the keys the job trusts, "
            'pins=prov.Pins.load(["keys/maintainer.pub"]) (or Pins.load(roots=[...]) with a root file); '
            "the keys cached in .prov/ are never trusted here"
        )
    root = str(open_store(store).root)
    signed = open_signed_version(
        root,
        version,
        pins,
        optional_path(attestation),
        optional_path(policy),
        base=base,
        release_state=optional_path(release_state),
        min_release=min_release,
        fail_on_revoked=fail_on_revoked,
        kept_log_states=kept_paths(kept_log_state),
    )
    return VerifiedDataset(
        signed, verify_first=verify_first, shuffle=shuffle, seed=seed, buffer=buffer, pins=pins, store_root=root
    )
