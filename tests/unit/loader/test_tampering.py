"""Attacks on what a training job reads through ``provenance.load``, replayed for real.

The attacker can write the data folder and ``.prov/`` but holds no key the job pinned.
"""

from __future__ import annotations

import re
import sqlite3

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance as prov
from provenance import keys
from provenance.errors import InputError, VerificationError
from provenance.trust.pins import Pins

MARK = 0x0123456789ABCDEF  # an int64 whose bytes occur once in the file


def _table(n: int = 50) -> pa.Table:
    x = np.arange(n, dtype=np.int64) * 1_000_003 + MARK
    return pa.table({"x": x, "label": [str(i % 3) for i in range(n)]})


@pytest.fixture
def plain_parquet(workdir, store, keypair):
    """v1: an uncompressed, dictionary-free Parquet file, so a flipped byte changes one value."""
    pq.write_table(_table(), workdir / "train.parquet", compression="NONE", use_dictionary=False)
    prov.commit(store, "train.parquet", tag="v1", key=keypair.private_path)
    return workdir / "train.parquet"


def test_a_byte_flipped_in_the_parquet_file_is_refused_naming_the_row(plain_parquet, store, pins):
    data = bytearray(plain_parquet.read_bytes())
    row = 17
    at = data.find(int(MARK + row * 1_000_003).to_bytes(8, "little"))
    assert at > 0
    data[at] ^= 0x01
    plain_parquet.write_bytes(bytes(data))
    with pytest.raises(
        VerificationError, match=rf"^\S*/train\.parquet#{row}: record [0-9a-f]{{12}} is not in the signed manifest"
    ):
        list(prov.load("v1", store=store, pins=pins))


def test_a_version_needs_a_pinned_key_and_a_key_only_in_the_store_is_not_trusted(plain_parquet, store, workdir):
    # newcomer 5 item 9: without pins= it was a bare TypeError, and empty pins gave CLI advice
    how = re.escape('pass the keys the job trusts, pins=prov.Pins.load(["keys/maintainer.pub"])')
    with pytest.raises(InputError, match=rf"^prov.load\('v1'\) was given no pins: {how}"):
        prov.load("v1", store=store)
    with pytest.raises(InputError, match=rf"^prov.load\('v1'\) was given pins that pin no key: {how}"):
        prov.load("v1", store=store, pins=Pins.unpinned())
    # mallory can write .prov/ and commits poisoned data with her own key: the job pinned alice
    mallory = keys.generate(workdir / "mallory")
    pq.write_table(_table(60), workdir / "poison.parquet")
    prov.commit(store, "poison.parquet", tag="v2", key=mallory.private_path)
    alice = Pins.load([workdir / "alice.pub"])
    with pytest.raises(VerificationError, match="v2"):
        prov.load("v2", store=store, pins=alice)


def test_pins_may_be_key_files_as_the_cli_takes_them(plain_parquet, store, workdir, monkeypatch):
    """Newcomer review 8, finding 5: pins="keys/maintainer.pub" (the first try, since the commands
    take paths) raised a bare AttributeError; a key file, or a list of them, pins those keys."""
    alice = workdir / "alice.pub"
    for given in (str(alice), alice, [str(alice)], (alice,)):
        assert len(prov.load("v1", store=store, pins=given)) == 50
    mallory = keys.generate(workdir / "mallory")
    prov.commit(store, "train.parquet", tag="v2", key=mallory.private_path)
    with pytest.raises(VerificationError, match="v2"):  # the file's key, not one the store holds
        prov.load("v2", store=store, pins=str(alice))
    monkeypatch.setenv("PROV_SIGNERS", str(alice))
    with pytest.raises(InputError, match="was given pins that pin no key"):  # never PROV_SIGNERS instead
        prov.load("v1", store=store, pins=[])
    with pytest.raises(TypeError, match=r"^pins must be a prov.Pins or public key files .*, not int$"):
        prov.load("v1", store=store, pins=42)  # type: ignore[arg-type]


