"""The one dispatcher that turns a dataset spec into a manifest: list, partition, hash, sort.

Listing follows the input kind's reading semantics (``table_files.py`` for tables,
``trees.py`` for file trees); hashing runs partition by partition on the executor; the
external sort merges the partitions into the sorted manifest. The result carries the
facts a version signs beside its Merkle root (types, label type, listing, classes).
"""

from __future__ import annotations

import os
from dataclasses import replace

from provenance.errors import InputError
from provenance.manifest import Manifest
from provenance.sources import memory, table_files, tables, text_tables, tree_hashing, trees
from provenance.sources.external_sort import ExternalSort, sorted_manifest
from provenance.sources.interface import DatasetSpec, HashedDataset
from provenance.sources.listing import Entry, Listing
from provenance.sources.sample_capture import CapturedSample, SampleCapture, keep_limits, partition_capture
from provenance.sources.spill import spill_part
from provenance.sources.table_files import TableFile, TableFiles
from provenance.sources.table_types import arrow_type_named, check_parts, settle_text_types
from provenance.sources.tables import HashedPart

# Row groups per partition are grouped so each worker gets a few hundred thousand rows.
_ROWS_PER_PARTITION = 262_144
# Below this many bytes a tree's files hash faster in this process than through a pool of
# workers (pool start and the listing pickled to each cost ~0.5-1.5 s here; hashing 64 MiB of
# small files in one process costs less). Images too: hashing checks only that each is an image
# (its magic bytes; Pillow reads the header of other formats), it decodes none.
SMALL_TREE_BYTES = 64 << 20
# Files at least this large on average are hashed on threads of this process (read and
# hashlib.update release the GIL), not in a pool of processes: no start-up, nothing pickled.
LARGE_FILE_BYTES = 1 << 20
TABLE_READER = "pyarrow.dataset"  # the loader a table dataset's signed listing names


def split_url(path: str):
    """``(filesystem, path on it)`` for an fsspec URL (``memory://``, ``s3://``, ...); ``(None, path)``
    for a local path. A ``file://`` URL becomes a local path, so it gets the local checks.

    Raises:
        InputError: fsspec is not installed, or cannot open the URL (exit 2).
    """
    if "://" not in path:
        return None, path
    try:
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        fs, inner = fsspec.core.url_to_fs(path)
    except (ImportError, ValueError) as exc:
        raise InputError(f"{path}: cannot open this URL with fsspec ({exc})") from exc
    if isinstance(fs, LocalFileSystem):
        return None, inner
    return fs, inner


def _near_names(fs, path: str) -> str:
    """`` (did you mean 'data/train.parquet'?)``: a close name in the same folder of ``fs``, or nothing."""
    import posixpath

    from provenance.names import did_you_mean

    folder = posixpath.dirname(path.rstrip("/"))
    try:
        names = [
            posixpath.join(folder, posixpath.basename(str(p).rstrip("/"))) for p in fs.ls(folder or "/", detail=False)
        ]
    except Exception:  # a folder that is missing too: no suggestion
        return ""
    return did_you_mean(path, names)


def resolve_kind(spec: DatasetSpec, fs=None) -> str:
    """``table`` or ``tree``: the spec's kind, or (``auto``) whether the path holds table files.

    With ``auto``: a file is a table; a folder with a labels CSV is a tree; otherwise a
    folder holding any table file (Parquet, CSV, JSON Lines) is a table, else a tree.
    ``fs`` is the fsspec filesystem of ``spec.path`` (None: local). A kind given in the
    spec is returned as it is, unchecked.

    Raises:
        InputError: no such path (exit 2).
    """
    if spec.kind != "auto":
        return spec.kind
    if fs is not None:
        where = f" at revision {spec.rev[:12]}" if spec.rev else ""
        if not fs.exists(spec.path):
            raise InputError(f"{spec.path}: no such file or folder{where}{_near_names(fs, spec.path)}")
        if fs.isfile(spec.path):
            return "table"
        if spec.labels_csv:
            return "tree"
        found = [p for p in fs.find(spec.path) if table_files.table_format(p)]
        return "table" if found else "tree"
    if not os.path.exists(spec.path):  # the did-you-mean verify gives (newcomer review 14, finding 15)
        from provenance.names import near_file

        raise InputError(f"{spec.path}: no such file or folder{near_file(spec.path)}")
    if os.path.isfile(spec.path):
        return "table"
    if spec.labels_csv:
        return "tree"
    return "table" if table_files.has_table_files(spec.path) else "tree"


