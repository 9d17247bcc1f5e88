"""The loader and ``prov verify`` agree on what is the same version (``loader/precheck.py``): its records (content,
label, source) and the facts it signed, not which file of a folder a record is in. Real Parquet folders, a real
signed version, each change made on disk and judged by both."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance as prov
from provenance.errors import VerificationError


@pytest.fixture
def folder(workdir, store, keypair):
    """t1: data/a.parquet and data/b.parquet, 150 rows each (labels "0", "1", "2"), in row groups of 30."""
    rng = np.random.default_rng(3)
    (workdir / "data").mkdir()
    t = pa.table({"x": rng.normal(size=300), "label": [str(i % 3) for i in range(300)]})
    pq.write_table(t.slice(0, 150), workdir / "data" / "a.parquet", row_group_size=30)
    pq.write_table(t.slice(150), workdir / "data" / "b.parquet", row_group_size=30)
    prov.commit(store, "data", tag="t1", key=keypair.private_path)
    shutil.copytree(workdir / "data", workdir / "signed")
    return workdir / "data"


def _move_rows(data) -> None:
    """a's last 40 rows moved to the end of b: the same records, other files."""
    a, b = pq.read_table(data / "a.parquet"), pq.read_table(data / "b.parquet")
    pq.write_table(a.slice(0, 110), data / "a.parquet", row_group_size=30)
    pq.write_table(pa.concat_tables([b, a.slice(110)]), data / "b.parquet", row_group_size=30)


def _compact(data) -> None:
    """Both parts rewritten as one file under a's name (re-partitioned): b.parquet is gone."""
    rows = pa.concat_tables([pq.read_table(data / f"{p}.parquet") for p in ("a", "b")])
    (data / "b.parquet").unlink()
    pq.write_table(rows, data / "a.parquet")


def _add_skipped_file(data) -> None:
    """A file the table reader skips, added to the folder."""
    (data / "_SUCCESS").write_text("")  # a Spark job marker


def _add_empty_part(data) -> None:
    """An empty Parquet part with the same columns, added to the folder."""
    pq.write_table(pq.read_table(data / "a.parquet").slice(0, 0), data / "c.parquet")


def _rename_part(data) -> None:
    (data / "b.parquet").rename(data / "c.parquet")


def _judged(store, pins) -> tuple[bool, bool, bool]:
    """(prov verify accepts, the default loader accepts, the loader without the verifying pass accepts)."""
    try:
        prov.verify(store, "t1", pins=pins)
        verified = True
    except VerificationError:
        verified = False
    loaded = []
    for verify_first in (True, False):
        try:
            loaded.append(sum(1 for _ in prov.load("t1", store=store, pins=pins, verify_first=verify_first)) == 300)
        except VerificationError:
            loaded.append(False)
    return verified, loaded[0], loaded[1]


@pytest.mark.parametrize(
    "change, same_version",
    [
        (_move_rows, True),
        (_compact, False),
        (_add_skipped_file, False),
        (_add_empty_part, False),
        (_rename_part, False),
    ],
)
def test_the_loader_and_prov_verify_judge_a_changed_folder_alike(folder, store, pins, workdir, change, same_version):
    """Newcomer review 5 / closing note 5: the loader refused rows moved between the files of a folder that
    ``prov verify`` accepted, and accepted a skipped file added to a table folder that ``prov verify`` refused.
    The rule is DESIGN's: the Merkle root is over the records, "so the same records in another order or file
    give the same root", and the file listing (names, skipped files) is a signed fact."""
    change(folder)
    assert _judged(store, pins) == (same_version, same_version, same_version)


def test_rows_moved_between_files_read_as_the_signed_records_wherever_they_are_now(folder, store, pins):
    _move_rows(folder)
    records = list(prov.load("t1", store=store, pins=pins, buffer=0))
    assert sorted(r.hexdigest for r in records) == sorted(
        r.hexdigest for r in prov.load("t1", store=store, pins=pins, verify_first=False)
    )
    assert sum(r.locator.startswith("b.parquet#") for r in records) == 190  # the locator says where it is now


def test_a_changed_listing_names_the_file(folder, store, pins):
    _add_skipped_file(folder)
    with pytest.raises(VerificationError, match=r"/data/_SUCCESS \(a skipped file added\): the file listing differs"):
        next(iter(prov.load("t1", store=store, pins=pins, verify_first=False)))
    (folder / "_SUCCESS").unlink()
    _rename_part(folder)
    with pytest.raises(VerificationError, match=r"/data/c\.parquet \(added; 1 record file\(s\) added\): the file"):
        next(iter(prov.load("t1", store=store, pins=pins, verify_first=False)))
