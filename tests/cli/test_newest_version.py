"""``prov status`` and ``prov sources`` default to the newest version by the audit log, never a writable row.

They took ``Store.latest_version()``, the ``versions`` row with the largest ``audit_seq``: a
``.prov/`` writer who bumped the old release v1's ``audit_seq``, with its data put back, got
"data.parquet: unchanged since v1" from ``prov status`` and v1's lineage from ``prov sources``,
while the newest signed version is v2. Now both read ``version_facts.newest_version`` (the
newest ``commit`` entry of the hash-chained log, whose version must verify under the pins), and
fail closed (exit 1, naming it) when that version's row is hidden.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from support import digits_table, flip_label, ok, one_line


@pytest.fixture
def two_releases(prov, store, keypair, monkeypatch) -> None:
    """v1 and v2 of data.parquet (v2 with 3 labels flipped) by Alice, pinned; then v1's data written back."""
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    first = digits_table(200)
    pq.write_table(first, Path("data.parquet"))
    ok(prov, "-q", "commit", "data.parquet", "--tag", "v1", "--key", keypair.private_path)
    second = flip_label(flip_label(flip_label(first, 3), 4), 5)
    pq.write_table(second, Path("data.parquet"))
    ok(prov, "-q", "commit", "data.parquet", "--tag", "v2", "--key", keypair.private_path)
    pq.write_table(first, Path("data.parquet"))  # a data writer puts v1's labels back


def _sql(statement: str) -> None:
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute(statement)
    db.close()


def test_status_and_sources_ignore_a_bumped_audit_seq(prov, two_releases):
    _sql("update versions set audit_seq = (select max(audit_seq) + 1 from versions) where tag = 'v1'")
    out = ok(prov, "status")
    assert "data.parquet: 3 relabeled since v2 (200 records now)" in out, out  # "unchanged since v1" before
    assert json.loads(ok(prov, "sources", "--json"))["version"] == "v2"  # "v1" before


def test_log_and_lineage_order_versions_by_the_audit_log(prov, two_releases):
    """`prov log` listed v2 before v1 and `prov lineage` said a record was first in v2 once v1's row was bumped."""
    _sql("update versions set audit_seq = (select max(audit_seq) + 1 from versions) where tag = 'v1'")
    assert [v["tag"] for v in json.loads(ok(prov, "log", "--json"))["versions"]] == ["v1", "v2"]  # v2, v1 before
    digest = json.loads(ok(prov, "diff", "v1", "v2", "--format", "json"))["changes"]["relabeled"][0]["digest"]
    info = json.loads(ok(prov, "lineage", digest, "--json"))
    assert info["first_version"] == "v1" and [v["version"] for v in info["versions"]] == ["v1", "v2"], info


def test_status_and_sources_fail_closed_when_the_newest_version_is_hidden(prov, two_releases):
    _sql("delete from versions where tag = 'v2'")
    for command in (("status",), ("sources",)):
        r = prov(*command)
        assert r.exit_code == 1, r.output  # status: exit 0, "unchanged since v1" before
        assert one_line(r).startswith("Error: version v2: the newest commit in the audit log"), r.output
    # a version named explicitly is still compared
    # as the user would type it, not the absolute path (newcomer review 9, finding 11)
    assert ok(prov, "status", "--version", "v1").startswith("data.parquet: unchanged since v1 (200 records)")
