"""Attack review 34f: replays against fix34f's held_before (lineage.max_relabeled_after_source).

A34f-R1 (fixed in session 35): ``held_before`` read each ancestor's lineage as it was signed at commit time
(``version_lineage``), not re-judged under today's pins. A trusted source's signed batch (a thief's, its key revoked later) that carried the
crowd's record under a flipped label leaves a version that "held" that label in a row not given to the crowd's batch,
so the crowd's own record flipped to that label afterwards is excused as the team's row. Withdrawing the batch
instead of revoking the key is held (two other rules block; test below).
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_newcomer31_schema_advice import PINS, _penguins
from test_newcomer34_relabeled_after_source import (
    CROWD,
    OWN,
    RULE,
    TEAM,
    _other_species,
    _rule,
    _team_then_crowd,
)

from provenance import keys
from support import blocking_rules, check_report, ok


def _v2_with_own_flipped() -> pa.Table:
    v2 = pq.read_table("v2.parquet")
    row = len(TEAM) + OWN - CROWD.start
    return pa.concat_tables([v2.slice(0, row), _other_species(v2.slice(row, 1)), v2.slice(row + 1)])


def _thief_delivers_flipped_copy(prov) -> str:
    """A second trusted source signs the crowd's record 210 under the flipped species; v3 = v2 + that row."""
    pq.write_table(_other_species(_penguins(range(OWN, OWN + 1))), "thief.parquet")
    for args in (
        ("keys", "generate", "thief"),
        ("sign", "thief.parquet", "--source", "thief", "--key", "thief.key"),
        ("trust", "add", "thief", "thief.pub", "--key", "m.key", *PINS),
    ):
        ok(prov, *args)
    added = ok(prov, "add", "thief.parquet", "--source", "thief", *PINS)
    pq.write_table(pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("thief.parquet")]), "v3.parquet")
    ok(prov, "commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    return re.search(r"Added batch (\S+):", added).group(1)


# A34f-R1 (medium; fixed in session 35): after prov trust revoke the whole check passed (exit 0): held_before counted
# v3's row of 210 under the flipped species, which v3's lineage gave to the thief's then-trusted batch. Now only
# ancestor rows no signed batch carried (status unattributed) count as the team's, so the flip counts and blocks.
# The retire variant is the way the check's own advice gives for a stolen key (end its trust from a time).
@pytest.mark.parametrize("end", ["revoke", "retire"])
def test_a34f_r1_a_revoked_sources_signed_copy_excuses_flipping_the_crowds_own_record(prov, workdir, store, end):
    _team_then_crowd(prov)
    _thief_delivers_flipped_copy(prov)
    if end == "revoke":
        ok(prov, "trust", "revoke", "thief", "--reason", "key stolen", "--yes", *PINS)
    else:
        thief = keys.key_id(keys.load_public("thief.pub"))[:16]
        at = "2020-01-01T00:00:00+00:00"
        ok(prov, "trust", "retire", "thief", "--key-id", thief, "--at", at, "--yes", "--key", "m.key", *PINS)
    pq.write_table(_v2_with_own_flipped(), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--key", "m.key", *PINS)
    report = check_report(prov, "v4", "v3", *PINS)
    assert report["exit_code"] == 1 and RULE in blocking_rules(report), (_rule(report), blocking_rules(report))


def test_control_without_the_copy_the_flip_blocks(prov, workdir, store):
    _team_then_crowd(prov)
    pq.write_table(_v2_with_own_flipped(), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--key", "m.key", *PINS)
    report = check_report(prov, "v4", "v2", *PINS)
    assert report["exit_code"] == 1 and RULE in blocking_rules(report), blocking_rules(report)


def test_held_after_withdraw_other_rules_still_block(prov, workdir, store):
    _team_then_crowd(prov)
    thief = _thief_delivers_flipped_copy(prov)
    ok(prov, "withdraw", thief, "--reason", "not ours", "--key", "m.key", *PINS)
    pq.write_table(_v2_with_own_flipped(), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--key", "m.key", *PINS)
    report = check_report(prov, "v4", "v3", *PINS)
    assert report["exit_code"] == 1 and "relabels.max_relabel_rate_per_source" in blocking_rules(report), (
        blocking_rules(report)
    )