def _hash_partition(task):
    """Hash one partition in a worker; spill it to ``spill`` (a local path) if given."""
    kind, source, args, spill = task
    if kind == "table":
        file, options, prefix, fs, row_groups, first_row, forced, salt, run = args
        capture = partition_capture(source, salt, run) if capturable(file, options, fs) else None
        part = tables.hash_table_file(file, options, None, prefix, fs, row_groups, first_row, forced, capture)
        part.sample = capture.result() if capture is not None else None
        if capture is not None:
            keep_limits(capture, run)
    else:
        root, entries, fs, images, seen = args
        part = tree_hashing.hash_files(root, entries, fs, images, seen)
    part = part.finish(source)
    if spill is None:
        return part
    path, bits = spill
    return spill_part(part, path, bits)


def _table_tasks(
    spec: DatasetSpec, files: TableFiles, source, fs, forced, salt=None, run: str = ""
) -> tuple[list, int]:
    """Partitions of a table dataset (row-group ranges of Parquet files, whole CSV/JSONL files),
    and the number of rows expected (exact for Parquet, an overestimate for text); ``salt`` is the
    profile sample key's (``profiles.sample.sample_key``), for the sample's capture; ``run`` a token
    new to this hashing run (its partitions pass the capture's limits on: ``_hash_partition``)."""
    tasks: list[tuple] = []
    expected = 0
    prefix = len(files.files) > 1 or files.is_folder
    for file in files.files:
        if file.format == "parquet":
            groups = tables.parquet_row_groups(file.path, fs, file.identity)
            expected += sum(n for _, n in groups)
            chunk: list[int] = []
            first, rows = 0, 0
            for i, (start, n) in enumerate(groups):
                if not chunk:
                    first = start
                chunk.append(i)
                rows += n
                if rows >= _ROWS_PER_PARTITION:
                    tasks.append(("table", source, (file, spec.options, prefix, fs, chunk, first, None, salt, run)))
                    chunk, rows = [], 0
            if chunk or not groups:
                tasks.append(("table", source, (file, spec.options, prefix, fs, chunk or None, first, None, salt, run)))
        else:
            size = fs.size(file.path) if fs is not None else os.path.getsize(file.path)
            expected += size // 16 + 1  # no row count without reading; a row takes well over 16 bytes
            tasks.append(("table", source, (file, spec.options, prefix, fs, None, 0, forced, salt, run)))
    return tasks, expected


def _task_memory(task) -> tuple[int, str]:
    """(bytes, description) a table partition needs while a worker hashes it (``memory.py``)."""
    file, _, _, fs, row_groups, first, _, _, _ = task[2]
    if file.format == "parquet":
        return memory.parquet_task_memory(file.path, row_groups, fs), f"{file.path}: hashing from row {first}"
    return memory.text_task_memory(file.path, fs), f"{file.path}: hashing the file"


def merge_parts(parts: list[HashedPart], algorithm: str, batch: str | None) -> Manifest:
    """One sorted manifest from in-memory parts (all of one label kind).

    ``parts`` are finished ``HashedPart``s (leaf hashes computed); ``algorithm`` is the
    manifest's digest algorithm name; ``batch`` names the batch in each entry (or None).
    The label kind is that of the non-empty parts, which must agree (``string`` if all are empty).
    """
    kinds = {p.label_kind for p in parts if len(p)}
    return sorted_manifest(parts, sum(len(p) for p in parts), algorithm, batch, kinds.pop() if kinds else "string")


def table_listing(files: TableFiles) -> Listing:
    """The listing a table version signs (reader 2 and later): every table file read and every file skipped."""
    entries = [Entry(f.rel, "record") for f in files.files]
    entries += [Entry(rel, "ignored", reason=why) for rel, why in files.ignored]
    return Listing(TABLE_READER, entries)


