"""The public API's batches: ``sign`` at source, ``add`` to a store, and ``quarantine`` a source's records.

Re-exported by ``provenance.api`` and ``provenance``: import them from there
(``from provenance import sign, add, quarantine``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from provenance.api_inputs import dataset, kept_paths, open_store, optional_path

if TYPE_CHECKING:
    from provenance.api_inputs import PinsLike
    from provenance.lineage.batch_sign import SignResult
    from provenance.lineage.quarantine import QuarantineResult
    from provenance.lineage.register import AddResult
    from provenance.sources.interface import DatasetSpec
    from provenance.store.store import Store


def sign(
    data: str | os.PathLike[str] | DatasetSpec,
    *,
    source: str,
    key: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    captured_at: str | None = None,
    replace: bool = False,
    **read: Any,
) -> SignResult:
    """Sign a batch at source, with no store: ``prov sign DATA --source S --key K``.

    Hashes every record of ``data``, and writes ``out`` (default ``DATA.prov.json``): a
    DSSE envelope around an in-toto Statement whose subject is the batch's Merkle root
    and whose predicate names ``source``, the capture time (``captured_at``, ISO 8601,
    default now, UTC), counts and read options, carrying the batch manifest so a verifier
    can name every record changed since. A file already at ``out`` is replaced only with
    ``replace=True`` (``--force``). Returns a
    :class:`~provenance.lineage.batch_sign.SignResult`. Raises ``InputError`` for a bad
    source name, key, time or data, or a file already at ``out``.
    """
    from provenance.lineage.batch_sign import sign_batch

    way_out = "give replace=True (prov sign --force) to replace it, or out= to write another"
    spec = dataset(data, **read)
    return sign_batch(spec, source, os.fspath(key), optional_path(out), captured_at, replace=replace, way_out=way_out)


def add(
    store: Store | str | os.PathLike[str] | None,
    data: str | os.PathLike[str] | DatasetSpec,
    *,
    source: str,
    envelope: str | os.PathLike[str] | None = None,
    unsigned: bool = False,
    pins: PinsLike | None = None,
    kept_log_state: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    store_keys: bool = False,
    **read: Any,
) -> AddResult:
    """Register a batch from ``source``: ``prov add DATA --source S [--envelope E | --unsigned] [--checkpoint F]``.

    A signed batch (``envelope``, or ``DATA.prov.json`` beside the data unless
    ``unsigned``) is verified first against the keys trusted for ``source`` and every
    record is re-hashed; it fails closed. A batch with no envelope needs ``unsigned=True``
    (no silent downgrade). Later commits classify their records against the registered
    batches. Returns an :class:`~provenance.lineage.register.AddResult`.
    The same records signed again after every registration of them stopped attesting
    (the key that signed them was revoked) are registered again as ``SOURCE@ROOT12.2``
    (``AddResult.earlier_registrations`` names the earlier ones). ``kept_log_state``
    (one path or several: log states kept outside the store) refuses a log that no longer
    holds one, before and inside the write. A signed batch needs ``pins`` (or a store opened with them); with
    nothing pinned it is refused unless ``store_keys=True`` (``--store-keys``) asks for the store's own keys, which
    decides nothing (``AddResult.warnings`` says so).
    Raises ``VerificationError`` (bad signature, untrusted or revoked key, records
    changed since signing, a kept log state the log lost), ``InputError`` (no envelope and
    not ``unsigned``, a signed batch with nothing pinned (``pins``), batch already registered and still attested, bad data).
    """
    from provenance.lineage.register import add_batch

    opened = open_store(store, pins)
    kept = None
    if kept_paths(kept_log_state):
        from provenance.kept_log import KeptLog

        kept = KeptLog.held(opened, kept_paths(kept_log_state), "batch registration")
    from provenance.errors import InputError
    from provenance.trust.pins import NothingPinned

    spec = dataset(data, **read)
    try:
        return add_batch(opened, spec, source, optional_path(envelope), unsigned, kept_log=kept, store_keys=store_keys)
    except NothingPinned:  # worded for a Python caller (prov add says --signer)
        raise InputError(
            f"{spec.path}: a signed batch is verified only against keys you pin: nothing is pinned; give pins= "
            "(e.g. prov.Pins.load(['maintainer.pub'])) or open the store with pins, as --signer does for prov add; "
            "store_keys=True checks the store's own keys instead (no trust decision)"
        ) from None


def quarantine(
    store: Store | str | os.PathLike[str] | None,
    *,
    from_version: str,
    tag: str,
    key: str | os.PathLike[str],
    source: str | None = None,
    findings: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    pins: PinsLike | None = None,
    base: str | None = None,
    fpr: float | None = None,
    checkpoint_out: str | os.PathLike[str] | None = None,
    checkpoint_key: str | os.PathLike[str] | None = None,
    kept_log_state: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
) -> QuarantineResult:
    """A new signed version without one source's (or the flagged) records: ``prov quarantine --from V ...``.

    Exactly one of ``source`` (every record of ``from_version`` that lineage or its
    source column gives to that source) or ``findings`` (a ``prov diff --detect --format
    json`` report; its flagged digests, each of which the detectors, re-run on signed data
    against ``base`` (default the report's) at ``fpr`` (default 0.01), must flag) says what
    to cut. Writes the filtered dataset to
    ``out`` (default beside the original) and commits it as ``tag`` (parent
    ``from_version``). Returns a :class:`~provenance.lineage.quarantine.QuarantineResult`.
    ``kept_log_state``, ``checkpoint_out`` and ``checkpoint_key`` are :func:`provenance.commit`'s (``--checkpoint
    PREV``, ``--checkpoint-out FILE``, ``--checkpoint-key K``): the log must extend each kept state, and the new
    state is written outside ``.prov/``.
    Raises ``InputError``, ``VerificationError`` (data changed since signing, a log that lost a kept state); on
    failure nothing is left behind.
    """
    from provenance.kept_log import KeptLog
    from provenance.lineage.quarantine import quarantine as quarantine_version

    opened = open_store(store, pins)
    kept_log = KeptLog.check(
        opened,
        os.fspath(key),
        checkpoint_out=optional_path(checkpoint_out),
        checkpoint_key=optional_path(checkpoint_key),
        kept_log_state=kept_paths(kept_log_state),
    )
    return quarantine_version(
        opened,
        from_version,
        tag,
        os.fspath(key),
        source,
        optional_path(findings),
        optional_path(out),
        base=base,
        fpr=fpr,
        kept_log=kept_log,
    )
