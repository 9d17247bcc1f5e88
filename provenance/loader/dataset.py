"""A version as a training job reads it: every record checked against the signed manifest before it is handed out.

``provenance.load(version)`` returns a :class:`VerifiedDataset`. Opening it checks the
version's signature (and, when asked, its release attestation) and loads its manifest
(``signed_version.py``); reading it reads the data the way ``prov commit`` read it (the same reader, the same
canonical encoding), hashes each record and checks its digest, label and source against
the manifest before yielding it. A record the manifest does not list, a relabel, an extra
copy or a listed record that is missing is a ``VerificationError`` (exit 1): the trainer
gets exactly the records that were signed, or an error. A streaming read verifies the whole
version in a first pass that hands out nothing (``verify_first``, the default), so a changed
dataset is refused before the first record (when the version fits a memory budget, the batches
that pass verified are the ones handed out, read once: ``buffer.py``; above it a second pass hands out only what
the verifying pass read: ``verified_pass.py``); record order is not signed, so ``shuffle=True``
gives an order only the job's seed decides (``order.py``).
"""

from __future__ import annotations

import atexit
import functools
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.errors import InputError, VerificationError
from provenance.loader.buffer import VerifiedBuffer, budget
from provenance.loader.matcher import ManifestMatcher, restore_step
from provenance.loader.order import shuffled, sized_batches
from provenance.loader.precheck import precheck
from provenance.loader.reading import (
    HashedBatch,
    Record,
    SignedReading,
    display_locator,
    location,
    read_batches,
    tree_listing,
)
from provenance.loader.signed_version import SignedVersion
from provenance.loader.signed_version import open_signed_version as open_signed_version  # its home before session 15
from provenance.loader.verified_pass import FirstPass, SecondPass
from provenance.names import capped
from provenance.sources.trees import TreeListing

if TYPE_CHECKING:
    from provenance.loader.adapters import MapDataset
    from provenance.trust.pins import Pins

LABELS = "\x00labels"  # numpy_batches carries each batch's label texts in a column no table can name


# Reads a job started and did not finish (it stopped after N batches): closed at interpreter exit, while Arrow
# still runs, so their readers do not meet Arrow's teardown (attack review 3, finding 11: SIGABRT at exit).
_OPEN: weakref.WeakSet[Generator] = weakref.WeakSet()


@atexit.register
def _close_open_reads() -> None:
    for reading in list(_OPEN):
        try:
            reading.close()
        except Exception:  # noqa: BLE001 - exit goes on whatever one read says as it closes
            pass
    # Closing leaves the readers' Arrow objects to the cyclic collector when a frame or traceback cycle holds
    # them; collected in the interpreter's teardown, after Arrow's own, one aborted the process ('terminate
    # called without an active exception'): 11 of 180 jobs under load. Collected here, while Arrow runs: 0 of 180.
    import gc

    gc.collect()