def test_the_data_location_comes_from_the_signature_not_the_store_rows(plain_parquet, store, pins, workdir):
    poisoned = _table().set_column(1, "label", [["2"] * 50])
    pq.write_table(poisoned, workdir / "other.parquet")
    with sqlite3.connect(store.root / "prov.db") as db:  # whoever can write .prov/ points v1 elsewhere
        (dataset,) = db.execute("select dataset from versions where tag = 'v1'").fetchone()
        db.execute(
            "update versions set dataset = ? where tag = 'v1'", (dataset.replace("train.parquet", "other.parquet"),)
        )
    labels = [r.label for r in prov.load("v1", store=prov.Store.open(str(workdir)), pins=pins)]
    assert labels == _table().column("label").to_pylist()


@pytest.fixture
def image_tree(workdir, store, keypair):
    """t1: an ImageFolder tree of real PNGs, 6 per class."""
    from PIL import Image

    for label in ("cat", "dog"):
        (workdir / "tree" / label).mkdir(parents=True)
        for i in range(6):
            shade = (i * 40 + (0 if label == "cat" else 17)) % 256
            Image.new("L", (4, 4), shade).save(workdir / "tree" / label / f"{i}.png")
    prov.commit(store, "tree", tag="t1", key=keypair.private_path)
    return workdir / "tree"


def test_two_swapped_files_in_an_image_tree_are_refused_as_a_relabel(image_tree, store, pins):
    cat, dog = image_tree / "cat" / "2.png", image_tree / "dog" / "4.png"
    cat_bytes, dog_bytes = cat.read_bytes(), dog.read_bytes()
    cat.write_bytes(dog_bytes)
    dog.write_bytes(cat_bytes)
    with pytest.raises(
        VerificationError, match=r"^\S*/tree/cat/2\.png: record [0-9a-f]{12} has label 'cat', signed as 'dog'"
    ):
        list(prov.load("t1", store=store, pins=pins))


def test_a_new_class_folder_is_refused_before_any_record_is_handed_out(image_tree, store, pins):
    (image_tree / ".hidden").mkdir()
    (image_tree / ".hidden" / "x.png").write_bytes((image_tree / "cat" / "0.png").read_bytes())
    loaded = prov.load("t1", store=store, pins=pins)
    with pytest.raises(VerificationError, match=r"class folders are now \['.hidden', 'cat', 'dog'\]"):
        next(iter(loaded))


def test_a_file_the_loader_skips_still_fails_the_pass_as_verify_fails_it(image_tree, store, pins):
    (image_tree / "cat" / "Thumbs.db").write_bytes(b"not an image")
    loaded = prov.load("t1", store=store, pins=pins)
    with pytest.raises(VerificationError, match="the file listing differs from the signed one"):
        list(loaded)


def test_rows_deleted_from_a_table_are_refused_before_any_record_is_handed_out(plain_parquet, store, pins):
    """Attack review 2, finding 4: a job that trains for a fixed number of steps never reached the
    end of the pass, where missing records were noticed; a class deleted from the data went unseen."""
    t = pq.read_table(plain_parquet)
    pq.write_table(t.filter(pa.compute.not_equal(t.column("label"), "1")), plain_parquet)
    loaded = prov.load("v1", store=store, pins=pins)
    with pytest.raises(VerificationError, match=r"^version v1: 17 signed record\(s\) are missing from the data"):
        next(iter(loaded))


def test_a_file_deleted_from_a_tree_is_refused_before_any_record_is_handed_out(image_tree, store, pins):
    (image_tree / "dog" / "5.png").unlink()
    loaded = prov.load("t1", store=store, pins=pins)
    with pytest.raises(VerificationError, match="the file listing differs from the signed one"):
        next(loaded.batches())


