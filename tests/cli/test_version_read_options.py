"""Commands that read data the way a version read it take that version's signed read options (newcomer review 14,
findings 5 and 11): `prov commit` took `--label-column target` from v1, but `prov status DATA`, `prov add
--unsigned` and `prov diff --path` read with the default `label` column and exited 2, and the command an error
suggested (`prov status DATA --version v1`) failed the same way. A real git + DVC repository, a real store and key.
"""

from __future__ import annotations

import json
import re
import shlex

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import digits_table, make_dvc_repo


def with_target(table: pa.Table) -> pa.Table:
    """The digits with their label column named `target`, as scikit-learn's frames name it."""
    return table.rename_columns([*table.column_names[:-1], "target"])


@pytest.fixture
def repo(prov, workdir, keypair, monkeypatch):
    """A git + DVC repo whose tag d1 holds 300 digits and d2 340 (the working copy 360), v1 = d1 committed
    at its revision with `--label-column target`, the key pinned."""
    make_dvc_repo(
        workdir,
        {"d1": with_target(digits_table(300)), "d2": with_target(digits_table(340))},
        with_target(digits_table(360)),
    )
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    assert prov("init").exit_code == 0
    r = prov("commit", "data/train.parquet", "--rev", "d1", "--tag", "v1", "--key", keypair.private_path,
             "--label-column", "target")  # fmt: skip
    assert r.exit_code == 0, r.output
    return workdir


def test_status_of_named_data_reads_it_as_the_version_did(prov, repo):
    for args in (["data/train.parquet"], ["data/train.parquet", "--version", "v1"]):
        r = prov("status", *args, "--json")
        assert r.exit_code == 0, r.output
        report = json.loads(r.stdout)
        assert report["version"] == "v1" and report["records"] == 360 and report["counts"]["added"] == 60
        assert "read options as v1: --label-column target" in r.stderr
    # a flag given still wins: the data read with another label column is no longer v1's records
    r = prov("status", "data/train.parquet", "--label-column", "px00", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert "read options as" not in r.stderr
    # px00 left the content and target joined it: v1's 300 records are re-keyed, paired by row only (session 30:
    # status pairs a schema change as prov diff does), none of them unchanged; the 60 new rows are added
    assert doc["counts"]["added"] == 60 and doc["rekeyed"] == 300 and doc["rekeyed_by"] == "locator", doc


def test_diff_of_git_revisions_reads_the_path_as_its_version_did(prov, repo):
    r = prov("diff", "d1", "d2", "--path", "data/train.parquet", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["summary"]["added"] == 40 and report["base"]["reused_version"] == "v1"
    assert "read options as v1: --label-column target" in r.stderr
    r = prov("diff", "HEAD", "workspace", "--path", "data/train.parquet", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"]["added"] == 20


def test_the_command_a_diff_error_suggests_works_as_printed(prov, repo):
    r = prov("diff", "v1", "HEAD", "--path", "data/train.parquet")
    assert r.exit_code == 2
    suggested = re.search(r"\(to compare the working copy with v1: (prov [^)]*)\)", r.stderr)
    assert suggested, r.stderr
    words = shlex.split(suggested.group(1))
    r = prov(*words[1:])
    assert r.exit_code == 0, r.output
    assert "data/train.parquet: 60 added since v1 (360 records now)" in " ".join(r.stdout.split())


def test_an_unsigned_batch_is_read_as_the_newest_version_read_its_data(prov, repo):
    pq.write_table(with_target(digits_table(400)).slice(360), "crowd.parquet")
    r = prov("add", "crowd.parquet", "--source", "crowd", "--unsigned", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["records"] == 40 and "read options as v1: --label-column target" in r.stderr
    # a batch without the carried column: the error says where the column came from
    pq.write_table(digits_table(420).slice(400), "other.parquet")
    r = prov("add", "other.parquet", "--source", "crowd", "--unsigned")
    assert r.exit_code == 2
    assert "no label column 'target'" in r.stderr and "(read options as v1: --label-column target;" in r.stderr
