"""File trees as records: a file is a record, its content its bytes (``sha256sum`` gives its digest).

Which files are records, and their labels, follow a named loader's rules (``--tree-reader``):

- ``imagefolder`` (default): torchvision's ``ImageFolder``, transcribed from
  ``torchvision/datasets/folder.py`` (``find_classes``, ``make_dataset``,
  ``has_file_allowed_extension``, ``IMG_EXTENSIONS``): class folders are the entries of
  ``os.scandir(root)`` that are folders (``DirEntry.is_dir()`` follows links; names that
  start with a dot are classes too), sorted; each is walked with
  ``os.walk(followlinks=True)``; a file is read when its lower-cased path ends with one of
  ``.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp`` (dot-files included). A file's label is
  its class folder's name. Files at the root and files with other extensions
  (``Thumbs.db``, ``.DS_Store``) are skipped, and listed. A class folder with no image is
  refused, as torchvision refuses it (``FileNotFoundError``). The sorted class list is signed:
  ImageFolder's targets are indexes into it.
- ``files``: torchvision's ``DatasetFolder`` with every file valid (trees of audio, text, ...).
- ``hf-imagefolder``: Hugging Face ``datasets``' ``imagefolder`` (``hf_imagefolder.py``).
- a labels CSV (``--labels-csv``): the rows of the CSV, ``path`` and ``label`` as written.

Whatever the loader would read is signed or refused: a symlink that leaves the tree, a link
loop, a file the loader reads that cannot be read or is not an image Pillow can open, are
input errors naming the file. Every file seen goes into the signed listing (``listing.py``).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import PurePosixPath

from provenance.encoding import FILE_DIGEST_ALGORITHM
from provenance.errors import InputError
from provenance.sources import legacy_trees
from provenance.sources.hf_imagefolder import SPLIT_KEYWORDS, list_hf_imagefolder
from provenance.sources.listing import Entry, Listing, Seen, check_link, file_entry, inside, local_entry

DIGEST_ALGORITHM = FILE_DIGEST_ALGORITHM  # a tree manifest's digest algorithm name: SHA-256 of the file's bytes
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision
READERS = ("imagefolder", "files", "hf-imagefolder")  # the --tree-reader choices
# --tree-reader (or the labels CSV / reader version 1) -> the loader a signed listing names
LOADER_NAMES = {
    "imagefolder": "torchvision.datasets.ImageFolder",
    "files": "torchvision.datasets.DatasetFolder (every file)",
    "hf-imagefolder": "datasets imagefolder",  # hf_imagefolder.LOADER
    "labels-csv": "labels CSV",
    "legacy": "prov reader version 1",
}


def split_named_classes(root: str, reader: str) -> list[str]:
    """The class folders of a local ``imagefolder`` tree when every one is named like a dataset split.

    torchvision's ImageFolder labels each image by its top-level folder, so ``DATA/train/cat/x.png`` is labelled
    ``train``: what the user meant is nearly always the split's classes (newcomer review 35, finding 6).

    Args:
        root: the DATA folder as given to ``prov commit`` (a local path; nothing is read at a git revision).
        reader: the ``--tree-reader`` in force.

    Returns:
        The top-level folder names, sorted, when ``reader`` is ``imagefolder``, there is at least one, each is a
        split keyword of Hugging Face ``datasets`` (``train``, ``val``, ``test``...: ``hf_imagefolder.SPLIT_KEYWORDS``)
        and each holds a folder of its own; else ``[]``. Never raises for a path it cannot list (``[]``).
    """
    if reader != "imagefolder":
        return []
    splits = {word for words in SPLIT_KEYWORDS.values() for word in words}
    try:
        with os.scandir(root) as entries:
            tops = [e.name for e in entries if e.is_dir() and not e.name.startswith(".")]
        if not tops or any(name.lower() not in splits for name in tops):
            return []
        for name in tops:
            with os.scandir(os.path.join(root, name)) as inner:
                if not any(e.is_dir() for e in inner):
                    return []
    except OSError:
        return []
    return sorted(tops)


@dataclass
class TreeListing:
    """A tree as its loader reads it: records ``(relative path, label)`` sorted by path, the
    listing of every file seen, and the class names the loader indexes (if it does)."""

    records: list[tuple[str, str]]
    listing: Listing
    classes: list[str] | None = None
    decodes_images: bool = False  # the loader decodes each record as an image

    def seen(self) -> list[Seen | None]:
        """Record by record, the local file its listing entry admitted (``listing.Seen``; None where the
        listing holds none: a tree on fsspec, reader version 1, a file gone or not regular), for
        ``tree_hashing.hash_files``."""
        admitted = {e.path: e.seen for e in self.listing.entries if e.role == "record"}
        return [admitted.get(rel) for rel, _ in self.records]


def _relative(full: str, root: str) -> str:
    return PurePosixPath(os.path.relpath(full, root)).as_posix()


def _top(root: str, fs) -> list[tuple[str, bool, str, int | None]]:
    """``(name, is a folder, path, size)`` of each entry at the root, sorted by name (local: size None)."""
    if fs is None:
        if not os.path.isdir(root):
            raise InputError(f"{root}: not a folder")
        with os.scandir(root) as it:
            return sorted(((e.name, e.is_dir(), e.path, None) for e in it), key=lambda t: t[0])
    if not fs.isdir(root):
        raise InputError(f"{root}: not a folder")
    infos = fs.ls(root, detail=True)
    return sorted(
        ((PurePosixPath(i["name"]).name, i["type"] == "directory", i["name"], i.get("size")) for i in infos),
        key=lambda t: t[0],
    )


def _walk(root: str, root_real: str, target: str, fs):
    """Each folder under ``target``: ``(its path, its path relative to root, [(file name, size)] sorted)``.

    Local: ``os.walk(followlinks=True)`` as torchvision walks, refusing links that leave the
    tree (size None: ``file_entry`` stats the file). ``fs``: ``fs.walk`` (sizes from its listing).
    """
    if fs is None:
        for dirpath, dirnames, filenames in os.walk(target, followlinks=True):
            dirnames.sort()
            for d in dirnames:
                check_link(root, root_real, os.path.join(dirpath, d))
            # relpath once per folder (it makes both paths absolute: ~25 us a call)
            yield dirpath, _relative(dirpath, root), [(f, None) for f in sorted(filenames)]
        return
    for dirpath, _, files in fs.walk(target, detail=True):
        rel_dir = PurePosixPath(dirpath).relative_to(PurePosixPath(root)).as_posix()
        yield dirpath, rel_dir, [(name, info.get("size")) for name, info in sorted(files.items())]


def _entry(fs, full: str, rel: str, role: str, reason: str | None = None, size: int | None = None) -> Entry:
    """A listing entry: local files through ``file_entry`` (size, link); on ``fs`` its size (no links)."""
    if fs is None:
        return file_entry(full, rel, role, reason)
    return Entry(rel, role, size if size is not None else _size(fs, full), None, reason)


def _size(fs, path: str) -> int | None:
    """The size in bytes of ``path`` on ``fs``; opened and sought to its end where the filesystem does not
    know it (DVC's folder objects hold no sizes); None when it cannot be read (hashing then names it)."""
    try:
        size = fs.size(path)
        if size is None:
            with fs.open(path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
        return size
    except OSError:
        return None


def dataset_folder(root: str, reader: str, fs=None) -> TreeListing:
    """torchvision's ``DatasetFolder`` listing: ``ImageFolder``'s extensions, or every file.

    ``reader`` is ``imagefolder`` (only ``IMG_EXTENSIONS``; records are decoded as images)
    or ``files`` (every file). ``fs`` is an fsspec filesystem that reads like a disk (a git
    revision through ``sources/dvc.py``; it has no links); None reads the local disk.
    Returns the ``TreeListing``: records sorted by path, the listing of every file seen
    (skipped ones with why), and the sorted class folders. The same tree gives the same
    listing on disk and through ``fs`` (a DVC cache link is listed as its file).

    Raises:
        InputError: not a folder, no class folder, a class without a readable file, a link
            that leaves the tree or loops.
    """
    top = _top(root, fs)
    root_real = os.path.realpath(root) if fs is None else root
    extensions = IMG_EXTENSIONS if reader == "imagefolder" else None
    classes = [name for name, is_dir, _, _ in top if is_dir]
    entries = [
        _entry(fs, path, name, "ignored", "not inside a class folder", size)
        for name, is_dir, path, size in top
        if not is_dir
    ]
    if not classes:
        raise InputError(f"{root}: no class folder (<label>/) in the tree; {LOADER_NAMES[reader]} finds none")
    join = os.path.join if fs is None else (lambda a, b: f"{a.rstrip('/')}/{b}")
    records: list[tuple[str, str]] = []
    for name in classes:
        target = join(root, name)
        if fs is None:
            check_link(root, root_real, target)
        found = 0
        for dirpath, rel_dir, files in _walk(root, root_real, target, fs):
            # join(dirpath, fname) once per folder, not per file (names from a listing are never absolute)
            folder = dirpath if fs is None and dirpath.endswith(os.sep) else f"{dirpath.rstrip('/')}/"
            for fname, size in files:
                full = folder + fname
                rel = f"{rel_dir}/{fname}"
                if extensions is None or full.lower().endswith(extensions):
                    role, reason = "record", None
                    records.append((rel, name))
                    found += 1
                else:
                    role, reason = "ignored", "not an image extension ImageFolder reads"
                if fs is None:
                    entries.append(local_entry(root, root_real, full, rel, role, reason))
                else:
                    entries.append(_entry(fs, full, rel, role, reason, size))
        if not found:
            what = f"file with an extension {', '.join(IMG_EXTENSIONS)}" if extensions else "file"
            raise InputError(
                f"{target}: class folder holds no {what}; {LOADER_NAMES[reader]} refuses the tree "
                "(remove the folder, or choose --tree-reader files for a tree of other files)"
            )
    records.sort()
    return TreeListing(records, Listing(LOADER_NAMES[reader], entries), classes, reader == "imagefolder")


def list_tree(root: str, fs=None, reader: str = "imagefolder") -> TreeListing:
    """The records of a file tree under the named reader's rules (see the module docstring).

    ``fs`` is an fsspec filesystem. Object storage is listed by name alone
    (``root/<label>/...``, dot-names skipped, as reader version 1 did); a filesystem whose
    ``reads_like_disk`` is true (a git revision, ``sources/dvc.py``) is listed under the
    reader's rules, as the same tree on disk.

    Raises:
        InputError: the tree breaks the reader's rules; the message names the path.
    """
    disk_like = fs is None or getattr(fs, "reads_like_disk", False)
    if reader == "legacy" or not disk_like:
        records = legacy_trees.list_tree_fs(fs, root) if fs is not None else legacy_trees.list_tree(root)
        entries = [Entry(rel, "record") for rel, _ in records]
        return TreeListing(records, Listing(LOADER_NAMES["legacy"], entries))
    if reader in ("imagefolder", "files"):
        return dataset_folder(root, reader, fs)
    if reader == "hf-imagefolder" and fs is not None:
        raise InputError(
            f"{root}: --tree-reader hf-imagefolder is not read at a git revision yet; commit the working copy"
        )
    if reader == "hf-imagefolder":
        records, listing, classes = list_hf_imagefolder(root)
        return TreeListing(records, listing, classes, decodes_images=True)
    raise InputError(f"--tree-reader {reader!r}: expected one of {', '.join(READERS)}")


# --- a labels CSV ------------------------------------------------------------------------


def read_labels_csv(root: str, labels_csv: str, fs=None, encoding: str | None = None, legacy: bool = False):
    """``(relative path, label)`` pairs from a CSV with ``path`` and ``label`` columns, as written, sorted.

    ``labels_csv`` is a local path or an fsspec URL; ``fs`` is the filesystem of ``root``.
    Paths and labels are taken exactly as the file holds them (reader version 1 stripped
    spaces); a second ``path`` or ``label`` column is refused (readers disagree on which wins).
    Empty lines are skipped; a UTF-8 byte-order mark is dropped; other columns are ignored.
    Row numbers in messages count data rows from 0 (the header is not counted).

    Raises:
        InputError: unreadable or non-UTF-8 CSV (without ``encoding``), a CSV name or a row's path holding a
            NUL character, missing or repeated columns, an empty path or label, a path that climbs out of ``root``.
    """
    try:
        if "://" in labels_csv:
            import fsspec

            with fsspec.open(labels_csv, "rb") as fh:
                raw = fh.read()
        else:
            with open(labels_csv, "rb") as fh:
                raw = fh.read()
        text = raw.decode(encoding or "utf-8")
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except (OSError, csv.Error, LookupError) as exc:
        raise InputError(f"{labels_csv}: cannot read labels CSV ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{labels_csv}: not UTF-8 text; pass --encoding (e.g. --encoding latin-1)") from exc
    except ValueError as exc:  # open's "embedded null byte" (perf32): a name no file can have
        raise InputError(f"{labels_csv}: cannot read labels CSV (a file name cannot hold a NUL character)") from exc
    if text.startswith("\ufeff") and rows:
        rows[0][0] = rows[0][0][1:]
    header = rows[0] if rows else []
    for name in ("path", "label"):
        if header.count(name) > 1:
            raise InputError(
                f"{labels_csv}: column {name!r} appears twice; rename one (readers disagree on which to use)"
            )
    if "path" not in header or "label" not in header:
        raise InputError(f"{labels_csv}: needs 'path' and 'label' columns")
    at_path, at_label = header.index("path"), header.index("label")
    root_real = os.path.realpath(root) if fs is None else None
    out = []
    for i, row in enumerate(rows[1:]):
        if not row:
            continue
        rel = row[at_path] if at_path < len(row) else ""
        label = row[at_label] if at_label < len(row) else ""
        if legacy:
            rel, label = rel.strip(), label.strip()
        if not rel or not label:
            raise InputError(f"{labels_csv}: row {i} has an empty path or label")
        if "\0" in rel:  # before the confinement check, whose realpath raises on it (perf32)
            raise InputError(
                f"{labels_csv}: row {i} path {rel!r} holds a NUL character, which no file name can; fix the row"
            )
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts:
            raise InputError(f"{labels_csv}: row {i} path {rel!r} climbs out of {root}")
        if root_real is not None and not inside(root_real, os.path.join(root, rel)):
            raise InputError(f"{labels_csv}: row {i} path {rel!r} leaves the tree {root}")
        out.append((str(pure) if legacy else rel, label))
    out.sort()
    return out


def labels_csv_listing(root: str, records: list[tuple[str, str]], fs=None) -> TreeListing:
    """The listing of a labels-CSV tree: the files its rows name (what its loader opens).

    ``records`` are :func:`read_labels_csv`'s pairs; ``fs`` an fsspec filesystem (None:
    local, where each entry also records the file's size and any link target, ``listing.file_entry``;
    a filesystem that ``reads_like_disk`` records each size too, so a git revision lists as the disk does).
    """
    if fs is None:
        entries = [file_entry(os.path.join(root, rel), rel, "record") for rel, _ in records]
    elif getattr(fs, "reads_like_disk", False):
        entries = [Entry(rel, "record", _size(fs, f"{root.rstrip('/')}/{rel}")) for rel, _ in records]
    else:
        entries = [Entry(rel, "record") for rel, _ in records]
    return TreeListing(records, Listing(LOADER_NAMES["labels-csv"], entries))