def test_a_folder_table_is_checked_before_any_record_is_handed_out(workdir, store, keypair, pins):
    """Attack review 3, finding 7: the row-count pre-check was bypassed by a header-only CSV (which
    switched it off) or by padding the deleted rows back in a new Parquet file or in another part."""
    (workdir / "data").mkdir()
    t = _table(300)
    pq.write_table(t.slice(0, 150), workdir / "data" / "a.parquet")
    pq.write_table(t.slice(150), workdir / "data" / "b.parquet")
    prov.commit(store, "data", tag="t1", key=keypair.private_path)
    a = pq.read_table(workdir / "data" / "a.parquet")
    kept = a.filter(pa.compute.not_equal(a.column("label"), "1"))
    pq.write_table(kept, workdir / "data" / "a.parquet")
    (workdir / "data" / "zz.csv").write_text("x,label\n")
    # refused at the first next(): the pre-check saw it, and one pass that hands out nothing named the fault
    with pytest.raises(VerificationError, match=r"50 signed record\(s\) are missing"):
        next(iter(prov.load("t1", store=store, pins=pins)))
    (workdir / "data" / "zz.csv").unlink()
    pq.write_table(kept.slice(0, 150 - kept.num_rows), workdir / "data" / "zz.parquet")
    with pytest.raises(VerificationError):
        next(iter(prov.load("t1", store=store, pins=pins)))
    (workdir / "data" / "zz.parquet").unlink()
    b = pq.read_table(workdir / "data" / "b.parquet")
    pq.write_table(pa.concat_tables([b, b.slice(0, 150 - kept.num_rows)]), workdir / "data" / "b.parquet")
    with pytest.raises(VerificationError):
        next(iter(prov.load("t1", store=store, pins=pins)))
    from provenance.loader.precheck import precheck
    from provenance.loader.reading import SignedReading
    from provenance.loader.signed_version import open_signed_version

    signed = open_signed_version(str(store.root), "t1", pins)
    reading = SignedReading.from_predicate(signed.statement["predicate"])
    manifest = signed.manifest.table
    assert precheck(signed.spec, "table", reading, manifest.column("locator")) is None  # 300 rows, as signed
    problem = precheck(signed.spec, "table", reading, manifest.column("locator"), manifest.column("label"))
    assert problem is not None and re.search(
        r"/data: the data holds \d+ records labelled '1' where the version signed 100$", problem
    )


@pytest.fixture
def two_parts(workdir, store, keypair):
    """t1: a folder of two Parquet parts of 150 rows each (labels "0", "1", "2"), in row groups of 30."""
    (workdir / "data").mkdir()
    t = _table(300)
    pq.write_table(t.slice(0, 150), workdir / "data" / "a.parquet", row_group_size=30)
    pq.write_table(t.slice(150), workdir / "data" / "b.parquet", row_group_size=30)
    prov.commit(store, "data", tag="t1", key=keypair.private_path)
    return workdir / "data"


def test_a_class_deleted_in_one_part_and_padded_with_another_parts_rows_is_refused_before_any_record(
    two_parts, store, pins
):
    """Attack review 3, finding 7, case E: part a's rows of class "1" deleted and a padded back to its signed
    row count with copies of part b's class "0" rows (read later, so the copies were accepted first);
    ``itertools.islice`` of the job trained on 100 records of a dataset with a class gone."""
    import itertools

    a, b = pq.read_table(two_parts / "a.parquet"), pq.read_table(two_parts / "b.parquet")
    kept = a.filter(pa.compute.not_equal(a.column("label"), "1"))
    pad = b.filter(pa.compute.equal(b.column("label"), "0")).slice(0, a.num_rows - kept.num_rows)
    pq.write_table(pa.concat_tables([kept, pad]), two_parts / "a.parquet", row_group_size=30)
    for verify_first in (True, False):  # the label counts refuse it even without the verifying pass
        data = prov.load("t1", store=store, pins=pins, verify_first=verify_first)
        with pytest.raises(VerificationError, match=r"b\.parquet#0: record [0-9a-f]{12} is read more times"):
            list(itertools.islice(data, 100))
    from provenance.loader.precheck import precheck
    from provenance.loader.reading import SignedReading
    from provenance.loader.signed_version import open_signed_version

    signed = open_signed_version(str(store.root), "t1", pins)
    manifest = signed.manifest.table
    reading = SignedReading.from_predicate(signed.statement["predicate"])
    problem = precheck(signed.spec, "table", reading, manifest.column("locator"), manifest.column("label"))
    assert problem is not None and problem.endswith(
        "/data: the data holds 50 records labelled '1' where the version signed 100"
    )


