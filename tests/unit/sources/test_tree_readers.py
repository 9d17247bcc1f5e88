"""File trees are read by a named loader's rules; what it reads is signed, what it skips is listed.

``imagefolder_listing`` below is a direct transcription of torchvision's
``datasets/folder.py`` (``find_classes`` and ``make_dataset`` with ``IMG_EXTENSIONS``),
kept deliberately literal so the comparison tests prov against torchvision's own rules.
"""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from provenance.errors import InputError
from provenance.executor import InlineExecutor
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
from provenance.sources.trees import list_tree

TORCHVISION_IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def imagefolder_listing(directory: str) -> tuple[list[str], list[tuple[str, int]]]:
    """torchvision.datasets.folder: find_classes + make_dataset(extensions=IMG_EXTENSIONS)."""
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    class_to_idx = {cls_name: i for i, cls_name in enumerate(classes)}
    instances, available = [], set()
    for target_class in sorted(class_to_idx.keys()):
        class_index = class_to_idx[target_class]
        target_dir = os.path.join(directory, target_class)
        if not os.path.isdir(target_dir):
            continue
        for root, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
            for fname in sorted(fnames):
                path = os.path.join(root, fname)
                if path.lower().endswith(TORCHVISION_IMG_EXTENSIONS):
                    instances.append((path, class_index))
                    available.add(target_class)
    if set(class_to_idx) - available:
        raise FileNotFoundError("Found no valid file for the classes ...")
    return classes, instances


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (4, 4), color=seed % 256).save(out, format="PNG")
    return out.getvalue()


def make_tree(root, layout: dict[str, bytes]) -> None:
    for rel, data in layout.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def build(path, **options):
    return build_manifest(DatasetSpec(str(path), options=TableOptions(**options)), executor=InlineExecutor())


def test_imagefolder_reads_what_torchvision_reads(tmp_path):
    tree = tmp_path / "tree"
    make_tree(
        tree,
        {
            "cat/a.png": png(1),
            "cat/deep/b.JPG": _jpeg(),
            "cat/.hidden.png": png(2),  # a dot-file with an image extension: ImageFolder reads it
            "cat/Thumbs.db": b"junk",
            "cat/.DS_Store": b"junk",
            ".planted/x.png": png(3),  # a dot-folder is a class (and shifts every class index)
            "dog/c.webp": _webp(),
            "README.txt": b"top-level files are not in a class",
        },
    )
    os.symlink("../dog", tree / "cat" / "more")  # folder links inside the tree are followed
    classes, instances = imagefolder_listing(str(tree))
    listed = list_tree(str(tree))
    assert listed.classes == classes == [".planted", "cat", "dog"]
    expected = sorted((os.path.relpath(p, tree), classes[i]) for p, i in instances)
    assert listed.records == expected
    assert ("cat/more/c.webp", "cat") in listed.records
    ignored = [e.path for e in listed.listing.ignored]
    assert ignored == ["README.txt", "cat/.DS_Store", "cat/Thumbs.db"]
    hashed = build(tree)
    assert hashed.listing_fact()["ignoredPaths"] == ignored
    assert hashed.schema_fact()["classes"] == classes


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2)).save(out, format="JPEG")
    return out.getvalue()


def _webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2)).save(out, format="WEBP")
    return out.getvalue()


def test_a_stray_thumbs_db_is_listed_not_a_record_nor_a_crash(tmp_path):
    make_tree(tmp_path / "t", {"cat/a.png": png(1), "dog/b.png": png(2), "dog/Thumbs.db": b"\xd0\xcf\x11\xe0"})
    hashed = build(tmp_path / "t")
    assert len(hashed.manifest) == 2 and hashed.listing_fact()["ignoredPaths"] == ["dog/Thumbs.db"]


def test_a_file_the_loader_reads_as_an_image_but_pillow_cannot_open_is_refused(tmp_path):
    make_tree(tmp_path / "t", {"cat/a.png": png(1), "cat/._a.png": b"\x00\x05\x16\x07 AppleDouble"})
    with pytest.raises(InputError, match=r"cat/\._a\.png: the loader would read this file as an image"):
        build(tmp_path / "t")