def build_manifest(
    spec: DatasetSpec,
    executor=None,
    source: str | None = None,
    batch: str | None = None,
    sample_salt: bytes | None = None,
) -> HashedDataset:
    """Read every record of ``spec`` and return its manifest, in memory bounded by a bucket.

    ``source`` fills the source of records whose table has no source column. ``spec.path``
    may be a local path or an fsspec URL; with ``spec.rev`` the path is read as of that git
    revision through DVC (``dvc.build_manifest_at_rev``, no executor). With no
    ``executor``, this machine's processes (``provenance.executor.local_executor``): only a
    caller that commits passes a cluster; a local tree of files (images or not) under
    ``SMALL_TREE_BYTES`` is hashed in this process whatever the executor, and one whose files
    average ``LARGE_FILE_BYTES`` or more on threads of this process instead of local
    processes (``executor.ThreadExecutor``). ``batch`` names
    the batch in every manifest entry. ``sample_salt`` keys the profile sample a table's
    hashing captures (``profiles.sample.sample_key``; drawn by the committer's signature).

    Returns:
        The ``HashedDataset``: the manifest, sorted and with its RFC 6962 Merkle root
        (``provenance.manifest``), beside the facts a version signs about the reading
        (content columns and types, label type, listing, class list).

    Raises:
        InputError: anything about the input that breaks its reading semantics, named
            (exit 2): no such path, an unsupported text encoding, an unreadable file,
            files that disagree on columns or types, a bad label, a tree against its
            loader's rules.
    """
    if spec.rev is not None:
        from provenance.sources.dvc import build_manifest_at_rev

        return build_manifest_at_rev(spec, source=source, batch=batch)
    if executor is None:
        from provenance.executor import local_executor

        executor = local_executor()
    text_tables.check_encoding(spec.options.encoding)
    fs, path = split_url(spec.path)
    if fs is None and not getattr(executor, "shared_filesystem", True):
        path = os.path.abspath(path)  # cluster workers have another working folder
    local = replace(spec, path=path)
    try:
        kind = resolve_kind(local, fs)
    except OSError as exc:
        raise InputError(f"{spec.path}: cannot read ({exc})") from exc
    if kind == "table":
        return _build_table(spec, local, fs, executor, source, batch, sample_salt)
    if kind == "tree":
        return build_tree(spec, local, fs, executor, source, batch)
    raise InputError(f"{spec.path}: unknown dataset kind {kind!r} (expected table or tree)")


def capturable(file: TableFile, options: tables.TableOptions, fs) -> bool:
    """Whether hashing ``file`` keeps the profile sample's candidates (``sample_capture.py``): a local
    Parquet file read with reader version 2 and no id column, which the profile's re-read decodes
    exactly as hashing does (CSV/JSONL types are settled per file there, ids are not read back)."""
    return fs is None and file.format == "parquet" and options.reader_version > 1 and not options.id_column