class VerifiedDataset:
    """A signed version's records, each verified as it is read (see the module docstring).

    Attributes: ``version`` (tag), ``merkle_root`` (hex), ``kind`` (``table``/``tree``),
    ``columns`` (content columns in name order; a tree's content is each file's bytes),
    ``label_column``, ``classes`` (labels in class-index order: the signed class list of
    an ImageFolder tree, else the signed labels sorted), ``attestation`` (the checked
    release attestation, when one was asked for), ``verify_first`` and ``buffer`` (see
    :meth:`hashed_batches`), ``shuffle`` and ``seed`` (the order of ``for record in dataset``, see :meth:`batches`).
    ``len()`` is the signed record count.
    """

    def __init__(
        self,
        signed: SignedVersion,
        verify_first: bool = True,
        shuffle: bool = False,
        seed: int | None = None,
        buffer: int | None = None,
        pins: Pins | None = None,
        store_root: str | None = None,
    ):
        self._signed = signed
        self._pins, self._store_root = pins, store_root  # for lineage(): given by provenance.load
        self.verify_first = verify_first
        self.buffer = buffer
        self.shuffle = shuffle
        self.seed = seed
        pred = signed.statement.get("predicate") or {}
        schema = pred.get("schema") or {}
        self.version = signed.tag
        self.merkle_root = signed.merkle_root
        self.kind = signed.kind
        self.columns = list(signed.columns)
        self.label_column = signed.spec.options.label_column
        signed_classes = schema.get("classes")
        self.classes: list[str] = list(signed_classes) if signed_classes else sorted(pred.get("labels") or {})
        self.attestation = signed.attestation

    def __len__(self) -> int:
        return len(self._signed.manifest)

    def __repr__(self) -> str:
        return f"VerifiedDataset({self.version!r}: {len(self)} {self.kind} records, root {self.merkle_root[:16]})"

    # --- streaming ---------------------------------------------------------------------

    def hashed_batches(self, verify_first: bool | None = None) -> Iterator[HashedBatch]:
        """Verified batches with their digests, label texts, sources and locators (the loader's core).

        With ``verify_first`` (default: the dataset's, ``True`` unless ``load`` was told
        otherwise), one pass reads and verifies every record and hands out nothing, then a second
        pass hands out batches: a dataset changed since it was signed is refused before the first
        record, whatever the change. When the verified batches fit the buffer budget (``buffer``
        bytes, else ``PROV_LOADER_BUFFER``, else 1 GiB; at most half the available memory: see
        ``buffer.py``) the second pass hands out the very batches the first one verified, from
        memory, without reading the data again (a file changed after the verifying pass is not
        read); above it the second pass reads every batch again and hands it out only if it is,
        record for record, the batch the verifying pass read at that place, and refuses a local
        file replaced or written to since before reading any of its records (``verified_pass.py``:
        a file changed between the passes is never handed out). Without it, only what is cheap is
        checked first (``precheck.precheck``: the signed file listing; a Parquet table's total row
        count and per-label counts; rows moved between files are the same version, as for
        ``prov verify``), and a change those miss (a relabel or an edited row that keeps every count) is refused
        when its batch is read, after the batches before it were handed out. Either way each
        batch is checked before it is yielded, and after the last one every signed record must
        have been read. Raises ``VerificationError`` (exit 1) as the module says, ``InputError``
        (exit 2) if the data can no longer be read; messages start with the file
        (``data/part-0.parquet#17``, ``train.parquet#699``, ``tree/cat/1.png``) or the version.
        A read left unfinished is closed at interpreter exit (``_OPEN``).
        """
        reading = self._hashed_batches(verify_first)
        _OPEN.add(reading)
        return reading

    def _hashed_batches(self, verify_first: bool | None = None) -> Generator[HashedBatch, None, None]:
        """The generator behind :meth:`hashed_batches`; a refusal ends with what to do (:func:`restore_step`)."""
        try:
            yield from self._verified_batches(verify_first)
        except VerificationError as exc:
            raise VerificationError(
                f"{exc}; {restore_step(self.version)}", exc.details, exc.records, exc.count
            ) from exc

    def _verified_batches(self, verify_first: bool | None) -> Iterator[HashedBatch]:
        first = self.verify_first if verify_first is None else verify_first
        manifest = self._signed.manifest.table
        signed = replace(
            SignedReading.from_predicate(self._signed.statement.get("predicate") or {}),
            locators=manifest.column("locator"),
        )
        spec = self._signed.spec
        # a tree is listed once: the pre-check and both passes read the files of this listing
        tree = tree_listing(spec, *location(spec)) if self.kind == "tree" and signed.listing is not None else None
        problem = precheck(spec, self.kind, signed, manifest.column("locator"), manifest.column("label"), tree)
        kept = VerifiedBuffer(budget(self.buffer) if first and problem is None else 0)
        verified = FirstPass()
        if problem is not None or first:
            # One pass that hands out nothing: a job that stops early (a fixed number of steps) must not train
            # on part of a changed dataset; it also names the first record at fault.
            kept.fill(self._checked_batches(signed, tree, verified))
        if problem is not None:
            raise VerificationError(f"{problem}; the data changed since it was signed")
        if first and kept.whole:
            yield from kept.drain()  # the verified batches themselves: the data is not read again
            return
        del kept
        # Over the budget: the second pass hands out only what the verifying pass read (attack review 5, finding 6)
        yield from self._checked_batches(signed, tree, verified.second() if first else None)

    def _checked_batches(
        self, signed: SignedReading, tree: TreeListing | None, watch: FirstPass | SecondPass | None = None
    ) -> Iterator[HashedBatch]:
        shown = display_locator(self._signed.spec, self.kind)
        matcher = ManifestMatcher(self._signed.manifest, f"version {self.version}", shown)
        opening = watch.opening if watch is not None else None
        for hashed in read_batches(self._signed.spec, self.kind, signed, tree, opening):
            where = _where(shown, hashed)
            matcher.check(hashed.digests, hashed.labels, hashed.sources, where)
            if watch is not None:
                watch.batch(hashed, where)
            yield hashed
        matcher.finish()
        if watch is not None:
            watch.end()

    def batches(
        self,
        verify_first: bool | None = None,
        shuffle: bool = False,
        seed: int | None = None,
        batch_size: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Verified Arrow record batches: the content columns and the label column (tables), or
        ``path``, ``content`` (bytes) and ``label`` (trees). The fast way to feed a training loop.

        ``verify_first`` as :meth:`hashed_batches`. ``shuffle``: the records in a uniformly random
        order (``numpy.random.default_rng(seed)``): the whole version is read and verified into memory
        first (record order is not signed, so a job that does not shuffle trains in the order whoever
        writes the data folder chose). ``batch_size``: batches of that many records, the last one
        smaller; None (default) gives the data's own batches (a Parquet file's row groups, of any size)."""
        yield from sized_batches((h.batch for h in self._hashed(verify_first, shuffle, seed)), batch_size)

    def __iter__(self) -> Iterator[Record]:
        """Every record as a :class:`Record`, each verified before it is yielded (``verify_first`` and
        ``shuffle`` as ``load`` set them on the dataset)."""
        for hashed in self._hashed(None, self.shuffle, self.seed):
            yield from hashed.records()

    def _hashed(self, verify_first: bool | None, shuffle: bool, seed: int | None) -> Iterator[HashedBatch]:
        if not shuffle:
            return self.hashed_batches(verify_first)
        return shuffled(list(self.hashed_batches(False)), seed)

    def to_table(self) -> pa.Table:
        """The whole version as one verified Arrow table (content columns and label), read into memory."""
        return self.table_and_labels()[0]

    def table_and_labels(self) -> tuple[pa.Table, pa.Array]:
        """The whole version read and verified into memory: ``(table, label texts)``, the label texts being
        the manifest's (what :attr:`classes` holds), row for row."""
        batches, labels = [], []
        for hashed in self.hashed_batches(verify_first=False):  # nothing is returned before the pass ends
            batches.append(hashed.batch)
            labels.append(hashed.labels)
        if not batches:
            return pa.table({}), pa.array([], pa.string())
        return pa.Table.from_batches(batches).combine_chunks(), pa.concat_arrays(labels)

    def numpy_batches(
        self,
        dtype: Any = np.float64,
        verify_first: bool | None = None,
        shuffle: bool = False,
        seed: int | None = None,
        batch_size: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Verified ``(X, y)`` batches for a training loop (``partial_fit``, a hand-written SGD): the content
        columns as an ``n x d`` array of ``dtype`` and the labels as class indices (``int64``) into
        :attr:`classes`. ``verify_first``, ``shuffle``, ``seed`` and ``batch_size`` (e.g. 256; None: the data's
        own batches) as :meth:`batches`.

        ``columns``: the content columns to read, in the order given (``["bill_length_mm", "year"]``); None
        (default) reads every content column in :attr:`columns` order, which is **name order, not the file's
        column order** (the order records are hashed in). Each record is verified whole whichever columns
        are read.

        Raises ``TypeError`` for a file tree (its content is bytes) or a column read that is not numeric
        (the message names the numeric columns to pass as ``columns=``; text: use :meth:`to_table`,
        :meth:`batches` or :meth:`torch`); ``InputError`` when ``columns`` names a column that is not a content
        column of the version (the label is ``y``, not a column), or one twice, or is empty (an ``n x 0`` X trains
        nothing: refused, not returned).
        """
        if self.kind != "table":
            raise TypeError(
                f"version {self.version} is a file tree: its content is file bytes, not columns; arrays() and "
                "numpy_batches() need a table: decode each file in torch(transform=...), or read "
                "record.content and record.label in `for record in data`"
            )
        read = self._read_columns(columns)
        labelled = (h.batch.append_column(LABELS, h.labels) for h in self._hashed(verify_first, shuffle, seed))
        for batch in sized_batches(labelled, batch_size):
            # numpy's "could not convert string to float: '<a record's text>'" named neither
            self._refuse_non_numeric(batch.schema, read)
            arrays = [batch.column(c).to_numpy(zero_copy_only=False) for c in read]
            X = np.column_stack(arrays).astype(dtype, copy=False) if arrays else np.zeros((0, 0), dtype)
            yield X, self.class_indices(batch.column(LABELS))

    def _read_columns(self, columns: Sequence[str] | None) -> list[str]:
        """The content columns ``numpy_batches`` reads: ``columns`` as given, or every content column."""
        if columns is None:
            return list(self.columns)
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise InputError(f"version {self.version}: columns= takes a list of column names, not {columns!r}")
        if not columns:  # X of n x 0 beside y trains nothing: fit raised far from the cause (newcomer review 31)
            raise InputError(
                f"version {self.version}: columns= is empty; name at least one content column "
                f"({capped([repr(c) for c in self.columns])}), or leave columns= out to read them all"
            )
        unknown = [c for c in columns if c not in set(self.columns)]
        twice = sorted({c for c in columns if list(columns).count(c) > 1})
        if unknown or twice:
            said = [f"{capped([repr(c) for c in unknown])}, not a content column" * bool(unknown)]
            said += [f"{capped([repr(c) for c in twice])} more than once" * bool(twice)]
            problem = "; and ".join(p for p in said if p)
            raise InputError(
                f"version {self.version}: columns= names {problem}; its content columns: "
                f"{capped([repr(c) for c in self.columns])} (the label is y, not a column)"
            )
        return list(columns)

    def _refuse_non_numeric(self, schema: pa.Schema, read: Sequence[str]) -> None:
        """Raise ``TypeError`` naming the first of ``read`` whose type in ``schema`` holds no numbers, and the
        numeric content columns to pass as ``columns=`` instead."""
        wrong = [c for c in read if not _numeric_field(schema.field(c).type)]
        if not wrong:
            return
        numeric = [c for c in self.columns if _numeric_field(schema.field(c).type)]
        way = (
            f"pass the numeric ones, e.g. arrays(columns={numeric!r}), or "
            if numeric
            else "no content column holds numbers: "
        )
        raise TypeError(
            f"version {self.version}: content column {wrong[0]!r} is {schema.field(wrong[0]).type}, not numeric; "
            f"arrays() and numpy_batches() need numbers: {way}use to_table(), batches() or torch()"
        )

    def arrays(self, dtype: Any = np.float64, columns: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The whole version as one verified ``(X, y)``, for ``fit``: ``X`` (n x d, ``dtype``) holds ``columns``
        in the order given, or every content column in name order (not the file's order) when None; ``y``
        (n, int64) indexes :attr:`classes`. Errors as :meth:`numpy_batches`."""
        read = self._read_columns(columns)
        pairs = list(self.numpy_batches(dtype, verify_first=False, columns=read))  # nothing returned before the end
        if not pairs:
            return np.zeros((0, len(read)), dtype), np.zeros(0, np.int64)
        return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])

    def class_indices(self, label_texts: pa.Array) -> np.ndarray:
        """The position in :attr:`classes` of each label text (``int64``)."""
        index = pa.array(self.classes, pa.string())
        return np.asarray(pc.index_in(label_texts, value_set=index).to_numpy(zero_copy_only=False), dtype=np.int64)

    def lineage(self) -> pa.Table:
        """Where each record came from, as the pins ``load`` was given judge it: one row per signed record
        (``digest``, ``label``, ``status``, ``source`` and ``batch`` of the registered batch that carries it,
        ``signed_label``; see ``attribution.lineage_of``), the source reports name. ``Record.source`` is
        the data's source column as signed (None without one). Join on ``digest`` (``Record.digest``).
        Raises ``InputError`` for a dataset not opened by ``provenance.load``, ``VerificationError``
        as ``lineage_of`` says."""
        if self._pins is None or self._store_root is None:
            raise InputError(f"version {self.version}: lineage() needs the store and pins provenance.load opens with")
        from provenance.loader.attribution import lineage_of

        return lineage_of(self._store_root, self._pins, self.version, self._signed.manifest)

    def tree_location(self) -> tuple[Any, str]:
        """``(fsspec filesystem or None, root folder)`` of a tree version's files, where they are now."""
        return location(self._signed.spec)

    # --- adapters ----------------------------------------------------------------------

    def torch(self, transform: Callable | None = None, target_transform: Callable | None = None) -> MapDataset:
        """A map-style dataset for ``torch.utils.data.DataLoader`` (``__len__`` and ``__getitem__``),
        giving ``(sample, class_index)`` like torchvision's ``ImageFolder``; torch is not imported.

        A table's sample is a numpy row of its content columns (``float64`` when every
        column is numeric, else a ``{column: value}`` dict); a tree's sample is the file's
        bytes (pass ``transform``, e.g. ``lambda b: PIL.Image.open(io.BytesIO(b))``). The
        whole version is read and verified when the dataset is made, and a tree's file is
        hashed again whenever it is read, so a file changed since is refused.
        """
        from provenance.loader.adapters import MapDataset

        return MapDataset(self, transform, target_transform)

    def hf_generator(self) -> Callable[[], Iterator[dict]]:
        """A generator function for Hugging Face ``datasets.Dataset.from_generator``: each call reads the data
        again and yields one dict per verified record (the content columns, or a tree's ``path`` and
        ``content``, and ``label``). It is a picklable ``functools.partial`` over the version as checked
        here (statement, manifest and data spec: plain values, no keys), as ``datasets`` needs to
        fingerprint it and to run it in worker processes; the records are verified in whichever
        process reads them."""
        return functools.partial(hf_records, self._signed)


def _where(shown: Callable[[str], str], hashed: HashedBatch) -> Callable[[int], str]:
    """The ``i``-th record of ``hashed`` as messages name it (its file first)."""
    return lambda i: shown(hashed.where(i))


def hf_records(signed: SignedVersion) -> Iterator[dict]:
    """Every verified record of the checked version ``signed``, as a dict: the content columns (a tree's
    ``path`` and ``content``) and ``label``. For ``datasets.Dataset.from_generator``."""
    dataset = VerifiedDataset(signed)
    for batch in dataset.batches(verify_first=False):  # datasets writes every record to its cache before use
        yield from batch.to_pylist()


def _numeric_field(kind: pa.DataType) -> bool:
    """Whether numpy turns a column of ``kind`` (a dictionary column: its values') into numbers (``numpy_batches``)."""
    return _numeric(kind.value_type if pa.types.is_dictionary(kind) else kind)


def _numeric(kind: pa.DataType) -> bool:
    """Whether numpy turns a column of ``kind`` into numbers (``numpy_batches``)."""
    return any(
        check(kind) for check in (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_decimal)
    )