def test_a_class_folder_without_images_is_refused_as_torchvision_refuses_it(tmp_path):
    make_tree(tmp_path / "t", {"cat/a.png": png(1), "notes/readme.txt": b"x"})
    with pytest.raises(InputError, match="notes: class folder holds no file with an extension"):
        build(tmp_path / "t")
    with pytest.raises(FileNotFoundError):
        imagefolder_listing(str(tmp_path / "t"))
    assert len(build(tmp_path / "t", tree_reader="files").manifest) == 2  # every file is a record


def test_links_that_leave_the_tree_or_loop_are_refused(tmp_path):
    make_tree(tmp_path / "t", {"cat/a.png": png(1)})
    os.symlink(tmp_path, tmp_path / "t" / "cat" / "up")
    with pytest.raises(InputError, match="symlink leaves the tree"):
        list_tree(str(tmp_path / "t"))
    os.unlink(tmp_path / "t" / "cat" / "up")
    os.symlink("..", tmp_path / "t" / "cat" / "loop")
    with pytest.raises(InputError, match="symlink loop"):
        list_tree(str(tmp_path / "t"))


def test_hf_imagefolder_labels_split_folders_so_a_leak_is_a_relabel(tmp_path):
    layout = {f"train/{c}/{i}.png": png(i * 7 + n) for n, c in enumerate(["cat", "dog"]) for i in range(3)}
    layout.update({"test/cat/t.png": png(99), "test/dog/u.png": png(98), "test/.DS_Store": b"x", "README.md": b"#"})
    make_tree(tmp_path / "v1", layout)
    v1 = build(tmp_path / "v1", tree_reader="hf-imagefolder")
    assert v1.manifest.label_counts() == {"test/cat": 1, "test/dog": 1, "train/cat": 3, "train/dog": 3}
    assert v1.schema_fact()["classes"] == ["cat", "dog"]
    layout["train/cat/t.png"] = layout.pop("test/cat/t.png")  # the test image leaks into train
    make_tree(tmp_path / "v2", layout)
    v2 = build(tmp_path / "v2", tree_reader="hf-imagefolder")
    assert v2.manifest.root != v1.manifest.root
    assert dict(zip(v2.manifest.digests, v2.manifest.labels))[_digest(png(99))] == "train/cat"


def _digest(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    "extra, needle",
    [
        ({"metadata.csv": b"file_name,x\n"}, "metadata files"),
        ({"cat/test/x.png": png(5)}, "reads as a split"),
        ({"cat/train-01.png": png(5)}, "file name reads as a split"),
    ],
)
def test_hf_layouts_outside_the_transcription_are_refused_by_name(tmp_path, extra, needle):
    make_tree(tmp_path / "t", {"cat/a.png": png(1), "dog/b.png": png(2), **extra})
    spec = DatasetSpec(str(tmp_path / "t"), kind="tree", options=TableOptions(tree_reader="hf-imagefolder"))
    with pytest.raises(InputError, match=needle):
        build_manifest(spec, executor=InlineExecutor())


def test_labels_csv_is_read_as_written(tmp_path):
    make_tree(tmp_path / "t", {"a.bin": b"1", "b.bin": b"2"})
    (tmp_path / "labels.csv").write_text("path,label\na.bin, cat\nb.bin,007\n")
    spec = DatasetSpec(str(tmp_path / "t"), labels_csv=str(tmp_path / "labels.csv"))
    m = build_manifest(spec, executor=InlineExecutor()).manifest
    assert m.label_counts() == {" cat": 1, "007": 1}
    (tmp_path / "dup.csv").write_text("path,label,label\na.bin,cat,dog\n")
    with pytest.raises(InputError, match="column 'label' appears twice"):
        build_manifest(DatasetSpec(str(tmp_path / "t"), labels_csv=str(tmp_path / "dup.csv")))


def test_torchvision_itself_agrees_when_it_is_installed(tmp_path):
    datasets = pytest.importorskip("torchvision.datasets")
    make_tree(tmp_path / "t", {"cat/a.png": png(1), "cat/.b.png": png(2), ".x/c.png": png(3), "dog/Thumbs.db": b"x"})
    (tmp_path / "t" / "dog" / "d.png").write_bytes(png(4))
    folder = datasets.ImageFolder(str(tmp_path / "t"))
    listed = list_tree(str(tmp_path / "t"))
    assert listed.classes == folder.classes
    assert listed.records == sorted((os.path.relpath(p, tmp_path / "t"), folder.classes[i]) for p, i in folder.samples)
