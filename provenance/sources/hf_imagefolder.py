"""Hugging Face ``datasets``' ``imagefolder`` listing, transcribed (``--tree-reader hf-imagefolder``).

From ``datasets/data_files.py`` (split keywords, hidden-file rules, files it ignores) and
``packaged_modules/folder_based_builder`` and ``imagefolder`` (extensions, labels):

- Names starting with ``.`` and folders starting with ``__`` are skipped, as are
  ``README.md``, ``config.json``, ``dataset_info.json``, ``dataset_infos.json``,
  ``dummy_data.zip`` and ``dataset_dict.json``.
- Split folders: a top-level folder named ``train``/``training``, ``validation``/``valid``/
  ``dev``/``val`` or ``test``/``testing``/``eval``/``evaluation`` holds that split; without
  any, every image is in ``train``.
- A file is an image when its last or second-to-last extension is one of ``datasets``'
  image extensions (Pillow's readable formats); other files are skipped.
- Labels are the name of each image's parent folder, added only when there is more than one
  and every image lies at the same depth (else ``datasets`` adds no label column).

A record's label is ``<split>/<class>`` when the tree has split folders (so an image moved
from ``test/`` to ``train/`` is a relabel a diff shows, not an invisible rename), else
``<class>``. What the transcription does not cover is refused, naming the path, rather than
read differently: metadata files (``metadata.csv``...), archives, split names elsewhere
than the top level or inside file names, and the log/task patterns ``datasets`` matches
before splits.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

from provenance.errors import InputError
from provenance.sources.listing import Listing, check_link, file_entry

LOADER = "datasets imagefolder"

SPLIT_KEYWORDS = {
    "train": ["train", "training"],
    "validation": ["validation", "valid", "dev", "val"],
    "test": ["test", "testing", "eval", "evaluation"],
}
_SEP = "[-._ 0-9]"
_KEYWORDS = "|".join(k for words in SPLIT_KEYWORDS.values() for k in words)
_SPLIT_IN_DIR = re.compile(
    rf"^(?:(?:{_KEYWORDS})|(?:{_KEYWORDS}){_SEP}.*|.*{_SEP}(?:{_KEYWORDS})|.*{_SEP}(?:{_KEYWORDS}){_SEP}.*)$"
)
_SPLIT_IN_NAME = re.compile(rf"^(?:(?:{_KEYWORDS}){_SEP}.*|.*{_SEP}(?:{_KEYWORDS}){_SEP}.*)$")
_SHARDED = re.compile(r"^data/[^/]*-\d{5}-of-\d{5}[^/]*\.[^/]*$")
FILES_TO_IGNORE = {
    "README.md",
    "config.json",
    "dataset_info.json",
    "dataset_infos.json",
    "dummy_data.zip",
    "dataset_dict.json",
}
METADATA_FILES = {"metadata.csv", "metadata.jsonl", "metadata.parquet"}
# datasets/packaged_modules/imagefolder/imagefolder.py: IMAGE_EXTENSIONS
IMAGE_EXTENSIONS = set(
    ".blp .bmp .dib .bufr .cur .pcx .dcx .dds .ps .eps .fit .fits .fli .flc .ftc .ftu .gbr .gif .grib .png .apng "
    ".jp2 .j2k .jpc .jpf .jpx .j2c .icns .ico .im .iim .tif .tiff .jfif .jpe .jpg .jpeg .mpg .mpeg .msp .pcd .pxr "
    ".pbm .pgm .ppm .pnm .psd .bw .rgb .rgba .sgi .ras .tga .icb .vda .vst .webp .wmf .emf .xbm .xpm".split()
)
_ALLOWED = IMAGE_EXTENSIONS | {e.upper() for e in IMAGE_EXTENSIONS} | {".zip", ".csv", ".jsonl", ".parquet"}


def _hidden(rel: PurePosixPath) -> str | None:
    if any(p.startswith(".") and set(p) != {"."} for p in rel.parts):
        return "hidden name (starting with '.')"
    if any(p.startswith("__") for p in rel.parent.parts):
        return "special folder (starting with '__')"
    if rel.name in FILES_TO_IGNORE:
        return "a file datasets ignores"
    return None


def _is_image(name: str) -> bool:
    root, ext = os.path.splitext(name)
    allowed = any("." + suffix in _ALLOWED for suffix in name.split(".")[1:])
    return allowed and (ext.lower() in IMAGE_EXTENSIONS or os.path.splitext(root)[1].lower() in IMAGE_EXTENSIONS)


def _walk(root: str) -> list[str]:
    root_real, out = os.path.realpath(root), []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in dirnames + filenames:
            check_link(root, root_real, os.path.join(dirpath, name))
        out += [os.path.join(dirpath, f) for f in filenames]
    return sorted(out)


def _refuse(path: str, why: str) -> InputError:
    return InputError(f"{path}: {why}; prov's transcription of datasets' imagefolder does not cover it, so it refuses")


def list_hf_imagefolder(root: str) -> tuple[list[tuple[str, str]], Listing, list[str]]:
    """The records of ``root`` as ``datasets.load_dataset("imagefolder", data_dir=root)`` reads them.

    Returns ``(records, listing, classes)``: ``(relative path, label)`` sorted by path, the
    listing of every file seen, and the sorted class names ``datasets`` indexes.

    Raises:
        InputError: a layout outside the transcription (see the module docstring), no labels
            (one class, or images at different depths), or a link that leaves the tree.
    """
    if not os.path.isdir(root):
        raise InputError(f"{root}: not a folder")
    entries, visible = [], []
    for full in _walk(root):
        rel = PurePosixPath(os.path.relpath(full, root))
        why = _hidden(rel)
        if why:
            entries.append(file_entry(full, rel.as_posix(), "ignored", why))
        else:
            visible.append((full, rel))
    split_dirs = {words: split for split, names in SPLIT_KEYWORDS.items() for words in names}
    has_splits = any(len(rel.parts) > 1 and rel.parts[0] in split_dirs for _, rel in visible)
    for full, rel in visible:
        if rel.name in METADATA_FILES or rel.suffix.lower() == ".zip":
            raise _refuse(full, "datasets reads metadata files and archives specially")
        if rel.suffix == ".eval" or rel.name in ("task.toml", "instruction.md") or _SHARDED.match(rel.as_posix()):
            raise _refuse(full, "datasets would take this name as a log, task or sharded split")
        inner = rel.parent.parts[1:] if has_splits and rel.parts[0] in split_dirs else rel.parent.parts
        for part in inner:
            if _SPLIT_IN_DIR.match(part):
                raise _refuse(full, f"the folder name {part!r} reads as a split to datasets")
        if not has_splits and _SPLIT_IN_NAME.match(rel.name):
            raise _refuse(full, "the file name reads as a split to datasets")
    records, labels, depths = [], set(), set()
    order = {"train": 0, "validation": 1, "test": 2}
    for full, rel in sorted(visible, key=lambda v: (order.get(split_dirs.get(v[1].parts[0], ""), 3), v[1])):
        split = split_dirs.get(rel.parts[0]) if has_splits and len(rel.parts) > 1 else None
        if has_splits and split is None:
            entries.append(file_entry(full, rel.as_posix(), "ignored", "outside every split folder"))
            continue
        if not _is_image(rel.name):
            entries.append(file_entry(full, rel.as_posix(), "ignored", "not an image extension datasets reads"))
            continue
        label = rel.parent.name
        labels.add(label)
        depths.add(len(rel.parts))
        records.append((rel.as_posix(), f"{split}/{label}" if split else label))
        entries.append(file_entry(full, rel.as_posix(), "record"))
    if not records:
        raise InputError(f"{root}: no image files datasets' imagefolder reads")
    if len(labels) < 2 or len(depths) != 1:
        raise InputError(
            f"{root}: datasets' imagefolder adds no labels here (it needs more than one class folder, "
            "with every image at the same depth)"
        )
    return sorted(records), Listing(LOADER, entries), sorted(labels)
