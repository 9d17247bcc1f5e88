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
and JSON Lines), ``labels_csv`` (a file tree's ``path,label`` CSV) and ``kind``
(``"table"``, ``"tree"`` or ``"auto"``); or pass a ready
:class:`~provenance.sources.interface.DatasetSpec` as ``data``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenance.delta.report import DiffReport
    from provenance.detectors.pipeline import Detection
    from provenance.features.registry import FeaturizerSpec
    from provenance.gate.gate import GateResult
    from provenance.gate.policy import Policy
    from provenance.lineage.batches import SignResult
    from provenance.lineage.quarantine import QuarantineResult
    from provenance.lineage.register import AddResult
    from provenance.loader.dataset import VerifiedDataset
    from provenance.sources.interface import DatasetSpec
    from provenance.store.store import Store
    from provenance.trust.pins import Pins
    from provenance.versions import CommitResult

DEFAULT_FPR = 0.01


def open_store(store: Store | str | os.PathLike[str] | None, pins: Pins | None = None) -> Store:
    """``store`` itself, the store in the folder ``store``, or (``None``) the nearest one above the working directory.

    ``PROV_STORE`` overrides the search, as for the commands. ``pins`` (the verifier's
    :class:`~provenance.trust.pins.Pins`, e.g. ``Pins.load(["maintainer.pub"])``) is what
    the store handle checks signatures against from then on; without it, a handle keeps
    the pins it has (a new one: nothing pinned, the store's cached keys, said in every
    report). Raises ``InputError`` if there is no store.
    """
    from provenance.store.store import Store

    opened = store if isinstance(store, Store) else Store.open(os.fspath(store) if store is not None else None)
    if pins is not None:
        opened.pins = pins
    return opened


def dataset(
    data: str | os.PathLike[str] | DatasetSpec,
    *,
    label_column: str = "label",
    source_column: str | None = None,
    id_column: str | None = None,
    metadata: Sequence[str] = (),
    schema: Mapping[str, str] | None = None,
    labels_csv: str | os.PathLike[str] | None = None,
    kind: str = "auto",
    rev: str | None = None,
) -> DatasetSpec:
    """How to read ``data``: the :class:`DatasetSpec` the commands build from their dataset flags.

    ``data`` is a table file (Parquet, CSV, JSON Lines), a folder of them, a file tree
    (``root/<label>/<file>``), or an fsspec URL; ``rev`` reads it at a git revision
    through DVC. A ``DatasetSpec`` is returned as it is. Raises ``InputError`` for a
    ``kind`` other than table, tree or auto.
    """
    from provenance.errors import InputError
    from provenance.sources.interface import DatasetSpec
    from provenance.sources.tables import TableOptions

    if isinstance(data, DatasetSpec):
        return data
    if kind not in ("auto", "table", "tree"):
        raise InputError(f"kind {kind!r}: expected table, tree or auto")
    options = TableOptions(label_column, source_column, id_column, tuple(metadata), dict(schema or {}))
    csv = os.fspath(labels_csv) if labels_csv is not None else None
    return DatasetSpec(path=os.fspath(data), kind=kind, options=options, labels_csv=csv, rev=rev)


def commit(
    store: Store | str | os.PathLike[str] | None,
    data: str | os.PathLike[str] | DatasetSpec,
    *,
    tag: str,
    key: str | os.PathLike[str],
    parent: str | None = None,
    featurizer: str | FeaturizerSpec = "auto",
    executor: str | None = None,
    pins: Pins | None = None,
    message: str | None = None,
    **read: Any,
) -> CommitResult:
    """Commit ``data`` as the signed version ``tag``: ``prov commit DATA --tag TAG --key KEY``.

    Hashes every record (SHA-256 of its ``prov-row-v1`` encoding, or of a file's bytes),
    builds the sorted manifest and its RFC 6962 Merkle root, classifies every record's
    lineage against the registered batches (attested / relabeled_after_source /
    unattributed), builds the reference profile with ``featurizer`` (``"auto"``, a
    registry name, or a ``FeaturizerSpec`` with options), signs an in-toto Statement in
    a DSSE envelope with the Ed25519 ``key`` (PKCS#8 PEM) and records the version.
    ``parent`` defaults to the latest version; ``executor`` is ``"local"``,
    ``"local:N"`` or ``"dask://HOST:PORT"`` (default ``PROV_EXECUTOR``, then every
    local core). Expensive stages run before the store's write lock is taken.
    ``message`` is signed into the version (``prov commit -m``). Data identical to the
    parent's still makes the version; ``result.identical_to`` then names the parent.

    Returns a :class:`~provenance.versions.CommitResult` (``.to_dict()`` is
    ``schemas/commit.schema.json``). Raises ``InputError`` (tag taken or malformed,
    unreadable data or key), ``VerificationError`` (revoked key), ``StoreError``.
    """
    from provenance import versions
    from provenance.executor import executor_from

    runner = executor_from(executor)
    try:
        return versions.commit(
            open_store(store, pins),
            dataset(data, **read),
            tag,
            os.fspath(key),
            parent,
            executor=runner,
            featurizer=featurizer,
            message=message,
        )
    finally:
        runner.close()


def verify(
    store: Store | str | os.PathLike[str] | None,
    target: str | os.PathLike[str] | DatasetSpec,
    *,
    envelope: str | os.PathLike[str] | None = None,
    read_data: bool = True,
    attestation: str | os.PathLike[str] | None = None,
    policy: str | os.PathLike[str] | None = None,
    base: str | None = None,
    release_state: str | os.PathLike[str] | None = None,
    min_release: int | None = None,
    pins: Pins | None = None,
    **read: Any,
) -> dict:
    """Verify a version or a signed batch: ``prov verify TARGET``.

    Signatures are checked against ``pins`` (the keys the verifier trusts; without them,
    only against keys cached in the store, and the report's ``trust`` says so). If
    ``target`` names a version of the store: check its signature, objects and audit
    anchor and (unless ``read_data`` is false) re-read its data from the location it
    signed and recompute every digest; with ``attestation`` (a ``prov check --attest``
    file; needs ``pins``) also check that a key trusted to attest signed it for this
    version, that it has not expired and that its base is a signed ancestor, optionally
    that it passed ``policy`` (a policy file), was checked against ``base``, and is not
    older than the release recorded in ``release_state`` (updated on success) or than
    ``min_release``. Returns ``schemas/verify-version.schema.json``'s shape. Otherwise
    ``target`` is a batch's data, checked against ``envelope`` (default
    ``DATA.prov.json``) and the keys trusted for its source; returns the batch report
    (``status: "ok"``).

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

    opened = open_store(store, pins)
    if isinstance(target, DatasetSpec) or envelope is not None or not is_version(opened, os.fspath(target)):
        if isinstance(target, DatasetSpec) or envelope is not None or os.path.exists(target):
            from provenance.lineage.batches import check_batch

            spec = dataset(target, **read)
            release: dict[str, object] = {"attestation": attestation, "policy": policy, "base": base}
            release |= {"release_state": release_state, "min_release": min_release}
            given = [name for name, value in release.items() if value is not None]
            if given:
                raise InputError(f"{spec.path}: {given[0]} applies to a version's release, not to a batch of data")
            return check_batch(opened, spec, _optional(envelope)).report()
    tag = os.fspath(target)
    extra = {"policy": policy, "base": base, "release_state": release_state, "min_release": min_release}
    needs = [name for name, value in extra.items() if value is not None]
    if needs and attestation is None:
        raise InputError(f"{needs[0]} is checked against a release attestation: give the attestation too")
    if attestation is not None:
        from provenance.trust.pins import pins_of

        pins_of(opened).require(f"verifying the attestation {os.fspath(attestation)}")
    report = verify_version(opened, tag, read_data=read_data)
    if attestation is not None:
        from provenance.gate.attestation import verify_attestation
        from provenance.gate.policy import load as load_policy

        digest = load_policy(os.fspath(policy)).digest if policy is not None else None
        report["attestation"] = verify_attestation(
            opened,
            tag,
            os.fspath(attestation),
            policy_digest=digest,
            base=base,
            release_state=_optional(release_state),
            min_release=min_release,
        )
    return report


def diff(
    store: Store | str | os.PathLike[str] | None,
    base: str,
    new: str,
    *,
    detect: bool = False,
    fpr: float = DEFAULT_FPR,
    limit: int | None = None,
    pins: Pins | None = None,
) -> DiffReport:
    """What changed from version ``base`` to ``new``, record by record: ``prov diff BASE NEW [--detect]``.

    Returns the report whose ``.to_dict()`` is ``schemas/diff.schema.json``: counts of
    added, removed and relabeled records (``summary``), breakdowns by source and class,
    lineage per source, diff-level signals with their statistics, and the first
    ``limit`` records of each kind of change (default 20; 0 lists all). With
    ``detect``, the detectors also score the added and relabeled records against
    ``base``'s reference profile, calibrated to false-positive rate ``fpr`` (see
    :func:`detect`); a detector that crashed has status ``"error"`` in the report (the
    command then exits 3). Raises ``InputError`` (unknown versions, no profile for
    ``detect``), ``VerificationError`` (a version fails its signature or manifest check).
    """
    from provenance import progress
    from provenance.delta.compare import diff_versions
    from provenance.delta.merge import DEFAULT_LIMIT

    opened = open_store(store, pins)
    with progress.stage("diff", unit="steps"):
        report = diff_versions(opened, base, new, limit=DEFAULT_LIMIT if limit is None else limit)
    if detect:
        from provenance.detectors.pipeline import detect_diff

        with progress.stage("detectors", unit="steps"):
            report.add_detector_results(detect_diff(opened, base, new, report.delta, fpr=fpr))
    return report


def detect(
    store: Store | str | os.PathLike[str] | None,
    base: str,
    new: str,
    *,
    detectors: Sequence[str] | None = None,
    fpr: float = DEFAULT_FPR,
    save: bool = True,
    pins: Pins | None = None,
) -> Detection:
    """Run the poisoning detectors on ``new``'s delta against ``base``: the detection of ``prov diff --detect``.

    The added and relabeled records of ``new`` are read again (re-hashed, so features
    come from the signed content), featurised with the featuriser ``base``'s profile was
    made with, and scored by ``detectors`` (default all registered), calibrated on the
    profile; their evidence is combined into one verdict per record whose false-alarm
    rate on clean records is ``fpr`` (a fraction in (0, 1)). Returns a
    :class:`~provenance.detectors.pipeline.Detection`: ``.verdicts`` (one combined
    verdict per record: flagged, score in [0, 1], explanation) and ``.results`` (each
    detector's per-record scores, flags and explanations, or status ``"error"`` with the
    crash: never skipped). With ``save`` the findings are stored (``prov findings NEW``).
    Raises ``InputError`` if ``base`` has no profile or the featuriser is not installed.
    """
    from provenance.delta.compare import diff_versions
    from provenance.detectors.pipeline import detect_diff

    opened = open_store(store, pins)
    report = diff_versions(opened, base, new)
    names = list(detectors) if detectors is not None else None
    return detect_diff(opened, base, new, report.delta, names=names, fpr=fpr, save=save)


def check(
    store: Store | str | os.PathLike[str] | None,
    version: str,
    base: str,
    *,
    policy: str | os.PathLike[str] | Policy | None = None,
    waivers: Sequence[str | os.PathLike[str]] = (),
    attest: bool = False,
    key: str | os.PathLike[str] | None = None,
    attestation_out: str | os.PathLike[str] | None = None,
    pins: Pins | None = None,
) -> GateResult:
    """The release gate: ``prov check VERSION --base BASE [--policy P] [--attest --key K]``.

    Evaluates ``version`` against the trusted ``base`` under ``policy`` (a TOML file or
    a loaded Policy; default: the built-in policy, ``prov check --print-default-policy``),
    honouring signed ``waivers`` files. Returns the result whose ``decision`` is
    ``"pass"``, ``"blocked"`` or ``"error"`` and whose ``exit_code`` (0, 1, 3) is the
    command's; ``.to_dict()`` is ``schemas/check.schema.json``. With ``attest`` and a
    passing result, writes a signed release attestation (DSSE / in-toto) with ``key`` to
    ``attestation_out`` (default ``VERSION.attestation.json``) and names it in
    ``result.attestation``. Raises ``InputError`` for a bad policy (before anything is
    evaluated) or a missing key.
    """
    from provenance.errors import InputError
    from provenance.gate import gate
    from provenance.gate.policy import Policy as PolicyType
    from provenance.gate.policy import load as load_policy

    if attest and key is None:
        raise InputError("attest needs key, the private key that signs the attestation")
    pol = policy if isinstance(policy, PolicyType) else load_policy(os.fspath(policy) if policy is not None else None)
    opened = open_store(store, pins)
    from provenance.gate.attestation import attest as write_attestation
    from provenance.gate.attestation import check_attester
    from provenance.trust.pins import pins_of

    pins_of(opened).require("prov check")
    if attest:
        assert key is not None
        check_attester(opened, os.fspath(key), pol)  # a key or policy that cannot attest is exit 2 before the work
    from provenance import progress
    from provenance.store.log_state import current

    # the log the release signs: the check appends entries (its detector run) a CI checkout does not keep
    log_before = current(opened) if attest else None
    with progress.stage("check: verify, diff, detectors, rules", unit="steps"):
        result = gate.check(opened, version, base, pol, [os.fspath(w) for w in waivers])
    if attest and result.decision in ("pass", "warned"):
        assert key is not None
        target = os.fspath(attestation_out) if attestation_out is not None else f"{version}.attestation.json"
        write_attestation(opened, result, pol, os.fspath(key), target, log_before)
        result.attestation = target
        from provenance.store.coverage import coverage

        # the attestation's closing checkpoint signs the check's own entries: report the log as it is now
        result.audit = coverage(opened, pins_of(opened).maintainer_keys(opened)).to_dict()
    return result


def sign(
    data: str | os.PathLike[str] | DatasetSpec,
    *,
    source: str,
    key: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    captured_at: str | None = None,
    **read: Any,
) -> SignResult:
    """Sign a batch at source, with no store: ``prov sign DATA --source S --key K``.

    Hashes every record of ``data``, and writes ``out`` (default ``DATA.prov.json``): a
    DSSE envelope around an in-toto Statement whose subject is the batch's Merkle root
    and whose predicate names ``source``, the capture time (``captured_at``, ISO 8601,
    default now, UTC), counts and read options, carrying the batch manifest so a verifier
    can name every record changed since. Returns a
    :class:`~provenance.lineage.batches.SignResult`. Raises ``InputError`` for a bad
    source name, key, time or data.
    """
    from provenance.lineage.batches import sign_batch

    return sign_batch(dataset(data, **read), source, os.fspath(key), _optional(out), captured_at)


def add(
    store: Store | str | os.PathLike[str] | None,
    data: str | os.PathLike[str] | DatasetSpec,
    *,
    source: str,
    envelope: str | os.PathLike[str] | None = None,
    unsigned: bool = False,
    pins: Pins | None = None,
    **read: Any,
) -> AddResult:
    """Register a batch from ``source``: ``prov add DATA --source S [--envelope E | --unsigned]``.

    A signed batch (``envelope``, or ``DATA.prov.json`` beside the data unless
    ``unsigned``) is verified first against the keys trusted for ``source`` and every
    record is re-hashed; it fails closed. A batch with no envelope needs ``unsigned=True``
    (no silent downgrade). Later commits classify their records against the registered
    batches. Returns an :class:`~provenance.lineage.register.AddResult`.
    Raises ``VerificationError`` (bad signature, untrusted or revoked key, records
    changed since signing), ``InputError`` (no envelope and not ``unsigned``, batch
    already registered, bad data).
    """
    from provenance.lineage.register import add_batch

    return add_batch(open_store(store, pins), dataset(data, **read), source, _optional(envelope), unsigned)


def quarantine(
    store: Store | str | os.PathLike[str] | None,
    *,
    from_version: str,
    tag: str,
    key: str | os.PathLike[str],
    source: str | None = None,
    findings: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    pins: Pins | None = None,
) -> QuarantineResult:
    """A new signed version without one source's (or the flagged) records: ``prov quarantine --from V ...``.

    Exactly one of ``source`` (every record of ``from_version`` that lineage or its
    source column gives to that source) or ``findings`` (a ``prov diff --detect --format
    json`` report; its flagged digests) says what to cut. Writes the filtered dataset to
    ``out`` (default beside the original) and commits it as ``tag`` (parent
    ``from_version``). Returns a :class:`~provenance.lineage.quarantine.QuarantineResult`.
    Raises ``InputError``, ``VerificationError`` (data changed since signing); on failure
    nothing is left behind.
    """
    from provenance.lineage.quarantine import quarantine as quarantine_version

    return quarantine_version(
        open_store(store, pins), from_version, tag, os.fspath(key), source, _optional(findings), _optional(out)
    )


def load(
    version: str,
    *,
    pins: Pins | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    attestation: str | os.PathLike[str] | None = None,
    policy: str | os.PathLike[str] | None = None,
    verify_first: bool = True,
    shuffle: bool = False,
    seed: int | None = None,
    buffer: int | None = None,
) -> VerifiedDataset:
    """A signed version's records for a training job, each checked against the signed manifest before use.

    Opens ``version`` in ``store`` (default: the nearest store, as the commands find it)
    and checks, under ``pins`` (required, and it must pin a key: the keys cached in
    ``.prov/`` are never trusted here), its DSSE signature, the signed facts it names and
    its manifest's Merkle root; with ``attestation`` (a ``prov check --attest`` file) also
    that a release attestation for this version verifies as for ``prov verify V
    --attestation A``, under ``policy`` (a policy file) when given. Where the data is and
    how it reads come from the signed predicate. Nothing is read from the data yet.

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

    Raises ``InputError`` (exit 2: no ``pins`` or nothing pinned, naming how to pass them,
    ``pins=prov.Pins.load(["KEY.pub"])``; unknown version, unreadable files),
    ``VerificationError`` (exit 1: a signature, manifest or attestation that does not check
    out; while reading, a record the manifest does not list, a relabel, an extra copy, a
    changed column type or class list, or a signed record missing).
    """
    from provenance.errors import InputError
    from provenance.loader.dataset import VerifiedDataset, open_signed_version

    if pins is None or not pins.pinned:
        given = "no pins" if pins is None else "pins that pin no key"
        raise InputError(
            f"prov.load({version!r}) was given {given}: pass the keys the job trusts, "
            'pins=prov.Pins.load(["keys/maintainer.pub"]) (or Pins.load(roots=[...]) with a root file); '
            "the keys cached in .prov/ are never trusted here"
        )
    root = str(open_store(store).root)
    signed = open_signed_version(root, version, pins, _optional(attestation), _optional(policy))
    return VerifiedDataset(
        signed, verify_first=verify_first, shuffle=shuffle, seed=seed, buffer=buffer, pins=pins, store_root=root
    )


def _optional(path: str | os.PathLike[str] | None) -> str | None:
    return os.fspath(path) if path is not None else None
