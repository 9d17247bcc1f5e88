"""Replays of attack review 26e's findings on ``prov status``'s ``data_of`` (A26e-4, A26e-5), through the CLI on
real stores. (A26e-1..3, the file identity, are replayed in ``tests/unit/sources/test_file_changed.py``.)

``data_of`` counts a version's commit entry only when a head signed by a trusted key covers it (A26a-3). Both
findings are about that rule and pull opposite ways: a version's own signed ``auditLogHead`` is the head *before*
its commit entry, so counting the entry right after it (A26e-4's fix) also counts a planted entry put back exactly
where a rolled-back version's was (A26a-3's replay: the restored log ends there), and the reviewer's rule for
A26e-5 (only the entry right after its own head) does not exclude that entry either.
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import pyarrow.parquet as pq
import pytest
from test_attack26a_replays import plant_rolled_back_v3

from support import digits_table, ok, validate_output


def _data_of(prov, data, version, pinned) -> list[str]:
    doc = json.loads(ok(prov, "status", data, "--version", version, "--json", *pinned))
    validate_output("status", doc)
    return doc["data_of"]


def test_a26e_4_the_newest_versions_own_entry_counts_under_its_checkpoint_and_not_without_one(prov, workdir):
    """Confirmed only with no trusted checkpoint: every commit signs one over its own entry, so in the normal flow
    ``status V2_DATA --version v1`` names v2; with the checkpoints gone (a ``.prov/`` writer deleted them) v2's
    entry is pending and the hint is left out (fails closed: data_of is a hint, nothing decides on it)."""
    table = digits_table(400)
    pq.write_table(table.slice(0, 340), "v2.parquet")
    pq.write_table(table.slice(0, 300), "train.parquet")
    ok(prov, "init")
    ok(prov, "keys", "generate", "maintainer")
    pinned = ("--signer", "maintainer.pub")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v1", "--key", "maintainer.key", *pinned)
    shutil.copy("v2.parquet", "train.parquet")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v2", "--key", "maintainer.key", *pinned)
    assert _data_of(prov, "v2.parquet", "v1", pinned) == ["v2"]
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("delete from checkpoints")
    db.close()
    assert "PENDING" in ok(prov, "audit", "verify", *pinned)
    assert _data_of(prov, "v2.parquet", "v1", pinned) == []


@pytest.mark.xfail(
    strict=True,
    reason="A26e-5 open: the planted v3 entry sits right after v3's own signed head (where its honest entry was) "
    "and the maintainer's v4 takes v3 as its parent and signs a head over it; the fix is in commit's choice of "
    "parent (a pending commit entry), not in data_of",
)
def test_a26e_5_a_planted_commit_entry_then_a_clean_commit_names_the_rolled_back_version(prov, workdir):
    """v3 was rolled back; a ``.prov/`` writer put its row and a chain-valid commit entry back (pending). The
    maintainer then commits v4 from clean data: v4 signs an audit head that includes the planted entry, so the
    entry is covered and ``status POISONED --version v2`` names v3 again."""
    pinned = plant_rolled_back_v3(prov, workdir)
    shutil.copy("train.parquet", "poisoned.parquet")
    pq.write_table(digits_table(400).slice(0, 360), "train.parquet")
    out = ok(prov, "commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", *pinned)
    assert "parent v3" in out, out  # the newest by the log, the planted entry's: v4 signs v3 as its parent
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == []
