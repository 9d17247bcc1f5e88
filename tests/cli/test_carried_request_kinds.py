"""A parent's signed featuriser request of any kind is held against the parent's signed profile before a commit
carries it (attack review 30a, A30a-2: only a numeric request was; a commit key's thief re-signed the request as
another kind and the maintainer's next version read none of the features the parent's profile read).

A text profile here: 300 digits beside two text columns, 'caption' (what the profile reads) and 'note'."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_attack28d_replays import _commit

from support import digits_table, resign_version, store_fingerprint


def _texts(n: int) -> pa.Table:
    """``n`` digits with a 'caption' that varies with the label and a 'note' that varies with the row."""
    t = digits_table(n)
    labels = t.column("label").to_pylist()
    t = t.append_column("caption", pa.array([f"a scan of the digit {label}" for label in labels]))
    return t.append_column("note", pa.array([f"batch {i % 7}" for i in range(n)]))


def _v1_with_text(workdir, keypair, prov, *option: str) -> None:
    """v1 = 300 ``_texts`` committed with ``--featurizer text`` and ``option`` (``--featurizer-option ...``)."""
    pq.write_table(_texts(300), workdir / "train.parquet")
    r = _commit(prov, keypair, "train.parquet", "v1", "--featurizer", "text", *option)
    assert r.exit_code == 0 and "col=caption" in r.stdout, r.output
    pq.write_table(_texts(360), workdir / "train.parquet")


def test_an_honest_text_request_is_carried_and_resolves_to_the_parents_column(prov, workdir, store, keypair):
    # the request as given ({"name": "text", "options": {"column": "caption"}}) is not the profile's stored spec
    # (which adds dim and the n-gram range): it is carried because it resolves to the profile's identity
    _v1_with_text(workdir, keypair, prov, "--featurizer-option", "column=caption")
    r = _commit(prov, keypair, "train.parquet", "v2", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["featurizer"] == "text/v1:ngram=3-5,dim=512,col=caption", result
    assert result["from_parent"]["featurizer"] == 'text:column="caption"', result


@pytest.mark.parametrize(
    ("request_", "said"),
    [
        ({"name": "text", "options": {"column": "note"}}, "resolves to text/v1:ngram=3-5,dim=512,col=note;"),
        (
            {"name": "text", "options": {"column": "caption", "dim": 16}},
            "resolves to text/v1:ngram=3-5,dim=16,col=caption;",
        ),
        ({"name": "text", "options": {}}, "cannot be resolved on v1's columns"),  # two text columns: which?
        ({"name": "numeric", "options": {"columns": ["px20"]}}, "is not the featuriser of v1's signed profile"),
    ],
    ids=["another-column", "other-buckets", "no-column-named", "another-kind"],
)
def test_a_resigned_request_the_parents_text_profile_was_not_made_with_is_refused(
    prov, workdir, store, keypair, request_, said
):
    _v1_with_text(workdir, keypair, prov, "--featurizer-option", "column=caption")
    resign_version(workdir, "v1", keypair.private_path, lambda p: p.__setitem__("featurizerRequested", request_))
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "v2")
    assert r.exit_code == 2 and store_fingerprint(workdir / ".prov") == before, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("Error: v1's signed featuriser request") and said in line, line
    assert "check v1's signer, or give --featurizer" in line, line
    # the way out the line names: the maintainer's own featuriser choice is taken
    r = _commit(prov, keypair, "train.parquet", "v2", "--featurizer", "text", "--featurizer-option", "column=caption")
    assert r.exit_code == 0, r.output