def test_a_relabel_that_keeps_every_count_is_refused_before_the_first_record_by_default(two_parts, store, pins):
    """Newcomer review 3, item 7: a relabel in a later row group came out after 600 records. Swapping two
    labels in the last row group keeps every file's row and label counts, so only the verifying pass sees it."""
    b = pq.read_table(two_parts / "b.parquet")
    labels = b.column("label").to_pylist()
    i, j = 140, next(k for k in range(141, 150) if labels[k] != labels[140])
    labels[i], labels[j] = labels[j], labels[i]
    pq.write_table(b.set_column(1, "label", [labels]), two_parts / "b.parquet", row_group_size=30)
    with pytest.raises(VerificationError, match=rf"b\.parquet#{i}: record [0-9a-f]{{12}} has label"):
        next(prov.load("t1", store=store, pins=pins).batches())
    handed_out = 0  # without the verifying pass: refused at its batch, after the batches before it
    with pytest.raises(VerificationError, match=rf"b\.parquet#{i}: record"):
        for batch in prov.load("t1", store=store, pins=pins, verify_first=False).batches():
            handed_out += batch.num_rows
    assert handed_out == 270  # part a (150) and b's first four row groups (120)


def test_a_tree_listing_change_names_the_file(image_tree, store, pins):
    """Newcomer review 3, item 7: "the file listing differs" did not say which file."""
    original = (image_tree / "dog" / "5.png").read_bytes()
    (image_tree / "dog" / "5.png").unlink()
    with pytest.raises(VerificationError, match=r"tree/dog/5\.png \(removed; 1 record file\(s\) removed\): the file"):
        next(iter(prov.load("t1", store=store, pins=pins, verify_first=False)))
    (image_tree / "dog" / "5.png").write_bytes(original)
    (image_tree / "cat" / "Thumbs.db").write_bytes(b"not an image")
    with pytest.raises(VerificationError, match=r"tree/cat/Thumbs\.db \(a skipped file added\): the file listing"):
        list(prov.load("t1", store=store, pins=pins, verify_first=False))


def test_shuffle_gives_every_verified_record_in_an_order_only_the_seed_decides(two_parts, store, pins):
    """Attack review 3, finding 8: record order is not signed; rows sorted by label (all of one class
    first) load as they are, so a job without a global shuffle trains in the attacker's order."""
    rows = pa.concat_tables([pq.read_table(two_parts / f"{part}.parquet") for part in ("a", "b")]).sort_by("label")
    pq.write_table(rows.slice(0, 150), two_parts / "a.parquet")  # across the files, as the review did (case C)
    pq.write_table(rows.slice(150), two_parts / "b.parquet")
    in_order = [r.label for r in prov.load("t1", store=store, pins=pins)]
    assert in_order[:100] == ["0"] * 100  # what the attacker chose
    first = [r.hexdigest for r in prov.load("t1", store=store, pins=pins, shuffle=True, seed=7)]
    again = [r.hexdigest for r in prov.load("t1", store=store, pins=pins, shuffle=True, seed=7)]
    other = [r.hexdigest for r in prov.load("t1", store=store, pins=pins, shuffle=True, seed=8)]
    assert first == again != other and sorted(first) == sorted(other)
    shuffled = prov.load("t1", store=store, pins=pins, shuffle=True, seed=7)
    assert {r.label for r in itertools_first(shuffled, 50)} == {"0", "1", "2"}
    batches = list(shuffled.batches(shuffle=True, seed=7))
    assert [len(b) for b in batches] and sum(len(b) for b in batches) == 300
    X, y = zip(*shuffled.numpy_batches(shuffle=True, seed=7))
    assert sum(len(v) for v in y) == 300
    labels = pa.concat_arrays([b.column("label") for b in batches]).to_pylist()
    assert labels == [shuffled.classes[int(v)] for part in y for v in part]
    assert len(first[0]) == 64


def itertools_first(iterable, n: int) -> list:
    import itertools

    return list(itertools.islice(iterable, n))
