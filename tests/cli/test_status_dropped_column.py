"""``prov status`` of a working copy that DROPPED a column pairs the re-keyed records by content, as ``prov diff`` does.

fix32h made ``prov diff`` and ``prov check`` pair the records a dropped column re-keyed by their content on the
columns both sides share (``delta.content_pairs``); ``prov status`` still paired them by row, so a working copy whose
rows were also reordered read as hundreds of relabels that were not there, and its real relabels were only a hint.
Status now reads the version's records again (each re-hashed against its signed digest) and pairs them as the diff
does; when they cannot be read again it pairs by row and says why.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from support import commit_table, digits_table, flip_label, validate_output

RELABELED = (3, 120, 250)


def _version_and_working_copy(prov, keypair) -> None:
    """v1: 300 digits; new.parquet: v1's records without column px10, three relabelled, rows shuffled."""
    t = digits_table(300)
    commit_table(prov, keypair, "v1", t, "--signer", keypair.public_path)
    for row in RELABELED:
        t = flip_label(t, row)
    shuffled = t.take(pa.array(np.random.default_rng(5).permutation(t.num_rows)))
    pq.write_table(shuffled.drop_columns(["px10"]), "new.parquet")


def _status(prov, keypair) -> dict:
    r = prov("status", "new.parquet", "--json", "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    validate_output("status", report)
    return report


def test_status_pairs_a_dropped_columns_records_by_content_as_diff_does(prov, workdir, store, keypair):
    _version_and_working_copy(prov, keypair)
    report = _status(prov, keypair)
    assert (report["rekeyed"], report["rekeyed_by"], report["rekeyed_note"]) == (300, "content", None)
    assert report["rekeyed_relabeled"] == len(RELABELED)
    assert report["counts"]["relabeled"] == len(RELABELED)
    assert report["counts"]["added"] == report["counts"]["removed"] == 0
    commit_table(prov, keypair, "v2", pq.read_table("new.parquet"), "--signer", keypair.public_path)
    diff = prov("diff", "v1", "v2", "--json", "--signer", keypair.public_path)
    summary = json.loads(diff.stdout)["summary"]
    assert (summary["rekeyed"], summary["rekeyed_by"], summary["rekeyed_relabeled"]) == (300, "content", 3)


def test_a_version_whose_data_is_gone_pairs_by_row_and_says_why(prov, workdir, store, keypair):
    _version_and_working_copy(prov, keypair)
    (workdir / "v1.parquet").unlink()
    report = _status(prov, keypair)
    assert (report["rekeyed"], report["rekeyed_by"]) == (300, "locator")
    assert report["rekeyed_note"].startswith("the records of v1 could not be read again (")
