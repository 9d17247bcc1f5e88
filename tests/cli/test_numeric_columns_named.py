"""``--featurizer-option columns=[...]`` naming a column the data does not hold as content is refused at the commit
(attack review 30a, A30a-3: it committed a version of no reference profile, exit 0), and so is such a list carried
from the parent's signed request, naming the parent."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from test_attack28d_replays import _commit

from support import digits_table, store_fingerprint


@pytest.mark.parametrize(
    ("columns", "said"),
    [
        ('["nope"]', "names nope, not a column of this data; the data's content columns: px00, px01"),
        ('["px20","label"]', "names label, read as the label, source, id or metadata column (no feature)"),
    ],
)
def test_a_columns_list_naming_no_content_column_is_refused_at_the_commit(prov, workdir, store, keypair, columns, said):
    pq.write_table(digits_table(300), workdir / "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit(
        prov, keypair, "train.parquet", "v1", "--featurizer", "numeric", "--featurizer-option", f"columns={columns}"
    )
    assert r.exit_code == 2 and store_fingerprint(workdir / ".prov") == before, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("Error: train.parquet: the numeric featuriser's option 'columns' names") and said in line


def test_a_carried_columns_list_the_data_no_longer_holds_names_the_parent(prov, workdir, store, keypair):
    t = digits_table(300)
    pq.write_table(t, workdir / "train.parquet")
    option = 'columns=["px20","px30"]'
    assert (
        _commit(
            prov, keypair, "train.parquet", "v1", "--featurizer", "numeric", "--featurizer-option", option
        ).exit_code
        == 0
    )
    pq.write_table(t.drop_columns(["px30"]), workdir / "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "v2")
    assert r.exit_code == 2 and store_fingerprint(workdir / ".prov") == before, r.output
    (line,) = r.stderr.strip().splitlines()
    assert "names px30, not a column of this data" in line, line
    assert line.endswith('the featuriser numeric:columns=["px20", "px30"] is v1\'s signed request, carried: give '
                         "--featurizer to choose the features"), line  # fmt: skip
    assert _commit(prov, keypair, "train.parquet", "v2", "--featurizer", "numeric").exit_code == 0  # the way out