def _run(tasks: list, expected: int, executor, salt: bytes | None = None) -> tuple[ExternalSort, CapturedSample | None]:
    """Hash ``tasks`` on ``executor`` into an external sort; also the merged profile-sample candidates
    of table partitions (None for a tree, or when a partition kept none)."""
    from provenance import progress

    sorter = ExternalSort(expected)
    capture = SampleCapture(None, salt=salt)
    spill = getattr(executor, "shared_filesystem", False)
    tasks = [task + ((sorter.spill_path(i), sorter.bits) if spill else None,) for i, task in enumerate(tasks)]
    per_task = max(1, expected // max(1, len(tasks)))
    with progress.stage("reading and hashing", total=expected) as hashing:
        for i, result in enumerate(executor.imap(_hash_partition, tasks)):
            capture.merge(getattr(result, "sample", None))
            if hasattr(result, "sample"):
                result.sample = None  # merged: the sorter need not keep it
            sorter.add(result, i)
            hashing.advance(len(getattr(result, "locators", ())) or per_task)
    captured = capture.result()
    return sorter, captured if captured.keys is not None and captured.keys.num_rows else None


def _finish(
    sorter: ExternalSort, digest_algorithm: str, batch: str | None, label_kind: str = "string", row_numbers=False
) -> Manifest:
    """``sorter.finish(...)`` as a progress stage of its own: at 2M rows the merge, the Merkle root and
    the manifest's write took seconds under load with no stage shown (newcomer review 13, finding 8)."""
    from provenance import progress

    with progress.stage(MANIFEST_STAGE, unit="steps"):
        return sorter.finish(digest_algorithm, batch, label_kind, row_numbers)


MANIFEST_STAGE = "sorting and writing the manifest"


def table_executor(executor, files: TableFiles, fs):
    """The executor to hash ``files`` on: threads of this process in place of local processes when
    every file is a local Parquet file; ``executor`` otherwise.

    Parquet decoding and the batch hasher (``fastsha``) release the GIL, and threads need no
    worker start, no profile-sample candidates pickled back, and no interpreter and allocator
    arenas of their own (one process reuses its freed pages from partition to partition). CSV/JSONL
    type inference (Python) and an fsspec filesystem (which may not read from two threads) keep
    the processes; a cluster, ``inline`` or any other executor is kept as given
    (``executor.for_gil_free_work`` says which executors may become threads).
    """
    from provenance.executor import for_gil_free_work

    if fs is None and all(f.format == "parquet" for f in files.files):
        return for_gil_free_work(executor)
    return executor


def _build_table(spec, local, fs, executor, source, batch, salt=None) -> HashedDataset:
    files = table_files.list_table_files(local.path, fs, spec.options.reader_version)
    executor = table_executor(executor, files, fs)
    forced = None
    for _ in range(4):  # files of one dataset must agree on types: CSV/JSONL widen to the widest
        run = os.urandom(16).hex()  # new for every pass: a pass with wider types hashes other digests
        tasks, expected = _table_tasks(local, files, source, fs, forced, salt, run)
        bounded = memory.bounded_workers(executor, [_task_memory(task) for task in tasks])
        sorter, sample = _run(tasks, expected, bounded, salt)
        wider = settle_text_types(sorter.spilled) if spec.options.reader_version > 1 else None
        if not wider:
            break
        forced = {**(forced or {}), **wider}
    columns, types, label_type, label_kind = check_parts(sorter.spilled, spec)
    # one file read without an id column: its locators are its row numbers, each once (tables.hash_table_file)
    row_numbers = len(files.files) == 1 and not files.is_folder and not spec.options.id_column
    manifest = _finish(sorter, spec.options.digest_algorithm, batch, label_kind, row_numbers)
    listing = table_listing(files) if spec.options.reader_version > 1 else None
    return HashedDataset(
        manifest, "table", columns, len(files.files), spec, types, label_type, label_kind, listing, None, sample
    )


def build_tree(spec, local, fs, executor, source, batch) -> HashedDataset:
    """Hash the file tree ``local.path`` on ``fs`` (None: local disk) as its reader lists it.

    ``spec`` is the dataset as given (signed), ``local`` the same with the path on ``fs``;
    records are listed by ``trees.list_tree`` (or the labels CSV) and hashed on ``executor``.
    A git revision comes here too (``dvc.build_manifest_at_rev``, a filesystem that reads
    like a disk), so a tree gives the same records, listing and root there as on disk.

    Raises:
        InputError: the tree breaks its reader's rules, or a file cannot be read (exit 2).
    """
    options = spec.options
    legacy = options.reader_version == 1
    if spec.labels_csv:
        records = trees.read_labels_csv(local.path, spec.labels_csv, fs, options.encoding, legacy)
        listing = trees.labels_csv_listing(local.path, records, fs)
    else:
        listing = trees.list_tree(local.path, fs, "legacy" if legacy else options.tree_reader)
    return hash_listed_tree(spec, local, fs, executor, source, batch, listing)


def hash_listed_tree(spec, local, fs, executor, source, batch, listing: trees.TreeListing) -> HashedDataset:
    """Hash the records of ``listing`` (``build_tree``'s second half): exactly the files it admitted.

    Arguments as :func:`build_tree`, with the tree's ``listing`` made before. On the local disk
    each file must still be the regular file the listing saw (``tree_hashing.hash_files``),
    on every executor (inline, the threads that take large files, processes).

    Raises:
        InputError: a file that cannot be read or changed since the listing (exit 2).
    """
    legacy = spec.options.reader_version == 1
    entries = listing.records
    seen = listing.seen() if fs is None else [None] * len(entries)
    images = listing.decodes_images
    size = max(64, len(entries) // (4 * getattr(executor, "workers", 1)) + 1)
    if not images and fs is None and _large_files(listing.listing):
        from provenance.executor import for_gil_free_work

        threads = for_gil_free_work(executor)
        if threads is not executor:  # processes of this machine (not a cluster, not inline)
            executor = threads
            size = len(entries) // (4 * executor.workers) + 1  # a large file is worth a task
    elif fs is None and _small(listing.listing):
        from provenance.executor import InlineExecutor

        executor = InlineExecutor()
    tasks = [
        ("tree", source, (local.path, entries[i : i + size], fs, images, seen[i : i + size]))
        for i in range(0, len(entries), size)
    ]
    sorter, _ = _run(tasks, len(entries), executor)
    manifest = _finish(sorter, trees.DIGEST_ALGORITHM, batch)
    return HashedDataset(
        manifest,
        "tree",
        [],
        len(entries),
        spec,
        {},
        "string",
        "string",
        None if legacy else listing.listing,
        listing.classes,
    )


def _large_files(listing: Listing | None) -> bool:
    """Whether a local tree's records are known to average at least ``LARGE_FILE_BYTES``:
    then hashing them is reading and hashlib, which hold no GIL, and threads beat processes."""
    if listing is None:
        return False
    sizes = [e.size for e in listing.entries if e.role == "record"]
    known = [size for size in sizes if size is not None]
    return bool(sizes) and len(known) == len(sizes) and sum(known) >= LARGE_FILE_BYTES * len(sizes)


def _small(listing: Listing | None) -> bool:
    """Whether a local tree's records are known to add up to less than ``SMALL_TREE_BYTES``."""
    if listing is None:
        return False
    total = 0
    for entry in listing.entries:
        if entry.role == "record":
            if entry.size is None:
                return False
            total += entry.size
    return total < SMALL_TREE_BYTES


# check_parts and arrow_type_named are table_types'; named here for the modules that import them from build
__all__ = [
    "TableFile",
    "arrow_type_named",
    "build_manifest",
    "build_tree",
    "check_parts",
    "hash_listed_tree",
    "resolve_kind",
    "split_url",
]
